"""The ``graph`` verb: a picture of the environment's networks and VMs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lago.errors import LagoUserException
from lago.graph import format_of, render, status_to_dot
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.prefix import Prefix
from lago.status import prefix_status
from lago.verbs._context import in_prefix


@cli_plugin(
    help="Draw the environment's networks, VMs and NICs with Graphviz "
    "(SVG on standard output unless --output names a file)"
)
@cli_plugin_add_argument(
    "-o",
    "--output",
    metavar="FILE",
    default=None,
    help="File to write; its suffix (.svg, .png, .pdf or .dot) chooses the format",
)
@in_prefix(logs=False)
def do_graph(prefix: Prefix, output: str | None = None, **kwargs: Any) -> None:
    fmt = format_of(output) if output else "svg"
    if output and not Path(output).parent.resolve().is_dir():
        raise LagoUserException(f"Cannot write {output}: its directory does not exist")
    picture = render(status_to_dot(prefix_status(prefix)), fmt)
    if output:
        Path(output).write_bytes(picture)
    else:
        sys.stdout.buffer.write(picture)
        sys.stdout.flush()
