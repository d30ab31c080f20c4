"""`start --wait-for-ssh`: progress per VM, one timeout, a diagnosis on failure."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import libvirt

from .conftest import LIBVIRT_URL, LagoRunner
from .initfiles import tiny_vm, write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ready_vms(good: object = "test -d /etc") -> dict[str, dict]:
    return {
        "vm-good": tiny_vm(extra={"ready": good}),
        "vm-bad": tiny_vm(extra={"ready": ["true", "test -e /nonexistent"]}),
    }


def _text(proc: object) -> str:
    return ANSI.sub("", f"{proc.stdout}\n{proc.stderr}")  # type: ignore[attr-defined]


def _init(lago: LagoRunner, vms: dict[str, dict], net: dict | None = None) -> Path:
    write_tiny_env(lago.cwd, vms, net)
    lago("init")
    return lago.cwd / ".lago"


def _domain_state(workdir: Path, vm: str) -> int:
    uuid = (workdir / "default" / "uuid").read_text().strip()
    conn = libvirt.open(LIBVIRT_URL)
    try:
        return conn.lookupByName(f"{uuid[:8]}-{vm}").state()[0]
    finally:
        conn.close()


def _destroy_domain(workdir: Path, vm: str) -> None:
    uuid = (workdir / "default" / "uuid").read_text().strip()
    conn = libvirt.open(LIBVIRT_URL)
    try:
        conn.lookupByName(f"{uuid[:8]}-{vm}").destroy()
    finally:
        conn.close()


def test_a_vm_without_a_lease_fails_with_a_diagnosis(lago: LagoRunner) -> None:
    workdir = _init(lago, {"vm-nolease": tiny_vm()}, net={"dhcp": None})
    collected = lago.cwd / "evidence"
    # the process bound is the test's only clock: 30 s of waiting plus the start
    proc = lago(
        "--log-format", "json", "start", "--wait-for-ssh", "--timeout", "30",
        "--collect-on-failure", str(collected),
        check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert events[-1]["event"] == "error"
    assert events[-1]["message"] == "VMs not ready: vm-nolease (no DHCP lease)"
    steps = [e["message"] for e in events if e.get("logger") == "lago.readiness"]
    assert steps == ["vm-nolease: domain running"], steps
    [diagnosis] = [
        e["message"] for e in events if e.get("level") == "ERROR" and "is not ready" in e["message"]
    ]  # fmt: skip
    lines = [line.strip() for line in diagnosis.splitlines()]
    assert lines[0] == "VM vm-nolease is not ready: timed out after 30 s"
    assert "step reached: domain running" in lines
    assert "domain state: running" in lines
    [lease] = [line for line in lines if line.startswith("DHCP lease:")]
    assert lease.startswith("DHCP lease: no DHCP lease for 192.168."), lease
    assert "has no DHCP server (dhcp disabled)" in lease
    assert any(line.startswith("likely cause: no DHCP lease") for line in lines)
    # the console tail: the tiny guest says it came up without an address
    assert any(re.match(r"serial console, last \d+ lines", line) for line in lines)
    assert "addresses=none" in diagnosis
    # left running for inspection, and the evidence gathered
    assert _domain_state(workdir, "vm-nolease") == libvirt.VIR_DOMAIN_RUNNING
    assert (collected / "logs" / "vm-nolease.serial.log").is_file()


def test_ready_commands_decide_readiness(lago: LagoRunner) -> None:
    workdir = _init(lago, _ready_vms())
    # a VM whose ready command passes starts fine, each step shown once
    proc = lago("start", "--wait-for-ssh", "--timeout", "500", "vm-good", timeout=600)
    out = _text(proc)
    for step in ("domain running", "DHCP lease seen 192.168.", "port 22 open",
                 "SSH login", "ready (ready commands passed)"):  # fmt: skip
        assert len(re.findall(f"vm-good: {re.escape(step)}", out)) == 1, (step, out)

    # shell's wait (through SSH login, not the ready commands) brings vm-bad up
    lago("start", "vm-bad")
    lago("shell", "vm-bad", "true", timeout=600)
    # its ready command fails until the timeout; vm-good passes again
    proc = lago("start", "--wait-for-ssh", "--timeout", "20", check=False, timeout=120)
    out = _text(proc)
    assert proc.returncode != 0, out
    last = ANSI.sub("", [ln for ln in proc.stderr.splitlines() if ln.strip()][-1])
    assert last == "VMs not ready: vm-bad (ready command 'test -e /nonexistent' failed)"
    assert "VM vm-bad is not ready: timed out after 20 s" in out
    assert "ready command: 'test -e /nonexistent' exited 1" in out
    assert "likely cause: the guest is reachable but its ready command" in out
    assert "vm-good: ready (ready commands passed)" in out
    assert "vm-bad: ready" not in out
    assert "VM vm-good is not ready" not in out
    assert _domain_state(workdir, "vm-bad") == libvirt.VIR_DOMAIN_RUNNING

    # a domain that stops while it is waited for ends the wait at once
    log = lago.cwd / "wait.log"
    with log.open("w") as err:
        waiting = subprocess.Popen(
            [sys.executable, "-m", "lago.cmd", "start", "--wait-for-ssh", "--timeout",
             "900", "vm-bad"], cwd=lago.cwd, env=lago.env, stderr=err, text=True,
        )  # fmt: skip
        try:
            for _ in range(600):  # until the wait has begun (not a timing bound)
                if "vm-bad: domain running" in log.read_text():
                    break
                time.sleep(0.2)
            _destroy_domain(workdir, "vm-bad")
            assert waiting.wait(timeout=300) != 0
        finally:
            waiting.kill()
    out = ANSI.sub("", log.read_text())
    assert "VM vm-bad is not ready: its domain stopped (down)" in out
    assert "likely cause: the domain stopped while waiting" in out
    assert out.strip().splitlines()[-1] == "VMs not ready: vm-bad (domain down)"

    # a timeout that is no number of seconds: one line, nothing done
    proc = lago("start", "--wait-for-ssh", "--timeout", "-5", "vm-good", check=False)
    lines = [ln for ln in ANSI.sub("", proc.stderr).splitlines() if ln.strip()]
    assert proc.returncode != 0
    assert lines == ["Invalid --timeout -5: give a positive number of seconds"]


def test_a_ready_command_of_the_wrong_type_is_refused(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd, _ready_vms(good=5))
    proc = lago("init", check=False)
    lines = [ln for ln in ANSI.sub("", proc.stderr).splitlines() if ln.strip()]
    assert proc.returncode != 0
    assert len(lines) == 1, lines
    assert "domains.vm-good.ready" in lines[0]
    assert "expected a command (string) or a list of commands, got 5" in lines[0]
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]
