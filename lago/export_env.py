"""Exporting the VMs of an environment: checks, disks, then the init file.

Nothing is exported unless every check passes: the VMs exist and are off,
and the destination holds none of the files the export would write. If a
disk or the init file fails, every file this export wrote is removed (and
the destination too when the export created it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lago.export import LagoExportError, export_targets, remove_targets
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel
from lago.plugins.output import OutFormatPlugin


def vms_to_export(env: Any, vms_names: Iterable[str] | None) -> list[Any]:
    """The named VMs (default all) minus those marked ``skip-export``."""
    names = list(vms_names or [])
    all_vms = env.get_vms()
    for name in names:
        if name not in all_vms:
            raise LagoExportError(f"Entity {name} does not exist")
    chosen = [all_vms[name] for name in names] if names else list(all_vms.values())
    vms = [vm for vm in chosen if not vm.spec.get("skip-export")]
    running = [vm.name() for vm in vms if vm.defined()]
    if running:
        raise LagoExportError("The following vms must be off:\n" + "\n".join(running))
    return vms


def _make_dst(dst_dir: str) -> bool:
    """Create the destination (one level); whether it was created."""
    if os.path.isdir(dst_dir):
        return False
    try:
        os.mkdir(dst_dir)
    except OSError as err:
        raise LagoExportError(
            f"Cannot create export directory {dst_dir}: {err.strerror}"
        ) from err
    return True


def _check_free(paths: list[str]) -> None:
    for path in paths:
        for target in export_targets(path):
            if os.path.lexists(target):
                raise LagoExportError(
                    f"Export destination already holds {target}: "
                    "remove it or export to another directory (--dst-dir)"
                )


def _planned_paths(vms: list[Any], dst: str) -> list[str]:
    paths: list[str] = []
    for vm in vms:
        for path in vm.export_disks(dst_dir=dst, collect_only=True):
            target = os.path.join(dst, os.path.basename(path))
            if target in paths:
                raise LagoExportError(
                    f"Two disks would be exported to the same file {target}"
                )
            paths.append(target)
    return paths


@dataclass
class ExportRequest:
    """What ``export`` was asked for (the verb's options)."""

    vms_names: list[str] | None = None
    standalone: bool = False
    dst_dir: str = "."
    compress: bool = False
    init_file_name: str = "LagoInitFile"
    out_format: OutFormatPlugin | None = None
    collect_only: bool = False
    with_threads: bool = True


def export_vms(env: Any, request: ExportRequest) -> dict[str, list[str]] | None:
    """Export the VMs' disks and an init file into ``dst_dir``.

    :returns: with ``collect_only``, ``{vm name: [source disk paths]}``
        and nothing is exported
    """
    dst = os.path.realpath(os.path.expanduser(request.dst_dir or "."))
    # checked before anything is created or logged as started
    vms = vms_to_export(env, request.vms_names)
    init_path = os.path.join(dst, request.init_file_name)
    planned: list[str] = []
    if not request.collect_only:
        planned = _planned_paths(vms, dst)
        _check_free(planned)
        if os.path.lexists(init_path):
            raise LagoExportError(
                f"Export destination already holds {init_path}: "
                "remove it or choose another --init-file-name"
            )
    with LogTask(f"Exporting disks to: {dst}"):
        created = _make_dst(dst)
        if request.collect_only:
            return {
                vm.name(): vm.export_disks(dst_dir=dst, collect_only=True) for vm in vms
            }
        # every planned file is this export's own: none existed above
        try:
            _export_all(vms, dst, request)
            env.generate_init(init_path, request.out_format, vms)
        except BaseException:
            _undo(planned, init_path, dst, created)
            raise
    return None


def _export_all(vms: list[Any], dst: str, request: ExportRequest) -> None:
    def export_one(vm: Any) -> None:
        vm.export_disks(
            standalone=request.standalone,
            dst_dir=dst,
            compress=request.compress,
            with_threads=request.with_threads,
        )

    if request.with_threads:
        invoke_in_parallel(export_one, vms)
    else:
        for vm in vms:
            export_one(vm)


def _undo(disks: list[str], init_path: str, dst: str, created: bool) -> None:
    for path in disks:
        remove_targets(path)
    if os.path.lexists(init_path):
        os.unlink(init_path)
    if created:
        try:
            os.rmdir(dst)
        except OSError:
            pass
