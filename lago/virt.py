"""The VMs and networks of one prefix, loaded from ``virt/*``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from lago import interrupt, snapshot_host_keys, snapshots
from lago.bootstrap import bootstrap_vms
from lago.errors import LagoLookupError, LagoUserException
from lago.fileio import atomic_write
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel
from lago.plugins import PLUGIN_ENTRY_POINTS, load_plugins
from lago.plugins.vm import provider_plugins
from lago.providers.libvirt import utils as lvutils
from lago.providers.libvirt.network import Network, network_class
from lago.vm_defaults import VMDefaults

LOGGER = logging.getLogger(__name__)

OLDEST_COMPAT = "0.36.0"


class LagoUnknownVMTypeError(LagoUserException):
    """An init file names a VM type no installed plugin provides."""

    def __init__(self, vm_type_name: str, vm_types: Iterable[str]) -> None:
        super().__init__(
            f"Unknown VM type: {vm_type_name}, available types: "
            f"{', '.join(sorted(vm_types))}"
        )


def _restart_cut_off(vms: list[Any], revived: list[str]) -> None:
    """Power off the running VMs of networks that were down (an interrupted
    or killed start, a network stopped by hand): their NICs lost the bridge
    with the network, so they are started again with the others."""
    cut_off = [vm for vm in vms if set(vm.nets()) & set(revived) and vm.defined()]
    for vm in cut_off:
        LOGGER.warning(
            "VM %s ran without its network %s: restarting it",
            vm.name(),
            ", ".join(sorted(set(vm.nets()) & set(revived))),
        )
        vm.stop()


class VirtEnv:
    """Env properties: ``prefix``, ``uuid``, the VMs and the networks."""

    def __init__(
        self, prefix: Any, vm_specs: dict[str, dict], net_specs: dict[str, dict]
    ) -> None:
        self.prefix = prefix
        with open(prefix.paths.uuid()) as stream:
            self.uuid = stream.read().strip()
        compat = self.get_compat()
        self._nets: dict[str, Network] = {
            name: self._create_net(spec, compat) for name, spec in net_specs.items()
        }
        # read once for all the VMs (VMPlugin looks for these on its env)
        self.vm_defaults = VMDefaults.from_config()
        self.vm_providers = provider_plugins()
        self._vm_plugins = load_plugins(PLUGIN_ENTRY_POINTS["vm"], instantiate=False)
        # the original's names for the same two things
        self.vm_types = self._vm_plugins
        self._default_vm_type = self.vm_defaults.vm_type
        self._vms: dict[str, Any] = {
            name: self._create_vm(spec) for name, spec in vm_specs.items()
        }

    # hooks: subclasses written for the original override these two
    def _create_net(self, net_spec: dict[str, Any], compat: str) -> Network:
        return network_class(net_spec)(self, net_spec, compat=compat)

    def _create_vm(self, vm_spec: dict[str, Any]) -> Any:
        vm_type = vm_spec.get("vm-type") or self.vm_defaults.vm_type
        if vm_type not in self._vm_plugins:
            raise LagoUnknownVMTypeError(vm_type, self._vm_plugins)
        return self._vm_plugins[vm_type](self, vm_spec)

    # -- names and paths ----------------------------------------------------
    def prefixed_name(self, unprefixed_name: str, max_length: int = 0) -> str:
        return lvutils.prefixed_name(self.uuid, unprefixed_name, max_length)

    def virt_path(self, *args: str) -> str:
        return self.prefix.paths.virt(*args)

    def get_compat(self) -> str:
        """The Lago version that created this environment."""
        try:
            with open(self.prefix.paths.metadata()) as stream:
                return json.load(stream).get("lago_version", OLDEST_COMPAT)
        except (OSError, ValueError):
            return OLDEST_COMPAT

    # -- lookups --------------------------------------------------------------
    def get_nets(self) -> dict[str, Network]:
        return dict(self._nets)

    def get_net(self, name: str | None = None) -> Network:
        if name is None:
            for net in self._nets.values():
                if net.is_management():
                    return net
            raise LagoLookupError("This environment has no management network")
        try:
            return self._nets[name]
        except KeyError:
            raise LagoLookupError(f"Unable to find network {name}") from None

    def get_vms(self, vm_names: Iterable[str] | None = None) -> dict[str, Any]:
        if not vm_names:
            return dict(self._vms)
        missing = [name for name in vm_names if name not in self._vms]
        if missing:
            raise LagoUserException(
                "The following vms do not exist: \n" + "\n".join(missing)
            )
        return {name: self._vms[name] for name in vm_names}

    def get_vm(self, name: str) -> Any:
        try:
            return self._vms[name]
        except KeyError:
            raise LagoLookupError(f"Unable to find VM {name}") from None

    # -- lifecycle ------------------------------------------------------------
    def _nets_of(self, vms: Iterable[Any]) -> list[Network]:
        names: list[str] = []
        for vm in vms:
            names += [net for net in vm.nets() if net not in names]
        return [self._nets[name] for name in names]

    def start(self, vm_names: Iterable[str] | None = None) -> None:
        vm_names = list(vm_names or [])
        if vm_names:
            unknown = [name for name in vm_names if name not in self._vms]
            if unknown:
                raise LagoLookupError(f"Unable to find VM {unknown[0]}")
            vms = [self._vms[name] for name in vm_names]
            nets = self._nets_of(vms)
            task = "Start specified VMs"
        else:
            vms, nets, task = (
                list(self._vms.values()),
                list(self._nets.values()),
                "Start Prefix",
            )
        started: list[Any] = []
        try:
            with LogTask(task):
                with LogTask("Start nets"):
                    for net in nets:
                        if not net.alive():
                            started.append(net)
                            net.start()
                _restart_cut_off(vms, [net.name() for net in started])
                with LogTask("Start vms"):
                    self._start_vms(vms, started)
        except BaseException:
            # stop what this call started, last first
            for item in reversed(started):
                try:
                    item.stop()
                except Exception:
                    LOGGER.exception(
                        "Failed to stop %s after a failed start", item.name()
                    )
            raise

    def _start_vms(self, vms: list[Any], started: list[Any]) -> None:
        pending = [vm for vm in vms if not vm.defined()]

        def start_one(vm: Any) -> None:
            interrupt.check()
            # listed first: a start that fails or is interrupted halfway
            # may leave the domain defined, and the rollback must stop it
            started.append(vm)
            with LogTask(f"Starting {vm.name()}"):
                vm.start()

        invoke_in_parallel(start_one, pending)

    def wait_for_ssh(
        self, vm_names: Iterable[str] | None = None, timeout: float | None = None
    ) -> None:
        """Wait until each VM is ready (SSH login, then its ``ready`` commands);
        raises :class:`~lago.readiness.VMNotReadyError` after logging why."""
        from lago.readiness_probe import wait_until_ready

        wait_until_ready(self.get_vms(vm_names).values(), timeout=timeout)

    def _get_stop_shutdown_common_args(
        self, vm_names: Iterable[str] | None
    ) -> tuple[list[Any], list[Network], str]:
        vm_names = list(vm_names or [])
        if not vm_names:
            return list(self._vms.values()), list(self._nets.values()), "Stop prefix"
        vms = list(self.get_vms(vm_names).values())
        return vms, self._get_unused_nets(vms), "Stop specified VMs"

    def _get_unused_nets(self, vms_to_stop: list[Any]) -> list[Network]:
        stopping = {vm.name() for vm in vms_to_stop}
        in_use = {
            net
            for vm in self._vms.values()
            if vm.name() not in stopping and vm.defined()
            for net in vm.nets()
        }
        return [net for net in self._nets_of(vms_to_stop) if net.name() not in in_use]

    def stop(self, vm_names: Iterable[str] | None = None) -> None:
        """Power off VMs, then their networks; every item is tried even if
        another fails (the first error is raised at the end), so that a
        half-gone environment is still cleaned up as far as possible."""
        vms, nets, task = self._get_stop_shutdown_common_args(vm_names)
        errors: list[BaseException] = []

        def stop_one(item: Any) -> None:
            try:
                item.stop()
            except Exception as err:
                LOGGER.warning("Failed to stop %s: %s", item.name(), err)
                errors.append(err)

        with LogTask(task):
            with LogTask("Stop vms"):
                invoke_in_parallel(stop_one, vms)
            with LogTask("Stop nets"):
                for net in nets:
                    stop_one(net)
        if errors:
            raise errors[0]

    def shutdown(
        self, vm_names: Iterable[str] | None = None, reboot: bool = False
    ) -> None:
        vms, nets, _ = self._get_stop_shutdown_common_args(vm_names)
        if reboot:
            with LogTask("Reboot VMs"):
                invoke_in_parallel(lambda vm: vm.reboot(), vms)
            return
        with LogTask("Shutdown VMs"):
            invoke_in_parallel(lambda vm: vm.shutdown(), vms)
        with LogTask("Stop nets"):
            for net in nets:
                net.stop()

    def bootstrap(self) -> None:
        bootstrap_vms(vm for vm in self._vms.values() if vm.spec.get("bootstrap", True))

    def get_snapshots(
        self, domains: Iterable[str] | None = None
    ) -> dict[str, list[str]]:
        vms = self.get_vms(domains)
        return {name: list(vm.spec.get("snapshots", {})) for name, vm in vms.items()}

    def create_snapshots(self, name: str) -> None:
        """Snapshot ``name`` of every VM, running or not, in parallel."""
        vms = list(self._vms.values())
        snapshots.check_create_all([vm.spec for vm in vms], name)
        with LogTask("Create VMs snapshots"):
            invoke_in_parallel(lambda vm: vm.create_snapshot(name), vms)
        snapshot_host_keys.save(self.prefix.paths, name)

    def revert_snapshots(self, name: str) -> None:
        """Every VM back to snapshot ``name``, in parallel; VMs that ran are
        started again."""
        vms = list(self._vms.values())
        snapshots.check_revert_all([vm.spec for vm in vms], name)
        with LogTask("Revert VMs snapshots"):
            invoke_in_parallel(lambda vm: vm.revert_snapshot(name), vms)
        snapshot_host_keys.restore(self.prefix.paths, name)

    # -- persistence ----------------------------------------------------------
    def save(self) -> None:
        os.makedirs(self.virt_path(), exist_ok=True)
        with LogTask("Save prefix"):
            with LogTask("Save nets"):
                for net in self._nets.values():
                    net.save()
            with LogTask("Save VMs"):
                for vm in self._vms.values():
                    vm.save()
            with LogTask("Save env"):
                env = {"nets": list(self._nets), "vms": list(self._vms)}
                atomic_write(self.virt_path("env"), json.dumps(env, indent=4))

    def get_env_spec(self, filters: Iterable[str] | None = None) -> dict[str, Any]:
        """A copy of the VM and network specs, without the keys ``filters``
        names (``/``-separated paths, ``*`` for every key or item)."""
        from lago.export_init import filtered_spec

        spec = {
            "domains": {name: vm.spec for name, vm in self._vms.items()},
            "nets": {name: net.spec for name, net in self._nets.items()},
        }
        return filtered_spec(spec, filters)

    # -- export ---------------------------------------------------------------
    def export_vms(  # noqa: PLR0917 - the original's signature
        self,
        vms_names: Iterable[str] | None,
        standalone: bool,
        dst_dir: str,
        compress: bool,
        init_file_name: str,
        out_format: Any,
        collect_only: bool = False,
        with_threads: bool = True,
    ) -> dict[str, list[str]] | None:
        from lago.export_env import ExportRequest, export_vms

        request = ExportRequest(
            list(vms_names) if vms_names else None, standalone, dst_dir, compress,
            init_file_name, out_format, collect_only, with_threads,
        )  # fmt: skip
        return export_vms(self, request)

    def generate_init(
        self,
        dst: str,
        out_format: Any,
        vms_to_include: Iterable[Any],
        filters: Iterable[str] | None = None,
    ) -> None:
        """Write the init file that rebuilds ``vms_to_include`` from an export."""
        from lago.export_init import EXPORT_FILTERS, write_init

        with LogTask(f"Exporting init file to: {dst}"):
            names = [vm.name() for vm in vms_to_include]
            spec = self.get_env_spec(filters or EXPORT_FILTERS)
            write_init(dst, spec, names, out_format)

    @classmethod
    def from_prefix(cls, prefix: Any) -> VirtEnv:
        def load(path: str) -> dict[str, Any]:
            with open(path) as stream:
                return json.load(stream)

        env = load(prefix.paths.virt("env"))
        nets = {
            name: load(prefix.paths.virt(f"net-{name}")) for name in env.get("nets", [])
        }
        vms = {
            name: load(prefix.paths.virt(f"vm-{name}")) for name in env.get("vms", [])
        }
        return cls(prefix, vms, nets)
