"""A prefix's disks on a remote libvirt host: volumes in a per-prefix pool.

With a libvirt URL naming a host (``qemu+ssh://host/system``, ``qemu+tcp://``,
``qemu+tls://``) nothing but the libvirt connection is shared with that host:
templates go once into the remote template store, each VM's qcow2 layer is a
volume over the store volume in the pool ``lago-<prefix uuid>``, and the
NoCloud seed, built here, is uploaded beside it. The VM spec records each
disk's host path (what the domain XML uses) and its ``pool``/``volume``. A
local URL never comes here: its disks stay files in the prefix.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lago import disks as disks_mod
from lago.config import config
from lago.errors import LagoUserException
from lago.providers.libvirt import pool as lvpool
from lago.providers.libvirt import utils as lvutils
from lago.providers.libvirt import volume_stream
from lago.providers.libvirt.remote_store import STORE_POOL, RemoteTemplateStore

LOGGER = logging.getLogger(__name__)

_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([bkmgtpe]?)$", re.IGNORECASE)
_UNITS = "bkmgtpe"


class RemoteDiskError(LagoUserException):
    """A disk that cannot be made or prepared on a remote libvirt host."""


def is_remote(url: str | None) -> bool:
    """Whether ``url`` names a libvirt daemon on another host."""
    return bool(url) and bool(urlsplit(str(url)).hostname)


def url_host(url: str) -> str:
    return urlsplit(url).hostname or "localhost"


def env_libvirt_url(uuid: str) -> str:
    """The libvirt URL of the environment ``uuid``: the configured one, which
    the command line and the SDK set to the host the prefix recorded."""
    del uuid  # the configuration already holds this environment's host
    return str(config.get("libvirt_url") or "")


def prefix_pool_name(uuid: str) -> str:
    return f"lago-{uuid}"


def size_bytes(size: str | int) -> int:
    """``10G``, ``512M``, ``2048`` (bytes) as bytes; units are powers of 1024."""
    match = _SIZE.match(str(size).strip())
    if not match:
        raise disks_mod.DiskError(f"Invalid disk size {size!r}")
    unit = _UNITS.index(match.group(2).lower() or "b")
    return int(float(match.group(1)) * 1024**unit)


@dataclass
class PrefixStorage:
    """The pool of one prefix on the host of ``url``."""

    conn: Any
    url: str
    uuid: str
    root: str = lvpool.DEFAULT_POOL_ROOT
    store_pool: str = STORE_POOL
    store_path: str = ""

    @property
    def host(self) -> str:
        return url_host(self.url)

    @property
    def pool_name(self) -> str:
        return prefix_pool_name(self.uuid)

    def pool(self) -> Any:
        path = f"{self.root}/{self.pool_name}"
        return lvpool.ensure_pool(self.conn, self.pool_name, path, self.host)

    def store(self) -> RemoteTemplateStore:
        path = self.store_path or f"{self.root}/{self.store_pool}"
        return RemoteTemplateStore(self.conn, self.host, self.store_pool, path)

    def _record(self, disk: dict[str, Any], vol: Any) -> dict[str, Any]:
        return {
            **disk,
            "path": vol.path(),
            "pool": self.pool_name,
            "volume": vol.name(),
        }

    # -- init ---------------------------------------------------------------
    def create_disk(
        self, ctx: disks_mod.DiskContext, disk: dict[str, Any]
    ) -> dict[str, Any]:
        """Make one disk as a volume; returns the disk spec as it is saved."""
        kind = disk.get("type", "")
        if kind == "template":
            return self._template_disk(ctx, disk)
        if kind == "empty":
            return self._empty_disk(ctx, disk)
        if kind == "file":
            made = disks_mod.create_disk(ctx, disk)  # downloaded/checked here first
            return self.upload(str(made["path"]), _volume(ctx, made), made)
        raise disks_mod.DiskError(f"Unknown drive spec {disk}")

    def _template_disk(
        self, ctx: disks_mod.DiskContext, disk: dict[str, Any]
    ) -> dict[str, Any]:
        if disk.get("template_type") == "qcow2":
            raise disks_mod.DiskError(
                f"VM {ctx.vm_name}: disk {disk['name']}: template_type qcow2 "
                f"is not supported on a remote libvirt host ({self.host})"
            )
        image, metadata = ctx.resolve_template(
            disk["template_name"], disk.get("template_version")
        )
        sha1 = Path(image + ".hash").read_text().strip()
        base = self.store().ensure(image, os.path.basename(image), sha1)
        capacity = int(base.info()[1])
        xml = lvpool.volume_xml(
            _volume(ctx, disk), capacity, "qcow2", backing=(base.path(), "raw")
        )
        vol = lvpool.create_volume(self.pool(), xml, self.host)
        merged = {**(disk.get("metadata") or {}), **metadata}
        return {**self._record(disk, vol), "metadata": merged}

    def _empty_disk(
        self, ctx: disks_mod.DiskContext, disk: dict[str, Any]
    ) -> dict[str, Any]:
        fmt = str(disk["format"])
        capacity = size_bytes(disk["size"])
        pool = self.pool()
        if fmt != "qcow2":  # a raw volume is sparse, but may fill up
            lvpool.check_space(pool, 0, self.host)
        xml = lvpool.volume_xml(_volume(ctx, disk), capacity, fmt)
        return self._record(disk, lvpool.create_volume(pool, xml, self.host))

    def upload(
        self, local_path: str, name: str, disk: dict[str, Any]
    ) -> dict[str, Any]:
        """``disk`` with its bytes from ``local_path`` in volume ``name``."""
        pool = self.pool()
        old = lvpool.lookup_volume(pool, name)
        if old is not None:  # a seed made again
            lvpool.delete_volume(old)
        vol = volume_stream.upload_file(self.conn, pool, name, local_path, self.host)
        return self._record(disk, vol)

    # -- destroy --------------------------------------------------------------
    def destroy(self) -> None:
        """Delete every volume of the prefix and its pool."""
        lvpool.delete_pool(self.conn, self.pool_name)


def _volume(ctx: disks_mod.DiskContext, disk: dict[str, Any]) -> str:
    return f"{ctx.vm_name}_{disk['name']}.{disk['format']}"


def storage_for(uuid: str) -> PrefixStorage | None:
    """The remote storage of prefix ``uuid``; None on a local URL."""
    url = env_libvirt_url(uuid)
    if not is_remote(url):
        return None
    section = config.get_section("remote") or {}
    return PrefixStorage(
        lvutils.configured_connection(uuid),
        url,
        uuid,
        root=str(section.get("pool_root") or lvpool.DEFAULT_POOL_ROOT),
        store_pool=str(section.get("store_pool") or STORE_POOL),
        store_path=str(section.get("store_path") or ""),
    )
