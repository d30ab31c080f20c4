"""The ``disks`` of a VM in a LagoInitFile, and their ``build`` steps.

See :mod:`lago.initfile_schema` for the conventions (normalized copies,
:class:`~lago.initfile_values.FieldError`).
"""

from __future__ import annotations

import re
from typing import Any

from lago.initfile_values import (
    Checker,
    FieldError,
    as_bool,
    as_list,
    as_mapping,
    as_size,
    as_str,
    as_version,
    check_keys,
    checked,
    child,
    fail,
    item,
    mapping,
    name_of,
    one_of,
    require,
    string,
)

DISK_TYPES = ("template", "empty", "file")
TEMPLATE_TYPES = ("lago", "qcow2")
# what qemu-img makes and libvirt attaches as a disk file, and `iso` (a CD-ROM);
# the format also ends the image's file name, so nothing else gets that far
DISK_FORMATS = ("qcow2", "raw", "iso", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc")
#: Builder names once ``-`` became ``_``, as the original looked them up.
BUILDERS = ("virt_customize",)
_DEV_RE = re.compile(r"^(vd|sd|hd)[a-z]+$")


def _dev(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _DEV_RE.match(value):
        raise fail(path, "a device name like vda, sdb or hdc", value)
    return value


def _build_options(value: Any, path: str, builder: str) -> dict[Any, Any]:
    options = as_mapping(value, path, f"a mapping of {builder} options")
    for name, arg in options.items():
        as_str(name, path, "option names (strings) as keys")
        for one in arg if isinstance(arg, list) else [arg]:
            if isinstance(one, dict | list):
                raise fail(child(path, name), "a string, a list of strings or ''", arg)
    return options


def check_build(value: Any, path: str) -> list[Any]:
    """``build``: a list of one-key ``{builder: {option: arg}}`` mappings."""
    steps = as_list(value, path, "a list of builders like [{virt-customize: {...}}]")
    for index, step in enumerate(steps):
        where = item(path, index)
        if not step:
            continue  # the original skips empty items
        if not isinstance(step, dict) or len(step) != 1:
            expected = "a mapping with one builder name (options indented under it)"
            raise fail(where, expected, step)
        builder = next(iter(step))
        if str(builder).replace("-", "_") not in BUILDERS:
            raise FieldError(
                where,
                f"Command {builder} is not supported as a build command "
                "(the only builder is 'virt-customize')",
            )
        _build_options(step[builder], child(where, builder), builder)
    return steps


DISK_VALUES: dict[str, Checker] = {
    "type": one_of(DISK_TYPES, "Unknown drive spec"),
    "name": name_of("disk"),
    "dev": _dev,
    # the documented spelling of ``dev``
    "device": _dev,
    "format": one_of(DISK_FORMATS, "unknown disk format"),
    "size": as_size,
    "template_name": string("a template name (string)"),
    "template_version": as_version,
    "template_type": one_of(TEMPLATE_TYPES),
    "path": string("a file path (string)"),
    "url": string("a URL (string)"),
    "make_a_copy": as_bool,
    # a file disk's url may replace an existing file at its path only so
    "overwrite": as_bool,
    "metadata": mapping("a mapping"),
    "build": check_build,
    "skip-export": as_bool,
}


def _check_source(disk: dict[str, Any], path: str) -> None:
    """Each disk type needs what it is made from."""
    if disk["type"] == "template":
        if disk.get("template_type", "lago") == "qcow2":
            meaning = "the qcow2 image a 'template_type: qcow2' disk is layered on"
            require(disk, "path", path, meaning)
        else:
            meaning = "the template to create the disk from, e.g. el7.3-base"
            require(disk, "template_name", path, meaning)
    elif disk["type"] == "empty":
        require(disk, "size", path, "the size of an empty disk, e.g. 10G")
    elif "path" not in disk and "url" not in disk:
        raise FieldError(
            path, "Partial drive spec, no url nor path provided for disk of type file"
        )


def _device_as_dev(disk: dict[str, Any], path: str) -> None:
    """``device`` (as the docs spell it) is saved as ``dev``."""
    if "device" not in disk:
        return
    device = disk.pop("device")
    if disk.setdefault("dev", device) != device:
        raise FieldError(
            child(path, "device"),
            f"{device!r} differs from dev {disk['dev']!r} (give one of the two)",
        )


def check_disk(value: Any, path: str) -> dict[str, Any]:
    """One disk; ``device`` is read as ``dev``; ``name`` defaults to ``dev``."""
    spec = as_mapping(value, path, "a mapping of disk settings")
    check_keys(spec, DISK_VALUES, path)
    require(spec, "type", path, "one of: " + ", ".join(DISK_TYPES))
    disk = checked(spec, DISK_VALUES, path)
    _device_as_dev(disk, path)
    require(disk, "format", path, "e.g. qcow2, raw or iso")
    require(disk, "dev", path, "the guest device, e.g. vda or sdb")
    disk.setdefault("name", disk["dev"])
    _check_source(disk, path)
    return disk


def check_disks(value: Any, path: str) -> list[dict[str, Any]]:
    """The disk list; two disks may not share a device or a name (the name
    makes the image file name)."""
    disks = [
        check_disk(disk, item(path, index))
        for index, disk in enumerate(as_list(value, path, "a list of disks"))
    ]
    for key in ("dev", "name"):
        seen: dict[str, int] = {}
        for index, disk in enumerate(disks):
            if disk[key] in seen:
                raise FieldError(
                    child(item(path, index), key),
                    f"{disk[key]!r} is already used by disks[{seen[disk[key]]}]",
                )
            seen[disk[key]] = index
    return disks
