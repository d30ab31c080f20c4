"""The exception tree.

Every error a user can fix derives from :class:`LagoException`; the CLI catches
it once, prints its message (and hint) on one line and exits with
``exit_code``. Anything else is a bug and keeps its traceback (at debug level).
"""

from __future__ import annotations


class LagoException(Exception):
    """Base of every error Lago reports to its user."""

    exit_code = 2

    def __init__(self, message: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class LagoUserException(LagoException):
    """The user asked for something that cannot be done as asked."""


class LagoInitException(LagoException):
    """``lago init`` failed."""


class LagoLookupError(LagoException, KeyError):
    """A named thing (prefix, VM, network) does not exist.

    Also a :class:`KeyError`, as the original raised, with its exit code 1.
    """

    exit_code = 1

    def __str__(self) -> str:
        # KeyError.__str__ would add quotes around the message
        return str(self.args[0]) if self.args else ""


class ConfigError(LagoUserException):
    """A configuration file or value cannot be used."""


class InitFileError(LagoUserException):
    """The LagoInitFile is malformed or names something unknown."""


class FileWriteError(LagoException, OSError):
    """A file could not be written (a full disk, a read-only file system...).

    One line, ``<reason>: <path>``, naming the file Lago meant to write, not a
    temporary one; still an :class:`OSError` with ``errno`` and ``filename``
    for the callers that handle those.
    """

    def __init__(self, path: str, err: OSError) -> None:
        OSError.__init__(self, err.errno, err.strerror or str(err), path)
        self.hint = None

    def __str__(self) -> str:
        return f"{self.strerror}: {self.filename}"


class TimerException(Exception):
    """A timeout was reached."""
