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


def _env(lago: LagoRunner) -> Env:
    env = Env(lago, lago.cwd / "env")
    env.base.mkdir()
    write_init_file(env.base, INIT)
    return env


def _failing_tool(bin_dir: Path, name: str, message: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    tool.chmod(0o755)


def test_a_second_init_after_a_kill_says_to_destroy(lago: LagoRunner) -> None:
    env = _env(lago)
    code, _, children = _signal_at(env, ["init"], "ssh-keygen", signal.SIGKILL)
    assert code == -signal.SIGKILL
    wait_until_gone(children)
    uuid = env.uuid()
    again = lago("init", str(env.workdir), str(env.base / "LagoInitFile"), check=False)
    assert again.returncode != 0
    lines = _lines(again.stderr)
    assert lines[0].startswith("Prefix with name default already exists"), lines
    assert "destroy" in lines[-1]
    assert env.uuid() == uuid  # refused before touching anything
    status = env.run("status", check=False)
    assert status.returncode != 0
    assert _lines(status.stderr) == [
        f"Prefix {env.workdir / 'default'} is incomplete (no virt/env): its init "
        "was killed, failed or is still running; `lago destroy -y` removes it"
    ]
    env.run("destroy", "-y")
    _assert_nothing_left(env, uuid)


@pytest.mark.parametrize("tool", ["ssh-keygen", "genisoimage"])
def test_a_failed_init_is_rolled_back_and_says_so(lago: LagoRunner, tool: str) -> None:
    env = _env(lago)
    bin_dir = lago.cwd / "broken-bin"
    _failing_tool(bin_dir, tool, f"{tool}: broken on purpose")
    proc = subprocess.run(
        [sys.executable, "-m", "lago.cmd", "init", str(env.workdir), str(env.base / "LagoInitFile")],
        cwd=lago.cwd, env={**lago.env, "PATH": f"{bin_dir}:{lago.env['PATH']}"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    uuids = lago.remember()
    assert proc.returncode != 0
    lines = _lines(proc.stderr)
    assert "@ Roll back: Initialize and populate prefix: Success" in "\n".join(lines)
    assert not [line for line in lines if "Destroy prefix" in line and "ERROR" in line]
    assert "Traceback" not in proc.stderr
    assert lines[-1].startswith("Failed to"), lines
    assert not env.workdir.exists()
    for uuid in set(uuids) | lago.seen:
        assert not _libvirt_objects(uuid)
        assert not _leases_of(Path(lago.env["LAGO_LEASE_DIR"]), [uuid])


def test_init_on_a_full_disk_is_rolled_back(lago: LagoRunner) -> None:
    env = _env(lago)
    # two pages: the uuid fits, the SSH key pair does not
    env.workdir.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(env.workdir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mount.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mount.stderr.strip()}")
    try:
        proc = lago("init", str(env.workdir), str(env.base / "LagoInitFile"), check=False)  # fmt: skip
        assert proc.returncode != 0
        lines = _lines(proc.stderr)
        assert "Traceback" not in proc.stderr
        assert lines[-1].startswith("Failed to create ssh keys"), lines
        assert list(env.workdir.iterdir()) == []
        for uuid in lago.seen:
            assert not _leases_of(Path(lago.env["LAGO_LEASE_DIR"]), [uuid])
    finally:
        subprocess.run(["umount", str(env.workdir)], check=False)


def test_sigterm_while_waiting_for_ssh_is_one_line(lago: LagoRunner) -> None:
    env = _env(lago)
    env.init()
    proc = env.spawn(["start", "--wait-for-ssh"], dict(lago.env))
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "Wait for ssh on vm01" in line:
                break
        else:
            raise AssertionError(f"never waited for ssh:\n{''.join(seen)}")
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = "".join(seen) + rest
    assert proc.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in stderr and "libvirt" not in stderr, stderr
    assert _lines(stderr)[-1] == "Terminated by SIGTERM"
    status = env.run("status")  # the environment is usable as it was left
    assert "Traceback" not in status.stderr
    env.run("destroy", "-y")
    _assert_nothing_left(env, next(iter(env.uuids)))


def test_a_second_start_reconnects_vms_that_lost_their_network(lago: LagoRunner) -> None:  # fmt: skip
    import libvirt

    from lago.providers.libvirt.utils import net_libvirt_name

    env = _env(lago)
    env.init()
    uuid = env.uuid()
    env.run("start")
    # what an interrupted start of earlier versions left: the VM runs, its
    # network is gone
    conn = libvirt.open(LIBVIRT_URL)
    try:
        conn.networkLookupByName(net_libvirt_name(uuid, "lago")).destroy()
    finally:
        conn.close()
    second = env.run("start", "--wait-for-ssh")
    assert "VM vm01 ran without its network lago: restarting it" in second.stderr
    env.run("shell", "vm01", "true")
    env.run("destroy", "-y")
    _assert_nothing_left(env, uuid)


def test_a_second_start_after_a_killed_start_finishes_the_job(lago: LagoRunner) -> None:  # fmt: skip
    env = _env(lago)
    env.init()
    uuid = env.uuid()
    code, _, _ = _signal_at(env, ["start"], "domain", signal.SIGKILL)
    assert code == -signal.SIGKILL
    env.run("start", "--wait-for-ssh")
    env.run("shell", "vm01", "true")
    env.run("destroy", "-y")
    _assert_nothing_left(env, uuid)
