"""Value checks shared by the init-file schema.

Each ``as_*`` function takes a value and the key path it was found at, and
returns the value normalized (``"2048"`` becomes ``2048``, ``"yes"`` becomes
``True``) or raises :class:`FieldError` naming the path, what was expected and
what was found. :func:`lago.initfile.validate` turns that into an
:class:`~lago.errors.InitFileError` that also names the file.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

#: A value check: (value, key path) -> normalized value, or FieldError.
Checker = Callable[[Any, str], Any]

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
# qemu-img sizes: bytes, or a number with a K/M/G/T/P/E (or B) suffix
_SIZE_RE = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)[bBkKmMgGtTpPeE]?$")


class FieldError(Exception):
    """One bad value: where it is (``path``) and what is wrong (``problem``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def child(path: str, key: object) -> str:
    """The key path of ``key`` under ``path`` (``domains.vm01`` + ``memory``)."""
    return f"{path}.{key}" if path else str(key)


def item(path: str, index: int) -> str:
    """The key path of list item ``index`` under ``path``."""
    return f"{path}[{index}]"


def show(value: Any) -> str:
    """A value as the message shows it: YAML words for null and booleans."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(path: str, expected: str, value: Any) -> FieldError:
    """The error for a value that is not what ``expected`` describes."""
    return FieldError(path, f"expected {expected}, got {show(value)}")


def check_keys(spec: Mapping[Any, Any], known: Collection[str], path: str) -> None:
    """Reject any key of ``spec`` not in ``known``, suggesting the closest."""
    for key in spec:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        if close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = "known keys: " + ", ".join(sorted(known))
        raise FieldError(path, f"unknown key {show(key)} ({hint})")


def require(spec: Mapping[Any, Any], key: str, path: str, meaning: str) -> None:
    """Fail unless ``key`` is in ``spec``; ``meaning`` says what it holds."""
    if key not in spec:
        raise FieldError(path, f"missing required key {key!r} ({meaning})")


def as_mapping(value: Any, path: str, expected: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise fail(path, expected, value)
    return value


def as_list(value: Any, path: str, expected: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(path, expected, value)
    return value


def as_str(value: Any, path: str, expected: str = "a string") -> str:
    if not isinstance(value, str) or not value:
        raise fail(path, expected, value)
    return value


def as_text(value: Any, path: str, expected: str) -> str | None:
    """A string, a number written without quotes (passwords), or null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise fail(path, expected, value)


def as_version(value: Any, path: str) -> str:
    """A template version; YAML may read ``20170101`` or ``2017-01-01`` as
    a number or a date, which the repository looks up as text."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise fail(path, "a template version (string)", value)


def as_int(
    value: Any,
    path: str,
    expected: str,
    low: int = 1,
    high: int | None = None,
) -> int:
    """An integer in ``low..high``; a string of digits counts (YAML users
    quote numbers), a boolean or a float does not."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < low or (high is not None and number > high):
        raise fail(path, expected, value)
    return number


def as_bool(value: Any, path: str) -> bool:
    """A boolean; the strings true/false/yes/no/on/off count, in any case
    (exported init files carry ``make_a_copy: 'True'``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise fail(path, "true or false", value)


def as_ipv4(value: Any, path: str) -> str:
    expected = "an IPv4 address like 192.168.200.5"
    if not isinstance(value, str):
        raise fail(path, expected, value)
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise fail(path, expected, value) from None
    return value


# qemu-img refuses any size from 2**63 bytes on, whatever the format
_LARGEST_IMAGE = 2**63 - 1
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_UNITS.update(p=2**50, e=2**60)


def as_size(value: Any, path: str) -> str | int:
    """A ``qemu-img create`` size: bytes as an integer, or ``10G``/``512M``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        size: float = value
    else:
        match = _SIZE_RE.match(value) if isinstance(value, str) else None
        if not match or float(match.group("number")) <= 0:
            raise fail(path, "a size like 10G, 512M or a number of bytes", value)
        unit = value[len(match.group("number")) :].lower()
        size = float(match.group("number")) * _UNITS[unit]
    if size > _LARGEST_IMAGE:
        raise fail(path, "a size below 8E (the largest image qemu-img makes)", value)
    return value


def as_str_list(value: Any, path: str, expected: str, one: str) -> list[str]:
    """A list of non-empty strings; ``one`` describes a single item."""
    items = as_list(value, path, expected)
    for index, entry in enumerate(items):
        as_str(entry, item(path, index), one)
    return items


# what each kind of name becomes: VM names are hostnames (DHCP reservations,
# DNS records), network names end up in DNS names and bridge names, disk
# names in file names; quotes, '<>&', ':' or non-ASCII break one of those
_NAME_RULES: dict[str, tuple[str, str, int]] = {
    "VM": ("-", "letters, digits and '-' (it is the VM's hostname)", 63),
    "network": ("-_.", "letters, digits, '-', '_' and '.'", 64),
    "disk": ("-_.+", "letters, digits, '-', '_', '.' and '+'", 100),
}


def _shortened(name: str) -> str:
    """A name short enough for a one-line message."""
    return name if len(name) <= 100 else name[:60] + "..."


def as_name(value: Any, path: str, what: str) -> str:
    """A VM, network or disk name that every place it ends up in accepts."""
    if value == "":
        raise FieldError(path, f"empty {what} name; every {what} needs a name")
    if not isinstance(value, str):
        raise fail(path, f"a {what} name (string)", value)
    extra, allowed, longest = _NAME_RULES.get(what, ("-_.", "letters, digits", 255))
    bad = next(
        (c for c in value if not (c.isascii() and (c.isalnum() or c in extra))), None
    )
    if bad is not None:
        raise FieldError(
            path,
            f"invalid {what} name {value!r}: {bad!r} is not allowed, only {allowed}",
        )
    if not value[0].isalnum() or (what == "VM" and not value[-1].isalnum()):
        edge = "start and end" if what == "VM" else "start"
        raise FieldError(
            path,
            f"invalid {what} name {value!r}: it must {edge} with a letter or digit",
        )
    if len(value) > longest:
        raise FieldError(
            path,
            f"invalid {what} name {_shortened(value)!r}: {len(value)} "
            f"characters, at most {longest}",
        )
    return value


def one_of(choices: Collection[str], problem: str = "") -> Checker:
    """A check that the value is one of ``choices``; ``problem`` replaces
    the generic wording (the original's ``Unknown drive spec``)."""

    def check(value: Any, path: str) -> Any:
        if value in choices:
            return value
        if problem:
            allowed = ", ".join(choices)
            raise FieldError(
                path, f"{problem} {show(value)}; expected one of: {allowed}"
            )
        raise fail(path, " or ".join(choices), value)

    return check


def string(expected: str) -> Checker:
    return lambda value, path: as_str(value, path, expected)


def mapping(expected: str) -> Checker:
    return lambda value, path: as_mapping(value, path, expected)


def positive(expected: str) -> Checker:
    return lambda value, path: as_int(value, path, expected)


def at_most(expected: str, high: int, limit: str) -> Checker:
    """A positive integer (``expected`` says what) of at most ``high``;
    ``limit`` says what ``high`` is."""

    def check(value: Any, path: str) -> int:
        number = as_int(value, path, expected)
        if number > high:
            raise FieldError(path, f"{number} is more than {limit}")
        return number

    return check


def name_of(what: str) -> Checker:
    return lambda value, path: as_name(value, path, what)


def as_mtu(value: Any, path: str) -> int:
    return as_int(value, path, "an integer between 68 and 65535", 68, 65535)


def checked(
    spec: Mapping[Any, Any], checkers: Mapping[str, Checker], path: str
) -> dict:
    """A copy of ``spec`` with each value passed through its checker."""
    return {
        key: checkers[key](value, child(path, key)) if key in checkers else value
        for key, value in spec.items()
    }
