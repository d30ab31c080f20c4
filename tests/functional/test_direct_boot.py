"""Direct kernel boot of a template that records its kernel and initrd.

``tiny`` records where its kernel and initrd lie in the image: its VMs boot
them straight from the template store, without the boot loader. A disk whose
init-file metadata says ``direct-boot: no`` boots through its boot loader as
before; both answer SSH and keep their serial console.
"""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import LagoRunner
from .initfiles import MANAGEMENT_NET, tiny_root, tiny_vm, write_tiny_env

VMS = {
    "vm01": tiny_vm(vcpu=None),
    "vm02": tiny_vm(vcpu=None, disks=[tiny_root(metadata={"direct-boot": "no"})]),
}

BOOT_LOADER_BANNER = "SYSLINUX"


def _serial_log(lago: LagoRunner, vm: str) -> str:
    return (lago.cwd / ".lago/default/logs" / f"{vm}.serial.log").read_text(
        errors="replace"
    )


def _root_metadata(lago: LagoRunner, vm: str) -> dict[str, str]:
    spec = json.loads((lago.cwd / ".lago/default/virt" / f"vm-{vm}").read_text())
    return spec["disks"][0]["metadata"]


def test_direct_boot_and_opt_out(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd, VMS, MANAGEMENT_NET)
    lago("init")

    direct = _root_metadata(lago, "vm01")
    kernel, initrd = Path(direct["boot-kernel-file"]), Path(direct["boot-initrd-file"])
    assert kernel.is_file() and initrd.is_file()
    # Debian's cloud kernel has a PVH entry: qemu loads the vmlinux itself
    assert kernel.read_bytes()[:4] == b"\x7fELF"
    assert "boot-kernel-file" not in _root_metadata(lago, "vm02")

    lago("start", "--wait-for-ssh", timeout=900)
    for vm in ("vm01", "vm02"):
        assert lago("shell", vm, "hostname").stdout == f"{vm}\n"
        # the kernel's console is still the serial port
        assert "console=ttyS0" in lago("shell", vm, "cat /proc/cmdline").stdout
        # no kernel warning (the interrupt options of the command line)
        assert "cut here" not in lago("shell", vm, "dmesg").stdout

    assert BOOT_LOADER_BANNER not in _serial_log(lago, "vm01")
    assert BOOT_LOADER_BANNER in _serial_log(lago, "vm02")
    assert "lago-tiny: ready" in _serial_log(lago, "vm01")
