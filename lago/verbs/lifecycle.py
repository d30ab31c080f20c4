"""Verbs that change an environment's state: start, stop, shutdown, destroy, cleanup."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

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
@in_prefix()
def do_start(
    prefix: Prefix,
    vm_names: list[str] | None = None,
    wait_for_ssh: bool = False,
    **kwargs: Any,
) -> None:
    prefix.start(vm_names=vm_names or None)
    if wait_for_ssh:
        prefix.wait_for_ssh(vm_names or None)


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
@in_prefix()
def do_destroy(
    prefix: Prefix,
    workdir: Workdir | None,
    yes: bool = False,
    all_prefixes: bool = False,
    **kwargs: Any,
) -> None:
    if all_prefixes and workdir is not None:
        target = f"all the prefixes under {workdir.path}"
    else:
        target = prefix.paths.prefix_path
    if not yes and not _confirm(target):
        LOGGER.info("Aborting on user input")
        return
    if workdir is None:
        if os.path.islink(prefix.paths.prefix_path):
            os.unlink(prefix.paths.prefix_path)
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
