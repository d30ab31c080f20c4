from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from lago import subnet_lease
from lago.config import config
from lago.errors import LagoUserException
from lago.subnet_lease import (
    LagoSubnetLeaseBadPermissionsException,
    LagoSubnetLeaseException,
    LagoSubnetLeaseLockException,
    LagoSubnetLeaseMalformedAddrException,
    LagoSubnetLeaseOutOfRangeException,
    LagoSubnetLeaseStoreFullException,
    LagoSubnetLeaseTakenException,
    Lease,
    SubnetStore,
)
from lago.subnet_lease import host_subnet_octets as real_host_subnet_octets
from lago.utils import CommandStatus, LockFile

RANGE = "192.168.200.0/24 - 192.168.255.0/24"
FORK = multiprocessing.get_context("fork")


def make_prefix(root: Path, name: str, uuid: str | None = None) -> str:
    prefix = root / name
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "uuid").write_text(uuid or f"{name:0>32}"[-32:])
    return str(prefix / "uuid")


@pytest.fixture
def store(tmp_path: Path) -> SubnetStore:
    return SubnetStore(tmp_path / "subnets")


def lease_names(store: SubnetStore) -> list[str]:
    return sorted(p.name for p in store.path.iterdir() if p.name.endswith(".lease"))


def test_lease_file_path_and_content_are_the_originals(
    store: SubnetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_prefix(tmp_path, "p1", "0123456789abcdef0123456789abcdef")
    monkeypatch.chdir(tmp_path)

    assert store.acquire("p1/uuid") == "192.168.200.0"

    expected = (
        f'[\n    "{tmp_path}/p1/uuid",\n    "0123456789abcdef0123456789abcdef"\n]'
    )
    assert (tmp_path / "subnets" / "200.lease").read_bytes() == expected.encode()
    assert sorted(p.name for p in store.path.iterdir()) == [
        "200.lease",
        "subnet-lease.lock",
    ]


def test_store_directory_is_created(tmp_path: Path) -> None:
    SubnetStore(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_store_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LagoSubnetLeaseBadPermissionsException) as err:
        SubnetStore(tmp_path / "file" / "subnets")
    assert (
        str(err.value)
        == f"Failed to get access to the store at {tmp_path}/file/subnets"
    )


def test_lock_file_is_group_writable(store: SubnetStore, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store.acquire(make_prefix(tmp_path, "p1"))
    finally:
        os.umask(old)
    assert (store.path / "subnet-lease.lock").stat().st_mode & 0o777 == 0o660


def test_automatic_leases_ascend(store: SubnetStore, tmp_path: Path) -> None:
    first = store.acquire(make_prefix(tmp_path, "p1"))
    second = store.acquire(make_prefix(tmp_path, "p2"))
    assert (first, second) == ("192.168.200.0", "192.168.201.0")


def test_stale_lease_of_deleted_prefix_is_reclaimed(
    store: SubnetStore, tmp_path: Path
) -> None:
    store.acquire(make_prefix(tmp_path, "old"))
    os.unlink(tmp_path / "old" / "uuid")
    new = make_prefix(tmp_path, "new")

    assert store.acquire(new) == "192.168.200.0"
    assert _rows(store.list_leases()) == [("192.168.200.0", new, f"{'new':0>32}", True)]


def test_stale_lease_of_recreated_prefix_is_reclaimed(
    store: SubnetStore, tmp_path: Path
) -> None:
    old = make_prefix(tmp_path, "p1", "a" * 32)
    store.acquire(old)
    make_prefix(tmp_path, "p1", "b" * 32)  # same path, new uuid
    other = make_prefix(tmp_path, "p2")

    assert store.acquire(other, "192.168.200.1") == "192.168.200.0"
    assert store.list_leases()[0].uuid_path == other


def test_given_subnet_or_gateway(store: SubnetStore, tmp_path: Path) -> None:
    assert (
        store.acquire(make_prefix(tmp_path, "p1"), "192.168.230.1") == "192.168.230.0"
    )
    assert (
        store.acquire(make_prefix(tmp_path, "p2"), "192.168.231.0") == "192.168.231.0"
    )
    assert store.acquire(make_prefix(tmp_path, "p3"), "192.168.232.0/24") == (
        "192.168.232.0"
    )
    assert lease_names(store) == ["230.lease", "231.lease", "232.lease"]


def test_subnet_taken_by_another_prefix(store: SubnetStore, tmp_path: Path) -> None:
    owner = make_prefix(tmp_path, "p1")
    store.acquire(owner, "192.168.210.1")
    with pytest.raises(LagoSubnetLeaseTakenException) as err:
        store.acquire(make_prefix(tmp_path, "p2"), "192.168.210.1")
    assert str(err.value) == (
        "Can't acquire subnet 192.168.210.1/24. "
        f"The subnet is already taken by {owner}."
    )
    # the owner itself may lease it again
    assert store.acquire(owner, "192.168.210.0") == "192.168.210.0"


@pytest.mark.parametrize(
    ("subnet", "shown"),
    [
        ("192.168.199.1", "192.168.199.1/24"),
        ("10.0.0.1", "10.0.0.1/24"),
        ("192.168.210.0/16", "192.168.210.0/16"),
    ],
)
def test_subnet_out_of_range(
    store: SubnetStore, tmp_path: Path, subnet: str, shown: str
) -> None:
    with pytest.raises(LagoSubnetLeaseOutOfRangeException) as err:
        store.acquire(make_prefix(tmp_path, "p1"), subnet)
    assert str(err.value) == (
        f"Subnet {shown} is not valid. Subnet should be in the range {RANGE}."
    )
    assert lease_names(store) == []


@pytest.mark.parametrize("subnet", ["foo", "192.168.300.1", "192.168.2"])
def test_malformed_subnet(store: SubnetStore, tmp_path: Path, subnet: str) -> None:
    with pytest.raises(LagoSubnetLeaseMalformedAddrException) as err:
        store.acquire(make_prefix(tmp_path, "p1"), subnet)
    assert str(err.value) == f"Address {subnet}/24 is not a valid ip address"


def test_missing_uuid_file(store: SubnetStore, tmp_path: Path) -> None:
    with pytest.raises(LagoSubnetLeaseException) as err:
        store.acquire(str(tmp_path / "nowhere" / "uuid"))
    assert str(err.value) == (
        f"Cannot read the prefix uuid file {tmp_path}/nowhere/uuid: "
        "No such file or directory"
    )


@pytest.mark.parametrize(
    ("subnet", "leasable"),
    [
        ("192.168.200.0", True),
        ("192.168.230.4", True),
        ("192.168.255.254", True),
        ("192.168.255.0/24", True),
        ("192.168.199.255", False),
        ("192.169.200.1", False),
        ("10.0.0.0", False),
        ("not an address", False),
    ],
)
def test_is_leasable_subnet(store: SubnetStore, subnet: str, leasable: bool) -> None:
    assert store.is_leasable_subnet(subnet) is leasable


def test_custom_range(tmp_path: Path) -> None:
    store = SubnetStore(tmp_path / "s", min_third_octet=210, max_third_octet=211)
    assert store.acquire(make_prefix(tmp_path, "p1")) == "192.168.210.0"
    assert not store.is_leasable_subnet("192.168.200.1")
    with pytest.raises(LagoSubnetLeaseOutOfRangeException) as err:
        store.acquire(make_prefix(tmp_path, "p2"), "192.168.212.1")
    assert str(err.value).endswith("range 192.168.210.0/24 - 192.168.211.0/24.")


def test_release_accepts_networks_gateways_and_nothing(
    store: SubnetStore, tmp_path: Path
) -> None:
    uuid = make_prefix(tmp_path, "p1")
    for subnet in ("192.168.200.1", "192.168.201.1", "192.168.202.1"):
        store.acquire(uuid, subnet)

    store.release(["192.168.200.1", "192.168.201.0", None, "192.168.250.1"])
    assert lease_names(store) == ["202.lease"]
    store.release("192.168.202.0")
    store.release(None)
    store.release([])
    assert lease_names(store) == []


def test_release_rejects_out_of_range(store: SubnetStore) -> None:
    with pytest.raises(LagoSubnetLeaseOutOfRangeException):
        store.release(["10.0.0.1"])


def test_list_leases(store: SubnetStore, tmp_path: Path) -> None:
    kept = make_prefix(tmp_path, "kept")
    gone = make_prefix(tmp_path, "gone")
    store.acquire(kept)
    store.acquire(gone)
    os.unlink(gone)
    (store.path / "205.lease").write_text("not json")
    (store.path / "notes.txt").write_text("ignored")

    assert _rows(store.list_leases()) == [
        ("192.168.200.0", kept, f"{'kept':0>32}", True),
        ("192.168.201.0", gone, f"{'gone':0>32}", False),
        ("192.168.205.0", "", "", False),
    ]
    assert _rows(store.list_leases(uuid=f"{'kept':0>32}")) == [
        ("192.168.200.0", kept, f"{'kept':0>32}", True)
    ]


def _rows(leases: list[Lease]) -> list[tuple[str, str, str, bool]]:
    return [
        (lease.subnet, lease.uuid_path, lease.uuid, lease.valid) for lease in leases
    ]


def test_lease_object_reads_its_file(store: SubnetStore, tmp_path: Path) -> None:
    owner = make_prefix(tmp_path, "owner")
    store.acquire(owner, "192.168.210.1")
    lease = store.create_lease_object_from_subnet("192.168.210.0/24")
    assert lease == store.create_lease_object_from_idx(210)
    assert lease.path == str(store.path / "210.lease")
    assert lease.exist and lease.valid and lease.has_env
    assert lease.uuid_path == owner
    assert str(lease.to_ip_network()) == "192.168.210.0/24"
    os.unlink(owner)
    assert lease.exist and not lease.valid and not lease.has_env
    free = Lease(store.path, "192.168.211.0")
    assert not free.exist and not free.valid and free.metadata == ["", ""]


def test_store_full_after_56_leases(store: SubnetStore, tmp_path: Path) -> None:
    got = [store.acquire(make_prefix(tmp_path, f"p{i}")) for i in range(56)]
    assert got == [f"192.168.{n}.0" for n in range(200, 256)]

    with pytest.raises(LagoSubnetLeaseStoreFullException) as err:
        store.acquire(make_prefix(tmp_path, "one-too-many"))
    assert str(err.value) == f"Can't acquire subnet from range {RANGE}"
    assert "full" in err.value.hint


def _acquire_many(store_path: str, root: str, tag: str, start, queue) -> None:
    store = SubnetStore(store_path)
    paths = [make_prefix(Path(root), f"{tag}{i}") for i in range(20)]
    start.wait(10)
    queue.put([(store.acquire(path), path) for path in paths])


def test_two_processes_never_share_a_subnet(tmp_path: Path) -> None:
    store_path = str(tmp_path / "subnets")
    start, queue = FORK.Event(), FORK.Queue()
    workers = [
        FORK.Process(
            target=_acquire_many, args=(store_path, str(tmp_path), tag, start, queue)
        )
        for tag in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    start.set()
    results = queue.get(timeout=60) + queue.get(timeout=60)
    for worker in workers:
        worker.join(10)
        assert worker.exitcode == 0

    subnets = [subnet for subnet, _ in results]
    assert len(subnets) == 40
    assert len(set(subnets)) == 40
    owners = {
        lease.subnet: lease.uuid_path for lease in SubnetStore(store_path).list_leases()
    }
    assert owners == {subnet: path for subnet, path in results}


def _hold_lock(lock_path: str, locked, done) -> None:
    with LockFile(lock_path):
        locked.set()
        done.wait(30)


def test_lock_timeout(store: SubnetStore, tmp_path: Path) -> None:
    locked, done = FORK.Event(), FORK.Event()
    holder = FORK.Process(
        target=_hold_lock, args=(str(store.path / "subnet-lease.lock"), locked, done)
    )
    holder.start()
    try:
        assert locked.wait(10)
        store.lock_timeout = 0.3
        with pytest.raises(LagoSubnetLeaseLockException) as err:
            store.acquire(make_prefix(tmp_path, "p1"))
        with pytest.raises(LagoSubnetLeaseLockException):
            store.release(["192.168.200.0"])
    finally:
        done.set()
        holder.join(10)
    assert str(err.value) == f"Failed to acquire a lock for store {store.path}."
    assert "Another Lago process" in err.value.hint
    assert lease_names(store) == []
    # once the holder is gone the store works again
    assert store.acquire(make_prefix(tmp_path, "p1")) == "192.168.200.0"


def test_module_functions_use_the_configured_lease_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.get("lease_dir")  # load the configuration before patching it
    monkeypatch.setitem(config.get_section("lago"), "lease_dir", str(tmp_path / "cfg"))
    uuid = make_prefix(tmp_path, "p1")

    assert subnet_lease.acquire(uuid) == "192.168.200.0"
    assert subnet_lease.acquire(uuid, "192.168.220.1") == "192.168.220.0"
    assert sorted(os.listdir(tmp_path / "cfg")) == [
        "200.lease",
        "220.lease",
        "subnet-lease.lock",
    ]
    subnet_lease.release(["192.168.200.1", "192.168.220.1"])
    assert os.listdir(tmp_path / "cfg") == ["subnet-lease.lock"]


def test_exception_family() -> None:
    for cls in (
        LagoSubnetLeaseStoreFullException,
        LagoSubnetLeaseTakenException,
        LagoSubnetLeaseOutOfRangeException,
        LagoSubnetLeaseMalformedAddrException,
        LagoSubnetLeaseLockException,
        LagoSubnetLeaseBadPermissionsException,
    ):
        assert issubclass(cls, LagoSubnetLeaseException)
    assert issubclass(LagoSubnetLeaseException, LagoUserException)


def test_automatic_lease_skips_subnets_in_use_on_the_host(
    store: SubnetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subnet_lease, "host_subnet_octets", lambda: {200, 201})
    assert store.acquire(make_prefix(tmp_path, "p1")) == "192.168.202.0"


def test_host_subnet_octets_reads_ip_addr(monkeypatch: pytest.MonkeyPatch) -> None:
    output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        "5: abcd-lago-nic    inet 192.168.203.1/24 brd 192.168.203.255 scope global\n"
        "6: eth0    inet 10.0.0.5/24 scope global eth0\n"
    )
    monkeypatch.setattr(
        subnet_lease, "run_command", lambda cmd: CommandStatus(0, output, "")
    )
    assert real_host_subnet_octets() == {203}


def test_release_by_owner_keeps_other_prefixes_leases(
    store: SubnetStore, tmp_path: Path
) -> None:
    original = make_prefix(tmp_path, "original")
    store.acquire(original)
    # a copy of the workdir: same subnets in its specs, same uuid, other path
    copy = make_prefix(tmp_path, "copy", Path(original).read_text())
    store.release(["192.168.200.1"], uuid_path=copy)
    assert lease_names(store) == ["200.lease"]
    linked = tmp_path / "link"
    linked.symlink_to(tmp_path / "original")
    store.release(["192.168.200.1"], uuid_path=str(linked / "uuid"))
    assert lease_names(store) == []


def test_release_by_owner_of_a_half_removed_prefix(store: SubnetStore, tmp_path: Path) -> None:  # fmt: skip
    prefix = make_prefix(tmp_path, "p")
    store.acquire(prefix)
    Path(prefix).unlink()
    store.release(["192.168.200.0"], uuid_path=prefix)
    assert lease_names(store) == []


def test_release_stale_keeps_live_leases(store: SubnetStore, tmp_path: Path) -> None:
    live = make_prefix(tmp_path, "live")
    gone = make_prefix(tmp_path, "gone")
    store.acquire(live)
    store.acquire(gone)
    Path(gone).unlink()
    assert not store.release_stale("192.168.200.0/24")
    assert store.release_stale("192.168.201.0/24")
    assert lease_names(store) == ["200.lease"]
