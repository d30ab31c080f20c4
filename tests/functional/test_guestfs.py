"""The libguestfs paths of init: bootstrap of seedless templates and builds.

Templates without a NoCloud seed are bootstrapped with every disk in one
libguestfs appliance (the default) or with one virt-sysprep run per disk
(``[init] bootstrap_method = virt-sysprep``); disks with a ``build`` section
are customized with virt-customize. Each appliance takes about 30 s under
software emulation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import LagoRunner, write_init_file
from .initfiles import tiny_root, tiny_vm, write_tiny_env

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


PASSWORD = "b00tstrap-pw"


def _seedless_init_file(lago: LagoRunner, names: list[str]) -> None:
    vm = tiny_vm(extra={"root-password": PASSWORD})
    write_tiny_env(lago.cwd, dict.fromkeys(names, vm))


def _forget_passwords(lago: LagoRunner, names: list[str]) -> None:
    """Make the saved passwords wrong: only the injected key can log in now."""
    for name in names:
        path = lago.cwd / f".lago/default/virt/vm-{name}"
        spec = json.loads(path.read_text())
        spec["root-password"] = "not-the-password"
        path.write_text(json.dumps(spec))


def test_guestfs_bootstrap_of_three_vms(lago: LagoRunner, local_repo: Path) -> None:
    repo = _repo_without_seed(local_repo, lago.cwd / "repo")
    names = ["vm01", "vm02", "vm03"]
    _seedless_init_file(lago, names)
    init = lago(
        "init", "--template-repo-path", str(repo), "--template-store",
        str(lago.cwd / "store"), timeout=1200,
    )  # fmt: skip
    assert "Bootstrapping vm01, vm02, vm03 in one libguestfs appliance" in init.stderr
    for name in names:
        spec = json.loads((lago.cwd / f".lago/default/virt/vm-{name}").read_text())
        assert [disk["name"] for disk in spec["disks"]] == ["root"]  # no seed volume
    _forget_passwords(lago, names)
    lago("start", timeout=900)
    key = (lago.cwd / ".lago/default/id_rsa.pub").read_text().split()[1]
    for name in names:
        # lago shell waits for the VM's SSH, and logs in by key only
        assert lago("shell", name, "hostname", timeout=900).stdout.strip() == name
        assert key in lago("shell", name, "cat /root/.ssh/authorized_keys").stdout
        modes = lago(
            "shell", name, "stat -c '%a %u %g' /root/.ssh /root/.ssh/authorized_keys"
        )
        assert modes.stdout.split("\n")[:2] == ["700 0 0", "600 0 0"]
    # the root password is the init file's: its hash checks against it
    root_hash = lago("shell", "vm02", "grep ^root: /etc/shadow").stdout.split(":")[1]
    salt = root_hash.split("$")[2]
    expected = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=PASSWORD, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert root_hash == expected


def test_sysprep_bootstrap(lago: LagoRunner, local_repo: Path) -> None:
    repo = _repo_without_seed(local_repo, lago.cwd / "repo")
    write_tiny_env(lago.cwd)
    store = lago.cwd / "store"
    init = lago(
        "init",
        "--template-repo-path",
        str(repo),
        "--template-store",
        str(store),
        "--bootstrap-method",
        "virt-sysprep",
        timeout=900,
    )
    assert "one libguestfs appliance" not in init.stderr
    spec = json.loads((lago.cwd / ".lago/default/virt/vm-vm01").read_text())
    assert [disk["name"] for disk in spec["disks"]] == ["root"]  # no seed volume
    lago("start", "--wait-for-ssh", timeout=900)
    # the prefix's key was written into the disk by virt-sysprep (libguestfs
    # does not know tiny's distribution, so it leaves its hostname alone)
    key = (lago.cwd / ".lago/default/id_rsa.pub").read_text().split()[1]
    assert key in lago("shell", "vm01", "cat", "/root/.ssh/authorized_keys").stdout


def test_virt_customize_build(lago: LagoRunner) -> None:
    customize = {"touch": ["/root/one", "/root/two"], "write": "/root/greeting:hello"}
    root = tiny_root(build=[{"virt-customize": customize}])
    write_tiny_env(lago.cwd, {"vm01": tiny_vm(disks=[root])})
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
