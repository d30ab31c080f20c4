"""``lago init``: create a prefix from a LagoInitFile."""

from __future__ import annotations

import logging
import os
from typing import Any

from lago.config import config
from lago.errors import InitFileError
from lago.init_env import init_environment, load_checked
from lago.log_utils import setup_prefix_logging
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.prefix import Prefix
from lago.template_source import TemplateOptions
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


def _export_and_log(prefix: Prefix, workdir: Workdir) -> None:
    # deploy scripts and plugins run as subprocesses read these, as in the original
    os.environ["LAGO_PREFIX_PATH"] = prefix.paths.prefix
    os.environ["LAGO_WORKDIR_PATH"] = workdir.path
    setup_prefix_logging(prefix.paths.logs())


def do_init(
    workdir: str | None = None,
    virt_config: str | None = None,
    *,
    prefix_name: str = "current",
    template_repo_path: str | None = None,
    template_repo_name: str | None = None,
    template_store: str | None = None,
    template_repos: str | None = None,
    set_current: bool = False,
    skip_bootstrap: bool = False,
    skip_build: bool = False,
    bootstrap_method: str | None = None,
    **kwargs: Any,
) -> Workdir:
    """``lago init``: the model's :func:`~lago.init_env.init_environment`
    plus what only the command line does (environment variables, log file)."""
    workdir_path, init_path = _split_positionals(workdir, virt_config)
    if not os.path.isfile(init_path):
        raise InitFileError(f"Unable to find init file: {init_path}")
    if bootstrap_method:
        config.set("bootstrap_method", bootstrap_method, section="init")
    init_file = load_checked(init_path)
    os.environ["LAGO_INITFILE_PATH"] = init_file.init_dir
    templates = TemplateOptions.resolve(
        repo_path=template_repo_path,
        store=template_store,
        repo_name=template_repo_name,
        repos=template_repos,
    )
    return init_environment(
        init_file,
        workdir_path,
        prefix_name,
        templates,
        do_bootstrap=not skip_bootstrap,
        do_build=not skip_build,
        set_current=set_current,
        on_prefix=_export_and_log,
    )


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
    do_init(**kwargs)
