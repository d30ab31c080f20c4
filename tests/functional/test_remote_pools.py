"""Disks in libvirt storage pools: the pool backend on the sandbox's daemon,
and whole environments on the second ("remote") daemon of the sandbox."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shlex
import subprocess
import uuid as uuid_mod
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from lago.disks import DiskContext
from lago.providers.libvirt import pool as lvpool
from lago.providers.libvirt import volume_stream
from lago.providers.libvirt.remote_disks import PrefixStorage, prefix_pool_name

from .conftest import LIBVIRT_URL, LagoRunner, write_init_file

TEMPLATE_REPO = Path(
    os.environ.get("LAGO_TEST_TEMPLATE_REPO", "/var/lib/lago/repos/lago-local")
)
REMOTE_ENV = Path(os.environ.get("LAGO_REMOTE_STATE", "/run/lago-remote")) / "env"


def _open(url: str):
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt.open(url)


@pytest.fixture
def local_store(tmp_path: Path) -> tuple[str, str]:
    """A local store entry of the tiny template (raw image + .hash)."""
    image = tmp_path / "lago-local:tiny:test"
    subprocess.run(
        ["qemu-img", "convert", "-O", "raw", str(TEMPLATE_REPO / "tiny-v1.qcow2"), str(image)],
        check=True,
    )  # fmt: skip
    sha1 = (TEMPLATE_REPO / "tiny-v1.qcow2.hash").read_text().strip()
    Path(str(image) + ".hash").write_text(sha1)
    return str(image), sha1


@pytest.fixture
def conn() -> Iterator:
    connection = _open(LIBVIRT_URL)
    yield connection
    connection.close()


def _pool_names(conn) -> set[str]:
    return {pool.name() for pool in conn.listAllStoragePools(0)}


def test_pool_backend_on_sandbox_daemon(
    conn, local_store: tuple[str, str], tmp_path: Path
) -> None:
    tag = uuid_mod.uuid4().hex
    store_pool = f"lago-test-store-{tag[:8]}"
    storages = [
        PrefixStorage(conn, LIBVIRT_URL, f"{tag[:24]}{n:08x}", store_pool=store_pool)
        for n in range(2)
    ]
    image, sha1 = local_store
    ctx = [
        DiskContext(f"vm{n}", None, lambda _n, _v: (image, {"seed": "nocloud"}))
        for n in range(2)
    ]
    data = tmp_path / "data.raw"
    data.write_bytes(b"lago" * 1000)
    try:
        root_disk = {"type": "template", "name": "root", "dev": "vda",
                     "format": "qcow2", "template_name": "tiny"}  # fmt: skip
        roots = [
            storage.create_disk(ctx[n], root_disk) for n, storage in enumerate(storages)
        ]
        # the template went into the store once, for both prefixes
        store = conn.storagePoolLookupByName(store_pool)
        assert sorted(store.listVolumes()) == sorted(
            [
                f"lago-local_tiny_test-{sha1[:12]}",
                f"lago-local_tiny_test-{sha1[:12]}.sha1",
            ]
        )
        base = store.storageVolLookupByName(f"lago-local_tiny_test-{sha1[:12]}")
        for storage, root in zip(storages, roots, strict=True):
            assert root["pool"] == prefix_pool_name(storage.uuid)
            assert root["volume"] == f"vm{storages.index(storage)}_root.qcow2"
            info = json.loads(
                subprocess.run(
                    ["qemu-img", "info", "-U", "--output=json", root["path"]],
                    capture_output=True, text=True, check=True,
                ).stdout
            )  # fmt: skip
            assert info["format"] == "qcow2"
            assert info["backing-filename"] == base.path()
            assert info["virtual-size"] == os.path.getsize(image)
            assert root["metadata"] == {"seed": "nocloud"}
        # the uploaded template reads back byte for byte
        back = tmp_path / "back.raw"
        volume_stream.download(conn, base, str(back))
        assert filecmp.cmp(back, image, shallow=False)

        empty = storages[0].create_disk(
            ctx[0], {"type": "empty", "name": "scratch", "dev": "vdb", "format": "qcow2", "size": "64M"}
        )  # fmt: skip
        vol = conn.storageVolLookupByPath(empty["path"])
        assert vol.info()[1] == 64 * 1024**2
        uploaded = storages[0].create_disk(
            ctx[0], {"type": "file", "name": "data", "dev": "vdc", "format": "raw", "path": str(data)}
        )  # fmt: skip
        assert Path(uploaded["path"]).read_bytes() == data.read_bytes()
        assert uploaded["volume"] == "vm0_data.raw"

        # no room: one line naming the pool, nothing created
        with pytest.raises(lvpool.PoolError, match="Not enough space in storage pool"):
            lvpool.check_space(store, 1 << 60, "localhost")

        for storage in storages:
            pool_dir = Path(storage.pool().XMLDesc(0).split("<path>")[1].split("<")[0])
            storage.destroy()
            assert storage.pool_name not in _pool_names(conn)
            assert not pool_dir.exists()
    finally:
        for storage in storages:
            storage.destroy()
        lvpool.delete_pool(conn, store_pool)
    assert store_pool not in _pool_names(conn)


def test_pool_that_cannot_be_made_leaves_nothing(conn) -> None:
    name = f"lago-test-bad-{uuid_mod.uuid4().hex[:8]}"
    with pytest.raises(lvpool.PoolError, match=f"Cannot make storage pool {name}"):
        lvpool.ensure_pool(conn, name, "/proc/lago-no-such-dir/pool", "localhost")
    assert name not in _pool_names(conn)


# -- a whole environment on the remote daemon ----------------------------------


def _remote_urls() -> tuple[str, str] | None:
    """(TCP URL, SSH URL with its key) of the sandbox's remote daemon."""
    try:
        values = dict(
            shlex.split(line)[0].split("=", 1)
            for line in REMOTE_ENV.read_text().splitlines()
            if "=" in line
        )
    except OSError:
        return None
    urls = (values.get("LAGO_REMOTE_TCP_URL"), values.get("LAGO_REMOTE_SSH_URL"))
    try:
        _open(str(urls[0])).close()
    except Exception:
        return None
    return (str(urls[0]), str(urls[1]))


REMOTE_URLS = _remote_urls()
needs_remote = pytest.mark.skipif(
    REMOTE_URLS is None,
    reason="no remote libvirtd (scripts/sandbox.sh start --remote)",
)

ONE_VM = """\
domains:
  vm01:
    memory: 256
    vcpu: 1
    nics:
      - net: mgmt
    disks:
      - template_name: tiny
        type: template
        name: root
        dev: vda
        format: qcow2
      - type: empty
        name: scratch
        dev: vdb
        format: qcow2
        size: 64M
nets:
  mgmt:
    type: nat
    management: true
"""


def _remote_leftovers(rconn, uuids: list[str]) -> list[str]:
    tags = {u[:8] for u in uuids} | {u[:4] for u in uuids}
    names = [d.name() for d in rconn.listAllDomains(0)]
    names += [n.name() for n in rconn.listAllNetworks(0)]
    found = [name for name in names if any(name.startswith(tag) for tag in tags)]
    pools = _pool_names(rconn)
    return found + [prefix_pool_name(u) for u in uuids if prefix_pool_name(u) in pools]


def _purge_remote(rconn, uuids: list[str]) -> None:
    tags = {u[:8] for u in uuids} | {u[:4] for u in uuids}
    for item in [*rconn.listAllDomains(0), *rconn.listAllNetworks(0)]:
        if any(item.name().startswith(tag) for tag in tags):
            try:
                item.destroy()
            except Exception:  # already gone
                pass
    for uuid in uuids:
        lvpool.delete_pool(rconn, prefix_pool_name(uuid))


def _export(
    run: LagoRunner, dst: Path, image: str, backing: str | None, *flags: str
) -> None:
    """Export, and check the image's format and backing file."""
    run("export", *flags, "--dst-dir", str(dst), timeout=900)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(dst / image)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert info["format"] == "qcow2"
    assert info.get("backing-filename") == backing
    assert (dst / f"{image}.hash").is_file()


@needs_remote
def test_environment_disks_in_remote_pools(lago: LagoRunner) -> None:
    assert REMOTE_URLS is not None
    # lago goes through ssh (and its key reaches the guests through the
    # host); the test looks at the daemon over TCP
    lago.env["LAGO_LIBVIRT_URL"] = REMOTE_URLS[1]
    rconn = _open(REMOTE_URLS[0])
    uuids: list[str] = []
    try:
        runners = []
        for name in ("one", "two"):
            (lago.cwd / name).mkdir()
            write_init_file(lago.cwd / name, ONE_VM)
            runners.append(LagoRunner(cwd=lago.cwd / name, env=lago.env))
            runners[-1]("init", timeout=900)
            prefix = lago.cwd / name / ".lago" / "default"
            uuids.append((prefix / "uuid").read_text().strip())
        one = lago.cwd / "one" / ".lago" / "default"
        run = runners[0]
        # nothing of the disks is local; the spec says where each one lives
        assert not list((one / "images").glob("*.qcow2"))
        spec = json.loads((one / "virt" / "vm-vm01").read_text())
        pool_name = prefix_pool_name(uuids[0])
        pool = rconn.storagePoolLookupByName(pool_name)
        assert sorted(pool.listVolumes()) == [
            "vm01_root.qcow2",
            "vm01_scratch.qcow2",
            "vm01_seed.iso",
        ]
        by_name = {disk["name"]: disk for disk in spec["disks"]}
        for disk_name, volume in (
            ("root", "vm01_root.qcow2"),
            ("scratch", "vm01_scratch.qcow2"),
            ("lago-seed", "vm01_seed.iso"),
        ):
            disk = by_name[disk_name]
            assert (disk["pool"], disk["volume"]) == (pool_name, volume)
            assert disk["path"] == pool.storageVolLookupByName(volume).path()
        # one template image (and its hash marker) for both prefixes
        bases = {
            rconn.storageVolLookupByPath(disk["path"]).XMLDesc(0)
            .split("<backingStore>")[1].split("<path>")[1].split("<")[0]
            for disk in (
                json.loads((prefix / "virt" / "vm-vm01").read_text())["disks"][0]
                for prefix in (one, lago.cwd / "two" / ".lago" / "default")
            )
        }  # fmt: skip
        assert len(bases) == 1
        base = rconn.storageVolLookupByPath(bases.pop())
        store = base.storagePoolLookupByVolume()
        assert store.name() == "lago-store"
        tiny = [v for v in store.listVolumes() if v.startswith(base.name())]
        assert sorted(tiny) == [base.name(), base.name() + ".sha1"]

        run("start", timeout=900)
        dom = rconn.lookupByName(f"{uuids[0][:8]}-vm01")
        assert dom.state()[0] == 1  # running
        sources = [
            disk.find("source").get("file")
            for disk in ET.fromstring(dom.XMLDesc(0)).iterfind("devices/disk")
        ]
        assert sources == [by_name[n]["path"] for n in ("root", "scratch", "lago-seed")]

        run("stop")
        # export downloads the volumes: layered on ./<template>:<version> as
        # locally, or standalone
        version = by_name["root"]["metadata"]["version"]
        _export(run, lago.cwd / "layered", "vm01_root.qcow2", f"./tiny:{version}")

        # a live snapshot: its layers are volumes of the prefix's pool
        run("start", timeout=900)
        run("shell", "vm01", "echo one > /root/marker && sync", timeout=900)
        run("snapshot", "s1", timeout=900)
        spec = json.loads((one / "virt" / "vm-vm01").read_text())
        root = spec["disks"][0]
        assert (root["pool"], root["volume"]) == (pool_name, "vm01_root.s1.qcow2")
        pool.refresh(0)
        assert {"vm01_root.s1.qcow2", "vm01_scratch.s1.qcow2"} <= set(
            pool.listVolumes()
        )
        assert spec["snapshots"]["s1"][0]["volume"] == "vm01_root.qcow2"
        run("shell", "vm01", "echo two > /root/marker && sync")
        run("revert", "s1", timeout=900)
        assert run("shell", "vm01", "cat /root/marker", timeout=900).stdout == "one\n"
        run("stop")
        # three layers (snapshot, disk, template) made one standalone image
        _export(
            run, lago.cwd / "standalone", "vm01_root.s1.qcow2", None, "--standalone"
        )
        assert not list((one / "images").glob(".remote-export-*"))

        for runner in runners:
            runner("destroy", "-y")
        assert _remote_leftovers(rconn, uuids) == []
        # the store keeps the template for the next environment
        assert sorted(v for v in store.listVolumes() if v in tiny) == sorted(tiny)
    finally:
        _purge_remote(rconn, uuids)
        rconn.close()


@needs_remote
def test_pool_that_cannot_be_made_fails_init_cleanly(lago: LagoRunner) -> None:
    assert REMOTE_URLS is not None
    lago.env["LAGO_LIBVIRT_URL"] = REMOTE_URLS[1]
    # the host cannot make a directory there
    lago.env["LAGO__REMOTE__POOL_ROOT"] = "/proc/lago-no-such-dir"
    write_init_file(lago.cwd, ONE_VM)
    proc = lago("init", check=False, timeout=900)
    assert proc.returncode != 0
    errors = [
        line
        for line in re.sub(r"\x1b\[[0-9;]*m", "", proc.stderr).splitlines()
        if line.strip() and not re.match(r"^\s*[@#*-] ", line)
    ]
    assert len(errors) <= 2, proc.stderr  # the message, maybe a hint
    match = re.match(
        r"Cannot make storage pool (lago-[0-9a-f]{32}) at "
        r"/proc/lago-no-such-dir/lago-[0-9a-f]{32} on ",
        errors[0],
    )
    assert match, errors
    # nothing half-made: no pool there, no prefix here
    rconn = _open(REMOTE_URLS[0])
    try:
        assert match.group(1) not in _pool_names(rconn)
    finally:
        rconn.close()
    assert not (lago.cwd / ".lago").exists()
