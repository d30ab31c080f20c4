"""Small helpers: running commands, checking tools, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import TemplateBuildError

LOGGER = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def run(
    args: Sequence[PathLike],
    *,
    cwd: PathLike | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    stdout_path: Path | None = None,
    timeout: float | None = None,
) -> str:
    """Run a command from an argument list; return its stdout as text.

    On failure raise TemplateBuildError naming the command and the last line of
    its error output.
    """
    argv = [os.fspath(a) for a in args]
    LOGGER.debug("running: %s", " ".join(argv))
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        with contextlib.ExitStack() as stack:
            out = (
                subprocess.PIPE
                if stdout_path is None
                else stack.enter_context(stdout_path.open("wb"))
            )
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=full_env,
                input=input_bytes,
                stdout=out,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
    except FileNotFoundError as err:
        raise TemplateBuildError(f"command not found: {argv[0]}") from err
    except subprocess.TimeoutExpired as err:
        raise TemplateBuildError(
            f"{Path(argv[0]).name} timed out after {timeout:.0f} s"
        ) from err
    stdout = proc.stdout or b""  # None when it went to stdout_path
    if proc.returncode != 0:
        raise TemplateBuildError(
            f"{Path(argv[0]).name} failed (exit {proc.returncode}): "
            f"{last_line(proc.stderr) or last_line(stdout) or 'no output'}"
        )
    return stdout.decode(errors="replace")


def last_line(data: bytes | None) -> str:
    """The last non-empty line of some command output."""
    if not data:
        return ""
    lines = [ln.strip() for ln in data.decode(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else ""


def require_root(what: str) -> None:
    """Fail unless running as root."""
    if os.geteuid() != 0:
        raise TemplateBuildError(f"building {what} needs root (loop devices, mount)")


def require_tools(tools: Sequence[str]) -> None:
    """Fail with one line naming every missing executable."""
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        raise TemplateBuildError(
            f"missing tools: {', '.join(missing)} (run scripts/install-deps.sh)"
        )


def require_files(paths: Sequence[Path]) -> None:
    """Fail with one line naming every missing file."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise TemplateBuildError(
            f"missing files: {', '.join(missing)} (run scripts/install-deps.sh)"
        )


def sha1_file(path: Path, chunk: int = 1 << 20) -> str:
    """The sha1 hex digest of a file's content."""
    digest = hashlib.sha1()
    with path.open("rb") as src:
        while block := src.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write a file through a temporary file in the same directory."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
