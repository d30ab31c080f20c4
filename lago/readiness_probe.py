"""The readiness wait applied to an environment's VMs.

Chooses each VM's timeout, asks the VMs through :class:`VMProbe`, waits for
them all in parallel and, when some are not ready, logs a diagnosis of each
(:mod:`lago.readiness_report`) and raises one
:class:`~lago.readiness.VMNotReadyError`.

The timeout: a global one (``start --timeout``, the ``[start] timeout``
configuration key / ``LAGO__START__TIMEOUT``, or the SDK's ``timeout``
argument) is the longest any VM is waited for; a VM's ``boot_time_sec``
can only shorten its own wait. Without a global timeout each VM waits its
``boot_time_sec`` (600 s when unset), as the original did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lago import interrupt, readiness
from lago.config import config
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel
from lago.process import CommandStatus
from lago.readiness_report import diagnosis

LOGGER = logging.getLogger(__name__)

DEFAULT_BOOT_TIME = 600


def configured_timeout() -> float | None:
    """The global timeout from the configuration (``[start] timeout``), if set."""
    section = config.get_section("start") or {}
    value = section.get("timeout")
    try:
        seconds = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        LOGGER.warning("Ignoring [start] timeout %r: not a number of seconds", value)
        return None
    return seconds if seconds and seconds > 0 else None


def vm_timeout(boot_time_sec: Any, global_timeout: float | None) -> float:
    """How long one VM is waited for (see the module's documentation)."""
    own = float(boot_time_sec) if boot_time_sec else None
    if global_timeout:
        return min(global_timeout, own) if own else global_timeout
    return own or DEFAULT_BOOT_TIME


def ready_commands(spec: dict[str, Any]) -> list[str]:
    """The VM's ``ready`` commands (a string or a list of them) as a list."""
    value = spec.get("ready")
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(cmd) for cmd in value]


class VMProbe:
    """:class:`~lago.readiness.Probe` over a VM plugin and its provider."""

    def __init__(self, vm: Any) -> None:
        self.vm = vm
        self.name: str = vm.name()
        self.ip: str | None = vm.ip()
        self.ready_commands = ready_commands(vm.spec)
        provider = getattr(vm, "provider", None)
        self._lease = getattr(provider, "dhcp_lease", None)
        self.tracks_leases = self._lease is not None

    def state(self) -> str:
        try:
            return str(self.vm.state())
        except Exception as err:  # the hypervisor hiccups: ask again later
            LOGGER.debug("%s: state unknown: %s", self.name, err)
            return "unknown"

    def lease(self) -> str | None:
        try:
            return self._lease() if self._lease else None
        except Exception as err:
            LOGGER.debug("%s: leases unknown: %s", self.name, err)
            return None

    def port_open(self) -> bool:
        from lago import ssh

        return bool(self.ip) and ssh.probe_port(self.ip)  # type: ignore[arg-type]

    def login(self, patience: float) -> bool:
        from lago import ssh

        auth = self.vm._ssh_auth()
        return ssh.probe_login(self.ip, self.name, patience, **auth)  # type: ignore[arg-type]

    def run(self, command: str) -> CommandStatus:
        return self.vm.ssh([command], show_output=False, propagate_fail=False, tries=1)


class _NotReady(Exception):
    def __init__(self, status: readiness.VMReadiness) -> None:
        super().__init__(status.name)
        self.status = status


def wait_until_ready(
    vms: Iterable[Any], timeout: float | None = None, run_ready: bool = True
) -> None:
    """Wait for ``vms`` (VM plugins) in parallel; raise if any is not ready.

    ``timeout`` None takes the configured one. With ``run_ready`` false the
    wait ends at SSH login (a shell or a copy needs no more).
    """
    vms = list(vms)
    limit = timeout if timeout else configured_timeout()

    def one(vm: Any) -> readiness.VMReadiness:
        seconds = vm_timeout(vm.spec.get("boot_time_sec"), limit)
        if not run_ready:  # shell and copies: no task of their own, as before
            return readiness.wait_one(
                VMProbe(vm), seconds, run_ready=False, sleep=interrupt.sleep
            )
        try:
            with LogTask(f"Wait for ssh on {vm.name()}"):
                # an interruption wakes the wait at once, not after its pause
                status = readiness.wait_one(
                    VMProbe(vm), seconds, run_ready=run_ready, sleep=interrupt.sleep
                )
                if not status.ok:
                    raise _NotReady(status)  # marks the task as failed
        except _NotReady as failed:
            return failed.status
        return status

    results = invoke_in_parallel(one, vms)
    by_name = {vm.name(): vm for vm in vms}
    failures = [status for status in results if not status.ok]

    def explain(status: readiness.VMReadiness) -> None:
        LOGGER.error("%s", diagnosis(status, by_name[status.name]))

    readiness.raise_for(failures, explain)
