"""Running the ``deploy-scripts`` of the VMs (``lago deploy``).

``init`` copied each VM's scripts into ``<prefix>/scripts/`` and saved them
in the VM's metadata as ``$LAGO_PREFIX_PATH/scripts/<name>``. Each script
runs on its VM as ``bash -s`` with the script on stdin, in order; the first
failure stops that VM's scripts and fails the deploy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from lago.errors import LagoException
from lago.log_utils import LogTask
from lago.plugins.vm import expand_path

LOGGER = logging.getLogger(__name__)

#: The metadata keys holding a VM's scripts (the second is the old name).
SCRIPT_KEYS = ("deploy-scripts", "ovirt-scripts")
#: How much of a failed script's stderr goes into the one-line error.
STDERR_IN_MESSAGE = 400


class LagoDeployError(LagoException):
    """A deploy script is missing or failed on its VM."""

    __module__ = "lago.prefix"


def scripts_of(metadata: Mapping[str, Any]) -> list[str]:
    """The deploy scripts saved in a VM's metadata, as saved."""
    for key in SCRIPT_KEYS:
        if metadata.get(key):
            return list(metadata[key])
    return []


def expanded_scripts(vm_name: str, scripts: list[str], prefix_path: str) -> list[str]:
    """A VM's saved scripts as host paths; a missing one is a LagoDeployError."""
    paths = [expand_path(script, prefix_path) for script in scripts]
    for path in paths:
        if not os.path.isfile(path):
            raise LagoDeployError(f"Script {path} of VM {vm_name} does not exist")
    return paths


def _summary(stderr: str) -> str:
    text = "; ".join(line.strip() for line in stderr.splitlines() if line.strip())
    if len(text) > STDERR_IN_MESSAGE:
        text = "..." + text[-STDERR_IN_MESSAGE:]
    return text


def run_scripts(host: Any, scripts: list[str]) -> None:
    """Run ``scripts`` on ``host`` in order, waiting for SSH first."""
    if not scripts:
        return
    if not host.ssh_reachable(tries=1):
        host.wait_for_ssh()
    for script in scripts:
        with LogTask(f"Run script {os.path.basename(script)}"):
            result = host.ssh_script(script, show_output=False)
            if result.code == 0:
                continue
            # the error below carries the stderr; the full output goes to the log
            LOGGER.debug("%s on %s wrote:\n%s", script, host.name(), result.out)
            LOGGER.debug("%s on %s failed:\n%s", script, host.name(), result.err)
            message = f"{script} failed with status {result.code} on {host.name()}"
            stderr = _summary(result.err)
            raise LagoDeployError(f"{message}: {stderr}" if stderr else message)
