"""Least privilege on real VMs: who may read and write each file, and when."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from .conftest import LagoRunner
from .initfiles import scratch_disk, tiny_root, tiny_vm, write_tiny_env

VMS = {"vm01": tiny_vm(disks=[tiny_root(), scratch_disk("16M")])}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _owner(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def _store_image(store: Path) -> Path:
    (image,) = [p for p in store.iterdir() if p.name.startswith("lago-local:tiny:")
                and "." not in p.name]  # fmt: skip
    return image


def test_images_and_secrets_are_private_and_the_store_stays_read_only(lago: LagoRunner) -> None:  # fmt: skip
    # a store of this test's own, so that its entry is fetched (and checked) here
    store = lago.cwd / "store"
    lago.env["LAGO__INIT__TEMPLATE_STORE"] = str(store)
    write_tiny_env(lago.cwd, VMS)
    lago("init")
    prefix = lago.cwd / ".lago" / "default"
    me = pwd.getpwuid(os.geteuid()).pw_name
    disks = [prefix / "images" / "vm01_root.qcow2", prefix / "images" / "vm01_scratch.qcow2"]  # fmt: skip
    seeds = list(prefix.glob("images/*seed*"))
    assert seeds, "the tiny template boots from a NoCloud seed"
    private = [*disks, prefix / "virt" / "vm-vm01", *seeds]
    for path in private:
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
        assert _owner(path) == me, path
    entry = _store_image(store)
    assert (_mode(entry), _owner(entry)) == (0o644, me)

    lago("start", "--wait-for-ssh", timeout=900)
    assert lago("shell", "vm01", "hostname").stdout.strip() == "vm01"
    # while the VM runs its own disks are the qemu user's, the store image is not
    running_owner = _owner(disks[0])
    assert running_owner != me
    assert _mode(disks[0]) == 0o600
    assert (_mode(entry), _owner(entry)) == (0o644, me)

    lago("stop")
    for path in disks:
        assert (_mode(path), _owner(path)) == (0o600, me), path
    # libvirt keeps a read-only disk with the qemu user: still nobody else's
    assert all(_mode(seed) == 0o600 for seed in seeds)
    assert (_mode(entry), _owner(entry)) == (0o644, me)

    lago("destroy", "-y")
    assert (_mode(entry), _owner(entry)) == (0o644, me)
    assert not any(_mode(p) & 0o002 for p in store.iterdir())


def test_a_store_image_handed_to_another_user_is_given_back(lago: LagoRunner) -> None:
    """What libvirt did to store images before they were named in the XML."""
    store = lago.cwd / "store"
    lago.env["LAGO__INIT__TEMPLATE_STORE"] = str(store)
    write_tiny_env(lago.cwd, VMS)
    lago("init")
    lago("destroy", "-y")
    entry = _store_image(store)
    qemu = pwd.getpwnam("libvirt-qemu")
    os.chown(entry, qemu.pw_uid, qemu.pw_gid)
    entry.chmod(0o664)
    lago("init")
    assert (_mode(entry), entry.stat().st_uid) == (0o644, os.geteuid())
