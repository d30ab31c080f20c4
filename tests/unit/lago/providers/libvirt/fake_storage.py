"""An in-memory libvirt connection with storage pools, volumes and streams:
just the calls lago.providers.libvirt.pool makes, with libvirt's error codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import libvirt


class FakeError(libvirt.libvirtError):
    def __init__(self, message: str, code: int) -> None:
        Exception.__init__(self, message)
        self.code = code

    def get_error_code(self) -> int:
        return self.code


class FakeVol:
    def __init__(self, pool: FakePool, xml: str) -> None:
        root = ET.fromstring(xml)
        self.pool = pool
        self._name = str(root.findtext("name"))
        self.capacity = int(str(root.findtext("capacity")))
        fmt = root.find("target/format")
        self.format = fmt.get("type") if fmt is not None else "raw"
        self.backing = root.findtext("backingStore/path")
        backing_format = root.find("backingStore/format")
        self.backing_format = (
            backing_format.get("type") if backing_format is not None else "raw"
        )
        self.data = bytearray()
        self.uploads = 0

    def name(self) -> str:
        return self._name

    def path(self) -> str:
        return f"{self.pool.path}/{self._name}"

    def info(self) -> list[int]:
        return [0, self.capacity, len(self.data)]

    def XMLDesc(self, _flags: int = 0) -> str:
        backing = (
            f"<backingStore><path>{self.backing}</path>"
            f"<format type='{self.backing_format}'/></backingStore>"
            if self.backing
            else ""
        )
        return f"<volume><name>{self._name}</name>{backing}</volume>"

    def delete(self, _flags: int = 0) -> None:
        if self.pool.vols.pop(self._name, None) is None:
            raise FakeError("no such volume", libvirt.VIR_ERR_NO_STORAGE_VOL)

    def upload(self, stream: FakeStream, offset: int, length: int, flags: int) -> None:
        if self.pool.conn.fail_upload:
            raise FakeError("upload broke", libvirt.VIR_ERR_INTERNAL_ERROR)
        self.uploads += 1
        self.data = bytearray()
        stream.target = self

    def download(
        self, stream: FakeStream, offset: int, length: int, flags: int
    ) -> None:
        stream.source = self


class FakeStream:
    def __init__(self) -> None:
        self.target: FakeVol | None = None
        self.source: FakeVol | None = None
        self.holes = 0
        self.finished = False
        self.aborted = False

    def sparseSendAll(self, handler: Any, hole: Any, skip: Any, opaque: Any) -> None:
        assert self.target is not None
        while True:
            in_data, length = hole(self, opaque)
            if not in_data and length > 0:
                self.target.data += bytes(length)
                self.holes += 1
                skip(self, length, opaque)
                continue
            got = handler(self, min(length, 65536), opaque)
            if not got:
                break
            self.target.data += got

    def recvAll(self, handler: Any, opaque: Any) -> None:
        assert self.source is not None
        handler(self, bytes(self.source.data), opaque)

    def sparseRecvAll(self, handler: Any, hole: Any, opaque: Any) -> None:
        assert self.source is not None
        data = bytes(self.source.data)
        start = len(data.rstrip(b"\0"))
        handler(self, data[:start], opaque)
        if start < len(data):
            hole(self, len(data) - start, opaque)

    def finish(self) -> None:
        self.finished = True

    def abort(self) -> None:
        self.aborted = True


class FakePool:
    def __init__(self, conn: FakeConn, xml: str) -> None:
        root = ET.fromstring(xml)
        self.conn = conn
        self._name = str(root.findtext("name"))
        self.path = str(root.findtext("target/path"))
        self.active = False
        self.built = False
        self.vols: dict[str, FakeVol] = {}
        self.available = 1 << 40

    def name(self) -> str:
        return self._name

    def XMLDesc(self, _flags: int = 0) -> str:
        return f"<pool type='dir'><name>{self._name}</name><target><path>{self.path}</path></target></pool>"

    def build(self, _flags: int) -> None:
        if self.conn.fail_build:
            raise FakeError("cannot create directory", libvirt.VIR_ERR_SYSTEM_ERROR)
        self.built = True

    def create(self, _flags: int) -> None:
        self.active = True

    def isActive(self) -> bool:
        return self.active

    def destroy(self) -> None:
        self.active = False

    def delete(self, _flags: int) -> None:
        self.built = False

    def undefine(self) -> None:
        self.conn.pools.pop(self._name, None)

    def refresh(self, _flags: int) -> None:
        pass

    def info(self) -> list[int]:
        return [2, 1 << 41, 0, self.available]

    def createXML(self, xml: str, _flags: int) -> FakeVol:
        vol = FakeVol(self, xml)
        if vol.name() in self.vols:
            raise FakeError("volume exists already", libvirt.VIR_ERR_STORAGE_VOL_EXIST)
        self.vols[vol.name()] = vol
        return vol

    def storageVolLookupByName(self, name: str) -> FakeVol:
        try:
            return self.vols[name]
        except KeyError:
            raise FakeError("no vol", libvirt.VIR_ERR_NO_STORAGE_VOL) from None

    def listAllVolumes(self, _flags: int = 0) -> list[FakeVol]:
        return list(self.vols.values())


class FakeConn:
    def __init__(self) -> None:
        self.pools: dict[str, FakePool] = {}
        self.fail_build = False
        self.fail_upload = False
        self.streams: list[FakeStream] = []

    def storagePoolLookupByName(self, name: str) -> FakePool:
        try:
            return self.pools[name]
        except KeyError:
            raise FakeError("no pool", libvirt.VIR_ERR_NO_STORAGE_POOL) from None

    def storagePoolDefineXML(self, xml: str, _flags: int) -> FakePool:
        pool = FakePool(self, xml)
        if pool.name() in self.pools:
            raise FakeError("pool exists", libvirt.VIR_ERR_OPERATION_FAILED)
        self.pools[pool.name()] = pool
        return pool

    def storageVolLookupByPath(self, path: str) -> FakeVol:
        for pool in self.pools.values():
            for vol in pool.vols.values():
                if vol.path() == path:
                    return vol
        raise FakeError("no vol", libvirt.VIR_ERR_NO_STORAGE_VOL)

    def newStream(self, _flags: int) -> FakeStream:
        stream = FakeStream()
        self.streams.append(stream)
        return stream
