"""The remote template store: each template image once, in a pool of the
libvirt host, shared by every prefix and user of that host.

An entry is two volumes of the ``lago-store`` pool:

* ``<key>-<sha1[:12]>``: the raw image, uploaded from the local store entry
  (``key`` is the local entry's name with ``:`` and other characters a path
  should not have replaced, the sha1 is the local entry's ``.hash``, so a
  template published again under the same name gets a new volume);
* ``<that>.sha1``: the full sha1, written only after the image is complete.
  An image without its marker is an upload in progress, or one that died.

Locking, in two layers: a local ``flock`` beside the local entry queues the
processes of this machine without polling the host; on the host, creating a
volume is atomic (libvirt refuses a second volume of the same name), so
whoever creates the image volume is its one uploader. Anyone else, e.g. on
another workstation, waits for the marker, re-checks the entry, and gives up
with one line if the image stops growing without ever getting its marker.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from lago.locks import LockFile
from lago.providers.libvirt import pool as lvpool
from lago.providers.libvirt import volume_stream

LOGGER = logging.getLogger(__name__)

STORE_POOL = "lago-store"
MARKER_SUFFIX = ".sha1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def volume_name(key: str, sha1: str) -> str:
    """The store volume of local entry ``key`` whose image has ``sha1``."""
    return f"{_UNSAFE.sub('_', key)}-{sha1[:12]}"


def allocated_size(path: str) -> int:
    """Bytes a sparse upload of ``path`` needs on the host."""
    return os.stat(path).st_blocks * 512


@dataclass
class RemoteTemplateStore:
    """The template pool ``pool_name`` at ``path`` on ``host`` (for messages)."""

    conn: Any
    host: str
    pool_name: str = STORE_POOL
    path: str = f"{lvpool.DEFAULT_POOL_ROOT}/{STORE_POOL}"
    #: seconds another uploader's volume may stay the same size
    stall_timeout: float = 300.0
    poll_interval: float = 2.0

    def pool(self) -> Any:
        return lvpool.ensure_pool(self.conn, self.pool_name, self.path, self.host)

    def ensure(self, image: str, key: str, sha1: str) -> Any:
        """The store volume holding local entry ``image``, uploaded if missing."""
        pool = self.pool()
        name = volume_name(key, sha1)
        with LockFile(image + ".upload.lock"):
            while True:
                vol = self._complete(pool, name, sha1)
                if vol is not None:
                    return vol
                vol = self._claim(pool, name, image)
                if vol is None:
                    self._wait_for_other(pool, name)
                    continue
                self._fill(pool, vol, image, sha1)
                return vol

    def _complete(self, pool: Any, name: str, sha1: str) -> Any | None:
        """The image volume if it and a marker with ``sha1`` exist."""
        marker = lvpool.lookup_volume(pool, name + MARKER_SUFFIX)
        if marker is None:
            return None
        vol = lvpool.lookup_volume(pool, name)
        stored = (
            volume_stream.read_small(self.conn, marker).decode(errors="replace").strip()
        )
        if vol is None or stored != sha1:
            # never deleted here: other prefixes may use the image as backing
            raise lvpool.PoolError(
                f"Template volume {name} in pool {self.pool_name} on {self.host} "
                f"is damaged (image or hash marker wrong): delete both volumes "
                f"(virsh vol-delete --pool {self.pool_name} ...) once no VM uses them"
            )
        LOGGER.debug("Template volume %s is in the store of %s", name, self.host)
        return vol

    def _claim(self, pool: Any, name: str, image: str) -> Any | None:
        """A new, empty image volume, or None when another uploader has it."""
        import libvirt

        lvpool.check_space(pool, allocated_size(image), self.host)
        size = os.path.getsize(image)
        try:
            return pool.createXML(lvpool.volume_xml(name, size, "raw"), 0)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST:
                return None
            msg = (
                f"Cannot create volume {name} in pool {self.pool_name} "
                f"on {self.host}: {lvpool.reason(err)}"
            )
            raise lvpool.PoolError(msg) from err

    def _fill(self, pool: Any, vol: Any, image: str, sha1: str) -> None:
        """Upload the image, then its marker; on failure delete both."""
        LOGGER.info("Uploading template %s to %s", os.path.basename(image), self.host)
        marker_name = vol.name() + MARKER_SUFFIX
        try:
            volume_stream.upload(self.conn, vol, image)
            with tempfile.NamedTemporaryFile("w", suffix=MARKER_SUFFIX) as marker:
                marker.write(sha1)
                marker.flush()
                volume_stream.upload_file(
                    self.conn, pool, marker_name, marker.name, self.host
                )
        except BaseException:
            lvpool.delete_volume(vol)
            raise

    def _wait_for_other(self, pool: Any, name: str) -> None:
        """Until the other uploader's marker appears or its volume is gone;
        an error when the volume stops growing."""
        import libvirt

        LOGGER.info("Waiting for another upload of %s to %s", name, self.host)
        last, since = -1, time.monotonic()
        while lvpool.lookup_volume(pool, name + MARKER_SUFFIX) is None:
            vol = lvpool.lookup_volume(pool, name)
            if vol is None:
                return  # that upload failed and was removed: try ourselves
            try:
                allocation = int(vol.info()[2])
            except libvirt.libvirtError:
                return
            if allocation != last:
                last, since = allocation, time.monotonic()
            elif time.monotonic() - since > self.stall_timeout:
                raise lvpool.PoolError(
                    f"Template volume {name} in pool {self.pool_name} on "
                    f"{self.host} stopped growing and has no hash marker: if no "
                    f"upload is running, delete it (virsh vol-delete --pool "
                    f"{self.pool_name} {name}) and retry"
                )
            time.sleep(self.poll_interval)
