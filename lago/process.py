"""Running host commands: argument lists in, :class:`CommandStatus` out."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import uuid as uuid_mod
from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import IO, Any

from lago import interrupt
from lago.errors import LagoException, ToolError

LOGGER = logging.getLogger(__name__)

_CommandStatus = namedtuple("_CommandStatus", ("code", "out", "err"))


class CommandStatus(_CommandStatus):
    """Result of a command: exit ``code``, ``out`` and ``err`` text."""

    __slots__ = ()


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _run_command(  # noqa: PLR0917 - the seeds' signature
    command: Sequence[str],
    input_data: str | bytes | None = None,
    stdin: int | IO[Any] | None = None,
    out_pipe: int | IO[Any] | None = subprocess.PIPE,
    err_pipe: int | IO[Any] | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    uuid: uuid_mod.UUID | None = None,
    **kwargs: Any,
) -> CommandStatus:
    command = [os.fspath(part) for part in command]
    tag = str(uuid or uuid_mod.uuid4())
    LOGGER.debug("Running command %s: %s", tag, command)
    if env is not None:
        env = {**os.environ, **env}
    if isinstance(input_data, str):
        input_data = input_data.encode()
    if input_data is not None:
        stdin = subprocess.PIPE
    interrupt.check()  # no new command once the verb is interrupted
    try:
        proc = subprocess.Popen(
            command, stdin=stdin, stdout=out_pipe, stderr=err_pipe, env=env, **kwargs
        )
    except OSError as err:
        LOGGER.debug("command %s failed to start: %s", tag, err)
        return CommandStatus(127, "", f"{command[0]}: {err.strerror}")
    interrupt.add_child(proc)
    try:
        out, errors = proc.communicate(input_data)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        interrupt.remove_child(proc)
    status = CommandStatus(proc.returncode, _decode(out), _decode(errors))
    LOGGER.debug("command %s returned %d", tag, status.code)
    if status.out:
        LOGGER.debug("command %s stdout: %s", tag, status.out)
    if status.err:
        LOGGER.debug("command %s stderr: %s", tag, status.err)
    return status


def run_command(
    command: Sequence[str],
    input_data: str | bytes | None = None,
    out_pipe: int | IO[Any] | None = subprocess.PIPE,
    err_pipe: int | IO[Any] | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> CommandStatus:
    """Run ``command`` (an argument list, never a shell string) to completion.

    ``env`` is merged over the current environment.
    """
    return _run_command(
        command,
        input_data=input_data,
        out_pipe=out_pipe,
        err_pipe=err_pipe,
        env=env,
        **kwargs,
    )


def run_interactive_command(
    command: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any
) -> CommandStatus:
    """Run ``command`` on the caller's own stdin, stdout and stderr."""
    return _run_command(
        command, stdin=None, out_pipe=None, err_pipe=None, env=env, **kwargs
    )


def run_command_with_validation(
    cmd: Sequence[str], fail_on_error: bool = True, msg: str = "An error has occurred"
) -> CommandStatus:
    """Run ``cmd``; on a non-zero exit raise ``msg`` with the command's stderr."""
    result = run_command(cmd)
    if result.code and fail_on_error:
        raise LagoException(f"{msg}\n{result.err.strip()}")
    return result


def tool_error(
    tool: str,
    result: CommandStatus | str,
    *,
    vm: str | None = None,
    disk: str | None = None,
    kind: type[ToolError] = ToolError,
) -> ToolError:
    """The one-line error for a failed ``tool``; its whole output (a
    :class:`CommandStatus` or the text of an error) goes to the debug log,
    and so to the prefix's ``lago.log``."""
    if isinstance(result, CommandStatus):
        # stderr, then stdout, as separate paragraphs
        output = "\n\n".join(part for part in (result.err, result.out) if part.strip())
        LOGGER.debug("%s exited %d; its output:\n%s", tool, result.code, output)
    else:
        output = result
        LOGGER.debug("%s failed:\n%s", tool, output)
    return kind(tool, output, vm=vm, disk=disk)


def service_is_enabled(name: str) -> bool:
    """Whether systemd starts the host service ``name`` at boot."""
    return run_command(["systemctl", "is-enabled", name]).code == 0


def read_nonblocking(file_descriptor: Any) -> Any:
    """What can be read from ``file_descriptor`` (a file object or a file
    number) right now, without waiting for more."""
    fileno = (
        file_descriptor
        if isinstance(file_descriptor, int)
        else file_descriptor.fileno()
    )
    flags = fcntl.fcntl(fileno, fcntl.F_GETFL)
    fcntl.fcntl(fileno, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        if isinstance(file_descriptor, int):
            try:
                return os.read(fileno, 1 << 16)
            except BlockingIOError:
                return b""
        return file_descriptor.read()
    finally:
        fcntl.fcntl(fileno, fcntl.F_SETFL, flags)
