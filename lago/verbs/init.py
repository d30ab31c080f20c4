"""``lago init``: create a prefix from a LagoInitFile."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from lago.config import config
from lago.errors import InitFileError
from lago.initfile import load_init_file
from lago.log_utils import LogTask, setup_prefix_logging
from lago.network_plan import check_networks
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.populate import TemplateSource
from lago.utils import deepcopy
from lago.workdir import Workdir

LOGGER = logging.getLogger(__name__)


def _split_positionals(workdir: str | None, virt_config: str | None) -> tuple[str, str]:
    """One positional is the init file; two are the workdir, then the file."""
    if workdir and not virt_config:
        workdir, virt_config = None, workdir
    return (
        os.path.abspath(workdir or os.path.join(os.curdir, ".lago")),
        os.path.abspath(virt_config or os.path.join(os.curdir, "LagoInitFile")),
    )


def _rollback(workdir: Workdir, prefix_name: str, created_workdir: bool) -> None:
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


def do_init(
    workdir: str | None = None,
    virt_config: str | None = None,
    *,
    prefix_name: str = "current",
    template_repo_path: str | None = None,
    template_repo_name: str | None = None,
    template_store: str | None = None,
    template_repos: str | None = None,
    skip_bootstrap: bool = False,
    skip_build: bool = False,
    set_current: bool = False,
    bootstrap_method: str | None = None,
    **kwargs: Any,
) -> Workdir:
    workdir_path, init_path = _split_positionals(workdir, virt_config)
    if not os.path.isfile(init_path):
        raise InitFileError(f"Unable to find init file: {init_path}")
    if bootstrap_method:
        config.set("bootstrap_method", bootstrap_method, section="init")
    init_file = load_init_file(init_path)
    # the cheap checks first, so that a bad file creates nothing at all
    check_networks(
        deepcopy(init_file.domains), deepcopy(init_file.nets), source=init_path
    )
    os.environ["LAGO_INITFILE_PATH"] = os.path.dirname(init_path)
    name = "default" if prefix_name in (None, "current") else prefix_name
    templates = TemplateSource(
        repo_path=template_repo_path,
        store_path=os.path.abspath(template_store or "/var/lib/lago/store"),
        repo_name=template_repo_name,
        repos_dir=os.path.abspath(template_repos) if template_repos else None,
    )
    work = Workdir(workdir_path)
    created_workdir = not os.path.exists(workdir_path)
    existing = Workdir.is_workdir(workdir_path)
    if existing:
        work.load()
    with LogTask("Initialize and populate prefix"):
        prefix = work.add_prefix(name) if existing else work.initialize(name)
        try:
            os.environ["LAGO_PREFIX_PATH"] = prefix.paths.prefix_path
            os.environ["LAGO_WORKDIR_PATH"] = work.path
            setup_prefix_logging(prefix.paths.logs())
            prefix.virt_conf(
                init_file, templates, None, not skip_bootstrap, not skip_build
            )
        except BaseException:
            _rollback(work, name, created_workdir)
            raise
    if existing and set_current:
        work.set_current(name)
    return work


@cli_plugin(help="Initialize a directory for running VMs from a LagoInitFile")
@cli_plugin_add_argument(
    "workdir", nargs="?", help="Workdir to create (default ./.lago)"
)
@cli_plugin_add_argument(
    "virt_config", nargs="?", help="Init file (default ./LagoInitFile)"
)
@cli_plugin_add_argument(
    "--template-repo-path", help="Repo file (path or URL) describing the templates"
)
@cli_plugin_add_argument(
    "--template-repo-name", help="Name of the repo to look up in --template-repos"
)
@cli_plugin_add_argument("--template-store", help="Location to store templates")
@cli_plugin_add_argument(
    "--template-repos", help="Location to look up template repos in"
)
@cli_plugin_add_argument(
    "--set-current", action="store_true", help="Make the new prefix current"
)
@cli_plugin_add_argument(
    "--skip-bootstrap", action="store_true", help="Do not bootstrap the VMs"
)
@cli_plugin_add_argument(
    "--skip-build", action="store_true", help="Do not run the build sections"
)
@cli_plugin_add_argument(
    "--bootstrap-method",
    choices=["guestfs", "virt-sysprep"],
    help="How disks of templates without a NoCloud seed are bootstrapped: "
    "guestfs (every disk in one libguestfs appliance) or virt-sysprep (one run "
    "per disk)",
)
def do_init_verb(**kwargs: Any) -> None:
    init_cfg = config.get_section("init") or {}
    for key in ("template_repo_path", "template_store", "template_repos"):
        if not kwargs.get(key):
            kwargs[key] = init_cfg.get(key)
    do_init(**kwargs)
