"""Verbs that reach into the VMs: shell, console, copy-to-vm, copy-from-vm."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from lago.errors import LagoLookupError
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.plugins.vm import LagoVMNotRunningError
from lago.prefix import Prefix
from lago.verbs._context import in_prefix

LOGGER = logging.getLogger(__name__)


def _find_vm(prefix: Prefix, host: str, exact: bool = False) -> Any:
    vms = prefix.virt_env.get_vms()
    if host in vms:
        return vms[host]
    if not exact:
        for name, vm in vms.items():
            if name.endswith(host):
                return vm
    raise LagoLookupError(
        f"Unable to find VM {host}", hint=f"Available VMs: {', '.join(vms)}"
    )


def _running_vm(prefix: Prefix, host: str, exact: bool = False) -> Any:
    vm = _find_vm(prefix, host, exact)
    state = vm.state()
    if state != "running":
        raise LagoVMNotRunningError(vm.name(), state)
    return vm


@cli_plugin(
    help="Open a shell on a VM, or run a command there",
    add_help=False,
    prefix_chars="\0",
)
@cli_plugin_add_argument("host", metavar="HOST", help="VM name (or the end of it)")
@cli_plugin_add_argument(
    "args", nargs="*", metavar="ARGS", help="Command to run (default: a login shell)"
)
@in_prefix()
def do_shell(
    prefix: Prefix, host: str, args: list[str] | None = None, **kwargs: Any
) -> None:
    vm = _running_vm(prefix, host)
    vm.wait_for_ssh()
    args = list(args or [])
    if not args:
        result = vm.interactive_ssh(["bash"])
    elif len(args) == 1 and os.path.isfile(args[0]):
        result = vm.ssh_script(args[0])
    else:
        if args[0] == "-c":
            args = args[1:]
        if sys.stdin.isatty():
            result = vm.interactive_ssh(args)
        else:
            result = vm.ssh(args, propagate_fail=False)
    sys.exit(result.code)


@cli_plugin(help="Open the serial console of a VM")
@cli_plugin_add_argument("host", metavar="HOST", help="VM name")
@in_prefix()
def do_console(prefix: Prefix, host: str, **kwargs: Any) -> None:
    vm = _running_vm(prefix, host, exact=True)
    result = vm.interactive_console()
    sys.exit(result.code)


@cli_plugin(help="Copy a file or directory from the host to a VM")
@cli_plugin_add_argument("host", metavar="HOST", help="VM name")
@cli_plugin_add_argument("local_path", metavar="LOCAL_PATH", help="Path on the host")
@cli_plugin_add_argument("remote_path", metavar="REMOTE_PATH", help="Path on the VM")
@in_prefix()
def do_copy_to_vm(
    prefix: Prefix, host: str, remote_path: str, local_path: str, **kwargs: Any
) -> None:
    vm = _running_vm(prefix, host, exact=True)
    vm.wait_for_ssh()
    vm.copy_to(local_path, remote_path)


@cli_plugin(help="Copy a file or directory from a VM to the host")
@cli_plugin_add_argument("host", metavar="HOST", help="VM name")
@cli_plugin_add_argument("remote_path", metavar="REMOTE_PATH", help="Path on the VM")
@cli_plugin_add_argument("local_path", metavar="LOCAL_PATH", help="Path on the host")
@in_prefix()
def do_copy_from_vm(
    prefix: Prefix, host: str, remote_path: str, local_path: str, **kwargs: Any
) -> None:
    vm = _running_vm(prefix, host, exact=True)
    vm.wait_for_ssh()
    vm.copy_from(remote_path, local_path)
