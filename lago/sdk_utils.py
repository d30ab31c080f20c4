"""Helpers that expose only chosen methods of an object to SDK users."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any


class SDKMethod:
    """Marker stored on an exposed function."""

    def __init__(self, name: str) -> None:
        self.name = name


def expose(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``func`` as part of the SDK surface."""
    func.__sdk__ = SDKMethod(func.__name__)  # type: ignore[attr-defined]
    return func


def getattr_sdk(attr: Any, name: str) -> Any:
    """Return ``attr`` if it is exposed, else raise :class:`AttributeError`."""
    if callable(attr) and hasattr(attr, "__sdk__"):
        return attr
    raise AttributeError(f"{name} is not part of the SDK")


class SDKWrapper:
    """A proxy giving access only to the exposed methods of the wrapped object."""

    def __init__(self, wrapped: Any) -> None:
        object.__setattr__(self, "_wrapped", wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr_sdk(getattr(self._wrapped, name), name)

    def __dir__(self) -> list[str]:
        wrapped = object.__getattribute__(self, "_wrapped")
        return sorted(
            name
            for name in dir(wrapped)
            if not name.startswith("_")
            and hasattr(getattr(wrapped, name, None), "__sdk__")
        )


def setup_sdk_logging(logfile: str | None = None, loglevel: int = logging.INFO) -> None:
    """Root logger at DEBUG with a NullHandler; a file handler if asked."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(logging.NullHandler())
    if logfile:
        from lago.log_utils import get_default_log_formatter

        handler = logging.FileHandler(logfile)
        handler.setLevel(loglevel)
        handler.setFormatter(get_default_log_formatter())
        root.addHandler(handler)
