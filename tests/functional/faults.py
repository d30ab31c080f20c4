"""Fault injection: signal a running ``lago`` at the moment something happens.

The moment is an event seen from outside (a named child process among the
run's descendants, a libvirt domain appearing or going away), never a fixed
sleep. Tools can be made slow with :func:`slow_tool` so that the moment they
run lasts long enough to be hit: the shim sleeps, then becomes the real tool.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POLL = 0.01  # seconds between two looks at the process tree


@dataclass(frozen=True)
class Proc:
    """One process, told apart from a later one with the same pid."""

    pid: int
    comm: str
    start: int

    def alive(self) -> bool:
        found = _read_stat(self.pid)
        return (
            found is not None
            and found[2] == self.start
            and found[3] not in ("Z", "X")  # a zombie has done its work
        )


def _read_stat(pid: int) -> tuple[int, str, int, str] | None:
    """``(ppid, comm, start time, state)`` of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), comm, int(fields[19]), fields[0]


def descendants(root: int) -> list[Proc]:
    """Every living process below ``root`` in the process tree."""
    children: dict[int, list[Proc]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        found = _read_stat(int(entry.name))
        if found is not None:
            ppid, comm, start, _ = found
            children.setdefault(ppid, []).append(Proc(int(entry.name), comm, start))
    result: list[Proc] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child.pid)
    return result


class ExitedEarly(AssertionError):
    """The watched ``lago`` ended before the awaited moment."""


def wait_until(
    proc: subprocess.Popen,
    happened: Callable[[], bool],
    what: str,
    timeout: float = 300,
) -> None:
    """Poll ``happened`` until true; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not happened():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise ExitedEarly(f"lago exited {proc.returncode} before {what}:\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)


def wait_for_child(proc: subprocess.Popen, name: str, timeout: float = 300) -> Proc:
    """The first descendant of ``proc`` whose command name is ``name``."""
    found: list[Proc] = []

    def appeared() -> bool:
        found.extend(p for p in descendants(proc.pid) if p.comm == name)
        return bool(found)

    wait_until(proc, appeared, f"{name} ran", timeout)
    return found[0]


def slow_tool(bin_dir: Path, name: str, delay: float) -> None:
    """Put ``bin_dir/name`` first on PATH: it waits ``delay`` seconds, then
    executes the real ``name`` in its own process (same pid and name)."""
    real = shutil.which(name)
    assert real, f"{name} is not installed"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / name
    shim.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"time.sleep({delay!r})\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def firewall_rules() -> str:
    """The firewall rules of this network namespace (iptables and nftables)."""
    text = ""
    for command in (["iptables-save"], ["nft", "list", "ruleset"]):
        if shutil.which(command[0]):
            run = subprocess.run(command, capture_output=True, text=True, check=False)
            text += run.stdout
    return text


def wait_until_gone(processes: list[Proc], timeout: float = 120) -> None:
    """Wait for ``processes`` to end (those a killed run left to finish)."""
    deadline = time.monotonic() + timeout
    while [p for p in processes if p.alive()]:
        left = [p for p in processes if p.alive()]
        assert time.monotonic() < deadline, f"still running: {left}"
        time.sleep(0.1)
