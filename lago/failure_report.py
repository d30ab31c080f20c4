"""What ``start --collect-on-failure DIR`` gathers when a start fails.

The prefix's logs (``lago.log`` and each VM's serial console log) and each
VM's ``artifacts``, so that a CI job keeps the evidence of a VM that did not
come up. Gathering never hides the failure it documents: what cannot be
collected is logged and skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from lago.collect import prepare_output_dir
from lago.log_utils import LogTask

LOGGER = logging.getLogger(__name__)


def collect_on_failure(prefix: Any, output_dir: str) -> None:
    """Copy the logs and artifacts of ``prefix``'s VMs into ``output_dir``."""
    with LogTask(
        f"Collect the logs and artifacts of the failed start into {output_dir}"
    ):
        prepare_output_dir(output_dir)
        logs = Path(prefix.paths.logs())
        if logs.is_dir():
            shutil.copytree(logs, Path(output_dir, "logs"))
        for name, vm in prefix.virt_env.get_vms().items():
            try:
                vm.collect_artifacts(os.path.join(output_dir, name), ignore_nopath=True)
            except Exception as err:  # evidence is best effort
                LOGGER.warning("Could not collect the artifacts of %s: %s", name, err)
