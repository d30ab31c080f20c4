"""Bad values and failing tools end `lago` with one line naming the VM, the
disk and the tool; nothing is left behind."""

from __future__ import annotations

import re

from .conftest import LagoRunner
from .initfiles import scratch_disk, tiny_root, tiny_vm, write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _init_file(lago: LagoRunner, vcpu: int, size: str, memory: int = 256) -> None:
    disks = [tiny_root(), scratch_disk(size, name="data")]
    write_tiny_env(lago.cwd, {"vm01": tiny_vm(memory, vcpu, disks)})


def _lines(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


def _fails(lago: LagoRunner, *args: str) -> list[str]:
    proc = lago(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return _lines(proc.stderr)


def test_absurd_values_are_refused_before_any_tool_runs(lago: LagoRunner) -> None:
    _init_file(lago, vcpu=100000, size="1G")
    lines = _fails(lago, "init")
    assert lines == [
        f"{lago.cwd / 'LagoInitFile'}: domains.vm01.vcpu: 100000 is more than 255, "
        "the most CPUs qemu gives a VM"
    ]
    _init_file(lago, vcpu=1, size="99999E")
    lines = _fails(lago, "init")
    assert lines == [
        f"{lago.cwd / 'LagoInitFile'}: domains.vm01.disks[1].size: expected a size "
        "below 8E (the largest image qemu-img makes), got '99999E'"
    ]
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]


def test_qemu_img_refusing_a_disk_is_one_line(lago: LagoRunner) -> None:
    # a size only qemu-img knows the qcow2 format cannot hold
    _init_file(lago, vcpu=1, size="7E")
    proc = lago("--loglevel", "debug", "init", check=False)
    assert proc.returncode == 2
    image = lago.cwd / ".lago" / "default" / "images" / "vm01_data.qcow2"
    # the whole output at debug level, then the one line as the last one
    assert "qemu-img exited 1; its output:" in proc.stderr
    assert _lines(proc.stderr)[-1] == (
        f"qemu-img failed on VM vm01 disk data: {image}: The image size is too "
        "large for file format 'qcow2' (try using a larger cluster size)"
    )
    proc = lago("init", check=False)
    assert proc.returncode == 2
    assert _lines(proc.stderr)[-1].startswith("qemu-img failed on VM vm01 disk data: ")
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]


def test_libvirt_refusing_a_vm_is_one_line(lago: LagoRunner) -> None:
    # the most memory an init file may ask for: more than this host has
    _init_file(lago, vcpu=1, size="1G", memory=16777216)
    lago("init")
    proc = lago("start", check=False)
    assert proc.returncode != 0
    lines = _lines(proc.stderr)
    assert "Traceback" not in proc.stderr
    assert lines[-1].startswith("Failed to start VM vm01: libvirt: "), lines
    assert "cannot set up guest memory" in lines[-1]
