"""The libguestfs paths of init: virt-sysprep bootstrap and virt-customize builds.

Templates without a NoCloud seed are bootstrapped with virt-sysprep, and disks
with a ``build`` section are customized with virt-customize; both launch a
libguestfs appliance (about 30 s each under software emulation).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import LagoRunner, write_init_file

pytestmark = pytest.mark.slow


def _repo_without_seed(local_repo: Path, root: Path) -> Path:
    """A copy of the local repository whose tiny image says nothing of seeds."""
    source = json.loads(local_repo.read_text())
    version = next(iter(source["templates"]["tiny"]["versions"].values()))
    handle = version["handle"]
    root.mkdir(mode=0o755)
    shutil.copy(local_repo.parent / handle, root / handle)
    (root / handle).chmod(0o644)
    (root / f"{handle}.hash").write_text(
        (local_repo.parent / f"{handle}.hash").read_text()
    )
    metadata = json.loads((local_repo.parent / f"{handle}.metadata").read_text())
    metadata.pop("seed")
    (root / f"{handle}.metadata").write_text(json.dumps(metadata))
    repo = {
        "name": "noseed",
        "sources": {"local": {"type": "file", "args": {"root": str(root)}}},
        "templates": {"tiny": {"versions": {"v1": {**version, "source": "local"}}}},
    }
    path = root / "repo.metadata"
    path.write_text(json.dumps(repo))
    return path


def test_sysprep_bootstrap(lago: LagoRunner, local_repo: Path) -> None:
    repo = _repo_without_seed(local_repo, lago.cwd / "repo")
    write_init_file(
        lago.cwd,
        """\
        domains:
          vm01:
            memory: 256
            vcpu: 1
            nics: [{net: lago}]
            disks:
              - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
        nets:
          lago: {}
        """,
    )
    store = lago.cwd / "store"
    lago(
        "init",
        "--template-repo-path",
        str(repo),
        "--template-store",
        str(store),
        timeout=900,
    )
    spec = json.loads((lago.cwd / ".lago/default/virt/vm-vm01").read_text())
    assert [disk["name"] for disk in spec["disks"]] == ["root"]  # no seed volume
    lago("start", "--wait-for-ssh", timeout=900)
    # the prefix's key was written into the disk by virt-sysprep (libguestfs
    # does not know tiny's distribution, so it leaves its hostname alone)
    key = (lago.cwd / ".lago/default/id_rsa.pub").read_text().split()[1]
    assert key in lago("shell", "vm01", "cat", "/root/.ssh/authorized_keys").stdout


def test_virt_customize_build(lago: LagoRunner) -> None:
    write_init_file(
        lago.cwd,
        """\
        domains:
          vm01:
            memory: 256
            vcpu: 1
            nics: [{net: lago}]
            disks:
              - template_name: tiny
                type: template
                name: root
                dev: vda
                format: qcow2
                build:
                  - virt-customize:
                      touch: [/root/one, /root/two]
                      write: /root/greeting:hello
        nets:
          lago: {}
        """,
    )
    lago("init", timeout=900)
    lago("start", "--wait-for-ssh", timeout=900)
    assert lago("shell", "vm01", "ls /root/one /root/two").returncode == 0
    assert lago("shell", "vm01", "cat /root/greeting").stdout == "hello"


def test_unsupported_builder_is_rejected_before_anything_is_made(
    lago: LagoRunner,
) -> None:
    write_init_file(
        lago.cwd,
        """\
        domains:
          vm01:
            nics: [{net: lago}]
            disks:
              - template_name: tiny
                type: template
                dev: vda
                format: qcow2
                build:
                  - virt-builder: {size: 2G}
        nets:
          lago: {}
        """,
    )
    proc = lago("init", check=False)
    assert proc.returncode == 2
    assert "virt-builder is not supported as a build command" in proc.stderr
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]
