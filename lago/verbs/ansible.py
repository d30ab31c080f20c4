"""``lago ansible_hosts``: an Ansible inventory of the environment."""

from __future__ import annotations

import sys
from typing import Any

from lago.lago_ansible import DEFAULT_KEYS, LagoAnsible
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.plugins.output import DefaultOutFormatPlugin, OutFormatPlugin
from lago.prefix import Prefix
from lago.verbs._context import in_prefix


@cli_plugin(help="Print an Ansible inventory of the VMs, grouped by spec keys")
@cli_plugin_add_argument(
    "-k", "--keys", nargs="*", default=list(DEFAULT_KEYS),
    help="Paths of VM spec keys whose values become groups",
)  # fmt: skip
@in_prefix()
def do_ansible_hosts(
    prefix: Prefix,
    keys: list[str] | None = None,
    out_format: OutFormatPlugin | None = None,
    **kwargs: Any,
) -> None:
    if isinstance(keys, str):  # a value from lago.conf: "['a', 'b']" or "a b"
        keys = [key.strip(" '\"") for key in keys.strip("[]").replace(",", " ").split()]
    inventory = LagoAnsible(prefix)
    if out_format is None or isinstance(out_format, DefaultOutFormatPlugin):
        # the default output is the INI inventory Ansible reads, as the original
        sys.stdout.write(inventory.get_inventory_str(keys or None) + "\n")
    else:
        sys.stdout.write(
            out_format.format(inventory.get_inventory(keys or None)) + "\n"
        )
