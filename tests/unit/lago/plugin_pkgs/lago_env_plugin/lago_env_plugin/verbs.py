"""``lago envcheck``: status-like and collect-like work through the
plugin's own classes, reported as JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.utils import in_prefix
from lago_env_plugin.env import EnvPrefix, EnvWorkdir


@cli_plugin(
    help="Report the environment through the plugin's classes; collect artifacts"
)
@cli_plugin_add_argument("--output", required=True, help="Where to collect to")
@in_prefix(prefix_class=EnvPrefix, workdir_class=EnvWorkdir)
def do_envcheck(prefix: Any, parent_workdir: Any, output: str, **kwargs: Any) -> None:
    env = prefix.virt_env
    report = {
        "prefix_class": type(prefix).__name__,
        "paths_class": type(prefix.paths).__name__,
        "prefix_attr": prefix._prefix,
        "paths_prefix": prefix._paths.prefix,
        "workdir_class": type(parent_workdir).__name__,
        "workdir_prefixes": sorted(parent_workdir.prefixes),
        "virt_env_class": type(env).__name__,
        "loaded_by_hook": prefix.loaded_by_hook,
        "created_by_hook": env.created_by_hook,
        "uuid": env.uuid,
        "vms": {
            name: {
                "class": type(vm).__name__,
                "state": vm.state(),
                "running": vm.running(),
                "ip": vm.ip(),
            }
            for name, vm in env._vms.items()
        },
        "nets": sorted(env._nets),
    }
    prefix.collect_artifacts(output, ignore_nopath=False)
    with open(prefix.paths.plugin_file(), "w") as stream:
        json.dump(report, stream)
    sys.stdout.write(json.dumps(report) + "\n")
