"""Where ``lago collect`` puts the artifacts of the VMs.

``DIR/<vm>/<guest path with "/" turned to "_">``; a DIR left by an earlier
collect is kept, renamed ``DIR.<YYYY-MM-DD_HH:MM:SS>``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from lago.errors import LagoUserException
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel

LOGGER = logging.getLogger(__name__)


class CollectOutputError(LagoUserException):
    """The output directory of a collect cannot be made."""


def prepare_output_dir(output_dir: str) -> None:
    """Make ``output_dir``, moving an existing one aside first."""
    try:
        if os.path.lexists(output_dir):
            stamp = time.strftime("%Y-%m-%d_%H:%M:%S")
            moved = f"{output_dir.rstrip('/')}.{stamp}"
            os.rename(output_dir, moved)
            LOGGER.info("Moved the existing %s to %s", output_dir, moved)
        os.makedirs(output_dir)
    except OSError as err:
        raise CollectOutputError(
            f"Cannot create the output directory {output_dir}: {err.strerror}"
        ) from err


def collect_from_vms(vms: Iterable[Any], output_dir: str, ignore_nopath: bool) -> None:
    """Each VM's artifacts into ``output_dir/<vm>``, VMs in parallel."""

    def collect_one(vm: Any) -> None:
        with LogTask(vm.name()):
            vm.collect_artifacts(os.path.join(output_dir, vm.name()), ignore_nopath)

    invoke_in_parallel(collect_one, list(vms))
