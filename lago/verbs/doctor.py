"""``lago doctor``: check the host before an environment fails on it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lago.config import config
from lago.doctor import FAIL, CheckResult, DoctorSettings, run_checks
from lago.errors import LagoException, LagoUserException
from lago.plugins.cli import cli_plugin, cli_plugin_add_argument
from lago.plugins.output import DefaultOutFormatPlugin, OutFormatPlugin
from lago.workdir import Workdir

MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


class HostCheckFailed(LagoUserException):
    """At least one host check failed."""


def _workdir(workdir_path: str | None) -> Path:
    """The workdir found from here, else the one ``init`` would make."""
    start = workdir_path or os.curdir
    try:
        return Path(Workdir.resolve_workdir_path(start))
    except (LagoException, KeyError):
        return (
            Path(start, ".lago").absolute()
            if not workdir_path
            else Path(start).absolute()
        )


def _settings(kwargs: dict[str, Any]) -> DoctorSettings:
    init = config.get_section("init") or {}
    return DoctorSettings(
        libvirt_url=kwargs.get("libvirt_url") or config.get("libvirt_url"),
        domain_type=str(config.get("domain_type") or "auto"),
        workdir=_workdir(kwargs.get("workdir_path")),
        template_store=Path(init.get("template_store") or "/var/lib/lago/store"),
        lease_dir=Path(kwargs.get("lease_dir") or config.get("lease_dir")),
        template_repo_path=init.get("template_repo_path"),
        libguestfs_launch=bool(kwargs.get("libguestfs")),
    )


def _human(results: list[CheckResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{MARKS[result.status]}  {result.name}: {result.detail}")
        if result.fix and result.status != "ok":
            lines.append(f"      fix: {result.fix}")
    return "\n".join(lines)


@cli_plugin(
    help="Check that this host can run Lago environments, and say how to fix it"
)
@cli_plugin_add_argument(
    "--libguestfs",
    action="store_true",
    help="also launch the libguestfs appliance (takes tens of seconds without KVM)",
)
def do_doctor(out_format: OutFormatPlugin, **kwargs: Any) -> None:
    results = run_checks(_settings(kwargs))
    if isinstance(out_format, DefaultOutFormatPlugin):
        text = _human(results)
    else:
        text = out_format.format({"checks": [r.as_dict() for r in results]})
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    failed = [r.name for r in results if r.status == FAIL]
    if failed:
        raise HostCheckFailed(
            f"{len(failed)} of {len(results)} host checks failed: {', '.join(failed)}"
        )
