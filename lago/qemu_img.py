"""Disk image tools: ``qemu-img``, sparse copies, sparsify and xz.

Every ``qemu-img`` command Lago runs is built here. The functions return the
:class:`~lago.process.CommandStatus` when the caller words its own error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lago.process import CommandStatus, run_command, tool_error


def info_command(
    path: str, backing_chain: bool = False, force_share: bool = True
) -> list[str]:
    """``qemu-img info`` in JSON; ``force_share`` reads images in use too."""
    cmd = ["qemu-img", "info", "--output=json"]
    if force_share:
        cmd.append("-U")
    if backing_chain:
        cmd.append("--backing-chain")
    return [*cmd, path]


def run_info(path: str, force_share: bool = True) -> CommandStatus:
    """``qemu-img info`` of ``path`` (JSON on stdout), not checked."""
    return run_command(info_command(path, force_share=force_share))


def create_command(
    path: str,
    fmt: str,
    size: str | None = None,
    *,
    backing: str | None = None,
    backing_format: str | None = None,
    options: Sequence[str] = (),
) -> list[str]:
    cmd = ["qemu-img", "create", "-f", fmt]
    for option in options:
        cmd += ["-o", option]
    if backing is not None:
        cmd += ["-F", backing_format or "raw", "-b", backing]
    cmd.append(path)
    if size is not None:
        cmd.append(size)
    return cmd


def create(
    path: str,
    fmt: str,
    size: str | None = None,
    *,
    backing: str | None = None,
    backing_format: str | None = None,
    options: Sequence[str] = (),
) -> CommandStatus:
    """Make image ``path``: empty of ``size``, or a layer over ``backing``."""
    return run_command(
        create_command(
            path,
            fmt,
            size,
            backing=backing,
            backing_format=backing_format,
            options=options,
        )
    )


def convert_command(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    source_format: str,
    dest_format: str,
    *,
    options: Sequence[str] = (),
    compress: bool = False,
    quiet: bool = False,
) -> list[str]:
    cmd = ["qemu-img", "convert"]
    if quiet:
        cmd.append("-q")
    cmd += ["-f", source_format, "-O", dest_format]
    for option in options:
        cmd += ["-o", option]
    if compress:
        cmd.append("-c")
    return [*cmd, os.fspath(source), os.fspath(dest)]


def convert(
    source: str, dest: str, source_format: str, dest_format: str
) -> CommandStatus:
    """Copy image ``source`` to ``dest`` in another format."""
    return run_command(convert_command(source, dest, source_format, dest_format))


def get_qemu_info(
    path: str, backing_chain: bool = False, fail_on_error: bool = True
) -> Any:
    """``qemu-img info`` as a dict, or a list of dicts for the whole chain."""
    result = run_command(info_command(path, backing_chain))
    if result.code:
        if fail_on_error:
            raise tool_error("qemu-img info", result, disk=path)
        return [] if backing_chain else {}
    return json.loads(result.out)


def _image_format(path: str) -> str:
    info = get_qemu_info(path)
    return info.get("format", "raw")


def qemu_rebase(
    target: str,
    backing_file: str,
    safe: bool = True,
    fail_on_error: bool = True,
    backing_format: str | None = None,
) -> CommandStatus:
    """Point ``target`` at ``backing_file`` (``""``: make it standalone).

    The backing format is always given explicitly, as qemu 6.1+ requires;
    when not passed it is probed from ``backing_file`` (relative paths are
    resolved against ``target``'s directory).
    """
    cmd = ["qemu-img", "rebase", "-b", backing_file]
    if backing_file:
        if backing_format is None:
            resolved = Path(backing_file)
            if not resolved.is_absolute():
                resolved = Path(target).parent / resolved
            backing_format = (
                _image_format(str(resolved)) if resolved.exists() else "qcow2"
            )
        cmd += ["-F", backing_format]
    if not safe:
        cmd.insert(2, "-u")
    cmd.append(target)
    result = run_command(cmd)
    if result.code and fail_on_error:
        raise tool_error("qemu-img rebase", result, disk=target)
    return result


def cp(input_file: str, output_file: str, fail_on_error: bool = True) -> CommandStatus:
    """Copy keeping sparseness (``cp --sparse=always``)."""
    result = run_command(["cp", "--sparse=always", input_file, output_file])
    if result.code and fail_on_error:
        raise tool_error(f"cp to {output_file}", result, disk=input_file)
    return result


def sparse(
    input_file: str, input_format: str, fail_on_error: bool = True
) -> CommandStatus:
    result = run_command(
        [
            "virt-sparsify",
            "-q",
            "-v",
            "--format",
            input_format,
            "--in-place",
            input_file,
        ]
    )
    if result.code and fail_on_error:
        raise tool_error("virt-sparsify", result, disk=input_file)
    return result


def compress(
    input_file: str, block_size: int, fail_on_error: bool = True
) -> CommandStatus:
    cmd = [
        "xz", "--compress", "--keep", "--threads=0", "--best", "--force", "--verbose",
        f"--block-size={block_size}", input_file,
    ]  # fmt: skip
    result = run_command(cmd)
    if result.code and fail_on_error:
        raise tool_error("xz", result, disk=input_file)
    return result


def export_copy(
    src: str,
    dst: str,
    out_format: str,
    backing_file: str | None = None,
    backing_format: str | None = None,
) -> CommandStatus:
    """Copy an image with ``qemu-img convert``, leaving zero clusters out.

    With ``backing_file`` (the backing file of ``src``), only the clusters
    ``src`` itself holds are copied and ``dst`` is layered on that file;
    without it the whole chain is flattened into ``dst``.
    """
    cmd = ["qemu-img", "convert", "-q", "-U", "-O", out_format]
    if backing_file:
        cmd += ["-B", backing_file]
        if backing_format:
            cmd += ["-F", backing_format]
    cmd += [src, dst]
    result = run_command(cmd)
    if result.code:
        raise tool_error(f"qemu-img convert to {dst}", result, disk=src)
    return result


def create_overlay(
    path: str, backing_file: str, backing_format: str, fail_on_error: bool = True
) -> CommandStatus:
    """A new, empty qcow2 image at ``path`` over ``backing_file``."""
    cmd = ["qemu-img", "create", "-f", "qcow2", "-F", backing_format]
    cmd += ["-b", backing_file, path]
    result = run_command(cmd)
    if result.code and fail_on_error:
        raise tool_error(f"qemu-img create over {backing_file}", result, disk=path)
    return result
