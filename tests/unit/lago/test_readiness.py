"""The readiness wait and its diagnosis, with a fake VM and a fake clock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lago import readiness
from lago.config import config
from lago.process import CommandStatus
from lago.readiness import Step, VMNotReadyError, wait_one
from lago.readiness_probe import (
    VMProbe,
    configured_timeout,
    ready_commands,
    vm_timeout,
    wait_until_ready,
)
from lago.readiness_report import console_tail, diagnosis, likely_cause
from lago.ssh import LagoSSHTimeoutError


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeProbe:
    """A VM whose guest reaches each step at a given time (None: never)."""

    clock: Clock
    name: str = "vm0"
    ip: str | None = "192.168.200.3"
    running_at: float | None = 0.0
    lease_at: float | None = 1.0
    port_at: float | None = 2.0
    login_at: float | None = 3.0
    stops_at: float | None = None
    ready_commands: list[str] = field(default_factory=list)
    ready_passes_at: float | None = 0.0
    tracks_leases: bool = True
    calls: list[str] = field(default_factory=list)

    def _after(self, moment: float | None) -> bool:
        return moment is not None and self.clock() >= moment

    def state(self) -> str:
        self.calls.append("state")
        if self._after(self.stops_at):
            return "shut off"
        return "running" if self._after(self.running_at) else "paused"

    def lease(self) -> str | None:
        self.calls.append("lease")
        return self.ip if self._after(self.lease_at) else None

    def port_open(self) -> bool:
        self.calls.append("port")
        return self._after(self.port_at)

    def login(self, patience: float) -> bool:
        self.calls.append("login")
        return self._after(self.login_at)

    def run(self, command: str) -> CommandStatus:
        self.calls.append(f"run {command}")
        if self._after(self.ready_passes_at):
            return CommandStatus(0, "", "")
        lines = "".join(f"line {n}\n" for n in range(15))
        return CommandStatus(3, lines, "not yet\n")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _wait(probe: FakeProbe, clock: Clock, timeout: float = 30, **kw: Any) -> Any:
    return wait_one(probe, timeout, clock=clock, sleep=clock.sleep, **kw)


def test_a_booting_vm_walks_every_step_once_in_order(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    probe = FakeProbe(clock, ready_commands=["cloud-init status --wait"])
    with caplog.at_level(logging.INFO, logger="lago.readiness"):
        status = _wait(probe, clock)
    assert status.ok and status.reached == Step.READY
    assert status.lease == "192.168.200.3"
    assert [r.getMessage().removeprefix("force-show:") for r in caplog.records] == [
        "vm0: domain running",
        "vm0: DHCP lease seen 192.168.200.3",
        "vm0: port 22 open",
        "vm0: SSH login",
        "vm0: ready (ready commands passed)",
    ]
    assert probe.calls.count("run cloud-init status --wait") == 1
    assert clock.now < 5


def test_the_wait_is_cheap_the_hypervisor_asked_once_a_second(clock: Clock) -> None:
    probe = FakeProbe(clock, port_at=None)
    status = _wait(probe, clock, timeout=10)
    assert not status.ok
    # state and lease at most once a second; the port a few times a second
    assert probe.calls.count("state") <= 11
    assert probe.calls.count("lease") <= 2  # asked until the lease was seen
    assert 30 <= probe.calls.count("port") <= 55
    assert "login" not in probe.calls  # no key work before the port answers


def test_without_ready_commands_login_is_ready(clock: Clock) -> None:
    status = _wait(FakeProbe(clock), clock)
    assert status.ok
    probe = FakeProbe(clock, ready_commands=["false"], ready_passes_at=None)
    assert _wait(probe, clock, run_ready=False).ok  # shell's wait
    assert not any(call.startswith("run") for call in probe.calls)


def test_no_lease_times_out_with_its_step_and_reason(clock: Clock) -> None:
    probe = FakeProbe(clock, lease_at=None, port_at=None)
    status = _wait(probe, clock, timeout=30)
    assert not status.ok
    assert clock.now == pytest.approx(30)
    assert status.reached == Step.RUNNING
    assert status.lease is None
    assert status.reason() == "no DHCP lease"
    assert likely_cause(status).startswith("no DHCP lease")


def test_a_port_that_opens_without_a_seen_lease_is_not_held_back(clock: Clock) -> None:
    # a static address, or a provider that cannot see leases
    status = _wait(FakeProbe(clock, lease_at=None), clock)
    assert status.ok


def test_a_domain_that_stops_ends_the_wait_at_once(clock: Clock) -> None:
    probe = FakeProbe(clock, port_at=None, stops_at=5.0)
    status = _wait(probe, clock, timeout=600)
    assert status.stopped and not status.ok
    assert clock.now < 7
    assert status.state == "shut off"
    assert status.reason() == "domain shut off"
    assert "domain stopped" in likely_cause(status)


def test_a_domain_that_never_runs(clock: Clock) -> None:
    status = _wait(FakeProbe(clock, running_at=None), clock, timeout=5)
    assert status.reached == Step.STARTED
    assert status.reason() == "domain not running (paused)"
    assert "never ran" in likely_cause(status)


def test_port_open_but_login_refused(clock: Clock) -> None:
    status = _wait(FakeProbe(clock, login_at=None), clock, timeout=10)
    assert status.reached == Step.PORT
    assert status.reason() == "stuck after port 22 open"
    assert "login fails" in likely_cause(status)


def test_lease_but_closed_port_blames_sshd(clock: Clock) -> None:
    status = _wait(FakeProbe(clock, port_at=None), clock, timeout=10)
    assert status.reached == Step.LEASE
    assert "sshd is not up" in likely_cause(status)


def test_a_failing_ready_command_is_retried_until_it_passes(clock: Clock) -> None:
    probe = FakeProbe(clock, ready_commands=["check"], ready_passes_at=9.0)
    status = _wait(probe, clock)
    assert status.ok and status.ready_failure is None
    assert probe.calls.count("run check") >= 3


def test_a_ready_command_that_keeps_failing_is_reported(clock: Clock) -> None:
    probe = FakeProbe(clock, ready_commands=["true", "check"], ready_passes_at=None)
    status = _wait(probe, clock, timeout=20)
    assert not status.ok
    assert status.reached == Step.LOGIN
    failure = status.ready_failure
    assert failure is not None
    assert (failure.command, failure.code) == ("true", 3)  # the first that failed
    assert failure.output[-1] == "not yet"
    assert len(failure.output) == readiness.OUTPUT_TAIL
    assert status.reason() == "ready command 'true' failed"


def test_a_hung_ready_command_does_not_outlast_the_deadline() -> None:
    release = threading.Event()

    class Hung(FakeProbe):
        def run(self, command: str) -> CommandStatus:
            release.wait(10)
            return CommandStatus(0, "", "")

    try:
        probe = Hung(Clock(), ready_commands=["sleep 1000"])
        probe.clock.now = 10.0  # every step already reached
        status = wait_one(probe, 0.2)  # the real clock bounds the command
        assert not status.ok
        assert status.ready_failure is not None
        assert status.ready_failure.code is None
    finally:
        release.set()


@pytest.mark.parametrize(
    ("boot_time_sec", "global_timeout", "expected"),
    [
        (None, None, 600),  # the original's default
        (120, None, 120),  # a VM's own boot_time_sec
        (None, 30, 30),  # the global timeout
        (900, 30, 30),  # the global timeout bounds every VM
        (20, 30, 20),  # a VM's boot_time_sec may only shorten its wait
    ],
)
def test_which_timeout_wins(
    boot_time_sec: int | None, global_timeout: float | None, expected: float
) -> None:
    assert vm_timeout(boot_time_sec, global_timeout) == expected


@pytest.fixture
def start_section() -> Iterator[dict[str, Any]]:
    section = config.get_section("start")
    saved = dict(section or {})
    yield config._config.setdefault("start", {})
    config._config["start"] = saved


def test_configured_timeout(start_section: dict[str, Any]) -> None:
    start_section.pop("timeout", None)
    assert configured_timeout() is None
    config.set("timeout", "45", section="start")
    assert configured_timeout() == 45
    config.set("timeout", 0, section="start")
    assert configured_timeout() is None


def test_ready_commands_from_the_spec() -> None:
    assert ready_commands({}) == []
    assert ready_commands({"ready": "cloud-init status --wait"}) == [
        "cloud-init status --wait"
    ]
    assert ready_commands({"ready": ["a", "b"]}) == ["a", "b"]


def test_console_tail_keeps_the_last_text_lines(tmp_path: Path) -> None:
    log = tmp_path / "vm0.serial.log"
    body = "".join(f"\x1b[1mline {n}\x1b[0m\r\n\r\n" for n in range(30))
    log.write_bytes(body.encode() + b"\xff login: ")
    lines = console_tail(log)
    assert len(lines) == 10
    assert lines[0] == "line 21"
    assert lines[-1] == "\ufffd login:"
    assert console_tail(tmp_path / "missing") == []
    assert console_tail(None) == []


@dataclass
class FakeProvider:
    log: Path
    lease: str | None = None

    def dhcp_lease(self) -> str | None:
        return self.lease

    def missing_lease_reason(self) -> str:
        return "network 1234-lago has no DHCP server (dhcp disabled)"

    def serial_log_path(self) -> str:
        return str(self.log)


class FakeVM:
    def __init__(self, provider: Any, clock: Clock, **probe: Any) -> None:
        self.provider = provider
        self.fake = FakeProbe(clock, **probe)
        self.spec: dict[str, Any] = {"boot_time_sec": 900}

    def name(self) -> str:
        return self.fake.name

    def ip(self) -> str | None:
        return self.fake.ip


def test_diagnosis_of_a_vm_without_a_lease(clock: Clock, tmp_path: Path) -> None:
    log = tmp_path / "serial.log"
    log.write_text("".join(f"boot {n}\n" for n in range(12)) + "addresses=none\n")
    vm = FakeVM(FakeProvider(log), clock)
    status = _wait(FakeProbe(clock, lease_at=None, port_at=None), clock, timeout=30)
    text = diagnosis(status, vm)
    lines = text.splitlines()
    assert lines[0] == "VM vm0 is not ready: timed out after 30 s"
    assert lines[1:4] == [
        "  step reached: domain running",
        "  domain state: running",
        "  DHCP lease: no DHCP lease for 192.168.200.3: network 1234-lago has no "
        "DHCP server (dhcp disabled)",
    ]
    assert lines[4].startswith("  likely cause: no DHCP lease")
    assert lines[5] == f"  serial console, last 10 lines ({log}):"
    assert lines[6:] == [f"    | boot {n}" for n in range(3, 12)] + [
        "    | addresses=none"
    ]


def test_diagnosis_of_a_failing_ready_command(clock: Clock, tmp_path: Path) -> None:
    vm = FakeVM(FakeProvider(tmp_path / "none", lease="192.168.200.3"), clock)
    probe = FakeProbe(clock, ready_commands=["false"], ready_passes_at=None)
    text = diagnosis(_wait(probe, clock, timeout=10), vm)
    assert "  step reached: SSH login" in text
    assert "  DHCP lease: 192.168.200.3" in text
    assert "  ready command: 'false' exited 3" in text
    assert "    | not yet" in text
    assert "serial console: nothing logged" in text


class ProbedVM(FakeVM):
    """A VM for :class:`VMProbe`: ``state`` and SSH come from the fake probe."""

    def state(self) -> str:
        return self.fake.state()

    def _ssh_auth(self) -> dict[str, Any]:
        return {}

    def ssh(self, command: list[str], **kwargs: Any) -> CommandStatus:
        return self.fake.run(command[0])


def _patch_network(
    monkeypatch: pytest.MonkeyPatch, port: Callable[[str], bool], login: bool
) -> None:
    from lago import ssh

    monkeypatch.setattr(ssh, "probe_port", lambda ip, port_=22: port(ip))
    monkeypatch.setattr(ssh, "probe_login", lambda *a, **k: login)


def test_wait_until_ready_names_every_vm_not_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    clock.now = 100.0
    good = ProbedVM(FakeProvider(tmp_path / "a", lease="192.168.200.2"), clock,
                    name="good", ip="192.168.200.2")  # fmt: skip
    bad = ProbedVM(FakeProvider(tmp_path / "b"), clock, name="bad", ip="192.168.200.3")
    bad.spec["ready"] = "test -e /nonexistent"
    bad.fake.ready_passes_at = None
    _patch_network(monkeypatch, lambda ip: True, login=True)
    with pytest.raises(VMNotReadyError) as err, caplog.at_level(logging.INFO):
        wait_until_ready([good, bad], timeout=0.5)
    assert str(err.value) == (
        "VMs not ready: bad (ready command 'test -e /nonexistent' failed)"
    )
    assert isinstance(err.value, LagoSSHTimeoutError)  # what old callers catch
    messages = [r.getMessage().removeprefix("force-show:") for r in caplog.records]
    assert "good: SSH login" in messages
    [explained] = [m for m in messages if m.startswith("VM bad is not ready")]
    assert "ready command: 'test -e /nonexistent' exited 3" in explained
    assert not any(m.startswith("VM good is not ready") for m in messages)


def test_vm_probe_without_lease_support(clock: Clock) -> None:
    vm = ProbedVM(object(), clock)
    probe = VMProbe(vm)
    assert not probe.tracks_leases
    assert probe.lease() is None
    assert probe.ready_commands == []
    assert probe.run("true").code == 0


def test_a_quick_wait_without_ready_commands_stays_quiet(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    quick = FakeProbe(clock, lease_at=0, port_at=0, login_at=0)
    with caplog.at_level(logging.INFO, logger="lago.readiness"):
        assert _wait(quick, clock, run_ready=False).ok
    assert caplog.records == []  # a shell on a VM that is up: no progress report
    slow = FakeProbe(clock, port_at=4, login_at=4)
    with caplog.at_level(logging.INFO, logger="lago.readiness"):
        assert _wait(slow, clock, run_ready=False).ok
    shown = [r.getMessage().removeprefix("force-show:") for r in caplog.records]
    assert shown == [
        "vm0: domain running",
        "vm0: DHCP lease seen 192.168.200.3",
        "vm0: port 22 open",
        "vm0: SSH login",
    ]


def test_prefix_start_can_wait_with_a_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lago.prefix import Prefix

    calls: list[Any] = []

    class Env:
        def start(self, vm_names: Any = None) -> None:
            calls.append(("start", vm_names))

        def wait_for_ssh(self, vm_names: Any = None, timeout: Any = None) -> None:
            calls.append(("wait", vm_names, timeout))

    monkeypatch.setattr(Prefix, "virt_env", property(lambda self: Env()))
    prefix = Prefix(str(tmp_path))
    prefix.start(["vm0"])
    prefix.start(["vm0"], wait_for_ssh=True, timeout=30)
    assert calls == [("start", ["vm0"]), ("start", ["vm0"]), ("wait", ["vm0"], 30)]


def test_no_ready_retry_is_started_that_cannot_end_before_the_deadline(
    clock: Clock,
) -> None:
    class Slow(FakeProbe):
        def run(self, command: str) -> CommandStatus:
            self.clock.now += 3  # a login and the command take 3 s each time
            return super().run(command)

    probe = Slow(clock, lease_at=0, port_at=0, login_at=0, ready_commands=["check"],
                 ready_passes_at=None)  # fmt: skip
    status = _wait(probe, clock, timeout=8)
    assert probe.calls.count("run check") == 2  # at 0 s and 3 s; not at 6 s
    assert status.ready_failure is not None
    assert status.ready_failure.code == 3  # the last real failure, not "still running"
    assert clock.now == pytest.approx(8)
