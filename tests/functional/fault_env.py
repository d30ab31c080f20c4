"""The environment a fault-injection test signals, and what it checks after.

Each test makes one environment from a one-VM ``tiny`` init file under its
``lago`` fixture's directory; :func:`signal_at` runs a verb on it and signals
the run at a named moment; :func:`assert_nothing_left` checks that no domain,
network, lease, file or firewall rule of it is left.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import LIBVIRT_URL, LagoRunner, _leases_of
from .faults import (
    Proc,
    descendants,
    firewall_rules,
    slow_tool,
    wait_for_child,
    wait_until,
)
from .initfiles import write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: seconds a slowed tool waits before it runs: the window the signal lands in
TOOL_DELAY = 1.5


def lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, without colours."""
    return [line for line in ANSI.sub("", text).splitlines() if line.strip()]


@dataclass
class Env:
    """One environment (workdir ``base/.lago``) and every uuid it had."""

    lago: LagoRunner
    base: Path
    uuids: set[str] = field(default_factory=set)

    @property
    def workdir(self) -> Path:
        return self.base / ".lago"

    def uuid(self) -> str:
        return (self.workdir / "default" / "uuid").read_text().strip()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.lago("--workdir-path", str(self.workdir), *args, check=check)

    def init(self) -> None:
        self.lago("init", str(self.workdir), str(self.base / "LagoInitFile"))
        self.uuids.add(self.uuid())

    def spawn(self, verb: list[str], env: dict[str, str]) -> subprocess.Popen:
        if verb[0] == "init":
            args = ["init", str(self.workdir), str(self.base / "LagoInitFile")]
        else:
            args = ["--workdir-path", str(self.workdir), *verb]
        return subprocess.Popen(
            [sys.executable, "-m", "lago.cmd", *args],
            cwd=self.lago.cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip


def libvirt_objects(uuid: str) -> list[str]:
    """This environment's domains and networks still known to libvirt."""
    import libvirt

    from lago.providers.libvirt.utils import net_libvirt_name, prefixed_name

    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(LIBVIRT_URL)
    found = []
    try:
        for name, lookup in (
            (prefixed_name(uuid, "vm01"), conn.lookupByName),
            (net_libvirt_name(uuid, "lago"), conn.networkLookupByName),
        ):
            try:
                lookup(name)
            except libvirt.libvirtError:
                continue
            found.append(name)
    finally:
        conn.close()
    return found


def domain_exists(uuid: str) -> bool:
    return any(not name.endswith("-lago") for name in libvirt_objects(uuid))


def assert_nothing_left(env: Env, uuid: str) -> None:
    from lago.providers.libvirt.utils import nat_bridge_name, net_libvirt_name

    assert not libvirt_objects(uuid)
    assert not _leases_of(Path(env.lago.env["LAGO_LEASE_DIR"]), [uuid])
    assert not env.workdir.exists(), sorted(env.workdir.rglob("*"))
    bridge = nat_bridge_name(net_libvirt_name(uuid, "lago"))
    assert bridge not in firewall_rules()


def signal_at(env: Env, verb: list[str], step: str, signum: int) -> tuple[int, str, list[Proc]]:  # fmt: skip
    """Run ``lago <verb>``, send ``signum`` when ``step`` happens; return the
    exit code, stderr and the processes it had started by then."""
    run_env = dict(env.lago.env)
    if step in ("ssh-keygen", "qemu-img", "genisoimage"):
        bin_dir = env.lago.cwd / "slow-bin"
        slow_tool(bin_dir, step, TOOL_DELAY)
        run_env["PATH"] = f"{bin_dir}:{run_env['PATH']}"
    proc = env.spawn(verb, run_env)
    try:
        if step == "domain":
            uuid = env.uuid()
            wait_until(proc, lambda: domain_exists(uuid), "the domain was created")
        elif step == "domain-gone":
            uuid = env.uuid()
            wait_until(proc, lambda: not domain_exists(uuid), "the domain went")
        else:
            wait_for_child(proc, step)
        children = descendants(proc.pid)
        if verb[0] == "init":
            env.uuids.add(env.uuid())  # written before any named step
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    env.lago.remember()
    return proc.returncode, stderr, children


def new_env(lago: LagoRunner) -> Env:
    """A directory with the one-VM init file, nothing made yet."""
    env = Env(lago, lago.cwd / "env")
    env.base.mkdir()
    write_tiny_env(env.base)
    return env


def failing_tool(bin_dir: Path, name: str, message: str) -> None:
    """``bin_dir/name``: prints ``message`` and fails (put first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    tool.chmod(0o755)
