"""The bytes of volumes, through libvirt streams: up from a file, down to
one, holes kept as holes (sparse streams), so that a mostly empty image
costs its data only, on the wire and on disk."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import Any

from lago.providers.libvirt.pool import (
    PoolError,
    check_space,
    create_volume,
    delete_volume,
    reason,
    volume_xml,
)


def _next_section(fd: int, size: int) -> tuple[bool, int]:
    """(in data, length) of the section at the file offset of ``fd``."""
    cur = os.lseek(fd, 0, os.SEEK_CUR)
    if cur >= size:
        return True, 0
    try:
        data = os.lseek(fd, cur, os.SEEK_DATA)
    except OSError as err:
        if err.errno != errno.ENXIO:
            raise
        data = size  # a hole up to the end of the file
    if data > cur:
        os.lseek(fd, cur, os.SEEK_SET)
        return False, data - cur
    hole = os.lseek(fd, cur, os.SEEK_HOLE)
    os.lseek(fd, cur, os.SEEK_SET)
    return True, hole - cur


@contextlib.contextmanager
def _stream(conn: Any, failure: str) -> Iterator[Any]:
    """A stream finished after the transfer, or aborted, and then reported
    as ``<failure>: <reason>``, when the transfer fails."""
    import libvirt

    stream = conn.newStream(0)
    try:
        yield stream
        stream.finish()
    except (libvirt.libvirtError, OSError) as err:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise PoolError(f"{failure}: {reason(err)}") from err


def upload(conn: Any, vol: Any, path: str) -> None:
    """Send the file at ``path`` into ``vol``; holes travel as holes."""
    import libvirt

    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        with _stream(conn, f"Cannot upload {path} to volume {vol.name()}") as stream:
            flags = libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM
            vol.upload(stream, 0, size, flags)
            stream.sparseSendAll(
                lambda _s, nbytes, _o: os.read(fd, nbytes),
                lambda _s, _o: _next_section(fd, size),
                lambda _s, length, _o: os.lseek(fd, length, os.SEEK_CUR),
                None,
            )
    finally:
        os.close(fd)


def _write_hole(fd: int, length: int) -> None:
    os.ftruncate(fd, os.lseek(fd, length, os.SEEK_CUR))


def download(conn: Any, vol: Any, path: str) -> None:
    """Write the bytes of ``vol`` to a new file at ``path``, keeping holes."""
    import libvirt

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        failure = f"Cannot download volume {vol.name()} to {path}"
        with _stream(conn, failure) as stream:
            flags = libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM
            vol.download(stream, 0, 0, flags)
            stream.sparseRecvAll(
                lambda _s, buf, _o: os.write(fd, buf),
                lambda _s, length, _o: _write_hole(fd, length),
                None,
            )
    finally:
        os.close(fd)


def upload_file(conn: Any, pool: Any, name: str, path: str, host: str) -> Any:
    """A new volume ``name`` with the bytes of ``path``; deleted again if the
    upload fails, so that nothing half-written stays on the host."""
    size = os.path.getsize(path)
    check_space(pool, size, host)
    vol = create_volume(pool, volume_xml(name, size, "raw"), host)
    try:
        upload(conn, vol, path)
    except BaseException:
        delete_volume(vol)
        raise
    return vol


def read_small(conn: Any, vol: Any) -> bytes:
    """The content of a small volume (a marker), read through a stream."""
    chunks: list[bytes] = []
    with _stream(conn, f"Cannot read volume {vol.name()}") as stream:
        vol.download(stream, 0, 0, 0)
        stream.recvAll(lambda _s, buf, _o: chunks.append(buf), None)
    return b"".join(chunks)
