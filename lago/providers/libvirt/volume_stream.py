"""The bytes of volumes, through libvirt streams: up from a file, down to
one, holes kept as holes (sparse streams), so that a mostly empty image
costs its data only, on the wire and on disk."""

from __future__ import annotations

import contextlib
import errno
import os
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


def upload(conn: Any, vol: Any, path: str) -> None:
    """Send the file at ``path`` into ``vol``; holes travel as holes."""
    import libvirt

    size = os.path.getsize(path)
    stream = conn.newStream(0)
    fd = os.open(path, os.O_RDONLY)
    try:
        vol.upload(stream, 0, size, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
        stream.sparseSendAll(
            lambda _s, nbytes, _o: os.read(fd, nbytes),
            lambda _s, _o: _next_section(fd, size),
            lambda _s, length, _o: os.lseek(fd, length, os.SEEK_CUR),
            None,
        )
        stream.finish()
    except (libvirt.libvirtError, OSError) as err:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        msg = f"Cannot upload {path} to volume {vol.name()}: {reason(err)}"
        raise PoolError(msg) from err
    finally:
        os.close(fd)


def _write_hole(fd: int, length: int) -> None:
    os.ftruncate(fd, os.lseek(fd, length, os.SEEK_CUR))


def download(conn: Any, vol: Any, path: str) -> None:
    """Write the bytes of ``vol`` to a new file at ``path``, keeping holes."""
    import libvirt

    stream = conn.newStream(0)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        vol.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        stream.sparseRecvAll(
            lambda _s, buf, _o: os.write(fd, buf),
            lambda _s, length, _o: _write_hole(fd, length),
            None,
        )
        stream.finish()
    except (libvirt.libvirtError, OSError) as err:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        msg = f"Cannot download volume {vol.name()} to {path}: {reason(err)}"
        raise PoolError(msg) from err
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
    import libvirt

    stream = conn.newStream(0)
    chunks: list[bytes] = []
    try:
        vol.download(stream, 0, 0, 0)
        stream.recvAll(lambda _s, buf, _o: chunks.append(buf), None)
        stream.finish()
    except libvirt.libvirtError as err:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise PoolError(f"Cannot read volume {vol.name()}: {reason(err)}") from err
    return b"".join(chunks)
