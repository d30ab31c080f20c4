"""``init``'s bootstrap of an environment's VMs.

VMs whose template carries a NoCloud seed get a seed image (cheap, per VM).
The others have their first disk written before boot, by the method that
``[init] bootstrap_method`` names:

* ``guestfs`` (default): every such disk in one libguestfs appliance;
* ``virt-sysprep``: one ``virt-sysprep`` run per disk, as the original did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lago.config import config
from lago.errors import ConfigError
from lago.guest_prep import GuestSpec
from lago.guestfs_bootstrap import bootstrap_guests
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel

LOGGER = logging.getLogger(__name__)

METHODS = ("guestfs", "virt-sysprep")
DEFAULT_METHOD = "guestfs"


def bootstrap_method() -> str:
    """The configured method; a bad value is reported with its key."""
    section = config.get_section("init") or {}
    value = str(section.get("bootstrap_method") or DEFAULT_METHOD).strip().lower()
    if value not in METHODS:
        raise ConfigError(
            f"Invalid value for bootstrap_method in [init]: "
            f"{section.get('bootstrap_method')!r} (allowed: {', '.join(METHODS)})"
        )
    return value


@dataclass
class GuestBatch:
    """Seedless disks collected from the VMs, written together afterwards."""

    guests: list[GuestSpec] = field(default_factory=list)
    force_tcg: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, guest: GuestSpec, force_tcg: bool = False) -> None:
        """Called by the VMs' bootstrap threads."""
        with self._lock:
            self.guests.append(guest)
            self.force_tcg = self.force_tcg or force_tcg

    def run(self, factory: Callable[[], Any] | None = None) -> None:
        if not self.guests:
            return
        # the VMs' threads added them in any order: a stable one for the logs
        guests = sorted(self.guests, key=lambda guest: guest.vm)
        names = ", ".join(guest.vm for guest in guests)
        with LogTask(f"Bootstrapping {names} in one libguestfs appliance"):
            bootstrap_guests(guests, self.force_tcg, factory)


def bootstrap_vms(vms: Iterable[Any], method: str | None = None) -> None:
    """Bootstrap ``vms``: seeds (or ``virt-sysprep``) per VM, then the batch.

    A provider that knows the batch adds its seedless disk to it instead of
    writing it; any other provider ignores the keyword.
    """
    method = method or bootstrap_method()
    batch = GuestBatch() if method == "guestfs" else None

    def bootstrap_one(vm: Any) -> None:
        with LogTask(f"Bootstrapping {vm.name()}"):
            if batch is None:
                vm.bootstrap()
            else:
                vm.bootstrap(guest_batch=batch)

    invoke_in_parallel(bootstrap_one, list(vms))
    if batch is not None:
        batch.run()
