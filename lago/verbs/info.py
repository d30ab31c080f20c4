"""Verbs that describe environments: status, list, set-current."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.plugins.output import OutFormatPlugin
from lago.prefix import Prefix
from lago.status import prefix_status
from lago.verbs._context import in_prefix, locate
from lago.workdir import Workdir, WorkdirError

LOGGER = logging.getLogger(__name__)


def _print(out_format: OutFormatPlugin, info: Any) -> None:
    sys.stdout.write(out_format.format(info) + "\n")


@cli_plugin(help="Show the state of the environment's VMs and networks")
@in_prefix()
def do_status(prefix: Prefix, out_format: OutFormatPlugin, **kwargs: Any) -> None:
    _print(out_format, prefix_status(prefix))
    _warn_unknown_objects(prefix)


def _warn_unknown_objects(prefix: Prefix) -> None:
    """Warn about libvirt objects named after this prefix that it does not know."""
    from lago.errors import LagoException
    from lago.providers.libvirt.orphans import unknown_objects
    from lago.providers.libvirt.utils import (
        configured_connection,
        net_libvirt_name,
        prefixed_name,
    )

    uuid = prefix.uuid
    env = prefix.virt_env
    try:
        found = unknown_objects(
            configured_connection("status"),
            uuid,
            [prefixed_name(uuid, name) for name in env.get_vms()],
            [net_libvirt_name(uuid, name) for name in env.get_nets()],
        )
    except LagoException:
        return
    for name in found:
        LOGGER.warning(
            "libvirt object %s carries this environment's uuid but is not one of "
            "its VMs or networks (`lago cleanup --orphans` lists leftovers)",
            name,
        )


@cli_plugin(help="List the prefixes of a workdir")
@cli_plugin_add_argument(
    "workdir_path_arg",
    nargs="?",
    metavar="WORKDIR_PATH",
    help="Workdir to list (default: the one found from here)",
)
def do_list(out_format: OutFormatPlugin, workdir_path: str | None = None, workdir_path_arg: str | None = None, **kwargs: Any) -> None:  # fmt: skip
    path = Workdir.resolve_workdir_path(workdir_path_arg or workdir_path or os.curdir)
    workdir = Workdir(path)
    workdir.load()
    _print(out_format, list(workdir.prefixes))


@cli_plugin(help="Make another prefix of the workdir the current one")
@cli_plugin_add_argument(
    "prefix_name_arg", metavar="PREFIX_NAME", help="Name of the prefix"
)
def do_set_current(prefix_name_arg: str, workdir_path: str | None = None, prefix_path: str | None = None, **kwargs: Any) -> None:  # fmt: skip
    ctx = locate(
        prefix_path=prefix_path, workdir_path=workdir_path, prefix_name=prefix_name_arg
    )
    if ctx.workdir is None:
        raise WorkdirError(
            "set-current needs a workdir; it cannot be used with --prefix-path"
        )
    ctx.workdir.set_current(prefix_name_arg)
