"""``lago generate-config``: print the effective configuration as INI."""

from __future__ import annotations

import sys
from typing import Any

from lago.config import config
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument


@cli_plugin(help="Print the current configuration as a lago.conf file")
@cli_plugin_add_argument(
    "--verbose", action="store_true", help="Also list options that have no value"
)
def do_generate(verbose: bool = False, **kwargs: Any) -> None:
    sys.stdout.write(config.get_ini(incl_unset=verbose))
