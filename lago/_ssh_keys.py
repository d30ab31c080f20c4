"""Private keys for SSH, loaded once per process (private to lago.ssh).

Loading an RSA key with ``cryptography`` checks its math (a modular
exponentiation per check), and ``paramiko.PKey.from_path`` loads the file
twice. While guests boot on the same CPUs, every repeated load is stolen from
them, so a key is parsed once per process and kept for as long as its file
does not change. The key is ours (made by ``lago init``): when the installed
``cryptography`` can skip the RSA consistency check, it is skipped.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LOGGER = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_LOCK = threading.Lock()
# (resolved path, mtime_ns, size) -> key; a changed file is a new entry
_CACHE: dict[tuple[str, int, int], paramiko.PKey] = {}


@functools.cache
def _skip_rsa_check_kwargs() -> dict[str, bool]:
    """The keyword that skips the RSA check, where ``cryptography`` has it."""
    params = inspect.signature(serialization.load_pem_private_key).parameters
    if "unsafe_skip_rsa_key_validation" in params:
        return {"unsafe_skip_rsa_key_validation": True}
    return {}


def _parse(data: bytes, path: str) -> paramiko.PKey:
    """One parse of ``data``; RSA in PEM (as ``lago init`` writes) is fastest."""
    if data.lstrip().startswith(b"-----BEGIN RSA PRIVATE KEY-----"):
        loaded = serialization.load_pem_private_key(
            data, password=None, **_skip_rsa_check_kwargs()
        )
        if isinstance(loaded, rsa.RSAPrivateKey):
            return paramiko.RSAKey(key=loaded)
    # any other format or type: paramiko knows them all
    return paramiko.PKey.from_path(path)


def load_private_key(path: PathLike) -> paramiko.PKey:
    """The private key in ``path``, parsed at most once per file version.

    Raises ``OSError``, ``ValueError`` or ``paramiko.SSHException`` for a file
    that cannot be read or is not an unencrypted private key.
    """
    resolved = str(Path(path).resolve())
    info = os.stat(resolved)
    cache_key = (resolved, info.st_mtime_ns, info.st_size)
    with _LOCK:
        key = _CACHE.get(cache_key)
        if key is None:
            LOGGER.debug("Loading SSH key %s", resolved)
            key = _parse(Path(resolved).read_bytes(), resolved)
            _CACHE[cache_key] = key
        return key


def forget_keys() -> None:
    """Drop every cached key (tests, or a caller that rewrote key files)."""
    with _LOCK:
        _CACHE.clear()
