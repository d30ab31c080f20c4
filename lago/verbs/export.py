"""The ``export`` verb: the VMs' disks and an init file that rebuilds them."""

from __future__ import annotations

import sys
from typing import Any

from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.plugins.output import OutFormatPlugin
from lago.prefix import Prefix
from lago.verbs._context import in_prefix


@cli_plugin(
    help="Export the disks of stopped VMs, with an init file that rebuilds them"
)
@cli_plugin_add_argument(
    "-n", "--vm-names", nargs="*", metavar="VM",
    help="VMs to export (default: all but those marked skip-export)",
)  # fmt: skip
@cli_plugin_add_argument(
    "-s", "--standalone", action="store_true",
    help="Export template-based disks as full images, without their template",
)  # fmt: skip
@cli_plugin_add_argument(
    "-c", "--compress", action="store_true",
    help="Compress each exported image with xz (the .xz replaces the image)",
)  # fmt: skip
@cli_plugin_add_argument(
    "-d", "--dst-dir", default=".", metavar="DIR",
    help="Directory to export to, created if missing (default: the current one)",
)  # fmt: skip
@cli_plugin_add_argument(
    "--init-file-name", default="LagoInitFile",
    help="Name of the init file written beside the disks",
)  # fmt: skip
@cli_plugin_add_argument(
    "--collect-only", action="store_true",
    help="Only print the paths of the disks that would be exported",
)  # fmt: skip
@cli_plugin_add_argument(
    "--without-threads", action="store_true",
    help="Export one disk after the other",
)  # fmt: skip
@in_prefix()
def do_export(  # noqa: PLR0917 - one keyword per option
    prefix: Prefix,
    vm_names: list[str] | None = None,
    standalone: bool = False,
    dst_dir: str = ".",
    compress: bool = False,
    init_file_name: str = "LagoInitFile",
    out_format: OutFormatPlugin | None = None,
    collect_only: bool = False,
    without_threads: bool = False,
    **kwargs: Any,
) -> None:
    output = prefix.export_vms(
        vm_names or None, standalone, dst_dir, compress, init_file_name,
        out_format, collect_only, not without_threads,
    )  # fmt: skip
    if collect_only and out_format is not None:
        sys.stdout.write(out_format.format(output) + "\n")
