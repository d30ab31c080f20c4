"""The ``lago`` command line: global options, one sub-command per CLI plugin.

Only this module reads ``argv``, prints errors and chooses the exit code.
Verbs are :mod:`lago.plugins.cli` plugins, found through the
``lago.plugins.cli`` entry points, built-in ones included.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import lago
from lago import completion, defaults, env_host, log_utils
from lago.config import config
from lago.errors import LagoException
from lago.plugins import PLUGIN_ENTRY_POINTS, load_plugins

LOGGER = logging.getLogger(__name__)


_D = defaults.LAGO


class _Parser(argparse.ArgumentParser):
    """Argument errors on one line (argparse adds the usage otherwise)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_global_options(
    parser: argparse.ArgumentParser, out_formats: Sequence[str]
) -> None:
    add = parser.add_argument
    add("-l", "--loglevel", default=_D["loglevel"], choices=["info", "debug", "error", "warning"],
        help="Log level to use for the terminal output")  # fmt: skip
    add("--logdepth", default=_D["logdepth"], type=int,
        help="Depth of nested tasks to show; a negative number shows them all")  # fmt: skip
    add("--version", action="version", version=f"lago {lago.__version__}")
    add("--out-format", "-f", default="default", choices=sorted(out_formats),
        help="Format of the output of verbs that print information")  # fmt: skip
    add("--prefix-path", "-p", default=None,
        help="Path of the prefix to use (deprecated: use --workdir-path and --prefix-name)")  # fmt: skip
    add("--workdir-path", "-w", default=None,
        help="Path of the workdir to use; by default it is looked up from the current directory")  # fmt: skip
    add("--prefix-name", "-P", default=_D["prefix_name"],
        help="Name of the prefix to use inside the workdir")  # fmt: skip
    add("--ssh-user", default=_D["ssh_user"], help="User to log into the VMs with")
    add(
        "--ssh-password",
        default=_D["ssh_password"],
        help="Password to log into the VMs with",
    )
    add(
        "--ssh-tries",
        default=_D["ssh_tries"],
        type=int,
        help="Attempts to make when connecting to a VM",
    )
    add(
        "--ssh-timeout",
        default=_D["ssh_timeout"],
        type=int,
        help="Seconds to wait for each ssh attempt",
    )
    add(
        "--libvirt_url",
        default=_D["libvirt_url"],
        help="URI of the libvirt daemon to use",
    )
    add(
        "--libvirt-user",
        dest="libvirt_username",
        default=None,
        help="User for libvirt authentication",
    )
    add("--libvirt-password", default=None, help="Password for libvirt authentication")
    add(
        "--default_vm_type",
        default=_D["default_vm_type"],
        help="VM plugin for VMs that name none",
    )
    add("--default_vm_provider", default=_D["default_vm_provider"],
        help="VM provider plugin for VMs that name none")  # fmt: skip
    add("--default_root_password", dest="root_password", default=None,
        help="Root password of the VMs, when their init file names none")  # fmt: skip
    add(
        "--lease_dir",
        default=_D["lease_dir"],
        help="Directory of the subnet leases",
    )
    add(
        "--reposync-dir",
        default=_D["reposync_dir"],
        help="Unused; kept for compatibility",
    )
    add("--ignore-warnings", action="store_true", help="Do not show Python warnings")
    add("--log-format", default="text", choices=["text", "json"],
        help="Terminal log as coloured task tree (text) or JSON lines (json)")  # fmt: skip


def create_parser(
    cli_plugins: dict[str, Any], out_plugins: dict[str, Any]
) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lago",
        description="Command line interface to Lago: multi-VM environments on libvirt",
    )
    _add_global_options(parser, list(out_plugins))
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name in sorted(cli_plugins):
        try:
            _add_verb(verbs, name, cli_plugins[name])
        except Exception as err:
            # a broken verb plugin must not take the whole CLI down
            kind = type(err).__name__
            LOGGER.warning("Failed to add verb %s: %s: %s", name, kind, err)
            verbs._name_parser_map.pop(name, None)
            actions = verbs._choices_actions
            actions[:] = [action for action in actions if action.dest != name]
    return parser


def _add_verb(verbs: Any, name: str, plugin: Any) -> None:
    init_args = dict(plugin.init_args)
    if "help" in init_args and "description" not in init_args:
        init_args["description"] = init_args["help"]
    sub = verbs.add_parser(name, **init_args)
    plugin.populate_parser(sub)
    sub.set_defaults(func=plugin.do_run)


def setup_logging(
    loglevel: str, logdepth: int, ignore_warnings: bool, log_format: str = "text"
) -> logging.Handler:
    from lago.log_json import JSONTaskHandler

    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for old in list(root.handlers):
        if isinstance(old, log_utils.TaskHandler | JSONTaskHandler):
            root.removeHandler(old)
    level = logging.getLevelName(loglevel.upper())
    handler: logging.Handler
    if log_format == "json":
        handler = JSONTaskHandler(stream=sys.stderr, level=level)
    else:
        handler = log_utils.TaskHandler(
            level=level, task_tree_depth=logdepth, stream=sys.stderr
        )
    root.addHandler(handler)
    log_utils.hide_paramiko_logs()
    log_utils.hide_stevedore_logs()
    logging.captureWarnings(True)
    if ignore_warnings:
        logging.getLogger("py.warnings").setLevel(logging.ERROR)
    return handler


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, exits ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def exit_handler(signum: int, frame: Any) -> None:
    """Exit with ``128 + signum`` on SIGTERM/SIGHUP."""
    del frame
    # SystemExit unwinds the stack, so every rollback on the way runs
    raise Terminated(signum)


_exit_on_signal = exit_handler


def __getattr__(name: str) -> Any:
    # the original's do_<verb> names, loaded only when asked for so that
    # the command line starts without importing every verb
    if name.startswith("do_"):
        from lago.verbs import compat

        if name in compat.__all__:
            return getattr(compat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _red(text: str) -> str:
    return log_utils.ColorFormatter.colored("red", text)


def _json_log() -> Any:
    from lago.log_json import JSONTaskHandler

    return next(
        (h for h in logging.getLogger().handlers if isinstance(h, JSONTaskHandler)),
        None,
    )


def _report(err: BaseException, debug: bool) -> int:
    json_log = _json_log()
    if json_log is not None:
        # machines reading the JSON lines get the failure as one more line
        code = err.exit_code if isinstance(err, LagoException) else 1
        LOGGER.debug("error", exc_info=err)
        json_log.write_error(err, code)
        return code
    if isinstance(err, LagoException):
        message = str(err).strip() or type(err).__name__
        hint = f"\n{err.hint}" if err.hint else ""
        LOGGER.debug("user error", exc_info=err)
        sys.stderr.write(_red(message + hint) + "\n")
        return err.exit_code
    LOGGER.debug("unexpected error", exc_info=err)
    summary = f"{type(err).__name__}: {err}".strip().splitlines()[0]
    sys.stderr.write(_red(f"Error occured, aborting: {summary}") + "\n")
    handlers = logging.getLogger().handlers
    if debug and not any(isinstance(h, log_utils.TaskHandler) for h in handlers):
        # with a task handler, the debug record above already showed the traceback
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    return 1


def _load_plugins() -> tuple[dict[str, Any], dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return load_plugins(PLUGIN_ENTRY_POINTS["cli"]), load_plugins(
            PLUGIN_ENTRY_POINTS["out"]
        )


def _wants_debug(argv: Sequence[str]) -> bool:
    """``--loglevel debug`` asked for, known before argparse has run (errors
    while loading the config or plugins happen first)."""
    for index, arg in enumerate(argv):
        if arg in ("-l", "--loglevel") and argv[index + 1 : index + 2] == ["debug"]:
            return True
        if arg in ("-ldebug", "--loglevel=debug"):
            return True
    return False


def _exit_now(code: int) -> NoReturn:
    """End an interrupted run once its rollbacks are done, skipping the
    interpreter's teardown: there, libvirt connections collected while
    paramiko's daemon threads hold the import lock print tracebacks or hang."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(argv)
    # before argparse, so that a broken config or plugin is reported plainly
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        config.load()
        cli_plugins, out_plugins = _load_plugins()
        parser = create_parser(cli_plugins, out_plugins)
        config.update_parser(parser)
    except LagoException as err:
        sys.exit(_report(err, debug))
    completion.autocomplete(parser)  # exits here when the shell asks
    args = parser.parse_args(argv)
    env_host.pin_explicit(vars(args))
    config.update_args(args)
    setup_logging(args.loglevel, args.logdepth, args.ignore_warnings, args.log_format)
    if not getattr(args, "verb", None):
        parser.print_help()
        sys.exit(1)
    args.out_format = out_plugins[args.out_format]
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    try:
        args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write(_red("Interrupted") + "\n")
        _exit_now(130)
    except Terminated as err:
        name = signal.Signals(err.signum).name
        sys.stderr.write(_red(f"Terminated by {name}") + "\n")
        _exit_now(128 + err.signum)
    except Exception as err:
        sys.exit(_report(err, args.loglevel == "debug"))
    return 0


if __name__ == "__main__":
    main()
