"""Libvirt names, domain states and the cached connection helper.

Everything here but :func:`get_libvirt_connection` is pure.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lago.errors import LagoException, LagoUserException

if TYPE_CHECKING:
    import libvirt

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

#: Libvirt network names are limited by the bridge name they derive from.
NET_NAME_LENGTH = 15
#: Linux interface names have at most 15 characters; ``-nic`` is cut to 12.
BRIDGE_NAME_LENGTH = 12

#: ``virDomainState`` codes as the original reported them.
DOMAIN_STATES: dict[int, str] = {
    0: "no state",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "begin shut down",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}


class LibvirtNameError(LagoException, ValueError):
    """A libvirt name cannot be made within the requested length."""


class LibvirtConnectionError(LagoUserException):
    """The libvirt daemon at a URL does not answer or refuses us."""


def prefixed_name(uuid: str, name: str, max_length: int = 0) -> str:
    """``<uuid part>-<name>``, the libvirt name of a prefix's VM or network.

    With ``max_length`` 0 the name is unlimited and the uuid part is 8 chars.
    Otherwise the uuid part is 4 chars below 16, else 8, and a name too long
    for the room left is replaced by that many hex chars of its sha1.
    """
    if not max_length:
        return f"{uuid[:8]}-{name}"
    if max_length < 6:
        msg = (
            f"Cannot make a libvirt name of at most {max_length} characters (minimum 6)"
        )
        raise LibvirtNameError(msg)
    uuid_part = uuid[:4] if max_length < 16 else uuid[:8]
    room = max_length - len(uuid_part) - 1
    if len(name) > room:
        name = hashlib.sha1(name.encode()).hexdigest()[:room]
    return f"{uuid_part}-{name}"


def net_libvirt_name(uuid: str, net_name: str) -> str:
    """The libvirt name of network ``net_name`` of the prefix ``uuid``."""
    return prefixed_name(uuid, net_name, max_length=NET_NAME_LENGTH)


def nat_bridge_name(net_libvirt_name: str) -> str:
    """The Linux bridge of a NAT network: ``<libvirt name>-nic``, cut to 12."""
    return f"{net_libvirt_name}-nic"[:BRIDGE_NAME_LENGTH]


def domain_state_name(code: int) -> str:
    """The original's word for a ``virDomainState`` code."""
    return DOMAIN_STATES.get(code, "unknown")


def libvirt_error_code(err: BaseException) -> int:
    """The ``VIR_ERR_*`` code of a ``libvirtError`` (-1 when it has none)."""
    getter = getattr(err, "get_error_code", None)
    code = getter() if getter else None
    return -1 if code is None else int(code)


def unless_gone(call: Callable[[], T], *codes: int) -> T | None:
    """``call()``, or None when libvirt fails it with one of ``codes``
    (``VIR_ERR_NO_DOMAIN``...: the object is not there, or no longer)."""
    import libvirt

    try:
        return call()
    except libvirt.libvirtError as err:
        if libvirt_error_code(err) in codes:
            return None
        raise


_CONNECTIONS: dict[tuple[str, str | None, int], Any] = {}
_CONNECTIONS_LOCK = threading.Lock()
_HANDLER_REGISTERED = False


def _silence_libvirt() -> None:
    """Replace libvirt's default handler, which prints every error on stderr."""
    global _HANDLER_REGISTERED
    if _HANDLER_REGISTERED:
        return
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    _HANDLER_REGISTERED = True


def _open(
    libvirt_url: str, username: str | None, password: str | None
) -> libvirt.virConnect:
    import libvirt

    def request_credentials(credentials: list[list[Any]], _data: object) -> int:
        for credential in credentials:
            if credential[0] == libvirt.VIR_CRED_AUTHNAME:
                credential[4] = username
            elif credential[0] == libvirt.VIR_CRED_PASSPHRASE:
                credential[4] = password
        return 0

    auth = [
        [libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE],
        request_credentials,
        None,
    ]
    try:
        return libvirt.openAuth(libvirt_url, auth, 0)
    except libvirt.libvirtError as err:
        reason = (str(err).strip().splitlines() or ["unknown error"])[0]
        msg = f"Cannot connect to libvirt at {libvirt_url}: {reason}"
        hint = (
            "check that libvirtd runs at that address and that you may use it "
            "(member of the libvirt group, or root)"
        )
        raise LibvirtConnectionError(msg, hint=hint) from err


def get_libvirt_connection(
    name: str,
    libvirt_url: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> libvirt.virConnect:
    """A connection to ``libvirt_url``, shared per URL (and user) and thread.

    ``name`` only labels the caller in the debug log. Without ``libvirt_url``
    (the original's one-argument call), the configured URL and credentials
    are used. A cached connection that died (daemon restarted) is replaced.
    Failure raises :class:`LibvirtConnectionError`.
    """
    if libvirt_url is None:
        return configured_connection(name)
    _silence_libvirt()
    key = (libvirt_url, username, threading.get_ident())
    with _CONNECTIONS_LOCK:
        conn = _CONNECTIONS.get(key)
        if conn is not None and _alive(conn):
            return conn
        LOGGER.debug("Opening libvirt connection to %s for %s", libvirt_url, name)
        conn = _open(libvirt_url, username, password)
        _CONNECTIONS[key] = conn
        return conn


def _alive(conn: Any) -> bool:
    try:
        return bool(conn.isAlive())
    except Exception:  # a broken connection may raise anything from the binding
        return False


def configured_connection(name: str) -> libvirt.virConnect:
    """The connection the configuration names (``libvirt_url`` and credentials)."""
    from lago.config import config

    return get_libvirt_connection(
        name=name,
        libvirt_url=config.get("libvirt_url"),
        username=config.get("libvirt_username"),
        password=config.get("libvirt_password"),
    )


# the original's helpers, kept where plugins import them from
from lago.providers.libvirt.utils_compat import (  # noqa: E402
    DOMAIN_RUNNING_STATES,
    Domain,
    auth_callback,
    dict_to_xml,
    get_domain_template,
    get_template,
    libvirt_callback,
)

__all__ = [
    "DOMAIN_RUNNING_STATES",
    "DOMAIN_STATES",
    "Domain",
    "auth_callback",
    "dict_to_xml",
    "get_domain_template",
    "get_libvirt_connection",
    "get_template",
    "libvirt_callback",
]
