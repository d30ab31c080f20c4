"""Bootstrap of images without a NoCloud seed: ``virt-sysprep`` (libguestfs).

The commands come from ``sysprep-<distro>.j2`` (falling back to
``sysprep-base.j2``) in ``lago/sysprep_templates``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import jinja2

from lago.errors import ToolError
from lago.naming import ipv4_to_mac
from lago.process import run_command, tool_error

LOGGER = logging.getLogger(__name__)


class SysprepError(ToolError):
    pass


def _guestfs_version(default: dict[str, int] | None = None) -> dict[str, int]:
    default = default or {"major": 1, "minor": 20}
    try:
        import guestfs

        handle = guestfs.GuestFS(python_return_dict=True)
        try:
            version = handle.version()
        finally:
            handle.close()
        return {"major": int(version["major"]), "minor": int(version["minor"])}
    except Exception:
        return default


def _render_template(
    distro: str, loader: jinja2.BaseLoader | None, **kwargs: Any
) -> str:
    env = jinja2.Environment(
        loader=loader or jinja2.PackageLoader("lago", "sysprep_templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    names = [f"sysprep-{distro}.j2", "sysprep-base.j2"]
    template = env.select_template(names)
    return f"# {template.name}\n" + template.render(**kwargs)


def libguestfs_env(force_tcg: bool) -> dict[str, str]:
    """libguestfs hangs on a host whose KVM cannot run guests: force TCG."""
    env = {"LIBGUESTFS_BACKEND": os.environ.get("LIBGUESTFS_BACKEND", "direct")}
    if force_tcg:
        env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
    return env


def sysprep(
    disk: str,
    distro: str,
    loader: jinja2.BaseLoader | None = None,
    backend: str = "direct",
    force_tcg: bool = False,
    **kwargs: Any,
) -> None:
    """Run ``virt-sysprep`` on ``disk`` with the distro's command template."""
    mappings = {
        iface: ipv4_to_mac(ip)
        for iface, ip in (kwargs.pop("mappings", None) or {}).items()
    }
    rendered = _render_template(distro, loader, mappings=mappings, **kwargs)
    with tempfile.NamedTemporaryFile(
        "w", prefix="lago-sysprep-", suffix=".txt"
    ) as commands:
        commands.write(rendered)
        commands.flush()
        cmd = ["virt-sysprep", "-a", disk, "--commands-from-file", commands.name]
        env = libguestfs_env(force_tcg)
        env.setdefault("LIBGUESTFS_BACKEND", backend)
        result = run_command(cmd, env=env)
    if result.code:
        vm = kwargs.get("hostname")
        raise tool_error("virt-sysprep", result, vm=vm, disk=disk, kind=SysprepError)
