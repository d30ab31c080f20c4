"""Verbs that change an environment's state: start, stop, shutdown, destroy, cleanup."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from lago.errors import LagoException, LagoUserException
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.prefix import Prefix
from lago.verbs._context import in_prefix
from lago.workdir import Workdir

LOGGER = logging.getLogger(__name__)


@cli_plugin(help="Start the VMs and networks of the environment")
@cli_plugin_add_argument(
    "vm_names", nargs="*", metavar="VM_NAME", help="VMs to start (default: all)"
)
@cli_plugin_add_argument(
    "--wait-for-ssh", action="store_true",
    help="Return only once every started VM answers SSH",
)  # fmt: skip
@cli_plugin_add_argument(
    "--timeout", type=float, metavar="SECONDS",
    help="With --wait-for-ssh: the longest any VM is waited for (a VM's "
    "boot_time_sec may only shorten its own wait; default: each VM's "
    "boot_time_sec, 600 s when unset)",
)  # fmt: skip
@cli_plugin_add_argument(
    "--collect-on-failure",
    metavar="DIR",
    help="When the start fails, gather the prefix's logs, each VM's serial "
    "console log and artifacts into DIR",
)
@in_prefix()
def do_start(
    prefix: Prefix,
    vm_names: list[str] | None = None,
    wait_for_ssh: bool = False,
    collect_on_failure: str | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> None:
    if timeout is not None and timeout <= 0:
        raise LagoUserException(
            f"Invalid --timeout {timeout:g}: give a positive number of seconds"
        )
    try:
        prefix.start(vm_names=vm_names or None)
        if wait_for_ssh:
            prefix.wait_for_ssh(vm_names or None, timeout=timeout)
    except Exception:
        if collect_on_failure:
            from lago.failure_report import collect_on_failure as gather

            gather(prefix, collect_on_failure)
        raise


@cli_plugin(help="Power off the VMs (no guest shutdown) and stop their networks")
@cli_plugin_add_argument(
    "vm_names", nargs="*", metavar="VM_NAME", help="VMs to stop (default: all)"
)
@in_prefix()
def do_stop(prefix: Prefix, vm_names: list[str] | None = None, **kwargs: Any) -> None:
    prefix.stop(vm_names=vm_names or None)


@cli_plugin(help="Shut the VMs down through the guest, then stop their networks")
@cli_plugin_add_argument(
    "vm_names", nargs="*", metavar="VM_NAME", help="VMs to shut down (default: all)"
)
@cli_plugin_add_argument(
    "-r", "--reboot", action="store_true", help="Reboot the VMs instead"
)
@in_prefix()
def do_shutdown(
    prefix: Prefix,
    vm_names: list[str] | None = None,
    reboot: bool = False,
    **kwargs: Any,
) -> None:
    prefix.shutdown(vm_names=vm_names or None, reboot=reboot)


@in_prefix()
def _cleanup_prefix(prefix: Prefix, **kwargs: Any) -> None:
    prefix.cleanup()


@cli_plugin(
    help="Stop the environment and mark the prefix as not initialized; with "
    "--orphans, list what crashed runs left behind instead"
)
@cli_plugin_add_argument(
    "--orphans",
    action="store_true",
    help="List libvirt domains, networks, bridges and leases whose environment "
    "is gone (no prefix needed)",
)
@cli_plugin_add_argument(
    "-y", "--yes", action="store_true", help="With --orphans: remove them"
)
def do_cleanup(
    prefix: Prefix | None = None,
    orphans: bool = False,
    yes: bool = False,
    **kwargs: Any,
) -> None:
    if orphans:
        from lago.verbs.orphans import cleanup_orphans

        cleanup_orphans(yes=yes, **kwargs)
    elif prefix is not None:
        prefix.cleanup()
    else:
        _cleanup_prefix(**kwargs)


def _confirm(path: str) -> bool:
    sys.stdout.write(f"Do you really want to destroy {path}? [Yn] ")
    sys.stdout.flush()
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip() in ("", "Y", "y")


@cli_plugin(help="Stop the environment and delete its prefix (leases, disks, files)")
@cli_plugin_add_argument(
    "-y", "--yes", action="store_true", help="Do not ask for confirmation"
)
@cli_plugin_add_argument(
    "--all-prefixes",
    action="store_true",
    help="Destroy every prefix of the workdir, and the workdir",
)
@cli_plugin_add_argument(
    "--force",
    action="store_true",
    help="Delete the prefix even when libvirt cannot be reached (its VMs and "
    "networks are then left running)",
)
@in_prefix()
def do_destroy(
    prefix: Prefix,
    workdir: Workdir | None,
    yes: bool = False,
    all_prefixes: bool = False,
    force: bool = False,
    **kwargs: Any,
) -> None:
    if all_prefixes and workdir is not None:
        target = f"all the prefixes under {workdir.path}"
        if os.path.islink(workdir.path):
            # as the original: a linked workdir loses its link, not its prefixes
            target = f"the link {workdir.path}"
    else:
        target = prefix.paths.prefix
    if not yes and not _confirm(target):
        LOGGER.info("Aborting on user input")
        return
    if all_prefixes and workdir is not None and os.path.islink(workdir.path):
        os.unlink(workdir.path)
        return
    victims = list(workdir.prefixes.values()) if all_prefixes and workdir else [prefix]
    _check_libvirt(victims, force)
    if workdir is None:
        if os.path.islink(prefix.paths.prefix):
            os.unlink(prefix.paths.prefix)
        else:
            prefix.destroy()
        return
    if all_prefixes:
        workdir.destroy()
        return
    name = next(
        name for name, candidate in workdir.prefixes.items() if candidate is prefix
    )
    workdir.destroy([name])


class LibvirtUnreachable(LagoUserException):
    """``destroy`` refused: the environment's VMs may still run."""


def _check_libvirt(prefixes: list[Prefix], force: bool) -> None:
    """Refuse to forget VMs and networks that may still run, unless forced."""
    from lago.providers.libvirt.utils import configured_connection, net_libvirt_name

    try:
        configured_connection("destroy")
        return
    except LagoException as err:
        reason = str(err)
    if not force:
        raise LibvirtUnreachable(
            f"{reason}; nothing was destroyed, as the VMs and networks may still run",
            hint="start libvirt again, or add --force to delete the prefix anyway",
        )
    for prefix in prefixes:
        try:
            env = prefix.virt_env
            uuid = prefix.uuid
            left = [f"{uuid[:8]}-{name}" for name in env.get_vms()] + [
                net_libvirt_name(uuid, name) for name in env.get_nets()
            ]
        except Exception:  # a half-made prefix: say what we can
            left = []
        LOGGER.warning(
            "libvirt is unreachable: whatever of %s still runs there is left "
            "behind%s; `lago cleanup --orphans` removes it later",
            prefix.paths.prefix,
            f" ({', '.join(left)})" if left else "",
        )
