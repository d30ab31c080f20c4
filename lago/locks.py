"""Timers and the file lock (``flock``) used by the subnet and template stores."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from lago.errors import TimerException


class EggTimer:
    """Tells whether ``timeout`` seconds have passed since it was made."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.start_time = time.monotonic()

    def elapsed(self) -> bool:
        return time.monotonic() - self.start_time > self.timeout

    def __enter__(self) -> EggTimer:
        # as a context manager, the time counts from entering the block
        self.start_time = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class ExceptionTimer:
    """Raises :class:`TimerException` in the main thread after ``timeout`` s.

    Uses SIGALRM, so it only works in the main thread; elsewhere it is inert.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._armed = False
        self._previous: Any = None

    def _raise(self, *_: Any) -> None:
        raise TimerException(f"Passed timeout of {self.timeout} seconds")

    def start(self) -> None:
        if (
            not self.timeout
            or threading.current_thread() is not threading.main_thread()
        ):
            return
        self._previous = signal.signal(signal.SIGALRM, self._raise)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        self._armed = True

    def stop(self) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
            self._armed = False

    def __enter__(self) -> ExceptionTimer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Flock:
    """A ``flock`` on ``path``: shared when ``readonly``, else exclusive.

    Without ``blocking``, :meth:`acquire` raises :class:`BlockingIOError`
    at once when another process holds a conflicting lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        readonly: bool = False,
        blocking: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        self.readonly = readonly
        self.blocking = blocking
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.readonly or Path(self.path).is_dir():
            # flock works on a file (or directory) opened read-only
            fd = os.open(self.path, os.O_RDONLY)
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o660)
        operation = fcntl.LOCK_SH if self.readonly else fcntl.LOCK_EX
        if not self.blocking:
            operation |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, operation)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class LockFile:
    """A lock on ``path`` (a :class:`Flock` unless ``lock_cls`` names
    another class taking ``(path, blocking=..., **kwargs)``), usable with
    ``with``.

    ``timeout`` (seconds) bounds the wait; ``None`` waits forever. Expiry
    raises :class:`TimerException`. The lock is compatible with the original,
    which also used ``flock`` on the same files. ``kwargs`` go to
    ``lock_cls`` (e.g. ``readonly=True`` for a shared lock).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        timeout: float | None = None,
        lock_cls: type[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._lock_cls = lock_cls or Flock
        self.lock = self._lock_cls(self.path, blocking=False, **kwargs)

    def acquire(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                self.lock.acquire()
                return
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                msg = f"Timed out after {self.timeout} s waiting for lock {self.path}"
                raise TimerException(msg)
            time.sleep(0.05)

    def release(self) -> None:
        self.lock.release()

    @property
    def _fd(self) -> int | None:
        """The locked file's descriptor while held (None otherwise)."""
        return getattr(self.lock, "_fd", None)

    def __enter__(self) -> LockFile:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
