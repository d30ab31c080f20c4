"""The Python SDK: the same environments as the CLI, from Python.

>>> from lago import sdk
>>> env = sdk.init('/tmp/LagoInitFile', workdir='/tmp/env', logfile='/tmp/lago.log')
>>> env.start()
>>> env.get_vms()['vm01'].ssh(['hostname'])
>>> env.destroy()
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import IO, Any

from lago.config import config as lago_config
from lago.log_utils import get_default_log_formatter
from lago.sdk_utils import SDKWrapper, setup_sdk_logging
from lago.workdir import Workdir


def add_stream_logger(level: int = logging.DEBUG, name: str | None = None) -> None:
    """Print Lago's log records (file-log format) on stderr."""
    logger = logging.getLogger(name)
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(get_default_log_formatter())
    logger.addHandler(handler)


class SDK:
    """One environment: a workdir and its current prefix.

    Besides :meth:`destroy` and the Ansible helpers, only the prefix methods
    marked for the SDK are reachable (``start``, ``stop``, ``get_vms``...).
    """

    def __init__(self, workdir: Workdir, prefix: Any) -> None:
        self._workdir = workdir
        self._prefix = prefix
        self._pprefix = SDKWrapper(prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pprefix, name)

    def __dir__(self) -> list[str]:
        own = ["destroy", "ansible_inventory", "ansible_inventory_temp_file"]
        return sorted(own + dir(self._pprefix))

    def destroy(self) -> None:
        """Stop everything and remove the whole workdir."""
        self._workdir.destroy()

    def ansible_inventory(self, keys: list[str] | None = None) -> str:
        from lago.lago_ansible import LagoAnsible

        return LagoAnsible(self._prefix).get_inventory_str(keys=keys)

    @contextlib.contextmanager
    def ansible_inventory_temp_file(
        self, keys: list[str] | None = None
    ) -> Iterator[IO[str]]:
        from lago.lago_ansible import LagoAnsible

        with LagoAnsible(self._prefix).get_inventory_temp_file(keys=keys) as inventory:
            yield inventory


def init(
    config: str | None = None,
    workdir: str | None = None,
    logfile: str | None = None,
    loglevel: int = logging.INFO,
    **kwargs: Any,
) -> SDK:
    """Create an environment from an init file and return its :class:`SDK`."""
    from lago.verbs.init import do_init

    setup_sdk_logging(logfile, loglevel)
    defaults = dict(lago_config.get_section("init") or {})
    defaults.update(kwargs)
    defaults.setdefault("prefix_name", "default")
    workdir = os.path.abspath(workdir or ".lago")
    work = do_init(workdir=workdir, virt_config=config, **defaults)
    return SDK(work, work.get_prefix("current"))


def load_env(
    workdir: str, logfile: str | None = None, loglevel: int = logging.INFO
) -> SDK:
    """The :class:`SDK` of an existing workdir's current prefix."""
    setup_sdk_logging(logfile, loglevel)
    work = Workdir(os.path.abspath(workdir))
    work.load()
    return SDK(work, work.get_prefix("current"))
