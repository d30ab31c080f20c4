"""Interruptions and half-done work: rollback output, a second ``init`` or
``start`` after a kill, a full disk, SIGTERM while waiting for SSH."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LIBVIRT_URL, LagoRunner, _leases_of
from .fault_env import (
    assert_nothing_left,
    failing_tool,
    libvirt_objects,
    lines,
    new_env,
    signal_at,
)
from .faults import wait_until_gone


def test_a_second_init_after_a_kill_says_to_destroy(lago: LagoRunner) -> None:
    env = new_env(lago)
    code, _, children = signal_at(env, ["init"], "ssh-keygen", signal.SIGKILL)
    assert code == -signal.SIGKILL
    wait_until_gone(children)
    uuid = env.uuid()
    again = lago("init", str(env.workdir), str(env.base / "LagoInitFile"), check=False)
    assert again.returncode != 0
    shown = lines(again.stderr)
    assert shown[0].startswith("Prefix with name default already exists"), shown
    assert "destroy" in shown[-1]
    assert env.uuid() == uuid  # refused before touching anything
    status = env.run("status", check=False)
    assert status.returncode != 0
    assert lines(status.stderr) == [
        f"Prefix {env.workdir / 'default'} is incomplete (no virt/env): its init "
        "was killed, failed or is still running; `lago destroy -y` removes it"
    ]
    env.run("destroy", "-y")
    assert_nothing_left(env, uuid)


@pytest.mark.parametrize("tool", ["ssh-keygen", "genisoimage"])
def test_a_failed_init_is_rolled_back_and_says_so(lago: LagoRunner, tool: str) -> None:
    env = new_env(lago)
    bin_dir = lago.cwd / "broken-bin"
    failing_tool(bin_dir, tool, f"{tool}: broken on purpose")
    proc = subprocess.run(
        [sys.executable, "-m", "lago.cmd", "init", str(env.workdir), str(env.base / "LagoInitFile")],
        cwd=lago.cwd, env={**lago.env, "PATH": f"{bin_dir}:{lago.env['PATH']}"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    uuids = lago.remember()
    assert proc.returncode != 0
    shown = lines(proc.stderr)
    assert "@ Roll back: Initialize and populate prefix: Success" in "\n".join(shown)
    assert not [line for line in shown if "Destroy prefix" in line and "ERROR" in line]
    assert "Traceback" not in proc.stderr
    # one line naming the tool (or the step) and its reason
    assert shown[-1].startswith(("Failed to", f"{tool} failed")), shown
    assert shown[-1].endswith("broken on purpose"), shown
    assert not env.workdir.exists()
    for uuid in set(uuids) | lago.seen:
        assert not libvirt_objects(uuid)
        assert not _leases_of(Path(lago.env["LAGO_LEASE_DIR"]), [uuid])


def test_init_on_a_full_disk_is_rolled_back(lago: LagoRunner) -> None:
    env = new_env(lago)
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
        shown = lines(proc.stderr)
        assert "Traceback" not in proc.stderr
        assert shown[-1].startswith("Failed to create ssh keys"), shown
        assert list(env.workdir.iterdir()) == []
        for uuid in lago.seen:
            assert not _leases_of(Path(lago.env["LAGO_LEASE_DIR"]), [uuid])
    finally:
        subprocess.run(["umount", str(env.workdir)], check=False)


def test_sigterm_while_waiting_for_ssh_is_one_line(lago: LagoRunner) -> None:
    env = new_env(lago)
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
    assert lines(stderr)[-1] == "Terminated by SIGTERM"
    status = env.run("status")  # the environment is usable as it was left
    assert "Traceback" not in status.stderr
    env.run("destroy", "-y")
    assert_nothing_left(env, next(iter(env.uuids)))


def test_a_second_start_reconnects_vms_that_lost_their_network(lago: LagoRunner) -> None:  # fmt: skip
    import libvirt

    from lago.providers.libvirt.utils import net_libvirt_name

    env = new_env(lago)
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
    assert_nothing_left(env, uuid)


def test_a_second_start_after_a_killed_start_finishes_the_job(lago: LagoRunner) -> None:  # fmt: skip
    env = new_env(lago)
    env.init()
    uuid = env.uuid()
    code, _, _ = signal_at(env, ["start"], "domain", signal.SIGKILL)
    assert code == -signal.SIGKILL
    env.run("start", "--wait-for-ssh")
    env.run("shell", "vm01", "true")
    env.run("destroy", "-y")
    assert_nothing_left(env, uuid)
