"""Helpers that expose only chosen methods of an object to SDK users."""

from __future__ import annotations

import logging
import os
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
    """Root logger at DEBUG with a NullHandler; a file handler (at
    ``loglevel``) on the root logger if asked (once per file)."""
    root = sdk_root_logging()
    if logfile:
        path = os.path.abspath(logfile)
        if not any(
            isinstance(h, logging.FileHandler) and h.baseFilename == path
            for h in root.handlers
        ):
            root.addHandler(sdk_file_handler(path, loglevel))


def sdk_root_logging() -> logging.Logger:
    """The root logger at DEBUG, plus a NullHandler (so that nothing is
    printed by logging's last-resort handler), as the original set them."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(logging.NullHandler())
    return root


def sdk_file_handler(logfile: str, loglevel: int = logging.INFO) -> logging.Handler:
    """A handler writing records of ``loglevel`` and above to ``logfile``."""
    from lago.log_utils import get_default_log_formatter

    handler = logging.FileHandler(logfile, delay=True)
    handler.setLevel(loglevel)
    handler.setFormatter(get_default_log_formatter())
    return handler
