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


class LockFile:
    """An exclusive ``flock`` on ``path`` (created 0660), usable with ``with``.

    ``timeout`` (seconds) bounds the wait; ``None`` waits forever. Expiry
    raises :class:`TimerException`. The lock is compatible with the original,
    which also used ``flock`` on the same files.
    """

    def __init__(
        self, path: str | os.PathLike[str], timeout: float | None = None, **kwargs: Any
    ) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        if Path(self.path).is_dir():
            # flock works on a directory opened read-only
            fd = os.open(self.path, os.O_RDONLY)
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o660)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                msg = f"Timed out after {self.timeout} s waiting for lock {self.path}"
                raise TimerException(msg)
            time.sleep(0.05)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LockFile:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
