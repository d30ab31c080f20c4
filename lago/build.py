"""The ``build`` section of a disk: customization commands run at ``init``.

Each item is a one-key mapping ``{builder: {option: argument}}``; the only
builder is ``virt-customize``. Options become ``-x``/``--name`` flags, list
arguments repeat the option, empty arguments give a bare option, and
``ssh-inject: ''`` injects the prefix's own key.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from typing import Any

from lago.errors import LagoUserException, ToolError
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel
from lago.paths import Paths
from lago.plugins.vm import expand_path
from lago.process import run_command, tool_error
from lago.sysprep import libguestfs_env

LOGGER = logging.getLogger(__name__)

Command = namedtuple("Command", ("name", "cmd"))


class BuildException(LagoUserException):
    pass


class BuildToolError(ToolError, BuildException):
    """A build command (virt-customize) failed on a disk."""


class Build:
    """The build section of one disk."""

    def __init__(self, name: str, disk_path: str, paths: Paths) -> None:
        self.name = name
        self.disk_path = disk_path
        self.paths = paths
        self.build_cmds: list[Command] = []
        self.force_tcg = False

    @classmethod
    def get_instance_from_build_spec(
        cls, name: str, disk_path: str, build_spec: list[dict[str, Any]], paths: Paths
    ) -> Build:
        instance = cls(name, disk_path, paths)
        instance.normalize_build_spec(build_spec)
        return instance

    def normalize_build_spec(self, build_spec: list[dict[str, Any]]) -> None:
        # resolve every handler first: an unknown builder fails before any runs
        for item in build_spec or []:
            if not item:
                continue
            for builder, options in item.items():
                handler = self.get_cmd_handler(builder.replace("-", "_"))
                self.build_cmds.append(handler(self.normalize_options(options or {})))

    def get_cmd_handler(self, cmd: str) -> Any:
        handler = getattr(self, cmd, None) if not cmd.startswith("_") else None
        if cmd not in ("virt_customize",) or handler is None:
            raise BuildException(f"Command {cmd} is not supported as a build command")
        return handler

    @staticmethod
    def prefix_option(option: str) -> str:
        return f"-{option}" if len(option) == 1 else f"--{option}"

    @staticmethod
    def normalize_options(options: dict[str, Any]) -> list[str]:
        normalized: list[str] = []
        for option, arg in options.items():
            flag = Build.prefix_option(option)
            if isinstance(arg, list):
                if not arg:
                    normalized.append(flag)
                for item in arg:
                    normalized += [flag, str(item)]
            elif arg in ("", None) or arg is False:
                normalized.append(flag)
            else:
                normalized += [flag, str(arg)]
        return normalized

    def virt_customize(self, options: list[str]) -> Command:
        options = list(options)
        for index, value in enumerate(options):
            if value == "--ssh-inject" and (
                index + 1 == len(options) or options[index + 1].startswith("-")
            ):
                options.insert(index + 1, f"root:file:{self.paths.ssh_id_rsa_pub()}")
        return Command(
            "virt-customize", ["virt-customize", "-a", self.disk_path, *options]
        )

    def build(self) -> None:
        for command in self.build_cmds:
            with LogTask(f"Running command {command.name}"):
                result = run_command(command.cmd, env=libguestfs_env(self.force_tcg))
                if result.code:
                    raise tool_error(
                        command.name, result, vm=self.name, disk=self.disk_path,
                        kind=BuildToolError,
                    )  # fmt: skip


def build_env(env: Any) -> None:
    """Run the build sections of every disk of ``env``, disks in parallel."""
    builds: list[Build] = []
    prefix_path = env.prefix.paths.prefix
    for vm in env.get_vms().values():
        for disk in vm.spec.get("disks", []):
            if disk.get("build"):
                path = expand_path(disk["path"], prefix_path)
                build = Build.get_instance_from_build_spec(
                    vm.name(), path, disk["build"], env.prefix.paths
                )
                build.force_tcg = _tcg(vm)
                builds.append(build)
    if not builds:
        return

    def run(build: Build) -> None:
        with LogTask(f"Building {build.name} disk {build.disk_path}"):
            build.build()

    invoke_in_parallel(run, builds)


def _tcg(vm: Any) -> bool:
    facts = getattr(vm.provider, "host_facts", None)
    return bool(facts and facts().domain_type == "qemu")
