"""The Python SDK: the same environments as the CLI, from Python.

>>> from lago import sdk
>>> env = sdk.init('/tmp/LagoInitFile', workdir='/tmp/env', logfile='/tmp/lago.log')
>>> env.start()
>>> env.get_vms()['vm01'].ssh(['hostname'])
>>> env.destroy()
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator, Sequence
from typing import IO, Any

from lago import env_host
from lago.init_env import init_environment, load_checked
from lago.log_utils import get_default_log_formatter
from lago.prefix import Prefix
from lago.sdk_utils import SDKWrapper, sdk_file_handler, sdk_root_logging
from lago.template_source import TemplateOptions
from lago.workdir import Workdir

_TEMPLATE_KEYS = {
    "template_repo_path": "repo_path",
    "template_store": "store",
    "template_repo_name": "repo_name",
    "template_repos": "repos",
}


def add_stream_logger(level: int = logging.DEBUG, name: str | None = None) -> None:
    """Print Lago's log records (file-log format) on stderr."""
    logger = logging.getLogger(name)
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(get_default_log_formatter())
    logger.addHandler(handler)


@contextlib.contextmanager
def _exported_paths(prefix: Prefix, workdir_path: str) -> Iterator[None]:
    """``LAGO_PREFIX_PATH``/``LAGO_WORKDIR_PATH`` for the block, then restored.

    Deploy scripts and plugins run as subprocesses read them, as under the
    CLI; an SDK call of one environment must not leave them to the next.
    """
    values = {
        "LAGO_PREFIX_PATH": os.path.realpath(prefix.paths.prefix),
        "LAGO_WORKDIR_PATH": workdir_path,
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def prefix_context(prefix: Prefix, workdir_path: str) -> Iterator[None]:
    """The prefix's ``lago.log`` and paths, only while the block runs.

    One process may drive several environments: each gets the records of
    its own calls, and no handler or variable outlives the call that set it.
    """
    with prefix_logging(prefix), _exported_paths(prefix, workdir_path):
        yield


@contextlib.contextmanager
def prefix_logging(prefix: Prefix) -> Iterator[None]:
    """Send records to the prefix's ``lago.log`` only while the block runs."""
    logdir = prefix.paths.logs()
    os.makedirs(logdir, exist_ok=True)
    handler = logging.FileHandler(os.path.join(logdir, "lago.log"))
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(get_default_log_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def attached(handlers: Sequence[logging.Handler]) -> Iterator[None]:
    """The environment's own ``logfile`` handlers on the root logger, only
    while the block runs: two environments of one process each log to
    their own file."""
    root = logging.getLogger()
    added = [handler for handler in handlers if handler not in root.handlers]
    for handler in added:
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in added:
            root.removeHandler(handler)


class SDK:
    """One environment: a workdir and its current prefix.

    Besides :meth:`destroy` and the Ansible helpers, only the prefix methods
    marked for the SDK are reachable (``start``, ``stop``, ``get_vms``...).
    Each call logs to this environment's ``lago.log`` and sees its paths in
    ``LAGO_PREFIX_PATH``/``LAGO_WORKDIR_PATH``; both are undone after it.
    """

    def __init__(
        self,
        workdir: Workdir,
        prefix: Any,
        log_handlers: Sequence[logging.Handler] = (),
    ) -> None:
        self._workdir = workdir
        self._prefix = prefix
        self._pprefix = SDKWrapper(prefix)
        # the environment's own logfile: attached during its calls only, so
        # two environments of one process each log to their own file
        self._log_handlers = list(log_handlers)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._pprefix, name)

        @functools.wraps(attr)
        def logged(*args: Any, **kwargs: Any) -> Any:
            with (
                attached(self._log_handlers),
                prefix_context(self._prefix, self._workdir.path),
            ):
                return attr(*args, **kwargs)

        return logged

    def __dir__(self) -> list[str]:
        own = ["destroy", "ansible_inventory", "ansible_inventory_temp_file"]
        return sorted(own + dir(self._pprefix))

    def destroy(self) -> None:
        """Stop everything and remove the whole workdir."""
        # the log file goes with the workdir: nothing to log into afterwards
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
    """Create an environment from an init file and return its :class:`SDK`.

    ``kwargs`` may name the template settings of ``lago init``
    (``template_repo_path``, ``template_store``, ``template_repo_name``,
    ``template_repos``), ``prefix_name``, ``skip_bootstrap``, ``skip_build``
    and ``set_current``. Unlike the CLI, the environment variables and the
    prefix's log file are set only during this call and each later call of
    the returned :class:`SDK`.
    """
    handlers = _sdk_logging(logfile, loglevel)
    init_path = os.path.abspath(config or "LagoInitFile")
    init_file = load_checked(init_path)
    templates = TemplateOptions.resolve(
        **{field: kwargs.get(key) for key, field in _TEMPLATE_KEYS.items()}
    )
    with contextlib.ExitStack() as logs, attached(handlers):
        work = init_environment(
            init_file,
            os.path.abspath(workdir or ".lago"),
            kwargs.get("prefix_name") or "default",
            templates,
            do_bootstrap=not kwargs.get("skip_bootstrap", False),
            do_build=not kwargs.get("skip_build", False),
            set_current=bool(kwargs.get("set_current", False)),
            on_prefix=lambda prefix, work: logs.enter_context(
                prefix_context(prefix, work.path)
            ),
        )
    return SDK(work, work.get_prefix("current"), handlers)


def load_env(
    workdir: str, logfile: str | None = None, loglevel: int = logging.INFO
) -> SDK:
    """The :class:`SDK` of an existing workdir's current prefix."""
    handlers = _sdk_logging(logfile, loglevel)
    work = Workdir(os.path.abspath(workdir))
    work.load()
    prefix = work.get_prefix("current")
    env_host.restore(prefix.paths.prefix_path())
    return SDK(work, prefix, handlers)


def _sdk_logging(logfile: str | None, loglevel: int) -> list[logging.Handler]:
    """Root at DEBUG with a NullHandler, as the original set it; the
    environment's ``logfile`` handler (at ``loglevel``), to attach to its
    calls."""
    sdk_root_logging()
    return [sdk_file_handler(os.path.abspath(logfile), loglevel)] if logfile else []
