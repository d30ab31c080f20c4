"""Libvirt storage pools and volumes: make, fill, read and remove them.

Everything goes through the libvirt connection only (pool and volume APIs;
the bytes travel in streams, see :mod:`volume_stream`), so it works the same on a daemon of this machine and
on one reached over ``qemu+ssh://`` or ``qemu+tcp://`` with nothing shared.
"""

from __future__ import annotations

import contextlib
import logging
import xml.etree.ElementTree as ET
from typing import Any

from lago.errors import LagoUserException

LOGGER = logging.getLogger(__name__)

#: where pools live on the libvirt host unless configured otherwise
DEFAULT_POOL_ROOT = "/var/lib/libvirt/images"


class PoolError(LagoUserException):
    """A pool or volume cannot be made, filled or read on the libvirt host."""


def reason(err: BaseException) -> str:
    """The first line of a libvirt error, for a one-line message."""
    return (str(err).strip().splitlines() or ["unknown error"])[0]


def pool_xml(name: str, path: str) -> str:
    """A ``dir`` pool named ``name`` at ``path`` on the libvirt host."""
    root = ET.Element("pool", type="dir")
    ET.SubElement(root, "name").text = name
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "path").text = path
    return ET.tostring(root, encoding="unicode")


def volume_xml(
    name: str, capacity: int, fmt: str, backing: tuple[str, str] | None = None
) -> str:
    """A volume of ``capacity`` bytes; ``backing`` is (path, format) of the
    read-only volume a qcow2 overlay writes over."""
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "format", type=fmt)
    if backing is not None:
        store = ET.SubElement(root, "backingStore")
        ET.SubElement(store, "path").text = backing[0]
        ET.SubElement(store, "format", type=backing[1])
    return ET.tostring(root, encoding="unicode")


def lookup_pool(conn: Any, name: str) -> Any | None:
    import libvirt

    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise PoolError(f"Cannot look up storage pool {name}: {reason(err)}") from err


def ensure_pool(conn: Any, name: str, path: str, host: str) -> Any:
    """Pool ``name`` active, defined (persistent) and built at ``path`` if new.

    A pool another process defined meanwhile is used as found; one this call
    defined and could not start is undefined again.
    """
    import libvirt

    pool = lookup_pool(conn, name)
    if pool is None:
        try:
            pool = conn.storagePoolDefineXML(pool_xml(name, path), 0)
        except libvirt.libvirtError as err:
            pool = lookup_pool(conn, name)  # a concurrent define won the race
            if pool is None:
                msg = f"Cannot make storage pool {name} at {path} on {host}: {reason(err)}"
                raise PoolError(msg) from err
        else:
            try:
                pool.build(0)
                pool.create(0)
            except libvirt.libvirtError as err:
                with contextlib.suppress(libvirt.libvirtError):
                    pool.undefine()
                msg = f"Cannot make storage pool {name} at {path} on {host}: {reason(err)}"
                raise PoolError(msg) from err
            return pool
    if not pool.isActive():
        try:
            pool.create(0)
        except libvirt.libvirtError as err:
            if pool.isActive():  # started by someone else meanwhile
                return pool
            msg = f"Cannot start storage pool {name} on {host}: {reason(err)}"
            raise PoolError(msg) from err
    return pool


def pool_path(pool: Any) -> str:
    """The directory of a ``dir`` pool on its host."""
    return str(ET.fromstring(pool.XMLDesc(0)).findtext("target/path") or "")


def refresh(pool: Any) -> None:
    """Let the pool see files the host made itself (a live snapshot's)."""
    import libvirt

    try:
        pool.refresh(0)
    except libvirt.libvirtError as err:
        LOGGER.debug("Refreshing pool %s failed: %s", pool.name(), reason(err))


def delete_pool(conn: Any, name: str) -> None:
    """Delete every volume of pool ``name``, its directory and the pool;
    nothing happens if it does not exist."""
    import libvirt

    pool = lookup_pool(conn, name)
    if pool is None:
        return
    LOGGER.debug("Deleting storage pool %s", name)
    if pool.isActive():
        with contextlib.suppress(libvirt.libvirtError):
            pool.refresh(0)
        for vol in pool.listAllVolumes(0):
            delete_volume(vol)
        with contextlib.suppress(libvirt.libvirtError):
            pool.destroy()
    with contextlib.suppress(libvirt.libvirtError):
        pool.delete(0)  # removes the (now empty) directory
    with contextlib.suppress(libvirt.libvirtError):
        pool.undefine()


def lookup_volume(pool: Any, name: str) -> Any | None:
    import libvirt

    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise PoolError(f"Cannot look up volume {name}: {reason(err)}") from err


def volume_by_path(conn: Any, path: str) -> Any:
    """The volume at ``path`` on the host; one line if there is none."""
    import libvirt

    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as err:
        raise PoolError(f"No volume {path} on the host: {reason(err)}") from err


def delete_volume(vol: Any) -> None:
    """Delete ``vol``; one already gone is fine."""
    import libvirt

    try:
        vol.delete(0)
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            LOGGER.warning("Could not delete volume %s: %s", vol.name(), reason(err))


def check_space(pool: Any, needed: int, host: str) -> None:
    """One line naming the pool and host when ``needed`` bytes do not fit."""
    import libvirt

    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    available = int(pool.info()[3])
    if available < needed:
        raise PoolError(
            f"Not enough space in storage pool {pool.name()} on {host}: "
            f"{needed} bytes needed, {available} free"
        )


def create_volume(pool: Any, xml: str, host: str) -> Any:
    import libvirt

    name = ET.fromstring(xml).findtext("name")
    try:
        return pool.createXML(xml, 0)
    except libvirt.libvirtError as err:
        msg = f"Cannot create volume {name} in pool {pool.name()} on {host}: {reason(err)}"
        raise PoolError(msg) from err
