"""Subnet leases: which ``192.168.N.0/24`` belongs to which prefix.

The store is a directory shared by every Lago process on the host (and by the
original Lago, whose directory, file format and lock we keep): ``<N>.lease``
holds ``["<abs path of the prefix's uuid file>", "<uuid text>"]``. A lease is
valid while that uuid file still holds that uuid; a stale lease (prefix
deleted or re-created) is reclaimed when met. Every change happens under an
exclusive ``flock`` on ``subnet-lease.lock``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lago import defaults
from lago.errors import TimerException
from lago.fileio import atomic_write
from lago.lease import (
    LagoSubnetLeaseBadPermissionsException,
    LagoSubnetLeaseException,
    LagoSubnetLeaseLockException,
    LagoSubnetLeaseMalformedAddrException,
    LagoSubnetLeaseOutOfRangeException,
    LagoSubnetLeaseStoreFullException,
    LagoSubnetLeaseTakenException,
    Lease,
    uuid_matches,
)
from lago.locks import LockFile
from lago.process import run_command

LOGGER = logging.getLogger(__name__)

DEFAULT_LEASE_DIR = defaults.LAGO["lease_dir"]
LOCK_NAME = "subnet-lease.lock"
_LEASE_FILE = re.compile(r"^(\d{1,3})\.lease$")


__all__ = [
    "LagoSubnetLeaseBadPermissionsException",
    "LagoSubnetLeaseException",
    "LagoSubnetLeaseLockException",
    "LagoSubnetLeaseMalformedAddrException",
    "LagoSubnetLeaseOutOfRangeException",
    "LagoSubnetLeaseStoreFullException",
    "LagoSubnetLeaseTakenException",
    "Lease",
    "SubnetStore",
    "acquire",
    "release",
]


class SubnetStore:
    """The lease directory for ``192.168.<min>.0/24`` .. ``192.168.<max>.0/24``."""

    #: seconds to wait for the store lock (the original's value)
    lock_timeout: float = 5.0

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        min_third_octet: int = 200,
        max_third_octet: int = 255,
    ) -> None:
        if path is None:
            from lago.config import config

            path = config.get("lease_dir") or DEFAULT_LEASE_DIR
        self._path = Path(path)
        self.min_third_octet = self._min_third_octet = min_third_octet
        self.max_third_octet = self._max_third_octet = max_third_octet
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LagoSubnetLeaseBadPermissionsException(
                self.path,
                str(err.strerror),
                hint="check that the directory is writable by you",
            ) from err

    @property
    def path(self) -> Path:
        """The store directory."""
        return self._path

    # -- range ---------------------------------------------------------
    def get_allowed_range(self) -> str:
        low, high = self.min_third_octet, self.max_third_octet
        return f"192.168.{low}.0/24 - 192.168.{high}.0/24"

    def _parse(self, subnet: str) -> tuple[str, ipaddress.IPv4Network]:
        """``subnet`` as the messages show it (``/24`` implied), and its network."""
        shown = subnet if "/" in subnet else f"{subnet}/24"
        try:
            network = ipaddress.IPv4Network(shown, strict=False)
        except ValueError as err:
            raise LagoSubnetLeaseMalformedAddrException(shown) from err
        return shown, network

    def _third_octet(self, network: ipaddress.IPv4Network) -> int | None:
        """N when ``network`` is ``192.168.N.0/24`` within the range."""
        octets = network.network_address.packed
        if network.prefixlen != 24 or octets[:2] != b"\xc0\xa8":
            return None
        if not self.min_third_octet <= octets[2] <= self.max_third_octet:
            return None
        return octets[2]

    def is_leasable_subnet(self, subnet: str) -> bool:
        """Whether ``subnet`` (a network or any address in it) is in the range."""
        try:
            _, network = self._parse(str(subnet))
        except LagoSubnetLeaseMalformedAddrException:
            return False
        return self._third_octet(network) is not None

    def _octet_of(self, subnet: str) -> tuple[str, int]:
        shown, network = self._parse(str(subnet))
        octet = self._third_octet(network)
        if octet is None:
            raise LagoSubnetLeaseOutOfRangeException(shown, self.get_allowed_range())
        return shown, octet

    # -- lease files ---------------------------------------------------
    def _lease_path(self, octet: int) -> Path:
        return self.path / f"{octet}.lease"

    def _read_lease(self, octet: int) -> Lease | None:
        """The lease of ``192.168.<octet>.0``, or None if there is no file."""
        lease = self.create_lease_object_from_idx(octet)
        return lease if lease.exist else None

    def create_lease_object_from_idx(self, idx: int | str) -> Lease:
        """The :class:`Lease` of ``192.168.<idx>.0`` (its file may not exist)."""
        return Lease(self.path, f"192.168.{int(idx)}.0")

    def create_lease_object_from_subnet(self, subnet: str) -> Lease:
        """The :class:`Lease` of ``subnet`` (a network or an address in it)."""
        _, octet = self._octet_of(subnet)
        return self.create_lease_object_from_idx(octet)

    def _write_lease(self, octet: int, uuid_path: str, uuid: str) -> None:
        atomic_write(self._lease_path(octet), json.dumps([uuid_path, uuid], indent=4))

    def list_leases(self, uuid: str | None = None) -> list[Lease]:
        """Every lease file of the range, by subnet (stale ones included);
        with ``uuid``, only the leases taken by the prefix of that uuid."""
        leases = []
        for octet in range(self.min_third_octet, self.max_third_octet + 1):
            lease = self._read_lease(octet)
            if lease is not None and (uuid is None or lease.uuid == uuid):
                leases.append(lease)
        return leases

    # -- locking -------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path / LOCK_NAME
        try:
            _create_shared_file(lock_path)
            with LockFile(lock_path, timeout=self.lock_timeout):
                yield
        except (TimerException, OSError) as err:
            raise LagoSubnetLeaseLockException(
                self.path,
                hint=(
                    "Another Lago process may be holding it, or the lock file "
                    f"{lock_path} is not writable by you ({err})"
                ),
            ) from err

    # -- acquire / release ---------------------------------------------
    def acquire(self, uuid_path: str, subnet: str | None = None) -> str:
        """Lease a subnet for the prefix whose uuid file is ``uuid_path``.

        Returns the network address (``'192.168.203.0'``). Without ``subnet``
        the lowest free one is taken; with it (a network or a gateway), that
        one, unless another prefix validly holds it.
        """
        uuid_path = os.path.abspath(uuid_path)
        try:
            uuid = Path(uuid_path).read_text()
        except OSError as err:
            raise LagoSubnetLeaseException(
                f"Cannot read the prefix uuid file {uuid_path}: {err.strerror}"
            ) from err
        wanted = None if subnet is None else self._octet_of(subnet)
        with self._locked():
            if wanted is None:
                octet = self._first_free_octet()
            else:
                octet = self._check_free(*wanted, uuid_path)
            self._write_lease(octet, uuid_path, uuid)
        LOGGER.debug("Leased subnet 192.168.%d.0/24 for %s", octet, uuid_path)
        return f"192.168.{octet}.0"

    def _first_free_octet(self) -> int:
        in_use = host_subnet_octets()
        for octet in range(self.min_third_octet, self.max_third_octet + 1):
            if octet in in_use:
                # a bridge left by an environment whose lease is gone (e.g. a
                # libvirtd that found its transient networks again): libvirt
                # would refuse a second network on that subnet
                LOGGER.debug("Skipping 192.168.%d.0/24: in use on this host", octet)
                continue
            lease = self._read_lease(octet)
            if lease is None or not lease.valid:
                return octet
        raise LagoSubnetLeaseStoreFullException(
            self.get_allowed_range(),
            hint=(
                f"The subnet store {self.path} is full: destroy environments "
                "you no longer use to release their subnets"
            ),
        )

    def _check_free(self, shown: str, octet: int, uuid_path: str) -> int:
        lease = self._read_lease(octet)
        if lease is not None and lease.valid and lease.uuid_path != uuid_path:
            raise LagoSubnetLeaseTakenException(shown, lease.uuid_path)
        return octet

    def release(
        self, subnets: Iterable[str | None] | str | None, uuid_path: str | None = None
    ) -> None:
        """Delete the leases of ``subnets`` (networks or gateways).

        ``None`` entries and subnets without a lease file are ignored. With
        ``uuid_path``, only leases owned by that prefix are deleted: a copy of
        a workdir (same subnets, another path) must not free the original's.
        """
        if subnets is None or isinstance(subnets, str):
            subnets = [subnets]
        octets = [self._octet_of(s)[1] for s in subnets if s is not None]
        if not octets:
            return
        with self._locked():
            for octet in octets:
                lease = self._read_lease(octet)
                if lease is None:
                    continue
                if uuid_path is not None and not _same_owner(lease, uuid_path):
                    LOGGER.debug(
                        "Keeping 192.168.%d.0/24: leased by %s, not %s",
                        octet, lease.uuid_path, uuid_path,
                    )  # fmt: skip
                    continue
                self._lease_path(octet).unlink(missing_ok=True)
                LOGGER.debug("Released subnet 192.168.%d.0/24", octet)

    def release_stale(self, subnet: str) -> bool:
        """Delete the lease of ``subnet`` if its owner is gone; True if deleted.

        Checked again under the store lock, so a lease taken meanwhile by a
        live environment is kept.
        """
        octet = self._octet_of(subnet)[1]
        with self._locked():
            lease = self._read_lease(octet)
            if lease is None or lease.valid:
                return False
            self._lease_path(octet).unlink(missing_ok=True)
        LOGGER.debug("Released stale lease of 192.168.%d.0/24", octet)
        return True


def _same_owner(lease: Lease, uuid_path: str) -> bool:
    """The lease names ``uuid_path`` (symlinks resolved) and its uuid."""
    if os.path.realpath(lease.uuid_path or "/nonexistent") != os.path.realpath(
        uuid_path
    ):
        return False
    # the prefix may already be half gone: a missing uuid file still matches
    return not os.path.exists(uuid_path) or _uuid_matches(uuid_path, lease.uuid)


_uuid_matches = uuid_matches


def _create_shared_file(path: Path) -> None:
    """Create ``path`` with mode 0660 whatever the umask (group-shared store)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o660)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o660)
    finally:
        os.close(fd)


def host_subnet_octets() -> set[int]:
    """Third octets of the 192.168.x.0/24 addresses on this host's interfaces."""
    result = run_command(["ip", "-o", "-4", "addr", "show"])
    octets = set()
    for line in result.out.splitlines() if result.code == 0 else []:
        fields = line.split()
        if "inet" in fields:
            address = fields[fields.index("inet") + 1].split("/")[0]
            parts = address.split(".")
            if len(parts) == 4 and parts[:2] == ["192", "168"] and parts[2].isdigit():
                octets.add(int(parts[2]))
    return octets


def acquire(uuid_path: str, subnet: str | None = None) -> str:
    """Lease a subnet in the configured ``lease_dir`` (see SubnetStore.acquire)."""
    return SubnetStore().acquire(uuid_path, subnet)


def release(subnets: Iterable[str | None] | str | None) -> None:
    """Release subnets in the configured ``lease_dir``."""
    SubnetStore().release(subnets)
