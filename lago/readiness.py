"""Waiting for VMs to become usable, one visible step at a time.

Each VM walks through: domain running -> DHCP lease seen -> port 22 open ->
SSH login -> its ``ready`` commands pass (when the init file gives any). Every
step reached is logged once, so a user sees where each VM is. The wait is
cheap: the hypervisor (state, leases) is asked once a second, the port is a
TCP connect a few times a second, and keys are used only once it answers.

A VM fails when its timeout passes or its domain stops; the failures are
explained by :mod:`lago.readiness_report` and raised as one
:class:`VMNotReadyError`.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lago._ssh_connect import LagoSSHTimeoutError
from lago.log_utils import log_always
from lago.process import CommandStatus

LOGGER = logging.getLogger(__name__)

ASK_SPACING = 1.0  # seconds between two questions to the hypervisor
PORT_SPACING = 0.2  # a closed port is probed this often (a TCP connect)
LOGIN_SPACING = 1.0  # between two failed logins
READY_SPACING = 2.0  # between two failed ready commands
# a wait without ready commands (shell, copies) shows its steps only once it
# has lasted this long: a VM that answers at once needs no progress report
QUIET_SPAN = 1.0
OUTPUT_TAIL = 10  # lines of a failed ready command kept for the diagnosis
# states in which a domain will never answer without being started again
_STOPPED_STATES = frozenset({"down", "shut off", "shutdown", "crashed"})


class Step(enum.IntEnum):
    """How far a VM got, in the order it gets there."""

    STARTED = 0
    RUNNING = 1
    LEASE = 2
    PORT = 3
    LOGIN = 4
    READY = 5


STEP_WORDS = {
    Step.STARTED: "started, domain not running yet",
    Step.RUNNING: "domain running",
    Step.LEASE: "DHCP lease seen",
    Step.PORT: "port 22 open",
    Step.LOGIN: "SSH login",
    Step.READY: "ready",
}


class VMNotReadyError(LagoSSHTimeoutError):
    """Some VMs did not become ready in time (an SSH timeout, for old callers)."""


class Probe(Protocol):
    """What the wait asks of one VM (:class:`lago.readiness_probe.VMProbe`)."""

    name: str
    ip: str | None
    ready_commands: list[str]
    tracks_leases: bool  # False: lease() cannot tell (not a libvirt VM)

    def state(self) -> str: ...

    def lease(self) -> str | None: ...

    def port_open(self) -> bool: ...

    def login(self, patience: float) -> bool: ...

    def run(self, command: str) -> CommandStatus: ...


@dataclass
class CommandResult:
    """The last run of a ``ready`` command that did not pass."""

    command: str
    code: int | None  # None: still running at the deadline
    output: list[str] = field(default_factory=list)


@dataclass
class VMReadiness:
    """Where one VM's wait stands; the diagnosis is written from it."""

    name: str
    timeout: float
    ip: str | None = None
    reached: Step = Step.STARTED
    state: str = "unknown"
    lease: str | None = None
    tracks_leases: bool = True
    stopped: bool = False
    ready_failure: CommandResult | None = None

    @property
    def ok(self) -> bool:
        return self.reached == Step.READY and not self.stopped

    def reason(self) -> str:
        """A few words on why the VM is not ready, for the one-line error."""
        if self.stopped:
            return f"domain {self.state}"
        if self.ready_failure is not None:
            return f"ready command {self.ready_failure.command!r} failed"
        if self.reached == Step.STARTED:
            return f"domain not running ({self.state})"
        if self.tracks_leases and self.reached < Step.PORT and self.lease is None:
            return "no DHCP lease"
        return f"stuck after {STEP_WORDS[self.reached]}"


def tail(text: str, lines: int = OUTPUT_TAIL) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _run_bounded(probe: Probe, command: str, seconds: float) -> CommandStatus | None:
    """``probe.run(command)``, or None if it still runs after ``seconds``: a hung
    command must not outlast the wait (its thread is left to the process)."""
    result: list[CommandStatus] = []

    def run() -> None:
        try:
            result.append(probe.run(command))
        except Exception as err:  # a lost connection is one failed attempt
            result.append(CommandStatus(255, "", str(err)))

    thread = threading.Thread(target=run, name=f"ready-{probe.name}", daemon=True)
    thread.start()
    thread.join(max(0.0, seconds))
    return result[0] if result else None


class _Walk:
    """One VM's wait; ``clock`` and ``sleep`` are injectable for the tests."""

    def __init__(
        self,
        probe: Probe,
        timeout: float,
        run_ready: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.probe = probe
        self.status = VMReadiness(
            probe.name, timeout, ip=probe.ip, tracks_leases=probe.tracks_leases
        )
        self.goal = Step.READY if run_ready and probe.ready_commands else Step.LOGIN
        self.clock = clock
        self.sleep = sleep
        self.began = clock()
        self.deadline = self.began + timeout
        # a VM that answers at once stays quiet unless its steps are the point
        self.quiet_for = 0.0 if run_ready else QUIET_SPAN
        self.unshown: list[str] = []
        self.attempt_took = 0.0  # how long the last failed ready attempt ran

    def reach(self, step: Step, detail: str = "") -> None:
        if step <= self.status.reached:
            return
        self.status.reached = step
        words = STEP_WORDS[step] + (f" {detail}" if detail else "")
        self.unshown.append(f"{self.probe.name}: {words}")
        self.show()

    def show(self, final: bool = False) -> None:
        if self.clock() - self.began < self.quiet_for and not final:
            return
        for line in self.unshown:
            # shown at once, not buffered with the task's other records
            LOGGER.info(log_always(line))
        self.unshown.clear()

    def ask_hypervisor(self) -> None:
        """Domain state and lease, at most once a second."""
        state = self.probe.state()
        self.status.state = state
        if state in _STOPPED_STATES:
            self.status.stopped = True
            return
        if state == "running":
            self.reach(Step.RUNNING)
        if (
            self.probe.tracks_leases
            and self.status.lease is None
            and Step.RUNNING <= self.status.reached < Step.PORT
        ):
            self.status.lease = self.probe.lease()
            if self.status.lease:
                self.reach(Step.LEASE, self.status.lease)

    def _lease_before_port(self) -> None:
        """The port answered between two lease polls (a fast boot): the lease
        is there by now, and one look keeps the steps shown in order."""
        if self.probe.tracks_leases and self.status.lease is None:
            self.status.lease = self.probe.lease()
            if self.status.lease:
                self.reach(Step.LEASE, self.status.lease)

    def left(self) -> float:
        return self.deadline - self.clock()

    def step_guest(self) -> float:
        """Try the next step in the guest; returns how long to pause after."""
        if self.status.reached < Step.PORT:
            if not self.probe.port_open():
                return PORT_SPACING
            self._lease_before_port()
            self.reach(Step.PORT)
        if self.status.reached < Step.LOGIN:
            if not self.probe.login(self.left()):
                return LOGIN_SPACING
            self.reach(Step.LOGIN)
        if self.goal == Step.READY:
            return self.run_ready()
        return 0.0

    def run_ready(self) -> float:
        last = self.status.ready_failure
        if last is not None and self.left() < self.attempt_took:
            # a retry that cannot end before the deadline would only leave a
            # command running; the last failure stands
            return self.left()
        began = self.clock()
        for command in self.probe.ready_commands:
            result = _run_bounded(self.probe, command, self.left())
            if result is None and last is not None and last.command == command:
                return 0.0  # cut short by the deadline: the last failure stands
            if result is None or result.code != 0:
                code = None if result is None else result.code
                output = [] if result is None else tail(result.out + result.err)
                self.status.ready_failure = CommandResult(command, code, output)
                self.attempt_took = self.clock() - began
                LOGGER.debug("%s: ready command %r: %s", self.probe.name, command, code)
                return READY_SPACING
        self.status.ready_failure = None
        self.reach(Step.READY, "(ready commands passed)")
        return 0.0

    def walk(self) -> VMReadiness:
        status = self._walk()
        if status.ok:
            for line in self.unshown:
                LOGGER.debug("%s", line)
        else:
            self.show(final=True)
        return status

    def _walk(self) -> VMReadiness:
        asked = float("-inf")
        while True:
            began = self.clock()
            if began - asked >= ASK_SPACING:
                asked = began
                self.ask_hypervisor()
                if self.status.stopped:
                    return self.status
            self.show()
            if self.status.reached >= Step.RUNNING:
                pause = self.step_guest()
                if self.status.reached >= self.goal:
                    self.status.reached = Step.READY
                    return self.status
            else:
                pause = ASK_SPACING
            if self.clock() >= self.deadline:
                return self.status
            self.sleep(max(0.0, min(began + pause, self.deadline) - self.clock()))


def wait_one(
    probe: Probe,
    timeout: float,
    run_ready: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> VMReadiness:
    """Walk ``probe`` through the steps for up to ``timeout`` s.

    Without ``run_ready`` (or ready commands) SSH login is the last step and
    counts as ready, and the steps are shown only if the wait lasts over
    :data:`QUIET_SPAN`. Never raises for a VM that is not ready: the returned
    record tells how far it got.
    """
    return _Walk(probe, timeout, run_ready, clock, sleep).walk()


def summary(failures: Sequence[VMReadiness]) -> str:
    """The one-line error naming every VM that is not ready."""
    parts = [f"{status.name} ({status.reason()})" for status in failures]
    return "VMs not ready: " + ", ".join(parts)


def raise_for(failures: Sequence[VMReadiness], explain: Callable[[Any], None]) -> None:
    """Explain each failure (``explain``), then raise one error for them all."""
    if not failures:
        return
    for status in failures:
        explain(status)
    raise VMNotReadyError(summary(failures))
