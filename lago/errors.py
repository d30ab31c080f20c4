"""The exception tree.

Every error a user can fix derives from :class:`LagoException`; the CLI catches
it once, prints its message (and hint) on one line and exits with
``exit_code``. Anything else is a bug and keeps its traceback (at debug level).
"""

from __future__ import annotations

import re


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


class ToolError(LagoException):
    """An external tool (qemu-img, virt-sysprep, genisoimage, ssh-keygen,
    libvirt...) failed: one line naming the tool, the VM and the disk, with
    the part of the tool's output that says why (:func:`why`)
    (:func:`lago.process.tool_error` logs the whole output at debug level).
    """

    def __init__(
        self,
        tool: str,
        output: str,
        *,
        vm: str | None = None,
        disk: str | None = None,
    ) -> None:
        self.tool, self.output, self.vm, self.disk = tool, output, vm, disk
        if vm:
            where = f" on VM {vm}" + (f" disk {disk}" if disk else "")
        else:
            where = f" on {disk}" if disk else ""
        super().__init__(f"{tool} failed{where}: {why(output, tool)}")


# words of the message that explains a failure, in the output of Lago's tools
_WHY = re.compile(
    r"error|fail|cannot|can't|could not|unable|invalid|denied|not found|no such"
    r"|too large|no space|not supported",
    re.IGNORECASE,
)
_LONGEST_WHY = 300


def why(output: str, tool: str = "") -> str:
    """The part of a tool's ``output`` that says why it failed, as one line.

    Tools wrap long messages and end with hints ("If reporting bugs..."):
    the output is read as paragraphs (lines joined, blank lines between) and
    the last paragraph naming an error is taken, without the tool's own name
    in front; a long one keeps its start and its end (where the reason is).
    """
    paragraphs = [
        [line.strip() for line in block.splitlines() if line.strip()]
        for block in re.split(r"\n\s*\n", output)
    ]
    paragraphs = [lines for lines in paragraphs if lines]
    if not paragraphs:
        return "no error message"
    failing = [lines for lines in paragraphs if any(map(_WHY.search, lines))]
    lines = (failing or paragraphs)[-1]
    # from its first line naming an error (progress lines come before it)
    first = next((i for i, line in enumerate(lines) if _WHY.search(line)), 0)
    text = " ".join(lines[first:])
    name = tool.split(maxsplit=1)[0] if tool else ""
    if name and text.startswith(f"{name}: "):
        text = text[len(name) + 2 :]
    if len(text) > _LONGEST_WHY:
        head = _LONGEST_WHY // 3
        text = text[:head] + " ... " + text[head - _LONGEST_WHY + 5 :]
    return text


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
