"""One subnet lease file, ``<store>/<third octet>.lease``, and the errors
of the lease store.

The file holds ``["<abs path of a prefix's uuid file>", "<uuid text>"]``; the
lease is valid while that uuid file still holds that uuid. A :class:`Lease`
reads its file when asked, so it always tells the file's current state.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path

from lago.errors import LagoUserException

LOGGER = logging.getLogger(__name__)


def uuid_matches(uuid_path: str, uuid: str) -> bool:
    try:
        return Path(uuid_path).read_text() == uuid
    except (OSError, TypeError):
        return False


class LagoSubnetLeaseException(LagoUserException):
    """A subnet could not be leased or released."""

    def __init__(
        self, msg: str = "", prv_msg: str | None = None, hint: str | None = None
    ) -> None:
        if prv_msg:
            hint = f"{prv_msg}; {hint}" if hint else prv_msg
        super().__init__(msg, hint=hint)


class LagoSubnetLeaseStoreFullException(LagoSubnetLeaseException):
    """Every subnet of the range is validly leased."""

    def __init__(self, store_range: str, hint: str | None = None) -> None:
        super().__init__(f"Can't acquire subnet from range {store_range}", hint=hint)


class LagoSubnetLeaseTakenException(LagoSubnetLeaseException):
    """The requested subnet is leased by another prefix."""

    def __init__(self, required_subnet: str, lease_taken_by: str) -> None:
        super().__init__(
            f"Can't acquire subnet {required_subnet}. The subnet is already "
            f"taken by {lease_taken_by}."
        )


class LagoSubnetLeaseOutOfRangeException(LagoSubnetLeaseException):
    """The requested subnet is outside the leasable range."""

    def __init__(self, required_subnet: str, store_range: str) -> None:
        super().__init__(
            f"Subnet {required_subnet} is not valid. Subnet should be in the "
            f"range {store_range}."
        )


class LagoSubnetLeaseMalformedAddrException(LagoSubnetLeaseException):
    """The requested subnet is not an IPv4 address."""

    def __init__(self, required_subnet: str) -> None:
        super().__init__(f"Address {required_subnet} is not a valid ip address")


class LagoSubnetLeaseLockException(LagoSubnetLeaseException):
    """The store's lock could not be taken."""

    def __init__(
        self, store_path: str | os.PathLike[str], hint: str | None = None
    ) -> None:
        super().__init__(f"Failed to acquire a lock for store {store_path}.", hint=hint)


class LagoSubnetLeaseBadPermissionsException(LagoSubnetLeaseException):
    """The store directory cannot be created or used."""

    def __init__(
        self, store_path: str | os.PathLike[str], prv_msg: str, hint: str | None = None
    ) -> None:
        super().__init__(
            f"Failed to get access to the store at {store_path}", prv_msg, hint
        )


class Lease:
    """The lease of ``subnet`` (``192.168.N.0``, a gateway or ``.../24``) in
    the store directory ``store_path``."""

    def __init__(self, store_path: str | os.PathLike[str], subnet: str) -> None:
        self._store_path = os.fspath(store_path)
        network = ipaddress.IPv4Network(
            subnet if "/" in subnet else f"{subnet}/24", strict=False
        )
        self._subnet = str(network.network_address)
        self._path = ""
        self._realise_lease_path()

    def _realise_lease_path(self) -> None:
        octet = self._subnet.split(".")[2]
        self._path = os.path.join(self._store_path, f"{octet}.lease")

    # -- where ------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @property
    def subnet(self) -> str:
        """The network address, e.g. ``'192.168.203.0'``."""
        return self._subnet

    def to_ip_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self._subnet}/24")

    @property
    def exist(self) -> bool:
        return os.path.isfile(self._path)

    # -- what the file says -------------------------------------------------
    @property
    def metadata(self) -> list[str]:
        """``[uuid_path, uuid]`` as written; ``['', '']`` for a malformed or
        missing file."""
        try:
            with open(self._path) as stream:
                uuid_path, uuid = json.load(stream)
        except FileNotFoundError:
            return ["", ""]
        except (OSError, ValueError, TypeError):
            LOGGER.warning("Malformed lease file %s", self._path)
            return ["", ""]
        return [str(uuid_path), str(uuid)]

    @property
    def uuid_path(self) -> str:
        return self.metadata[0]

    @property
    def uuid(self) -> str:
        return self.metadata[1]

    def _has_env(self, uuid_path: str | None = None, uuid: str | None = None) -> bool:
        if uuid_path is None or uuid is None:
            uuid_path, uuid = self.metadata
        return bool(uuid_path) and uuid_matches(uuid_path, uuid)

    @property
    def has_env(self) -> bool:
        """Whether the prefix that took the lease still exists."""
        return self._has_env()

    @property
    def valid(self) -> bool:
        """The file exists and its prefix still exists with the same uuid."""
        return self.exist and self._has_env()

    def _key(self) -> tuple[str, str, str, bool]:
        uuid_path, uuid = self.metadata
        return (
            self._subnet,
            uuid_path,
            uuid,
            self.exist and self._has_env(uuid_path, uuid),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lease):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self._store_path, self._subnet))

    def __repr__(self) -> str:
        subnet, uuid_path, uuid, valid = self._key()
        return (
            f"Lease({subnet!r}, uuid_path={uuid_path!r}, uuid={uuid!r}, valid={valid})"
        )
