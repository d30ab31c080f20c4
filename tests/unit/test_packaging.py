"""lago.spec builds an RPM holding the package, its data and the entry points."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not shutil.which("rpmbuild"),
    reason="rpmbuild is not installed (scripts/install-deps.sh installs it)",
)
def test_rpm_builds(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts/build-rpm.sh")],
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path), "RPM_TOPDIR": str(tmp_path / "rpm")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rpms = list((tmp_path / "rpm/RPMS/noarch").glob("lago-*.noarch.rpm"))
    assert len(rpms) == 1
    files = subprocess.run(
        ["rpm", "-qlp", str(rpms[0])], capture_output=True, text=True, check=True
    ).stdout
    for expected in ("/usr/bin/lago", "/usr/bin/lagocli", "/etc/lago/lago.conf", "/var/lib/lago/subnets",
                     "lago/providers/libvirt/templates/dom_template-base.xml.j2", "lago/cmd.py",
                     "entry_points.txt", "/usr/share/man/man1/lago.1", "/html/index.html", "/html/cli.html",
                     "/html/api/generated/lago.sdk.html", "/usr/share/bash-completion/completions/lago",
                     "/usr/share/zsh/site-functions/_lago"):  # fmt: skip
        assert expected in files, expected


def test_reference_config_is_generated_from_the_defaults() -> None:
    generated = subprocess.run(
        ["bash", str(ROOT / "scripts/gen-lago-conf.sh")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (ROOT / "etc/lago.conf").read_text() == generated, "run `make etc/lago.conf`"
