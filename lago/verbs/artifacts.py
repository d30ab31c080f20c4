"""Verbs that work with what is inside the VMs: collect and deploy."""

from __future__ import annotations

import logging
from typing import Any

from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.prefix import Prefix
from lago.verbs._context import in_prefix

LOGGER = logging.getLogger(__name__)


@cli_plugin(help="Copy each VM's artifacts (init-file key 'artifacts') to the host")
@cli_plugin_add_argument(
    "--output", required=True, metavar="DIR",
    help="Directory to copy to, as DIR/<vm>/<path with / turned to _>; "
    "an existing DIR is renamed DIR.<date_time> first",
)  # fmt: skip
@cli_plugin_add_argument(
    "--no-skip", action="store_true",
    help="Fail when an artifact path does not exist on its VM (default: skip it)",
)  # fmt: skip
@in_prefix()
def do_collect(
    prefix: Prefix, output: str, no_skip: bool = False, **kwargs: Any
) -> None:
    prefix.collect_artifacts(output, ignore_nopath=not no_skip)


@cli_plugin(help="Run each VM's deploy-scripts on it over SSH, in order")
@in_prefix()
def do_deploy(prefix: Prefix, **kwargs: Any) -> None:
    prefix.deploy()
