"""VM plugins (``lago.plugins.vm``) and VM provider plugins (``lago.plugins.vm_provider``).

A *VM plugin* is what the rest of Lago and the SDK talk to: it knows the VM's
spec, its addresses and how to reach it over SSH. It hands everything that
depends on *where* the VM runs to its *provider plugin*, chosen by the spec's
``vm-provider`` key (``local-libvirt`` by default, or ``ssh``).

The provider contract is :class:`VMProviderPlugin`: one documented method per
step of a VM's life, each called by the VM plugin only (never by verbs). A
provider is registered under the ``lago.plugins.vm_provider`` entry-point
group, as the built-in ones are, and is checked to be a
:class:`VMProviderPlugin` subclass when it is loaded. Every method accepts
``**kwargs`` (and the original's ``*args``) so that a later Lago may pass
more without breaking it. A sketch::

    class CloudProvider(VMProviderPlugin):
        def defined(self, *args, **kwargs):
            return self._api.exists(self.vm.name())
        def start(self, *args, **kwargs):
            if not self.defined():
                self._api.boot(self.vm.name(), self.vm.spec)
        def stop(self, *args, **kwargs):
            if self.defined():
                self._api.destroy(self.vm.name())
        def state(self, *args, **kwargs):
            return self._api.status(self.vm.name()) or "down"
        def bootstrap(self, *args, **kwargs):
            pass  # the cloud image configures itself
        def create_snapshot(self, name, *args, **kwargs):
            raise VMError("snapshots are not supported")
        def revert_snapshot(self, name, *args, **kwargs):
            raise VMError("snapshots are not supported")
"""

from __future__ import annotations

import abc
import functools
import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lago.errors import LagoException, LagoUserException
from lago.fileio import atomic_write
from lago.plugins import PLUGIN_ENTRY_POINTS, Plugin, load_plugins
from lago.process import CommandStatus
from lago.vm_defaults import VMDefaults

LOGGER = logging.getLogger(__name__)


SERVICE_PROVIDER_ORDER = ("systemd", "sysvinit", "systemdcontainer")


class VMError(LagoException):
    pass


class LagoVMNotRunningError(LagoUserException):
    exit_code = 1

    def __init__(self, vm_name: str, state: str = "down") -> None:
        super().__init__(f'Host {vm_name} is not "running", but "{state}"')


class LagoVMDoesNotExistError(LagoException):
    pass


class LagoFailedToGetVMStateError(LagoException):
    pass


class ExtractPathError(VMError):
    pass


class ExtractPathNoPathError(VMError):
    def __init__(self, err: str = "", hint: str | None = None) -> None:
        super().__init__(err, hint=hint)


class LagoCopyFilesToVMError(LagoUserException):
    def __init__(self, local_files: Any, err: Any = "") -> None:
        super().__init__(f"Failed to copy {local_files} to the VM: {err}")


class LagoCopyFilesFromVMError(LagoUserException):
    def __init__(self, remote_files: Any, local_files: Any, err: Any = "") -> None:
        super().__init__(
            f"Failed to copy {remote_files} from the VM to {local_files}: {err}"
        )


_F = TypeVar("_F", bound=Callable[..., Any])


def check_running(func: _F) -> _F:
    """Decorate a :class:`VMPlugin` method that needs the VM running: it
    raises :class:`LagoVMNotRunningError` otherwise."""

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.running():
            raise LagoVMNotRunningError(self.name(), self.state())
        return func(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class VMProviderPlugin(Plugin):
    """Where and how a VM runs: the contract every provider implements.

    Made once per VM object, with ``vm`` the :class:`VMPlugin` it serves (its
    ``spec``, ``name()`` and ``ssh()`` are the provider's inputs). Methods
    raise :class:`VMError` (or a subclass) when the VM cannot be brought into
    the asked state, and :class:`~lago.errors.LagoUserException` when the
    user can fix the cause (the message then says how).
    """

    def __init__(self, vm: VMPlugin) -> None:
        self.vm = vm

    @abc.abstractmethod
    def start(self, *args: Any, **kwargs: Any) -> None:
        """Make the VM run. Called by ``lago start`` for a VM
        that is not ``defined()``; a no-op when it already runs. Returns once
        the VM was started, not once its guest is up (``wait_for_ssh`` is
        separate). Errors: :class:`VMError` naming the VM and the reason."""

    @abc.abstractmethod
    def stop(self, *args: Any, **kwargs: Any) -> None:
        """Power the VM off at once (no guest shutdown). Called by ``lago
        stop``, ``destroy``, ``cleanup`` and by the rollback of a failed
        ``init``; a no-op when the VM is not running. Must not raise because
        the VM is already gone."""

    @abc.abstractmethod
    def defined(self, *args: Any, **kwargs: Any) -> bool:
        """Whether the VM exists in the provider right now (running or
        paused). Called before start and stop to skip what is done."""

    @abc.abstractmethod
    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Prepare the VM's disks once, at ``init`` (after they were made,
        before the VM first starts): hostname, SSH key, root password,
        network settings. Skipped for a VM whose spec says ``bootstrap:
        false`` and with ``--skip-bootstrap``. Errors abort ``init`` (which
        then removes the prefix)."""

    @abc.abstractmethod
    def state(self, *args: Any, **kwargs: Any) -> str:
        """The VM's state as ``lago status`` shows it: ``down`` when it is
        not defined, else a libvirt state word (``running``, ``paused``,
        ``shut off``, ``crashed``, ``blocked``, ``suspended``, ``begin shut
        down``, ``no state``), or ``failed to get state``. Never raises."""

    @abc.abstractmethod
    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Record the state of the VM's disks under ``name``. Errors: a
        :class:`~lago.errors.LagoUserException` if the provider cannot."""

    @abc.abstractmethod
    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Bring the VM's disks back to snapshot ``name``. Errors: a
        :class:`~lago.errors.LagoUserException` naming the unknown snapshot
        or the reason the provider cannot."""

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Ask the guest to power off and return once it did. Called by
        ``lago shutdown``. Default: ``poweroff`` over SSH, failures ignored.
        Errors: :class:`VMError` if the VM does not go down in time."""
        self.vm.ssh(["poweroff"], propagate_fail=False)

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        """Ask the guest to restart. Called by ``lago shutdown --reboot``.
        Default: ``reboot`` over SSH, failures ignored."""
        self.vm.ssh(["reboot"], propagate_fail=False)

    def interactive_console(self) -> CommandStatus:
        """Attach the caller's terminal to the VM's serial console until the
        user leaves it; returns the console command's status. Called by
        ``lago console``. Default: :class:`VMError`, no console."""
        raise VMError(f"{self.vm.name()}: this provider has no console")

    def export_disks(
        self,
        standalone: bool,
        dst_dir: str | None,
        compress: bool,
        *args: Any,
        **kwargs: Any,
    ) -> list[str]:
        """Copy the VM's disks into ``dst_dir`` (see :mod:`lago.export`)."""
        raise VMError(f"{self.vm.name()}: this provider cannot export disks")

    def running(self, *args: Any, **kwargs: Any) -> bool:
        """Whether the VM runs; default: ``state() == "running"``."""
        return self.state() == "running"

    def name(self) -> str:
        """The name of the VM this provider serves."""
        return self.vm.name()

    def extract_paths(self, paths: list[tuple[str, str]], ignore_nopath: bool) -> None:
        """Copy each ``(guest_path, host_path)`` from the running VM over SSH."""
        from lago.guest_extract import extract_paths_ssh

        extract_paths_ssh(self.vm, paths, ignore_nopath)

    def extract_paths_dead(
        self, paths: list[tuple[str, str]], ignore_nopath: bool
    ) -> None:
        """Copy paths from the VM's disks while it does not run."""
        raise ExtractPathError(
            f"VM {self.vm.name()}: its provider cannot read the disks of a stopped VM"
        )


class _LazySSH:
    """``lago.ssh`` on first use: paramiko costs 0.2 s to import, and most
    verbs (``--help``, ``status``, ``destroy``) never open a connection."""

    def __getattr__(self, name: str) -> Any:
        from lago import ssh

        return getattr(ssh, name)


ssh_mod = _LazySSH()


def provider_plugins() -> dict[str, type[VMProviderPlugin]]:
    """The installed provider classes by name (entry points, loaded now)."""
    return load_plugins(PLUGIN_ENTRY_POINTS["vm-provider"], instantiate=False)


class VMPlugin(Plugin):
    """One VM of an environment: its spec, addresses, SSH and lifecycle.

    The spec defaults and the provider classes come from ``env`` (a
    :class:`~lago.virt.VirtEnv` reads them once for all its VMs); an ``env``
    without them makes the VM read the configuration and entry points itself.
    """

    def __init__(self, env: Any, spec: dict[str, Any]) -> None:
        self.virt_env = env
        defaults = getattr(env, "vm_defaults", None) or VMDefaults.from_config()
        self._spec = defaults.apply(dict(spec))
        self.vm_providers = getattr(env, "vm_providers", None) or provider_plugins()
        self.provider = self._get_vm_provider()

    def _get_vm_provider(self) -> VMProviderPlugin:
        name = self._spec["vm-provider"]
        if name not in self.vm_providers:
            raise LagoUserException(
                f"Unknown VM provider: {name}, available providers: "
                + ", ".join(sorted(self.vm_providers))
            )
        return self.vm_providers[name](vm=self)

    @classmethod
    def _normalize_spec(cls, spec: dict[str, Any]) -> dict[str, Any]:
        return VMDefaults.from_config().apply(spec)

    # -- lifecycle, handed to the provider ------------------------------
    def start(self, *args: Any, **kwargs: Any) -> None:
        return self.provider.start(*args, **kwargs)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        return self.provider.stop(*args, **kwargs)

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        return self.provider.shutdown(*args, **kwargs)

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        return self.provider.reboot(*args, **kwargs)

    def defined(self, *args: Any, **kwargs: Any) -> bool:
        return self.provider.defined(*args, **kwargs)

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        return self.provider.bootstrap(*args, **kwargs)

    def state(self, *args: Any, **kwargs: Any) -> str:
        return self.provider.state(*args, **kwargs)

    def running(self, *args: Any, **kwargs: Any) -> bool:
        return self.provider.running(*args, **kwargs)

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        return self.provider.create_snapshot(name, *args, **kwargs)

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        return self.provider.revert_snapshot(name, *args, **kwargs)

    def interactive_console(self, *args: Any, **kwargs: Any) -> CommandStatus:
        return self.provider.interactive_console(*args, **kwargs)

    @property
    def cpu_model(self) -> str | None:
        """The guest's CPU model, when the provider knows it."""
        return getattr(self.provider, "cpu_model", None)

    @property
    def cpu_vendor(self) -> str | None:
        """The guest's CPU vendor, when the provider knows it."""
        return getattr(self.provider, "cpu_vendor", None)

    def has_guest_agent(self) -> bool:
        """Whether the guest answers on a QEMU guest agent channel (only
        providers that can ask say yes)."""
        check = getattr(self.provider, "has_guest_agent", None)
        return bool(check()) if callable(check) else False

    def export_disks(
        self,
        standalone: bool = True,
        dst_dir: str | None = None,
        compress: bool = False,
        collect_only: bool = False,
        with_threads: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> list[str]:
        """Export this VM's disks; ``collect_only``: only their paths."""
        return self.provider.export_disks(
            standalone, dst_dir, compress, collect_only, with_threads, *args, **kwargs
        )

    # -- what the spec says ---------------------------------------------
    @property
    def spec(self) -> dict[str, Any]:
        return self._spec

    def name(self) -> str:
        return self._spec["name"]

    @property
    def vm_type(self) -> str:
        return self._spec["vm-type"]

    @property
    def metadata(self) -> dict[str, Any]:
        return self._spec["metadata"]

    @property
    def disks(self) -> list[dict[str, Any]]:
        return self._spec["disks"]

    @property
    def groups(self) -> list[str]:
        groups = self._spec.get("groups") or []
        return [groups] if isinstance(groups, str) else list(groups)

    def iscsi_name(self) -> str:
        return f"iqn.2014-07.org.lago:{self.name()}"

    def nics(self) -> list[dict[str, Any]]:
        return self._spec["nics"]

    def nets(self) -> list[str]:
        return [nic["net"] for nic in self.nics()]

    @property
    def mgmt_net(self) -> Any:
        return self.virt_env.get_net(name=self._spec["mgmt_net"])

    @property
    def mgmt_name(self) -> str:
        return self._spec.get("mgmt_net", "")

    def ip(self) -> str | None:
        return self.mgmt_net.mapping().get(self.name())

    def all_ips(self) -> list[str]:
        return [nic["ip"] for nic in self.nics() if nic.get("ip")]

    def ips_in_net(self, net_name: str) -> list[str]:
        return [
            nic["ip"] for nic in self.nics() if nic["net"] == net_name and nic.get("ip")
        ]

    def distro(self) -> str | None:
        distro = self._spec.get("distro")
        if distro:
            return distro
        disks = self._spec.get("disks") or []
        return (disks[0].get("metadata") or {}).get("distro") if disks else None

    def root_password(self) -> str:
        return self._spec.get("root-password") or self._spec.get("ssh-password") or ""

    def ssh_user(self) -> str:
        return self._spec.get("ssh-user") or "root"

    def boot_time_sec(self) -> int:
        return int(self._spec.get("boot_time_sec", 600))

    # -- guest access -----------------------------------------------------
    def _ssh_auth(self) -> dict[str, Any]:
        return {
            "ssh_key": self.virt_env.prefix.paths.ssh_id_rsa(),
            "username": self.ssh_user(),
            "password": self.root_password(),
        }

    def _require_ip(self) -> str:
        ip = self.ip()
        if not ip:
            raise VMError(
                f"VM {self.name()} has no IP address on its management network"
            )
        return ip

    def ssh(
        self,
        command: Sequence[str],
        data: str | bytes | None = None,
        show_output: bool = True,
        propagate_fail: bool = True,
        tries: int | None = None,
    ) -> CommandStatus:
        return ssh_mod.ssh(
            self._require_ip(),
            list(command),
            host_name=self.name(),
            data=data,
            show_output=show_output,
            propagate_fail=propagate_fail,
            tries=tries,
            **self._ssh_auth(),
        )

    def ssh_script(self, path: str, show_output: bool = True) -> CommandStatus:
        return ssh_mod.ssh_script(
            self._require_ip(), path, host_name=self.name(), show_output=show_output,
            **self._ssh_auth(),
        )  # fmt: skip

    def ssh_reachable(
        self, tries: int | None = None, propagate_fail: bool = False
    ) -> bool:
        try:
            result = self.ssh(
                ["true"], tries=tries, show_output=False, propagate_fail=propagate_fail
            )
        except LagoException:
            if propagate_fail:
                raise
            return False
        return result.code == 0

    def wait_for_ssh(self, timeout: float | None = None) -> None:
        """Wait until SSH login works (not the ``ready`` commands), showing each
        step; a diagnosis and :class:`~lago.readiness.VMNotReadyError` if not."""
        from lago.readiness_probe import wait_until_ready

        self._require_ip()
        wait_until_ready([self], timeout=timeout, run_ready=False)

    def interactive_ssh(self, command: Sequence[str] | None = None) -> CommandStatus:
        return ssh_mod.interactive_ssh(
            self._require_ip(), command=list(command or ["bash"]), host_name=self.name(),
            **self._ssh_auth(),
        )  # fmt: skip

    def copy_to(
        self, local_path: str, remote_path: str, recursive: bool = True
    ) -> None:
        ssh_mod.copy_to(
            self._require_ip(),
            local_path,
            remote_path,
            recursive=recursive,
            **self._ssh_auth(),
        )

    def copy_from(
        self,
        remote_path: str,
        local_path: str,
        recursive: bool = True,
        propagate_fail: bool = True,
    ) -> None:
        try:
            ssh_mod.copy_from(
                self._require_ip(),
                remote_path,
                local_path,
                recursive=recursive,
                **self._ssh_auth(),
            )
        except LagoException:
            if propagate_fail:
                raise

    # -- services -------------------------------------------------------------
    def _get_service_provider(self) -> Any:
        """The service plugin class of this guest, detected once and saved."""
        plugins = load_plugins(PLUGIN_ENTRY_POINTS["vm-service"], instantiate=False)
        name = self._spec.get("service_provider")
        if name:
            if name not in plugins:
                raise VMError(
                    f"Unknown service provider {name} for {self.name()}, "
                    f"available: {', '.join(sorted(plugins))}"
                )
            return plugins[name]
        for candidate in SERVICE_PROVIDER_ORDER:
            plugin = plugins.get(candidate)
            if plugin is not None and plugin.is_supported(self):
                self._spec["service_provider"] = candidate
                self.save()
                return plugin
        raise VMError(f"No service provider found for {self.name()}")

    def service(self, name: str) -> Any:
        return self._get_service_provider()(self, name)

    def guest_agent(self) -> Any:
        """The guest agent service (``guest-agent`` key, else detected, saved)."""
        name = self._spec.get("guest-agent")
        if not name:
            for candidate in ("qemu-guest-agent", "qemu-ga"):
                if self.service(candidate).exists():
                    name = candidate
                    break
            else:
                raise VMError("Could not find guest agent service")
            self._spec["guest-agent"] = name
            self.save()
        return self.service(name)

    # -- artifacts ------------------------------------------------------------
    def extract_paths(
        self, paths: list[tuple[str, str]], *args: Any, **kwargs: Any
    ) -> None:
        return self.provider.extract_paths(paths, *args, **kwargs)

    def extract_paths_dead(
        self, paths: list[tuple[str, str]], *args: Any, **kwargs: Any
    ) -> None:
        return self.provider.extract_paths_dead(paths, *args, **kwargs)

    def collect_artifacts(self, host_path: str, ignore_nopath: bool) -> None:
        """Copy this VM's artifacts into ``host_path`` (made if missing), each
        guest path named with its ``/`` turned to ``_`` (``/var/log`` ->
        ``_var_log``)."""
        os.makedirs(host_path, exist_ok=True)
        paths = [
            (path, os.path.join(host_path, path.replace("/", "_")))
            for path in self._artifact_paths()
        ]
        if paths:
            self.extract_paths(paths, ignore_nopath=ignore_nopath)

    # -- persistence --------------------------------------------------------
    def save(self, path: str | None = None) -> None:
        target = path or self.virt_env.virt_path(f"vm-{self.name()}")
        # the spec holds the root password: readable by its owner only
        atomic_write(target, json.dumps(self._spec, indent=4), mode=0o600)

    def _artifact_paths(self) -> list[str]:
        return list(self._spec.get("artifacts") or [])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name()}>"


def expand_path(path: str, prefix_path: str) -> str:
    """Expand ``$LAGO_PREFIX_PATH`` (and the environment) in a saved path."""
    env = {**os.environ, "LAGO_PREFIX_PATH": prefix_path}
    for key in ("LAGO_PREFIX_PATH",):
        path = path.replace("${" + key + "}", env[key]).replace("$" + key, env[key])
    return os.path.expandvars(path)
