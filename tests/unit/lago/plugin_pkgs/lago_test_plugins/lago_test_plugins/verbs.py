"""Verbs declared through ``lago.plugins.cli`` entry points, for the CLI tests."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from lago.errors import LagoException
from lago.log_utils import LogTask, log_always
from lago.plugins.cli import CLIPlugin, cli_plugin, cli_plugin_add_argument

LOGGER = logging.getLogger(__name__)


@cli_plugin_add_argument("first", nargs="?", help="First positional")
@cli_plugin_add_argument("second", nargs="?", help="Second positional")
@cli_plugin_add_argument("--dummy-flag", action="store_true", help="A flag")
@cli_plugin_add_argument("--some-path", default="/default/path", help="Some path")
@cli_plugin_add_argument("--count", type=int, default=1, help="How many times")
@cli_plugin_add_argument("--names", nargs="*", default=["a", "b"], help="Some names")
@cli_plugin(help="Decorated test verb")
def testverb(**kwargs: Any) -> None:
    keys = ["first", "second", "dummy_flag", "some_path", "count", "names"]
    keys += ["ssh_user", "verb"]
    print(json.dumps({key: kwargs[key] for key in keys}, sort_keys=True))


class ClassVerb(CLIPlugin):
    init_args = {"help": "Test verb made from a CLIPlugin subclass"}

    def populate_parser(self, parser: Any) -> None:
        parser.add_argument("--dummy-flag", action="store_true")

    def do_run(self, args: Any) -> None:
        if args.dummy_flag:
            print("Dummy flag passed to classverb!")
        else:
            print("Dummy flag not passed to classverb!")


@cli_plugin(help="Fails with an unexpected exception")
def boom(**kwargs: Any) -> None:
    raise RuntimeError("kaboom\nsecond line")


@cli_plugin(help="Fails with a user error")
def usererror(**kwargs: Any) -> None:
    raise LagoException("Cannot use /some/file: it is broken")


@cli_plugin_add_argument("marker_dir", help="Where to write the marker files")
@cli_plugin(help="Sleeps; cleans up in a finally clause")
def sleeper(marker_dir: str, **kwargs: Any) -> None:
    markers = Path(marker_dir)
    try:
        with LogTask("Sleeping"):
            (markers / "started").write_text("started\n")
            time.sleep(60)
    finally:
        (markers / "cleanup").write_text("cleaned up\n")


@cli_plugin(help="Prints a nested dict with the chosen output format")
def show(out_format: Any, **kwargs: Any) -> None:
    print(out_format.format({"b": {"c": 1, "d": [1, 2]}, "a": "x"}))


@cli_plugin_add_argument("--fail", action="store_true", help="Log an error inside")
@cli_plugin(help="Logs nested tasks")
def tasks(fail: bool = False, **kwargs: Any) -> None:
    with LogTask("Outer"):
        LOGGER.info("outer info")
        with LogTask("Inner"):
            LOGGER.info("inner info")
            if fail:
                LOGGER.error("inner failure")
        worker = threading.Thread(target=_worker, name="worker-1")
        worker.start()
        worker.join()
        LOGGER.info(log_always("always shown"))


def _worker() -> None:
    with LogTask("In thread"):
        LOGGER.info("thread info")
