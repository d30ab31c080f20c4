"""The original's ``lago.cmd.do_<verb>`` names, as CLI plugins.

Plugins written for the original import these from :mod:`lago.cmd` and call
them, or register them as verbs: each is a :class:`CLIPluginFuncWrapper`
with the original's parameters, running the built-in verb's logic.
"""

from __future__ import annotations

from typing import Any

from lago.plugins.cli import CLIPluginFuncWrapper
from lago.verbs import (
    ansible,
    artifacts,
    export,
    generate_config,
    guest,
    info,
    init,
    lifecycle,
    snapshot,
)
from lago.verbs._context import in_prefix


def _face(verb: CLIPluginFuncWrapper, func: Any) -> CLIPluginFuncWrapper:
    """A CLI plugin with ``verb``'s arguments and help, running ``func``."""
    face = CLIPluginFuncWrapper(do_run=func, init_args=verb.init_args)
    face._parser_args = list(verb._parser_args)
    return face


def _logic(verb: CLIPluginFuncWrapper) -> Any:
    """The verb's function without its ``in_prefix`` wrapper."""
    run = verb._do_run
    return getattr(run, "__wrapped__", run)


@in_prefix()
def _destroy(
    prefix: Any,
    yes: bool = False,
    all_prefixes: bool = False,
    parent_workdir: Any = None,
    prefix_name: str | None = None,
    **kwargs: Any,
) -> None:
    kwargs.pop("workdir", None)
    _logic(lifecycle.do_destroy)(
        prefix, parent_workdir, yes=yes, all_prefixes=all_prefixes,
        prefix_name=prefix_name, **kwargs,
    )  # fmt: skip


def _list(workdir_path: str | None, out_format: Any, **kwargs: Any) -> None:
    info.do_list(out_format=out_format, workdir_path=workdir_path, **kwargs)


do_init = _face(init.do_init_verb, init.do_init)
do_cleanup = lifecycle.do_cleanup
do_destroy = _face(lifecycle.do_destroy, _destroy)
do_start = lifecycle.do_start
do_stop = lifecycle.do_stop
do_shutdown = lifecycle.do_shutdown
do_export = export.do_export
do_shell = guest.do_shell
do_console = guest.do_console
do_generate_ansible_hosts = ansible.do_ansible_hosts
do_status = info.do_status
do_list = _face(info.do_list, _list)
do_copy_from_vm = guest.do_copy_from_vm
do_copy_to_vm = guest.do_copy_to_vm
do_collect = artifacts.do_collect
do_deploy = artifacts.do_deploy
do_generate = generate_config.do_generate
do_set_current = info.do_set_current
do_snapshot = snapshot.do_snapshot
do_revert = snapshot.do_revert

__all__ = [name for name in dir() if name.startswith("do_")]
