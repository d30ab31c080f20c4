"""Small helpers used across Lago (the original's ``lago.utils`` names).

Command running lives in :mod:`lago.process`, threads in :mod:`lago.parallel`,
locks and timers in :mod:`lago.locks`, disk image tools in :mod:`lago.qemu_img`,
exceptions in :mod:`lago.errors`; they are re-exported here because code
written against the original imports them from ``lago.utils``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import yaml

from lago.config import argparse_to_ini
from lago.errors import (
    LagoException,
    LagoInitException,
    LagoUserException,
    TimerException,
)
from lago.locks import EggTimer, ExceptionTimer, LockFile
from lago.parallel import (
    VectorThread,
    func_vector,
    invoke_different_funcs_in_parallel,
    invoke_in_parallel,
)
from lago.process import (
    CommandStatus,
    _run_command,
    run_command,
    run_command_with_validation,
    run_interactive_command,
)
from lago.qemu_img import compress, cp, get_qemu_info, qemu_rebase, sparse

__all__ = [
    "CommandStatus",
    "EggTimer",
    "ExceptionTimer",
    "LagoException",
    "LagoInitException",
    "LagoUserException",
    "LockFile",
    "RollbackContext",
    "TimerException",
    "VectorThread",
    "_run_command",
    "add_timestamp_suffix",
    "argparse_to_ini",
    "compress",
    "cp",
    "deepcopy",
    "filter_spec",
    "func_vector",
    "get_hash",
    "get_qemu_info",
    "invoke_different_funcs_in_parallel",
    "invoke_in_parallel",
    "ipv4_to_mac",
    "json_dump",
    "load_virt_stream",
    "qemu_rebase",
    "rotate_dir",
    "run_command",
    "run_command_with_validation",
    "run_interactive_command",
    "service_is_enabled",
    "sparse",
    "ver_cmp",
    "with_logging",
]

LOGGER = logging.getLogger(__name__)


class RollbackContext:
    """Records undo steps and plays them if the block raises.

    Steps run in list order: :meth:`prependDefer` puts a step first (so
    prepending each undo right after its step undoes the newest step
    first), :meth:`defer` puts it last. The block's exception is re-raised
    after the rollback; errors of undo steps are logged, not raised, so every
    step gets its chance. ``clear()`` drops the steps once the guarded work
    succeeded. Unlike the original (which also ran the steps on success),
    nothing runs when the block succeeds.
    """

    def __init__(self, *args: Any) -> None:
        self._finally: list[
            tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
        ] = []
        self._on_success_too = False

    def __enter__(self) -> RollbackContext:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> bool:
        if exc_type is None and not self._on_success_too:
            return False
        self.run_undo()
        return False

    def run_undo(self) -> None:
        while self._finally:
            func, args, kwargs = self._finally.pop(0)
            try:
                func(*args, **kwargs)
            except Exception:
                LOGGER.exception(
                    "rollback step %s failed", getattr(func, "__name__", func)
                )

    def defer(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._finally.append((func, args, kwargs))

    def prependDefer(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._finally.insert(0, (func, args, kwargs))

    def clear(self) -> None:
        self._finally = []


def deepcopy(original_obj: Any) -> Any:
    """Copy nested dicts and lists so that no two places share one object.

    YAML anchors and aliases make several keys point at one dict; the init
    file must see independent copies.
    """
    if isinstance(original_obj, dict):
        return {key: deepcopy(value) for key, value in original_obj.items()}
    if isinstance(original_obj, list):
        return [deepcopy(item) for item in original_obj]
    return original_obj


def filter_spec(
    spec: Any, paths: list[str], wildcard: str = "*", separator: str = "/"
) -> None:
    """Remove, in place, every key named by a ``/``-separated path.

    ``domains/*/disks/*/metadata`` removes the metadata of every disk of every
    domain; a final ``*`` empties the container. List items are addressed by
    index. Parts of a path that do not exist are skipped.

    :raises LagoUserException: a path with an empty part, or a non-number
        used as a list index
    """
    for path in paths:
        parts = path.split(separator)
        if "" in parts:
            raise LagoUserException(f'Malformed path "{path}": empty key')
        _remove_key(parts, spec, path, wildcard)


def _remove_key(parts: list[str], node: Any, path: str, wildcard: str) -> None:
    head, rest = parts[0], parts[1:]
    if head == wildcard:
        if not rest:
            if isinstance(node, (dict, list)):
                node.clear()
            return
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, (dict, list)):
            for child in list(children):
                _remove_key(rest, child, path, wildcard)
        return
    key: Any = head
    if isinstance(node, list):
        try:
            key = int(head)
        except ValueError:
            msg = f'Malformed path "{path}": "{head}" is not a list index'
            raise LagoUserException(msg) from None
        if not -len(node) <= key < len(node):
            return
    elif not isinstance(node, dict) or head not in node:
        return
    if rest:
        _remove_key(rest, node[key], path, wildcard)
    else:
        del node[key]


def get_hash(file_path: str | os.PathLike[str], checksum: str = "sha1") -> str:
    """Hex digest of a file's content."""
    digest = hashlib.new(checksum)
    with open(file_path, "rb") as stream:
        for block in iter(functools.partial(stream.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_key(version: str) -> list[tuple[int, int | str]]:
    # numbers compare as numbers, and a letter part sorts before any number
    return [
        (1, int(part)) if part.isdigit() else (0, part)
        for part in re.findall(r"\d+|[a-z]+", version.lower())
    ]


def ver_cmp(ver1: str, ver2: str) -> int:
    """Negative, zero or positive as ``ver1`` is older, equal or newer."""
    key1, key2 = _version_key(str(ver1)), _version_key(str(ver2))
    return (key1 > key2) - (key1 < key2)


def ipv4_to_mac(ip: str) -> str:
    """The MAC Lago gives a NIC with address ``ip``: ``54:52`` + the octets."""
    octets = [int(octet) for octet in ip.split(".")]
    return "54:52:" + ":".join(f"{octet:02x}" for octet in octets)


def load_virt_stream(virt_fd: IO[str] | IO[bytes]) -> dict[str, Any]:
    """Load an init file: JSON first, then YAML (safe loader).

    Aliased YAML nodes are copied so that they are independent.
    """
    data = virt_fd.read()
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        loaded = json.loads(data)
    except ValueError:
        loaded = yaml.safe_load(data)
    return deepcopy(loaded)


def json_dump(obj: Any, f: IO[str]) -> None:
    """Write ``obj`` as the original did: 4-space indent, key order kept."""
    json.dump(obj, f, indent=4)


def add_timestamp_suffix(base_string: str) -> str:
    return f"{base_string}.{datetime.datetime.now():%Y-%m-%d_%H:%M:%S}"


def rotate_dir(base_dir: str) -> None:
    """Move an existing directory aside under a timestamped name."""
    if Path(base_dir).exists():
        shutil.move(base_dir, add_timestamp_suffix(base_dir))


def service_is_enabled(name: str) -> bool:
    """Whether systemd starts the service ``name`` at boot."""
    return run_command(["systemctl", "is-enabled", name]).code == 0


def with_logging(func: Callable[..., Any]) -> Callable[..., Any]:
    """Log the call of ``func`` at debug level."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        LOGGER.debug("calling %s", func.__name__)
        return func(*args, **kwargs)

    return wrapper


def atomic_write(
    path: str | os.PathLike[str], text: str, mode: int | None = None
) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    if mode is not None:
        tmp.chmod(mode)
    tmp.replace(path)


def in_prefix(
    prefix_class: Any = None, workdir_class: Any = None
) -> Callable[..., Any]:
    """Decorate a verb so that it receives its ``prefix`` and ``workdir``.

    Kept here because plugins written for the original import it from
    ``lago.utils``; the logic lives in :mod:`lago.verbs._context`.
    """
    from lago.prefix import Prefix
    from lago.verbs._context import in_prefix as _in_prefix
    from lago.workdir import Workdir

    return _in_prefix(prefix_class or Prefix, workdir_class or Workdir)
