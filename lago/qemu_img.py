"""Disk image tools: ``qemu-img``, sparse copies, sparsify and xz."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lago.errors import LagoException
from lago.process import CommandStatus, run_command


def get_qemu_info(
    path: str, backing_chain: bool = False, fail_on_error: bool = True
) -> Any:
    """``qemu-img info`` as a dict, or a list of dicts for the whole chain."""
    cmd = ["qemu-img", "info", "--output=json", "-U"]
    if backing_chain:
        cmd.append("--backing-chain")
    cmd.append(path)
    result = run_command(cmd)
    if result.code:
        if fail_on_error:
            raise LagoException(
                f"qemu-img info failed for {path}: {result.err.strip()}"
            )
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
        raise LagoException(f"qemu-img rebase of {target} failed: {result.err.strip()}")
    return result


def cp(input_file: str, output_file: str, fail_on_error: bool = True) -> CommandStatus:
    """Copy keeping sparseness (``cp --sparse=always``)."""
    result = run_command(["cp", "--sparse=always", input_file, output_file])
    if result.code and fail_on_error:
        raise LagoException(
            f"Failed to copy {input_file} to {output_file}: {result.err.strip()}"
        )
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
        raise LagoException(f"Failed to sparsify {input_file}: {result.err.strip()}")
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
        raise LagoException(f"Failed to compress {input_file}: {result.err.strip()}")
    return result


def create_overlay(
    path: str, backing_file: str, backing_format: str, fail_on_error: bool = True
) -> CommandStatus:
    """A new, empty qcow2 image at ``path`` over ``backing_file``."""
    cmd = ["qemu-img", "create", "-f", "qcow2", "-F", backing_format]
    cmd += ["-b", backing_file, path]
    result = run_command(cmd)
    if result.code and fail_on_error:
        raise LagoException(
            f"Failed to create overlay {path} over {backing_file}: {result.err.strip()}"
        )
    return result
