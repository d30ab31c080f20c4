"""Stopping work in progress when the user interrupts a verb.

Ctrl-C or SIGTERM reaches the main thread only; worker threads (VM starts,
disk creation) and the commands they run would go on while the main thread
rolls back, and a killed lago would leave those commands running. While
:func:`cancelling` is active, every child command still running is killed,
no new one starts and :func:`check` raises in the workers, so that the
caller can wait for its workers before undoing what they made.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lago.errors import LagoException

LOGGER = logging.getLogger(__name__)

_CANCEL = threading.Event()
_LOCK = threading.Lock()
_CHILDREN: set[subprocess.Popen] = set()
_WAKERS: list[Callable[[], None]] = []


class Interrupted(LagoException):
    """Work stopped because the verb was interrupted."""


def check() -> None:
    """Raise :class:`Interrupted` when the running verb is being interrupted."""
    if _CANCEL.is_set():
        raise Interrupted("Interrupted")


def sleep(seconds: float) -> None:
    """Sleep, but wake and raise :class:`Interrupted` on an interruption."""
    if _CANCEL.wait(seconds):
        raise Interrupted("Interrupted")


def add_child(proc: subprocess.Popen) -> None:
    """Track a running command; it is killed if the verb is interrupted."""
    with _LOCK:
        _CHILDREN.add(proc)
        cancelled = _CANCEL.is_set()
    if cancelled:  # started just as the interruption came
        _kill(proc)


def remove_child(proc: subprocess.Popen) -> None:
    with _LOCK:
        _CHILDREN.discard(proc)


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
    except OSError:  # already reaped
        pass


@contextmanager
def on_cancel(wake: Callable[[], None]) -> Iterator[None]:
    """Call ``wake`` if the verb is interrupted while the block runs: a
    worker blocked in a read (a stalled download) is not woken by a flag."""
    with _LOCK:
        _WAKERS.append(wake)
        cancelled = _CANCEL.is_set()
    try:
        if cancelled:
            _call(wake)
        yield
    finally:
        with _LOCK:
            _WAKERS.remove(wake)


def _call(wake: Callable[[], None]) -> None:
    try:
        wake()
    except Exception as err:  # waking is best effort: the rollback goes on
        LOGGER.debug("Interrupted: could not wake %r: %s", wake, err)


@contextmanager
def cancelling() -> Iterator[None]:
    """Kill every tracked command and make workers stop while the block
    runs (the block waits for them); normal work resumes after it."""
    with _LOCK:
        _CANCEL.set()
        children = list(_CHILDREN)
        wakers = list(_WAKERS)
    for proc in children:
        LOGGER.debug("Interrupted: killing %s (pid %d)", proc.args, proc.pid)
        _kill(proc)
    for wake in wakers:
        _call(wake)
    try:
        yield
    finally:
        _CANCEL.clear()
