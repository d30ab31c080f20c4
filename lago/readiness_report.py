"""The diagnosis of a VM that did not become ready.

A few lines a user (or a CI log) can act on: how far the VM got, its domain
state, its DHCP lease or why it may have none, the last lines of its serial
console, and the likely cause.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from lago.readiness import STEP_WORDS, Step, VMReadiness

LOGGER = logging.getLogger(__name__)

CONSOLE_LINES = 10
_CONSOLE_READ = 64 * 1024  # bytes read from the end of the console log
# escape sequences and control characters a console writes besides text
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def console_tail(path: str | Path | None, lines: int = CONSOLE_LINES) -> list[str]:
    """The last non-empty ``lines`` of a serial console log ([] if unreadable)."""
    if not path:
        return []
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - _CONSOLE_READ))
            data = log.read()
    except OSError as err:
        LOGGER.debug("No console log %s: %s", path, err)
        return []
    text = _CONTROL.sub("", data.decode("utf-8", errors="replace"))
    return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]


def likely_cause(status: VMReadiness) -> str:
    """The most probable reason for where the VM stopped, from its record."""
    if status.stopped:
        return (
            "the domain stopped while waiting (crashed, powered off, or the guest "
            "shut down): see its console"
        )
    if status.reached < Step.RUNNING:
        return "the domain never ran (paused, or libvirt is still creating it)"
    if status.ready_failure is not None:
        return "the guest is reachable but its ready command keeps failing"
    if status.reached < Step.PORT:
        if status.tracks_leases and status.lease is None:
            return (
                "no DHCP lease: check the network's DHCP and the MAC reservation, "
                "and that the guest runs a DHCP client on that NIC"
            )
        return (
            "the guest has an address but sshd is not up, or a firewall blocks port 22"
        )
    if status.reached < Step.LOGIN:
        return (
            "sshd answers but the login fails: the SSH key or password was not "
            "applied to the guest (seed or bootstrap)"
        )
    return "the guest stopped answering after login"


def _provider_call(vm: Any, name: str) -> Any:
    method = getattr(getattr(vm, "provider", None), name, None)
    if method is None:
        return None
    try:
        return method()
    except Exception as err:  # a diagnosis never hides the failure it explains
        LOGGER.debug("%s: %s failed: %s", vm.name(), name, err)
        return None


def _lease_line(status: VMReadiness, vm: Any) -> str:
    if not status.tracks_leases:
        return "DHCP lease: not known for this VM's provider"
    lease = status.lease or _provider_call(vm, "dhcp_lease")
    if lease:
        return f"DHCP lease: {lease}"
    reason = _provider_call(vm, "missing_lease_reason") or "reason unknown"
    return f"DHCP lease: no DHCP lease for {status.ip or 'its NIC'}: {reason}"


def _ready_line(status: VMReadiness) -> list[str]:
    failure = status.ready_failure
    if failure is None:
        return []
    if failure.code is None:
        lines = [f"ready command: {failure.command!r} still running at the deadline"]
    else:
        lines = [f"ready command: {failure.command!r} exited {failure.code}"]
    lines += [f"  | {line}" for line in failure.output]
    return lines


def diagnosis(status: VMReadiness, vm: Any) -> str:
    """The multi-line diagnosis of ``vm`` (a VM plugin) from its wait record."""
    why = (
        f"its domain stopped ({status.state})"
        if status.stopped
        else f"timed out after {status.timeout:g} s"
    )
    lines = [
        f"VM {status.name} is not ready: {why}",
        f"step reached: {STEP_WORDS[status.reached]}",
        f"domain state: {status.state}",
        _lease_line(status, vm),
        *_ready_line(status),
        f"likely cause: {likely_cause(status)}",
    ]
    path = _provider_call(vm, "serial_log_path")
    console = console_tail(path)
    if console:
        lines.append(f"serial console, last {len(console)} lines ({path}):")
        lines += [f"  | {line}" for line in console]
    else:
        lines.append(f"serial console: nothing logged ({path or 'no console log'})")
    return "\n  ".join(lines)
