"""Pools, volumes, the remote template store and a prefix's remote disks,
against an in-memory libvirt connection."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lago.disks import DiskContext, DiskError
from lago.providers.libvirt import pool as lvpool
from lago.providers.libvirt import remote_disks, volume_stream
from lago.providers.libvirt.remote_store import RemoteTemplateStore, volume_name

from .fake_storage import FakeConn

SHA1 = "4db6367f20a1" + "0" * 28


@pytest.mark.parametrize(
    ("url", "remote"),
    [
        ("qemu:///system", False),
        ("qemu:///session", False),
        ("qemu+ssh:///system", False),
        ("test:///default", False),
        ("", False),
        (None, False),
        ("qemu+ssh://root@host.example/system", True),
        ("qemu+tcp://10.253.0.2/system", True),
        ("qemu+tls://host:16514/system", True),
    ],
)
def test_is_remote(url: str | None, remote: bool) -> None:
    assert remote_disks.is_remote(url) is remote


@pytest.mark.parametrize(
    ("size", "expected"),
    [("64M", 64 << 20), ("1G", 1 << 30), ("1.5k", 1536), (2048, 2048), ("7", 7)],
)
def test_size_bytes(size: str | int, expected: int) -> None:
    assert remote_disks.size_bytes(size) == expected


def test_size_bytes_refuses_nonsense() -> None:
    with pytest.raises(DiskError, match="Invalid disk size 'ten'"):
        remote_disks.size_bytes("ten")


def test_volume_xml_escapes_and_layers() -> None:
    root = ET.fromstring(
        lvpool.volume_xml("a&b<c", 42, "qcow2", backing=("/p/base", "raw"))
    )
    assert root.findtext("name") == "a&b<c"
    assert root.find("capacity").attrib == {"unit": "bytes"}
    assert root.findtext("capacity") == "42"
    assert root.find("target/format").get("type") == "qcow2"
    assert root.findtext("backingStore/path") == "/p/base"
    assert ET.fromstring(lvpool.volume_xml("v", 1, "raw")).find("backingStore") is None
    pool = ET.fromstring(lvpool.pool_xml("lago-x", "/srv/x"))
    assert (pool.get("type"), pool.findtext("target/path")) == ("dir", "/srv/x")


def _sparse_file(path: Path) -> None:
    with open(path, "wb") as stream:
        stream.write(b"A" * 4096)
        stream.seek(4 << 20)
        stream.write(b"B" * 4096)
        stream.truncate(8 << 20)


def test_upload_sends_holes_as_holes(tmp_path: Path) -> None:
    source = tmp_path / "image"
    _sparse_file(source)
    conn = FakeConn()
    pool = lvpool.ensure_pool(conn, "p", "/srv/p", "h")
    vol = volume_stream.upload_file(conn, pool, "v", str(source), "h")
    assert bytes(vol.data) == source.read_bytes()
    assert conn.streams[-1].holes >= 1  # not 8 MiB of zeros on the wire
    assert conn.streams[-1].finished
    back = tmp_path / "back"
    volume_stream.download(conn, vol, str(back))
    assert back.read_bytes() == source.read_bytes()


def test_failed_upload_leaves_no_volume(tmp_path: Path) -> None:
    source = tmp_path / "image"
    source.write_bytes(b"x" * 100)
    conn = FakeConn()
    conn.fail_upload = True
    pool = lvpool.ensure_pool(conn, "p", "/srv/p", "h")
    with pytest.raises(
        lvpool.PoolError, match=r"Cannot upload .* to volume v: upload broke"
    ):
        volume_stream.upload_file(conn, pool, "v", str(source), "h")
    assert pool.vols == {}


def test_no_space_is_one_line_and_nothing_made(tmp_path: Path) -> None:
    source = tmp_path / "image"
    source.write_bytes(b"x" * 10000)
    conn = FakeConn()
    pool = lvpool.ensure_pool(conn, "p", "/srv/p", "far")
    pool.available = 10
    with pytest.raises(lvpool.PoolError) as err:
        volume_stream.upload_file(conn, pool, "v", str(source), "far")
    assert str(err.value).count("\n") == 0
    assert "Not enough space in storage pool p on far" in str(err.value)
    assert pool.vols == {}


def test_pool_that_cannot_be_built_is_undefined() -> None:
    conn = FakeConn()
    conn.fail_build = True
    with pytest.raises(lvpool.PoolError, match="Cannot make storage pool p at /x on h"):
        lvpool.ensure_pool(conn, "p", "/x", "h")
    assert conn.pools == {}


def test_ensure_pool_reuses_and_starts_an_existing_pool() -> None:
    conn = FakeConn()
    first = lvpool.ensure_pool(conn, "p", "/x", "h")
    first.destroy()
    again = lvpool.ensure_pool(conn, "p", "/elsewhere", "h")
    assert again is first and again.isActive() and again.path == "/x"


def test_delete_pool_removes_volumes_and_pool() -> None:
    conn = FakeConn()
    pool = lvpool.ensure_pool(conn, "p", "/x", "h")
    lvpool.create_volume(pool, lvpool.volume_xml("a", 1, "raw"), "h")
    lvpool.create_volume(pool, lvpool.volume_xml("b", 1, "raw"), "h")
    lvpool.delete_pool(conn, "p")
    assert pool.vols == {} and not pool.built and conn.pools == {}
    lvpool.delete_pool(conn, "p")  # gone already: nothing to do


# -- the remote template store -------------------------------------------------


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "repo:tiny:v1"
    _sparse_file(path)
    Path(str(path) + ".hash").write_text(SHA1)
    return str(path)


def test_volume_name_is_safe_and_keyed_by_hash() -> None:
    assert volume_name("lago-local:tiny:v1", SHA1) == "lago-local_tiny_v1-4db6367f20a1"
    assert volume_name("a/b c", SHA1) == "a_b_c-4db6367f20a1"


def test_store_uploads_a_template_once(image: str) -> None:
    conn = FakeConn()
    first = RemoteTemplateStore(conn, "h").ensure(image, "repo:tiny:v1", SHA1)
    second = RemoteTemplateStore(conn, "h").ensure(image, "repo:tiny:v1", SHA1)
    assert first is second and first.uploads == 1
    pool = conn.pools["lago-store"]
    assert pool.path == "/var/lib/libvirt/images/lago-store"
    assert sorted(pool.vols) == [
        "repo_tiny_v1-4db6367f20a1",
        "repo_tiny_v1-4db6367f20a1.sha1",
    ]
    assert bytes(pool.vols["repo_tiny_v1-4db6367f20a1.sha1"].data) == SHA1.encode()


def test_store_waits_for_another_uploader(image: str) -> None:
    conn = FakeConn()
    store = RemoteTemplateStore(conn, "h", poll_interval=0)
    pool = store.pool()
    name = volume_name("repo:tiny:v1", SHA1)
    theirs = pool.createXML(lvpool.volume_xml(name, 1, "raw"), 0)
    polls = []

    original = pool.storageVolLookupByName

    def lookup(vol_name: str):
        if vol_name.endswith(".sha1"):
            polls.append(vol_name)
            if len(polls) == 3:  # the other upload completes meanwhile
                marker = pool.createXML(lvpool.volume_xml(vol_name, 40, "raw"), 0)
                marker.data = bytearray(SHA1.encode())
        return original(vol_name)

    pool.storageVolLookupByName = lookup
    assert store.ensure(image, "repo:tiny:v1", SHA1) is theirs
    assert theirs.uploads == 0


def test_store_gives_up_on_a_stalled_upload(image: str) -> None:
    conn = FakeConn()
    store = RemoteTemplateStore(conn, "h", stall_timeout=0, poll_interval=0)
    name = volume_name("repo:tiny:v1", SHA1)
    store.pool().createXML(lvpool.volume_xml(name, 1, "raw"), 0)
    with pytest.raises(
        lvpool.PoolError, match="stopped growing and has no hash marker"
    ):
        store.ensure(image, "repo:tiny:v1", SHA1)


def test_store_failed_upload_removes_the_image(image: str) -> None:
    conn = FakeConn()
    conn.fail_upload = True
    with pytest.raises(lvpool.PoolError):
        RemoteTemplateStore(conn, "h").ensure(image, "repo:tiny:v1", SHA1)
    assert conn.pools["lago-store"].vols == {}
    conn.fail_upload = False  # the next try uploads it
    assert RemoteTemplateStore(conn, "h").ensure(image, "repo:tiny:v1", SHA1).uploads


def test_store_refuses_an_entry_with_a_wrong_marker(image: str) -> None:
    conn = FakeConn()
    store = RemoteTemplateStore(conn, "h")
    store.ensure(image, "repo:tiny:v1", SHA1)
    marker = conn.pools["lago-store"].vols["repo_tiny_v1-4db6367f20a1.sha1"]
    marker.data = bytearray(b"f" * 40)
    with pytest.raises(lvpool.PoolError, match="is damaged"):
        store.ensure(image, "repo:tiny:v1", SHA1)
    assert len(conn.pools["lago-store"].vols) == 2  # others may use it


# -- a prefix's disks ------------------------------------------------------------


def _ctx(image: str) -> DiskContext:
    return DiskContext("vm01", None, lambda _n, _v: (image, {"distro": "tiny"}))  # type: ignore[arg-type]


def test_template_disk_is_a_layer_over_the_store(image: str) -> None:
    conn = FakeConn()
    storage = remote_disks.PrefixStorage(conn, "qemu+tcp://far/system", "u" * 32)
    disk = {"type": "template", "name": "root", "dev": "vda", "format": "qcow2",
            "template_name": "tiny", "metadata": {"own": 1}}  # fmt: skip
    made = storage.create_disk(_ctx(image), disk)
    pool = conn.pools[f"lago-{'u' * 32}"]
    vol = pool.vols["vm01_root.qcow2"]
    base = conn.pools["lago-store"].vols["repo_tiny_v1-4db6367f20a1"]
    assert (vol.format, vol.backing, vol.capacity) == ("qcow2", base.path(), 8 << 20)
    assert made == {
        **disk,
        "path": vol.path(),
        "pool": f"lago-{'u' * 32}",
        "volume": "vm01_root.qcow2",
        "metadata": {"own": 1, "distro": "tiny"},
    }


def test_empty_and_file_disks_are_volumes(tmp_path: Path, image: str) -> None:
    conn = FakeConn()
    storage = remote_disks.PrefixStorage(conn, "qemu+tcp://far/system", "u" * 32)
    empty = storage.create_disk(
        _ctx(image), {"type": "empty", "name": "s", "dev": "vdb", "format": "raw", "size": "64M"}
    )  # fmt: skip
    assert conn.storageVolLookupByPath(empty["path"]).capacity == 64 << 20
    data = tmp_path / "data.raw"
    data.write_bytes(b"data")
    made = storage.create_disk(
        _ctx(image), {"type": "file", "name": "d", "dev": "vdc", "format": "raw", "path": str(data)}
    )  # fmt: skip
    assert made["volume"] == "vm01_d.raw"
    assert bytes(conn.storageVolLookupByPath(made["path"]).data) == b"data"
    # the seed made again replaces its volume
    again = storage.upload(str(data), "vm01_d.raw", made)
    assert again["path"] == made["path"]


def test_layered_qcow2_templates_are_refused(image: str) -> None:
    storage = remote_disks.PrefixStorage(FakeConn(), "qemu+tcp://far/system", "u" * 32)
    disk = {"type": "template", "template_type": "qcow2", "name": "root",
            "format": "qcow2", "path": "/x"}  # fmt: skip
    with pytest.raises(
        DiskError, match="not supported on a remote libvirt host \\(far\\)"
    ):
        storage.create_disk(_ctx(image), disk)


def test_destroy_deletes_the_prefix_pool_only(image: str) -> None:
    conn = FakeConn()
    storage = remote_disks.PrefixStorage(conn, "qemu+tcp://far/system", "u" * 32)
    storage.create_disk(
        _ctx(image), {"type": "template", "name": "root", "dev": "vda", "format": "qcow2",
                      "template_name": "tiny"},
    )  # fmt: skip
    storage.destroy()
    assert list(conn.pools) == ["lago-store"]
    assert len(conn.pools["lago-store"].vols) == 2


def test_local_url_has_no_remote_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []
    monkeypatch.setattr(remote_disks, "env_libvirt_url", lambda _u: "qemu:///system")
    monkeypatch.setattr(remote_disks.lvutils, "configured_connection", opened.append)
    assert remote_disks.storage_for("u" * 32) is None
    assert opened == []


def test_remote_url_storage_uses_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        remote_disks, "env_libvirt_url", lambda _u: "qemu+tcp://far/system"
    )
    monkeypatch.setattr(
        remote_disks.lvutils, "configured_connection", lambda _u: "conn"
    )
    monkeypatch.setattr(
        remote_disks.config,
        "get_section",
        lambda name: (
            {"pool_root": "/big", "store_pool": "s"} if name == "remote" else None
        ),
    )
    storage = remote_disks.storage_for("u" * 32)
    assert storage is not None
    assert (storage.conn, storage.host, storage.root) == ("conn", "far", "/big")
    assert storage.store().pool_name == "s"
    assert storage.store().path == "/big/s"
    assert os.fspath(storage.pool_name) == "lago-" + "u" * 32


# -- the seams: prefix destroy, snapshots ------------------------------------------


class _Storage:
    def __init__(self, error: Exception | None = None) -> None:
        self.destroyed = 0
        self.error = error

    def destroy(self) -> None:
        self.destroyed += 1
        if self.error:
            raise self.error


def _prefix(tmp_path: Path):
    from lago.prefix import Prefix

    (tmp_path / "uuid").write_text("u" * 32)
    return Prefix(str(tmp_path))


def test_prefix_destroy_removes_the_remote_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lago import prefix as prefix_mod

    storage = _Storage()
    asked = []
    monkeypatch.setattr(
        prefix_mod, "storage_for", lambda uuid: asked.append(uuid) or storage
    )
    (tmp_path / "p").mkdir()
    _prefix(tmp_path / "p").destroy()
    assert asked == ["u" * 32] and storage.destroyed == 1
    assert not (tmp_path / "p").exists()


def test_prefix_destroy_goes_on_when_the_host_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from lago import prefix as prefix_mod

    storage = _Storage(lvpool.PoolError("Cannot connect"))
    monkeypatch.setattr(prefix_mod, "storage_for", lambda _uuid: storage)
    (tmp_path / "p").mkdir()
    _prefix(tmp_path / "p").destroy()
    assert storage.destroyed == 1 and not (tmp_path / "p").exists()
    assert "Could not delete the prefix's remote volumes: Cannot connect" in caplog.text


class _VM:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.saved = 0

    def name(self) -> str:
        return self.spec["name"]

    def save(self) -> None:
        self.saved += 1


class _Provider:
    def __init__(self, vm: _VM) -> None:
        self.vm = vm
        self.events: list[str] = []
        self.running = False

    def _get_domain(self) -> None:
        return None

    def defined(self) -> bool:
        return self.running

    def stop(self) -> None:
        self.events.append("stop")

    def start(self) -> None:
        self.events.append("start")


def test_remote_snapshot_of_a_stopped_vm_and_revert(image: str) -> None:
    from lago.providers.libvirt import remote_snapshot

    conn = FakeConn()
    storage = remote_disks.PrefixStorage(conn, "qemu+tcp://far/system", "u" * 32)
    root = storage.create_disk(
        _ctx(image), {"type": "template", "name": "root", "dev": "vda",
                      "format": "qcow2", "template_name": "tiny"},
    )  # fmt: skip
    seed = {"name": "lago-seed", "format": "iso", "path": "/x/seed.iso"}
    vm = _VM({"name": "vm01", "disks": [dict(root), dict(seed)]})
    provider = _Provider(vm)
    remote_snapshot.create(provider, storage, "s1")
    pool = conn.pools[f"lago-{'u' * 32}"]
    layer = pool.vols["vm01_root.s1.qcow2"]
    assert (layer.backing, layer.format) == (root["path"], "qcow2")
    disks = vm.spec["disks"]
    assert (disks[0]["path"], disks[0]["volume"]) == (layer.path(), layer.name())
    assert disks[1] == seed  # the seed is read-only: not covered
    assert vm.spec["snapshots"]["s1"] == [root] and vm.saved == 1
    with pytest.raises(remote_snapshot.snapshots.SnapshotError, match="already exists"):
        remote_snapshot.create(provider, storage, "s1")

    layer.data = bytearray(b"written after s1")
    provider.running = True
    remote_snapshot.revert(provider, storage, "s1")
    fresh = pool.vols["vm01_root.s1.qcow2"]
    assert fresh is not layer and fresh.data == bytearray()
    assert fresh.backing == root["path"]
    assert provider.events == ["stop", "start"]


def test_remote_snapshot_failure_leaves_no_volume(image: str) -> None:
    from lago.providers.libvirt import remote_snapshot

    conn = FakeConn()
    storage = remote_disks.PrefixStorage(conn, "qemu+tcp://far/system", "u" * 32)
    disk = {"type": "template", "format": "qcow2", "template_name": "tiny", "dev": "vd"}
    made = [storage.create_disk(_ctx(image), {**disk, "name": n}) for n in ("a", "b")]
    vm = _VM({"name": "vm01", "disks": made})
    pool = conn.pools[f"lago-{'u' * 32}"]
    # the second layer's backing volume vanished: its creation fails
    pool.vols.pop("vm01_b.qcow2")
    with pytest.raises(lvpool.PoolError):
        remote_snapshot.create(_Provider(vm), storage, "s1")
    assert sorted(pool.vols) == ["vm01_a.qcow2"]
    assert "snapshots" not in vm.spec


def test_export_stages_the_whole_chain(
    tmp_path: Path, image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lago.providers.libvirt import remote_export, remote_snapshot

    conn = FakeConn()
    storage = remote_disks.PrefixStorage(conn, "qemu+tcp://far/system", "u" * 32)
    root = storage.create_disk(
        _ctx(image), {"type": "template", "name": "root", "dev": "vda",
                      "format": "qcow2", "template_name": "tiny",
                      "metadata": {"template": "tiny", "version": "v1"}},
    )  # fmt: skip
    vm = _VM({"name": "vm01", "disks": [dict(root)]})
    remote_snapshot.create(_Provider(vm), storage, "s1")
    conn.storageVolLookupByPath(vm.spec["disks"][0]["path"]).data = bytearray(b"top")
    rebased = []
    monkeypatch.setattr(
        remote_export.qemu_img,
        "qemu_rebase",
        lambda target, base, safe, backing_format: rebased.append(
            (os.path.basename(target), os.path.basename(base), backing_format)
        ),
    )
    skipped = {"name": "lago-seed", "path": "/x/seed.iso", "skip-export": True}
    with remote_export.staged_disks(
        conn, [*vm.spec["disks"], skipped], str(tmp_path)
    ) as local:
        staging = Path(local[0]["path"]).parent
        assert Path(local[0]["path"]).read_bytes() == b"top"
        assert local[1] == skipped
        assert sorted(p.name for p in staging.iterdir()) == [
            "remote:tiny:v1", "vm01_root.qcow2", "vm01_root.s1.qcow2"
        ]  # fmt: skip
    assert rebased == [
        ("vm01_root.s1.qcow2", "vm01_root.qcow2", "qcow2"),
        ("vm01_root.qcow2", "remote:tiny:v1", "raw"),
    ]
    assert not staging.exists()


def test_seedless_disk_on_a_remote_host_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from lago.providers.libvirt.vm import LocalLibvirtVMProvider

    provider = object.__new__(LocalLibvirtVMProvider)
    provider._env = SimpleNamespace(uuid="u" * 32)
    root = {"name": "root", "type": "template", "format": "qcow2", "metadata": {}}
    provider.vm = SimpleNamespace(name=lambda: "vm01", spec={"disks": [root]})
    monkeypatch.setattr(remote_disks, "storage_for", lambda _uuid: object())
    with pytest.raises(
        remote_disks.RemoteDiskError, match="VM vm01: its template has no NoCloud seed"
    ):
        provider.bootstrap(guest_batch=None)
