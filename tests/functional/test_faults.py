"""Fault injection: ``init``, ``start`` and ``destroy`` signalled at each step.

Each case sends SIGINT, SIGTERM or SIGKILL to the test's own ``lago`` at the
moment a named step runs, then checks that ``status`` and ``destroy -y``
handle what is left, that a fresh ``init`` + ``destroy`` works in the same
place, and that nothing of the environment survives: domains, networks,
leases, files, child processes, firewall rules.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import LIBVIRT_URL, LagoRunner, _leases_of, write_init_file
from .faults import (
    Proc,
    descendants,
    firewall_rules,
    slow_tool,
    wait_for_child,
    wait_until,
    wait_until_gone,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
INIT = """\
domains:
  vm01:
    memory: 256
    vcpu: 1
    nics: [{net: lago}]
    disks:
      - {template_name: tiny, type: template, name: root, dev: vda, format: qcow2}
nets:
  lago: {}
"""
#: seconds a slowed tool waits before it runs: the window the signal lands in
TOOL_DELAY = 1.5


def _lines(text: str) -> list[str]:
    return [line for line in ANSI.sub("", text).splitlines() if line.strip()]


@dataclass
class Env:
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


def _libvirt_objects(uuid: str) -> list[str]:
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


def _domain_exists(uuid: str) -> bool:
    return any(not name.endswith("-lago") for name in _libvirt_objects(uuid))


def _assert_nothing_left(env: Env, uuid: str) -> None:
    from lago.providers.libvirt.utils import nat_bridge_name, net_libvirt_name

    assert not _libvirt_objects(uuid)
    assert not _leases_of(Path(env.lago.env["LAGO_LEASE_DIR"]), [uuid])
    assert not env.workdir.exists(), sorted(env.workdir.rglob("*"))
    bridge = nat_bridge_name(net_libvirt_name(uuid, "lago"))
    assert bridge not in firewall_rules()


def _signal_at(env: Env, verb: list[str], step: str, signum: int) -> tuple[int, str, list[Proc]]:  # fmt: skip
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
            wait_until(proc, lambda: _domain_exists(uuid), "the domain was created")
        elif step == "domain-gone":
            uuid = env.uuid()
            wait_until(proc, lambda: not _domain_exists(uuid), "the domain went")
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


CASES = [
    # init: the key (main thread), the disk and the seed (worker threads)
    ("init", "ssh-keygen", signal.SIGINT),
    ("init", "ssh-keygen", signal.SIGTERM),
    ("init", "ssh-keygen", signal.SIGKILL),
    ("init", "qemu-img", signal.SIGINT),
    ("init", "qemu-img", signal.SIGKILL),
    ("init", "genisoimage", signal.SIGTERM),
    ("init", "genisoimage", signal.SIGKILL),
    # start: once the first domain of the prefix is defined
    ("start", "domain", signal.SIGINT),
    ("start", "domain", signal.SIGTERM),
    ("start", "domain", signal.SIGKILL),
    # destroy: the VMs are gone, the network and prefix not yet
    ("destroy", "domain-gone", signal.SIGTERM),
    ("destroy", "domain-gone", signal.SIGKILL),
]


@pytest.mark.parametrize(
    ("verb", "step", "signum"),
    CASES,
    ids=[f"{v}-{s}-{signal.Signals(n).name}" for v, s, n in CASES],
)
def test_signal_at_step(lago: LagoRunner, verb: str, step: str, signum: int) -> None:
    env = Env(lago, lago.cwd / "env")
    env.base.mkdir()
    write_init_file(env.base, INIT)
    extra: list[str] = []
    if verb != "init":
        env.init()
    if verb == "destroy":
        env.run("start")
        extra = ["-y"]
    uuid = env.uuid() if verb != "init" else None
    code, stderr, children = _signal_at(env, [verb, *extra], step, signum)
    uuid = uuid or next(iter(env.uuids))

    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
        # a killed lago cannot stop its children: they end on their own
        wait_until_gone(children)
    else:
        assert code == 128 + signum, stderr
        lines = _lines(stderr)
        assert "Traceback" not in stderr, stderr
        expected = "Interrupted" if signum == signal.SIGINT else "Terminated by SIGTERM"
        assert lines[-1] == expected, lines
        # the children were killed and reaped before lago exited
        assert not [child for child in children if child.alive()]
        if verb == "init":
            # rolled back: nothing of the environment is left
            _assert_nothing_left(env, uuid)
        if verb == "start":
            # no VM is left running without its network
            assert not _libvirt_objects(uuid)

    status = env.run("status", check=False)
    assert "Traceback" not in status.stderr and "Error occured" not in status.stderr
    if status.returncode:
        assert len(_lines(status.stderr)) == 1, status.stderr
    destroy = env.run("destroy", "-y", check=False)
    if env.workdir.exists() or destroy.returncode == 0:
        assert destroy.returncode == 0, destroy.stderr
    else:
        assert len(_lines(destroy.stderr)) == 1, destroy.stderr
    assert "Traceback" not in destroy.stderr
    _assert_nothing_left(env, uuid)

    env.init()
    fresh = env.uuid()
    env.run("destroy", "-y")
    _assert_nothing_left(env, fresh)
