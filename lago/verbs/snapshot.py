"""Verbs that freeze and restore the disks of an environment: snapshot, revert."""

from __future__ import annotations

import sys
from typing import Any

from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.plugins.output import OutFormatPlugin
from lago.prefix import Prefix
from lago.snapshots import SnapshotError
from lago.verbs._context import in_prefix


@cli_plugin(help="Snapshot the disks of every VM, or list the snapshots")
@cli_plugin_add_argument(
    "-l", "--list", action="store_true", dest="list_only",
    help="List the snapshots of each VM",
)  # fmt: skip
@cli_plugin_add_argument(
    "snapshot_name", nargs="?", metavar="NAME", help="Name of the new snapshot"
)
@in_prefix()
def do_snapshot(
    prefix: Prefix,
    list_only: bool,
    snapshot_name: str | None,
    out_format: OutFormatPlugin,
    **kwargs: Any,
) -> None:
    if list_only:
        sys.stdout.write(out_format.format(prefix.get_snapshots()) + "\n")
    elif snapshot_name:
        prefix.create_snapshots(snapshot_name)
    else:
        raise SnapshotError("No snapshot name provided")


@cli_plugin(help="Bring every VM back to a snapshot")
@cli_plugin_add_argument("snapshot_name", metavar="NAME", help="Snapshot to revert to")
@in_prefix()
def do_revert(prefix: Prefix, snapshot_name: str, **kwargs: Any) -> None:
    prefix.revert_snapshots(snapshot_name)
