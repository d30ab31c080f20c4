"""Values no tool accepts are refused when the init file is loaded, in one
line, instead of reaching qemu-img or libvirt."""

from __future__ import annotations

from typing import Any

import pytest

from lago.errors import InitFileError
from lago.initfile import validate
from tests.unit.lago.test_initfile import Mutation, _add_disk, _good, _vm

LIMITS: list[tuple[str, Mutation, str]] = [
    (
        "size-99999E",
        lambda d: _add_disk(d, type="empty", size="99999E"),
        "domains.vm01.disks[1].size: expected a size below 8E (the largest image "
        "qemu-img makes), got '99999E'",
    ),
    (
        "size-8E-in-bytes",
        lambda d: _add_disk(d, type="empty", size=2**63),
        "domains.vm01.disks[1].size: expected a size below 8E (the largest image "
        f"qemu-img makes), got {2**63}",
    ),
    (
        "format-with-slash",
        lambda d: _add_disk(d, type="empty", size="1G", format="../../x"),
        "domains.vm01.disks[1].format: unknown disk format '../../x'; expected one "
        "of: qcow2, raw, iso, qcow, qed, vmdk, vdi, vhdx, vpc",
    ),
    (
        "format-unknown",
        lambda d: _add_disk(d, type="empty", size="1G", format="qcow3"),
        "domains.vm01.disks[1].format: unknown disk format 'qcow3'; expected one "
        "of: qcow2, raw, iso, qcow, qed, vmdk, vdi, vhdx, vpc",
    ),
    (
        "vcpu-100000",
        lambda d: _vm(d).update(vcpu=100000),
        "domains.vm01.vcpu: 100000 is more than 255, the most CPUs qemu gives a VM",
    ),
    (
        "memory-a-petabyte",
        lambda d: _vm(d).update(memory="1073741824"),
        "domains.vm01.memory: 1073741824 is more than 16777216 MiB (16 TiB)",
    ),
    (
        "vm-name-300",
        lambda d: d["domains"].update({"v" * 300: d["domains"].pop("vm01")}),
        f"domains: invalid VM name '{'v' * 60}...': 300 characters, at most 63",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [pytest.param(mutate, message, id=name) for name, mutate, message in LIMITS],
)
def test_absurd_values_are_one_line(mutate: Mutation, message: str) -> None:
    data: Any = _good()
    mutate(data)
    with pytest.raises(InitFileError) as err:
        validate(data, "LagoInitFile")
    assert str(err.value) == f"LagoInitFile: {message}"


@pytest.mark.parametrize(
    ("key", "value"),
    [("size", "7E"), ("size", "1.5G"), ("size", 2**63 - 1), ("format", "vmdk")],
)
def test_values_up_to_the_limits_are_kept(key: str, value: Any) -> None:
    data: Any = _good()
    _add_disk(data, type="empty", **{"size": "1G", key: value})
    validate(data, "LagoInitFile")


def test_the_largest_machine_is_kept() -> None:
    data: Any = _good()
    _vm(data).update(vcpu=255, memory=16 * 2**20)
    validate(data, "LagoInitFile")
