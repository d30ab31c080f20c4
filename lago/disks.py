"""Making a VM's disks at ``init``: qcow2 layers, empty disks and files."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lago import qemu_img
from lago.boot_files import direct_boot_metadata
from lago.disk_download import Download, Step, fetch
from lago.errors import LagoUserException
from lago.paths import Paths
from lago.process import tool_error

LOGGER = logging.getLogger(__name__)

#: A VM's own images: libvirt's dynamic ownership hands each to the qemu user
#: while its VM runs and gives it back after, so nobody else needs access.
IMAGE_MODE = 0o600

#: (template name, version or None) -> (store entry path, stored metadata)
TemplateResolver = Callable[[str, "str | None"], "tuple[str, dict[str, Any]]"]


class DiskError(LagoUserException):
    pass


@dataclass
class DiskContext:
    vm_name: str
    paths: Paths
    resolve_template: TemplateResolver
    #: register what undoes a step if ``init`` fails / finishes it if it succeeds
    undo: Step | None = None
    commit: Step | None = None


def _qemu_img_create(
    ctx: DiskContext, disk: dict[str, Any], path: str, fmt: str, **kwargs: Any
) -> None:
    if os.path.lexists(path):
        os.unlink(path)
    result = qemu_img.create(path, fmt, **kwargs)
    if result.code:
        raise tool_error("qemu-img", result, vm=ctx.vm_name, disk=disk["name"])
    os.chmod(path, IMAGE_MODE)


def _image_file(ctx: DiskContext, disk: dict[str, Any]) -> tuple[str, str]:
    name = f"{ctx.vm_name}_{disk['name']}.{disk['format']}"
    return ctx.paths.images(name), f"$LAGO_PREFIX_PATH/images/{name}"


def _template_disk(ctx: DiskContext, disk: dict[str, Any]) -> dict[str, Any]:
    path, saved = _image_file(ctx, disk)
    if disk.get("template_type") == "qcow2":
        parent = _resolve_qcow2_parent(ctx, disk)
        _qemu_img_create(
            ctx, disk, path, "qcow2", backing=parent, backing_format="qcow2"
        )
        return {**disk, "path": saved, **_with_sidecar(disk, parent)}
    base, metadata = ctx.resolve_template(
        disk["template_name"], disk.get("template_version")
    )
    _qemu_img_create(
        ctx, disk, path, "qcow2", backing=base, backing_format="raw",
        options=["lazy_refcounts=on"],
    )  # fmt: skip
    merged = {**(disk.get("metadata") or {}), **metadata}
    merged.update(direct_boot_metadata(base, metadata, disk.get("metadata")))
    return {**disk, "path": saved, "metadata": merged}


def _resolve_qcow2_parent(ctx: DiskContext, disk: dict[str, Any]) -> str:
    """The image a ``template_type: qcow2`` disk layers on, fetched if needed."""
    image = os.path.abspath(disk["path"])
    if not os.path.exists(image):
        raise DiskError(f"Disk {image} of VM {ctx.vm_name} does not exist")
    backing = qemu_img.get_qemu_info(image).get("backing-filename")
    if not backing:
        return image
    resolved = (
        backing
        if os.path.isabs(backing)
        else os.path.join(os.path.dirname(image), backing)
    )
    if os.path.exists(resolved):
        if os.path.realpath(resolved) == os.path.realpath(image):
            raise DiskError(f"Disk {image} and its backing file are the same file.")
        return image
    base = os.path.basename(backing)
    if ":" not in base:
        raise DiskError(
            f"Backing file resolution of disk {image} failed. "
            f"Backing file {backing} is not a Lago image."
        )
    name, version = base.split(":", 1)
    store_path, _ = ctx.resolve_template(name, version)
    if os.path.realpath(store_path) != os.path.realpath(resolved):
        os.symlink(store_path, resolved)
    return image


def _empty_disk(ctx: DiskContext, disk: dict[str, Any]) -> dict[str, Any]:
    path, saved = _image_file(ctx, disk)
    size = str(disk["size"])
    if disk["format"] == "qcow2":
        _qemu_img_create(
            ctx, disk, path, "qcow2", size=size, options=["preallocation=metadata"]
        )
    else:
        _qemu_img_create(ctx, disk, path, disk["format"], size=size)
    return {**disk, "path": saved}


def _file_disk(ctx: DiskContext, disk: dict[str, Any]) -> dict[str, Any]:
    url, path = disk.get("url"), disk.get("path")
    if url:
        job = Download(
            vm_name=ctx.vm_name,
            url=url,
            target=path or ctx.paths.images(os.path.basename(url)),
            prefix_dir=ctx.paths.prefix,
            overwrite=bool(disk.get("overwrite")),
            default_mode=IMAGE_MODE,
        )
        return {**disk, "path": fetch(job, ctx.undo, ctx.commit)}
    if not path:
        raise DiskError(
            "Partial drive spec, no url nor path provided for disk of type file"
        )
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise DiskError(f"Disk file {path} of VM {ctx.vm_name} does not exist")
    metadata = _with_sidecar(disk, path)
    if str(disk.get("make_a_copy", "")).lower() in ("true", "yes", "1"):
        copy = ctx.paths.images(os.path.basename(path))
        result = qemu_img.cp(path, copy, fail_on_error=False)
        if result.code:
            raise tool_error("cp", result, vm=ctx.vm_name, disk=disk["name"])
        os.chmod(copy, IMAGE_MODE)
        return {**disk, "path": copy, **metadata}
    return {**disk, "path": path, **metadata}


def _with_sidecar(disk: dict[str, Any], image: str) -> dict[str, Any]:
    """``{"metadata": ...}``: the disk's own over that of ``<image>.metadata``
    (empty when neither has any).

    ``lago export`` writes the image's metadata there (the exported init
    file leaves it out), so that a rebuilt VM is bootstrapped as its
    template was, e.g. through a cloud-init seed.
    """
    sidecar = Path(image + ".metadata")
    stored: dict[str, Any] = {}
    if sidecar.is_file():
        try:
            loaded = json.loads(sidecar.read_text())
        except (OSError, ValueError) as err:
            LOGGER.warning("Ignoring unreadable %s: %s", sidecar, err)
        else:
            stored = loaded if isinstance(loaded, dict) else {}
    merged = {**stored, **(disk.get("metadata") or {})}
    return {"metadata": merged} if merged else {}


_MAKERS = {"template": _template_disk, "empty": _empty_disk, "file": _file_disk}


def create_disk(ctx: DiskContext, disk: dict[str, Any]) -> dict[str, Any]:
    """Make one disk; returns the disk spec as it is saved."""
    maker = _MAKERS.get(disk.get("type", ""))
    if maker is None:
        raise DiskError(f"Unknown drive spec {disk}")
    return maker(ctx, disk)
