"""A failed external tool is one line naming the tool, the VM and the disk;
its whole output goes to the debug log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lago.disks import DiskContext, create_disk
from lago.errors import LagoException, ToolError, why
from lago.nocloud import SeedError
from lago.paths import Paths
from lago.process import CommandStatus, tool_error
from lago.sysprep import SysprepError

SYSPREP_OUTPUT = """\
[   0.0] Examining the guest ...
virt-sysprep: error: libguestfs error: could not create appliance through
libvirt.

Try running qemu directly without libvirt using this environment variable:
export LIBGUESTFS_BACKEND=direct

If reporting bugs, run virt-sysprep with debugging enabled and include the
complete output:

  virt-sysprep -v -x [...]
"""


def test_the_explaining_paragraph_of_a_wrapped_output() -> None:
    assert why(SYSPREP_OUTPUT, "virt-sysprep") == (
        "error: libguestfs error: could not create appliance through libvirt."
    )


def test_the_tool_name_in_front_is_dropped() -> None:
    line = "qemu-img: /p/a.qcow2: Could not open '/p/a.qcow2': No such file"
    assert why(line + "\n", "qemu-img info") == (
        "/p/a.qcow2: Could not open '/p/a.qcow2': No such file"
    )


def test_a_long_message_keeps_its_start_and_its_end() -> None:
    text = (
        "internal error: qemu closed the monitor: " + "x" * 500 + ": Permission denied"
    )
    shown = why(text)
    assert len(shown) == 300
    assert shown.startswith("internal error: qemu closed the monitor: ")
    assert shown.endswith("xx: Permission denied")
    assert " ... " in shown


def test_no_output_at_all() -> None:
    assert why("  \n") == "no error message"


def test_tool_error_logs_everything_and_says_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lago.process")
    err = tool_error(
        "virt-sysprep", CommandStatus(1, "", SYSPREP_OUTPUT), vm="vm01",
        disk="/p/images/vm01_root.qcow2", kind=SysprepError,
    )  # fmt: skip
    assert isinstance(err, SysprepError) and isinstance(err, ToolError)
    assert str(err) == (
        "virt-sysprep failed on VM vm01 disk /p/images/vm01_root.qcow2: error: "
        "libguestfs error: could not create appliance through libvirt."
    )
    assert "export LIBGUESTFS_BACKEND=direct" in caplog.text


def test_seed_errors_are_tool_errors() -> None:
    assert issubclass(SeedError, ToolError)
    assert issubclass(ToolError, LagoException)


def test_qemu_img_refusing_a_disk_names_the_vm_the_disk_and_the_tool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "images").mkdir()
    ctx = DiskContext("vm01", Paths(tmp_path), lambda name, version: ("", {}))
    disk = {"type": "empty", "name": "data", "dev": "vdb", "format": "qcow2"}
    with pytest.raises(ToolError) as err:
        # a size the file format cannot hold: only qemu-img knows
        create_disk(ctx, {**disk, "size": "7E"})
    image = tmp_path / "images" / "vm01_data.qcow2"
    assert str(err.value) == (
        f"qemu-img failed on VM vm01 disk data: {image}: The image size is too "
        "large for file format 'qcow2' (try using a larger cluster size)"
    )
    assert "qemu-img exited 1; its output:" in caplog.text
