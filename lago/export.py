"""Exporting VM disks: one manager per disk, one per VM.

Each exported disk ``<dst>/<basename>`` gets ``<basename>.hash`` (its sha1)
and ``<basename>.metadata`` (its Lago metadata as compact JSON) beside it;
with compression the image is replaced by ``<basename>.xz``.

Images are copied with ``qemu-img convert``, which leaves zero clusters out
of the copy, instead of the original's ``cp`` followed by ``virt-sparsify
--in-place``: the appliance ``virt-sparsify`` boots costs tens of seconds
per disk (minutes without KVM) and only adds the space of files deleted
inside the guest. Pass ``sparsify=True`` to get it back.
"""

from __future__ import annotations

import abc
import datetime
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from lago import qemu_img
from lago.boot_files import without_store_files
from lago.errors import LagoUserException
from lago.log_utils import LogTask
from lago.parallel import invoke_different_funcs_in_parallel

LOGGER = logging.getLogger(__name__)

#: xz block size: lets ``xz --threads=0`` compress blocks in parallel
XZ_BLOCK_SIZE = 16 * 1024 * 1024
SIDECARS = (".hash", ".metadata", ".xz")


class LagoExportError(LagoUserException):
    """An export that cannot be done as asked."""


def export_targets(path: str) -> list[str]:
    """Every file an export of ``path`` may write."""
    return [path] + [path + suffix for suffix in SIDECARS]


def remove_targets(path: str) -> None:
    for target in export_targets(path):
        if os.path.lexists(target):
            os.unlink(target)


class DiskExportManager(abc.ABC):
    """Exports one disk spec (``path`` already free of variables) to ``dst``."""

    def __init__(
        self,
        dst: str,
        disk_type: str,
        disk: dict[str, Any],
        do_compress: bool,
        sparsify: bool = False,
    ) -> None:
        self.src = os.path.expandvars(disk["path"])
        self.name = os.path.basename(self.src)
        self.dst = os.path.join(dst, self.name)
        self.dist_type = disk_type  # the original's spelling, read by plugins
        self.disk_type = disk_type
        self.disk = disk
        # an export names no file of this host's store: it boots from its disk
        self.exported_metadata: dict[str, Any] = without_store_files(
            disk.get("metadata") or {}
        )
        self.do_compress = do_compress
        self.sparsify = sparsify

    @staticmethod
    def get_instance_by_type(
        dst: str, disk: dict[str, Any], do_compress: bool, *args: Any, **kwargs: Any
    ) -> DiskExportManager:
        try:
            handler = HANDLERS[disk["type"]]
        except KeyError:
            raise LagoExportError(
                f"Unknown disk type {disk.get('type')!r} of disk {disk.get('path')}"
            ) from None
        return handler(dst, disk["type"], disk, do_compress, *args, **kwargs)

    @abc.abstractmethod
    def export(self) -> None:
        """Write the exported image and its sidecar files."""

    @property
    def format(self) -> str:
        return str(self.disk.get("format") or "raw")

    def copy(self) -> None:
        if self.format == "iso":
            qemu_img.cp(self.src, self.dst)
        else:
            qemu_img.export_copy(self.src, self.dst, self.format)

    def sparse(self) -> None:
        """Free the blocks of deleted files (``virt-sparsify``), if asked for."""
        if self.sparsify and self.format != "iso":
            qemu_img.sparse(self.dst, self.format)

    def calc_sha(self, checksum: str) -> str:
        with open(self.dst, "rb") as stream:
            digest = hashlib.file_digest(stream, checksum).hexdigest()
        with open(self.dst + ".hash", "w") as stream:
            stream.write(digest)
        self.exported_metadata[checksum] = digest
        return digest

    def compress(self) -> None:
        if not self.do_compress:
            return
        with LogTask(f"Compressing disk {self.name}"):
            qemu_img.compress(self.dst, XZ_BLOCK_SIZE)
            os.unlink(self.dst)

    def update_lago_metadata(self) -> None:
        self.exported_metadata.update(
            size=os.stat(self.dst).st_size,
            name=self.name,
            version=f"{datetime.date.today():%Y%m%d}.0",
        )

    def write_lago_metadata(self) -> None:
        with open(self.dst + ".metadata", "w") as stream:
            json.dump(self.exported_metadata, stream, separators=(",", ":"))

    def _finish(self) -> None:
        self.calc_sha("sha1")
        self.update_lago_metadata()
        self.write_lago_metadata()
        self.compress()

    def _guarded(self, *steps: Callable[[], None]) -> None:
        """Run the steps; a failure leaves no file of this disk behind."""
        with LogTask(f"Exporting disk {self.name} to {os.path.dirname(self.dst)}"):
            try:
                for step in steps:
                    step()
            except BaseException:
                remove_targets(self.dst)
                raise


class TemplateExportManager(DiskExportManager):
    """A disk layered on a template: kept layered on it, or made standalone."""

    def __init__(
        self,
        dst: str,
        disk_type: str,
        disk: dict[str, Any],
        do_compress: bool,
        *args: Any,
        standalone: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(dst, disk_type, disk, do_compress, *args, **kwargs)
        self.standalone = standalone
        chain = qemu_img.get_qemu_info(self.src, backing_chain=True)
        self.src_qemu_info: list[dict[str, Any]] = (
            chain if isinstance(chain, list) else [chain]
        )

    @property
    def backing(self) -> dict[str, Any] | None:
        return self.src_qemu_info[1] if len(self.src_qemu_info) > 1 else None

    def check(self) -> None:
        if not self.standalone and len(self.src_qemu_info) > 2:
            raise LagoExportError(
                f"Layered export is currently supported for one layer only, "
                f"disk {self.src} has {len(self.src_qemu_info) - 1}; "
                "try a standalone export (--standalone)"
            )

    def copy(self) -> None:
        backing = self.backing
        if self.standalone or backing is None:
            qemu_img.export_copy(self.src, self.dst, "qcow2")
            return
        qemu_img.export_copy(
            self.src,
            self.dst,
            "qcow2",
            backing_file=backing["filename"],
            backing_format=backing.get("format"),
        )

    def rebase(self) -> None:
        """Point a layered export at ``./<template>:<version>`` beside it."""
        backing = self.backing
        if self.standalone or backing is None:
            return
        base = os.path.basename(backing["filename"])
        # store entries are <repo>:<template>:<version>; init finds the
        # template again from <template>:<version>
        base = base.split(":", 1)[1] if base.count(":") > 1 else base
        qemu_img.qemu_rebase(
            self.dst,
            f"./{base}",
            safe=False,
            backing_format=backing.get("format") or "raw",
        )

    def update_lago_metadata(self) -> None:
        self.exported_metadata["base"] = (
            "None" if self.standalone or self.backing is None else self.name
        )
        super().update_lago_metadata()

    def export(self) -> None:
        self.check()
        self._guarded(self.copy, self.sparse, self.rebase, self._finish)


class FileExportManager(DiskExportManager):
    """A disk of type ``file`` or ``empty``: a plain (sparse) copy."""

    def __init__(
        self,
        dst: str,
        disk_type: str,
        disk: dict[str, Any],
        do_compress: bool,
        *args: Any,
        standalone: bool = True,
        **kwargs: Any,
    ) -> None:
        # ``standalone`` is meaningless without a template: accepted, unused
        super().__init__(dst, disk_type, disk, do_compress, *args, **kwargs)

    def export(self) -> None:
        self._guarded(self.copy, self.sparse, self._finish)


HANDLERS: dict[str, type[DiskExportManager]] = {
    "file": FileExportManager,
    "empty": FileExportManager,
    "template": TemplateExportManager,
}


class VMExportManager:
    """Exports the disks of one VM (those without ``skip-export``)."""

    def __init__(
        self,
        disks: list[dict[str, Any]],
        dst: str,
        compress: bool,
        with_threads: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self._disks = disks
        self._dst = os.path.realpath(os.path.expandvars(dst))
        self._compress = compress
        self._with_threads = with_threads
        self._args = args
        self._kwargs = kwargs

    def _collect(self) -> Iterator[dict[str, Any]]:
        return (disk for disk in self._disks if not disk.get("skip-export"))

    def collect_paths(self) -> list[str]:
        return [os.path.expandvars(disk["path"]) for disk in self._collect()]

    def exported_disks_paths(self) -> list[str]:
        return [
            os.path.join(self._dst, os.path.basename(path))
            for path in self.collect_paths()
        ]

    def _get_export_mgr(self) -> list[DiskExportManager]:
        return [
            DiskExportManager.get_instance_by_type(
                self._dst, disk, self._compress, *self._args, **self._kwargs
            )
            for disk in self._collect()
        ]

    def export(self) -> list[str]:
        managers = self._get_export_mgr()
        for manager in managers:
            if isinstance(manager, TemplateExportManager):
                manager.check()
        if self._with_threads:
            invoke_different_funcs_in_parallel(*[mgr.export for mgr in managers])
        else:
            for manager in managers:
                manager.export()
        return self.exported_disks_paths()
