"""Checks of the host before Lago relies on something optional."""

from __future__ import annotations

import importlib.util
import logging

LOGGER = logging.getLogger(__name__)


def check_import(module_name: str) -> bool:
    """Whether ``module_name`` can be imported here (it is not imported)."""
    try:
        found = importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        LOGGER.debug("Module %s is not importable", module_name)
    return found
