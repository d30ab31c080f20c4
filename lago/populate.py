"""``init``'s second half: turn a validated init file into a ready prefix.

Order: plan the networks (validation and subnet leases first, since they are
cheap and fail early), make the disks, copy deploy scripts, build the VM
objects, bootstrap, build, save. Leases are released if anything fails; the
caller removes the prefix directory.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import lago
from lago import disks as disks_mod
from lago.config import config
from lago.errors import LagoUserException
from lago.fileio import atomic_write, copy_file
from lago.initfile import InitFile
from lago.log_utils import LogTask
from lago.network_plan import plan_networks
from lago.parallel import invoke_in_parallel
from lago.providers.libvirt.remote_disks import PrefixStorage, storage_for
from lago.rollback import RollbackContext
from lago.spec_data import deepcopy
from lago.subnet_lease import SubnetStore
from lago.template_source import TemplateSource
from lago.virt import VirtEnv

LOGGER = logging.getLogger(__name__)

__all__ = ["TemplateSource", "populate"]


def _create_vm_disks(
    prefix: Any,
    vm_name: str,
    spec: dict[str, Any],
    templates: TemplateSource,
    remote: PrefixStorage | None = None,
    *,
    rollback: RollbackContext | None = None,
    on_success: list[Callable[[], None]] | None = None,
) -> None:
    ctx = disks_mod.DiskContext(
        vm_name=vm_name,
        paths=prefix.paths,
        resolve_template=templates,
        undo=rollback.prependDefer if rollback is not None else None,
        commit=on_success.append if on_success is not None else None,
    )
    # a remote libvirt host gets volumes in its pools instead of files here
    create = remote.create_disk if remote else disks_mod.create_disk
    with LogTask(f"Create disks for VM {vm_name}"):
        made = []
        for disk in spec.get("disks", []):
            with LogTask(f"Create disk {disk['name']}"):
                made.append(create(ctx, disk))
        spec["disks"] = made


def _copy_deploy_scripts(prefix: Any, domains: dict[str, dict[str, Any]]) -> None:
    with LogTask("Copying any deploy scripts"):
        for spec in domains.values():
            metadata = spec.get("metadata") or {}
            scripts = metadata.get("deploy-scripts") or []
            saved = []
            for script in scripts:
                if not os.path.isfile(script):
                    raise LagoUserException(f"Script {script} does not exist")
                name = script.replace("/", "_")
                os.makedirs(prefix.paths.scripts(), exist_ok=True)
                copy_file(script, prefix.paths.scripts(name))
                saved.append(f"$LAGO_PREFIX_PATH/scripts/{name}")
            if scripts:
                metadata["deploy-scripts"] = saved


def populate(
    prefix: Any,
    init_file: InitFile,
    templates: TemplateSource,
    do_bootstrap: bool = True,
    do_build: bool = True,
) -> VirtEnv:
    domains = init_file.expanded_domains()
    nets = deepcopy(init_file.nets)
    store = SubnetStore(config.get("lease_dir"))
    with RollbackContext() as rollback:
        plan = plan_networks(
            domains, nets, store, prefix.paths.uuid(), source=str(init_file.path)
        )
        rollback.prependDefer(store.release, list(plan.subnets))
        os.makedirs(prefix.paths.images(), exist_ok=True)
        names = list(domains)
        with open(prefix.paths.uuid()) as stream:
            remote = storage_for(stream.read().strip())
        if remote is not None:
            rollback.prependDefer(remote.destroy)
        # what disks wrote outside the prefix is undone on failure, and
        # what they kept aside for that is dropped on success
        on_success: list[Callable[[], None]] = []
        invoke_in_parallel(
            lambda name: _create_vm_disks(
                prefix,
                name,
                domains[name],
                templates,
                remote,
                rollback=rollback,
                on_success=on_success,
            ),
            names,
        )
        _copy_deploy_scripts(prefix, domains)
        env_class = getattr(prefix, "VIRT_ENV_CLASS", VirtEnv)
        env = env_class(prefix, domains, nets)
        if do_bootstrap:
            env.bootstrap()
        if do_build:
            from lago.build import build_env

            build_env(env)
        env.save()
        atomic_write(
            prefix.paths.metadata(),
            json.dumps({"lago_version": lago.__version__}, indent=4),
        )
        rollback.clear()
    for step in on_success:
        step()
    return env
