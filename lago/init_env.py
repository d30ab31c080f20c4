"""The ``init`` workflow: an init file becomes a prefix in a workdir.

Shared by the ``lago init`` verb and :func:`lago.sdk.init`, which only
differ in what they do once the prefix exists (the CLI exports the paths to
``os.environ`` and logs to the prefix's ``lago.log``; the SDK logs per
environment). That difference is the ``on_prefix`` callback: this module
writes no environment variable and installs no log handler.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from lago import env_host
from lago.errors import LagoUserException
from lago.initfile import InitFile, load_init_file
from lago.log_utils import LogTask
from lago.network_plan import check_networks
from lago.prefix import Prefix
from lago.rollback import rollback_task
from lago.spec_data import deepcopy
from lago.template_source import TemplateOptions
from lago.workdir import (
    LagoPrefixAlreadyExistsError,
    Workdir,
    WorkdirError,
    check_prefix_name,
)

LOGGER = logging.getLogger(__name__)

#: Called once the prefix directory exists, before anything is populated.
OnPrefix = Callable[[Prefix, Workdir], None]


def prefix_name_for(prefix_name: str | None) -> str:
    """The name a new prefix gets: ``current`` is an alias, not a name."""
    return "default" if prefix_name in (None, "current") else prefix_name


def load_checked(init_path: str) -> InitFile:
    """Load the init file and run every check that needs no daemon.

    Done before anything is created, so that a bad file changes nothing.
    """
    init_file = load_init_file(init_path)
    check_networks(
        deepcopy(init_file.domains), deepcopy(init_file.nets), source=init_path
    )
    return init_file


def _rollback(workdir: Workdir, prefix_name: str, created_workdir: bool) -> None:
    try:
        _undo_prefix(workdir, prefix_name, created_workdir)
    except OSError as err:
        # the caller reports the error that caused the rollback, not this one
        LOGGER.warning("Could not remove all of %s: %s", workdir.path, err)


def _undo_prefix(workdir: Workdir, prefix_name: str, created_workdir: bool) -> None:
    prefix_dir = workdir.join(prefix_name)
    if os.path.isdir(prefix_dir):
        try:
            workdir.prefixes[prefix_name].destroy()
        except Exception:
            LOGGER.debug("destroying the half-made prefix failed", exc_info=True)
        shutil.rmtree(prefix_dir, ignore_errors=True)
    workdir.remove_prefix(prefix_name)
    if created_workdir and os.path.isdir(workdir.path) and not os.listdir(workdir.path):
        os.rmdir(workdir.path)


class WorkdirUnreachable(LagoUserException):
    """The VMs of the workdir could not start: qemu cannot reach it."""


def check_qemu_reaches(workdir_path: str) -> None:
    """Refuse, before anything is made, a workdir the local qemu user cannot
    enter: ``start`` would fail later with a libvirt permission error."""
    from lago.config import config
    from lago.doctor import qemu_reach_problem

    if str(config.get("libvirt_url") or "") != "qemu:///system":
        return  # another host or a session daemon: its qemu user is not ours to check
    problem = qemu_reach_problem(Path(workdir_path))
    if problem:
        raise WorkdirUnreachable(
            problem[0].upper() + problem[1:],
            hint="chmod o+x the directory named, or init the workdir elsewhere",
        )


def init_environment(
    init_file: InitFile,
    workdir_path: str,
    prefix_name: str | None = None,
    templates: TemplateOptions | None = None,
    *,
    do_bootstrap: bool = True,
    do_build: bool = True,
    set_current: bool = False,
    on_prefix: OnPrefix | None = None,
) -> Workdir:
    """Create prefix ``prefix_name`` of the workdir at ``workdir_path``.

    The workdir is created if needed. On any failure the half-made prefix
    is destroyed (its leases released, its directory removed) and a workdir
    this call created is removed again; the error is re-raised.
    """
    name = prefix_name_for(prefix_name)
    check_prefix_name(name)
    # the init file's host section names where the environment lives
    env_host.apply(init_file.host)
    check_qemu_reaches(workdir_path)
    source = (templates or TemplateOptions.resolve()).source()
    work = Workdir(workdir_path)
    created_workdir = not os.path.exists(workdir_path)
    existing = Workdir.is_workdir(workdir_path)
    if existing:
        work.load()
    if os.path.lexists(work.join(name)):
        # refused before the rollback below could touch what is there
        if not existing:
            raise WorkdirError(
                f"{work.join(name)} exists but {work.path} is not a workdir "
                "(no 'current' link): an interrupted init left it, or it is not Lago's",
                hint=f"remove {work.join(name)} by hand, or init elsewhere",
            )
        raise LagoPrefixAlreadyExistsError(name, work.path)
    try:
        with LogTask("Initialize and populate prefix"):
            prefix = work.add_prefix(name) if existing else work.initialize(name)
            env_host.record(prefix.paths.prefix_path())
            if on_prefix is not None:
                on_prefix(prefix, work)
            prefix.virt_conf(init_file, source, None, do_bootstrap, do_build)
    except BaseException:
        # outside the failed task, so that its steps log as a rollback
        with rollback_task("Initialize and populate prefix"):
            _rollback(work, name, created_workdir)
        raise
    if existing and set_current:
        work.set_current(name)
    return work
