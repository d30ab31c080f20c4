"""A prefix: one environment on disk (uuid, keys, disks, ``virt/`` specs).

:class:`Prefix` is the face the CLI verbs and the SDK share. The work is done
by :mod:`lago.populate` (init), :mod:`lago.virt` (the VMs and networks) and
:mod:`lago.subnet_lease` (addresses).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid as uuid_mod
from typing import IO, Any

from lago.collect import collect_from_vms, prepare_output_dir
from lago.config import config
from lago.deploy import LagoDeployError, expanded_scripts, run_scripts, scripts_of
from lago.errors import LagoException, LagoUserException, why
from lago.fileio import atomic_write
from lago.initfile import InitFile, load_init_file
from lago.log_utils import LogTask
from lago.parallel import invoke_in_parallel
from lago.paths import Paths
from lago.prefix_compat import backing_of, fetch_text
from lago.process import run_command
from lago.providers.libvirt.remote_disks import storage_for
from lago.sdk_utils import expose
from lago.subnet_lease import SubnetStore
from lago.virt import VirtEnv

LOGGER = logging.getLogger(__name__)

__all__ = ["LagoDeployError", "Prefix", "PrefixError"]


class PrefixError(LagoException):
    pass


class PrefixIncomplete(PrefixError, LagoUserException):
    """The prefix has no ``virt/env``: its ``init`` did not finish."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"Prefix {path} is incomplete (no virt/env): its init was killed, "
            "failed or is still running; `lago destroy -y` removes it"
        )


class Prefix:
    """One environment directory."""

    VIRT_ENV_CLASS = VirtEnv

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        # the underscore attributes are read by subclasses written for the
        # original, so they keep its names and meaning
        self._prefix = os.fspath(prefix)
        self.prefix = self._prefix
        self._paths = Paths(self._prefix)
        self._virt_env: VirtEnv | None = None
        self._metadata: dict[str, Any] | None = None
        self._subnet_store_obj: SubnetStore | None = None

    @property
    def _subnet_store(self) -> SubnetStore:
        """The configured lease store, made when first used (making it
        creates its directory, which a read-only verb must not need)."""
        if self._subnet_store_obj is None:
            self._subnet_store_obj = SubnetStore(config.get("lease_dir"))
        return self._subnet_store_obj

    @_subnet_store.setter
    def _subnet_store(self, store: SubnetStore) -> None:
        self._subnet_store_obj = store

    @property
    def paths(self) -> Paths:
        return self._paths

    @paths.setter
    def paths(self, val: Paths) -> None:
        self._paths = val

    # -- what a prefix is -------------------------------------------------
    @classmethod
    def is_prefix(cls, path: str | os.PathLike[str]) -> bool:
        return os.path.isfile(Paths(path).prefix_lagofile())

    @classmethod
    def resolve_prefix_path(cls, start_path: str | os.PathLike[str] = os.curdir) -> str:
        """The prefix at or above ``start_path`` (``.lago`` sub-dirs included)."""
        start = os.path.abspath(start_path)
        if cls.is_prefix(start):
            return os.path.realpath(start)
        current = start
        while os.path.dirname(current) != current:
            candidate = os.path.join(current, ".lago")
            if cls.is_prefix(candidate):
                return os.path.realpath(candidate)
            if os.path.dirname(current) == "/":
                break
            current = os.path.dirname(current)
        raise PrefixError(f"Unable to find prefix for {start}")

    @property
    def uuid(self) -> str:
        with open(self.paths.uuid()) as stream:
            return stream.read().strip()

    @property
    def metadata(self) -> dict[str, Any]:
        """The prefix's ``metadata`` file, read once; :meth:`save` writes it."""
        if self._metadata is None:
            try:
                with open(self.paths.metadata()) as stream:
                    self._metadata = json.load(stream)
            except (OSError, ValueError):
                self._metadata = {}
        return self._metadata

    def _save_metadata(self) -> None:
        atomic_write(self.paths.metadata(), json.dumps(self.metadata, indent=4))

    def save(self) -> None:
        """Write the metadata and every VM and network spec."""
        self._save_metadata()
        self.virt_env.save()

    def _create_virt_env(self) -> VirtEnv:
        """The hook subclasses override to load their own environment class."""
        return self.VIRT_ENV_CLASS.from_prefix(self)

    @property
    def virt_env(self) -> VirtEnv:
        if self._virt_env is None:
            if not self._has_virt():
                raise PrefixIncomplete(self.prefix)
            self._virt_env = self._create_virt_env()
        return self._virt_env

    # -- creation ------------------------------------------------------------
    def initialize(self) -> None:
        """Make the directory, its uuid, SSH keys and the ``initialized`` tag."""
        with LogTask("Initialize prefix"):
            try:
                os.mkdir(self.prefix)
            except OSError as err:
                raise PrefixError(
                    f"Could not create prefix at {self.prefix}: {err.strerror}"
                ) from err
            atomic_write(self.paths.uuid(), uuid_mod.uuid1().hex)
            self._create_ssh_keys()
            open(self.paths.prefix_lagofile(), "w").close()

    def _create_ssh_keys(self) -> None:
        with LogTask("Create ssh keys"):
            key = self.paths.ssh_id_rsa()
            # 2048 bits, as ssh-keygen made when the original was current: a
            # third of the CPU of today's 3072-bit default, for init and for
            # every load of the key
            result = run_command(
                ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", f"lago@{os.path.basename(self.prefix)}", "-f", key]
            )  # fmt: skip
            if result.code:
                raise PrefixError(
                    f"Failed to create ssh keys at {key}: "
                    f"ssh-keygen: {why(result.err, 'ssh-keygen')}"
                )
            os.chmod(key, 0o600)
            os.chmod(self.paths.ssh_id_rsa_pub(), 0o600)

    def virt_conf_from_stream(
        self,
        conf_fd: IO[str],
        template_repo: Any = None,
        template_store: Any = None,
        do_bootstrap: bool = True,
        do_build: bool = True,
    ) -> None:
        init_file = load_init_file(conf_fd.name)
        self.virt_conf(init_file, template_repo, template_store, do_bootstrap, do_build)

    def virt_conf(
        self,
        conf: InitFile,
        template_repo: Any = None,
        template_store: Any = None,
        do_bootstrap: bool = True,
        do_build: bool = True,
    ) -> None:
        from lago.populate import populate
        from lago.template_source import TemplateOptions, TemplateSource

        templates = template_repo
        if not isinstance(templates, TemplateSource):
            templates = TemplateOptions.resolve(
                repo_path=template_repo, store=template_store
            ).source()
        self._virt_env = populate(self, conf, templates, do_bootstrap, do_build)
        self._metadata = None  # populate wrote a new one

    def build(self, conf: InitFile) -> None:
        """Run the ``build`` steps of the init file on the VMs."""
        from lago.build import build_env

        del conf  # the VM specs saved in the prefix hold the build steps
        build_env(self.virt_env)

    def fetch_url(self, url: str) -> str:
        """Read an init file (or any text) from ``url``."""
        return fetch_text(url)

    def resolve_parent(
        self, disk_path: str, template_store: Any, template_repo: Any
    ) -> tuple[str | None, str | None]:
        """The backing file of ``disk_path`` and the template version it came
        from, or ``(None, None)`` for a disk without one."""
        return backing_of(disk_path, template_store, template_repo)

    # -- lifecycle (exposed to the SDK) ---------------------------------
    @expose
    def start(
        self,
        vm_names: list[str] | None = None,
        wait_for_ssh: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Start the VMs; with ``wait_for_ssh`` also wait until they are ready
        (``timeout`` s at most, default the configured ``[start] timeout``)."""
        self.virt_env.start(vm_names=vm_names)
        if wait_for_ssh:
            self.wait_for_ssh(vm_names, timeout=timeout)

    @expose
    def stop(self, vm_names: list[str] | None = None) -> None:
        self.virt_env.stop(vm_names=vm_names)

    @expose
    def shutdown(self, vm_names: list[str] | None = None, reboot: bool = False) -> None:
        self.virt_env.shutdown(vm_names=vm_names, reboot=reboot)

    @expose
    def get_vms(self) -> dict[str, Any]:
        return self.virt_env.get_vms()

    @expose
    def get_nets(self) -> dict[str, Any]:
        return self.virt_env.get_nets()

    @expose
    def get_paths(self) -> Paths:
        return self.paths

    @expose
    def export_vms(  # noqa: PLR0917 - the original's signature
        self,
        vms_names: list[str] | None = None,
        standalone: bool = False,
        export_dir: str = ".",
        compress: bool = False,
        init_file_name: str = "LagoInitFile",
        out_format: Any = None,
        collect_only: bool = False,
        with_threads: bool = True,
    ) -> dict[str, list[str]] | None:
        """Export the VMs' disks and an init file that rebuilds them.

        The VMs must be off. ``out_format`` (an output plugin, YAML by
        default) writes the init file. With ``collect_only``, nothing is
        exported: returns ``{vm name: [disk paths]}``.
        """
        return self.virt_env.export_vms(
            vms_names, standalone, export_dir, compress, init_file_name,
            out_format, collect_only, with_threads,
        )  # fmt: skip

    def wait_for_ssh(
        self, vm_names: list[str] | None = None, timeout: float | None = None
    ) -> None:
        self.virt_env.wait_for_ssh(vm_names, timeout=timeout)

    @expose
    def create_snapshots(self, name: str) -> None:
        self.virt_env.create_snapshots(name)

    @expose
    def revert_snapshots(self, name: str) -> None:
        self.virt_env.revert_snapshots(name)

    @expose
    def get_snapshots(self) -> dict[str, list[str]]:
        return self.virt_env.get_snapshots()

    # -- artifacts and deploy scripts (exposed to the SDK) ---------------
    @expose
    def collect_artifacts(self, output_dir: str, ignore_nopath: bool) -> None:
        """Copy every VM's ``artifacts`` into ``output_dir/<vm>/``."""
        with LogTask("Collect artifacts"):
            prepare_output_dir(output_dir)
            collect_from_vms(
                self.virt_env.get_vms().values(), output_dir, ignore_nopath
            )

    def _get_scripts(self, host_metadata: dict[str, Any]) -> list[str]:
        return scripts_of(host_metadata)

    def _set_scripts(
        self, host_metadata: dict[str, Any], scripts: list[str]
    ) -> dict[str, Any]:
        host_metadata["deploy-scripts"] = list(scripts)
        return host_metadata

    def _deploy_host(self, host: Any) -> None:
        with LogTask(f"Deploy VM {host.name()}"):
            scripts = self._get_scripts(host.metadata)
            run_scripts(host, expanded_scripts(host.name(), scripts, self.paths.prefix))

    @expose
    def deploy(self) -> None:
        """Run each VM's deploy scripts on it, VMs in parallel."""
        with LogTask("Deploy environment"):
            hosts = [
                vm
                for vm in self.virt_env.get_vms().values()
                if self._get_scripts(vm.metadata)
            ]
            for host in hosts:  # every script checked before any runs
                scripts = self._get_scripts(host.metadata)
                expanded_scripts(host.name(), scripts, self.paths.prefix)
            invoke_in_parallel(self._deploy_host, hosts)

    def _has_virt(self) -> bool:
        return os.path.exists(self.paths.virt("env"))

    def _release_leases(self) -> None:
        if not self._has_virt():
            self._release_orphaned_leases()
            return
        gateways = [
            net.gw()
            for net in self.virt_env.get_nets().values()
            if net.gw() and net.spec.get("type", "nat") == "nat"
        ]
        self._subnet_store.release(gateways, uuid_path=self.paths.uuid())

    def _destroy_remote_storage(self) -> None:
        """The prefix's volumes and pool on a remote libvirt host, if any."""
        if not os.path.exists(self.paths.uuid()):
            return
        try:
            storage = storage_for(self.uuid)
            if storage is not None:
                storage.destroy()
        except Exception as err:  # the host may be gone: the rest still goes
            LOGGER.warning("Could not delete the prefix's remote volumes: %s", err)

    def _release_orphaned_leases(self) -> None:
        """The leases of a prefix whose init was killed before it saved
        ``virt/env``: found by the uuid they record."""
        try:
            uuid = self.uuid
        except OSError:
            return  # killed before the uuid was written: it leased nothing
        if not uuid:
            return
        store = self._subnet_store
        subnets = [lease.subnet for lease in store.list_leases(uuid=uuid)]
        if subnets:
            store.release(subnets, uuid_path=self.paths.uuid())

    def cleanup(self) -> None:
        """Stop everything and mark the prefix uninitialized."""
        with LogTask("Cleanup prefix"):
            if self._has_virt():
                self.virt_env.stop()
            with LogTask("Tag prefix as uninitialized"):
                if os.path.exists(self.paths.prefix_lagofile()):
                    os.unlink(self.paths.prefix_lagofile())

    def destroy(self) -> None:
        """Stop VMs and networks, release the leases, remove the directory."""
        with LogTask(f"Destroy prefix {os.path.basename(self.prefix)}"):
            if self._has_virt():
                try:
                    self.virt_env.stop()
                except Exception as err:  # the daemon or objects may be gone
                    LOGGER.warning("Could not stop the environment cleanly: %s", err)
            self._destroy_remote_storage()
            # only after stopping: a lease freed while its network still ran
            # would hand the same subnet to the next environment
            self._release_leases()
            if os.path.exists(self.paths.prefix_lagofile()):
                os.unlink(self.paths.prefix_lagofile())
            shutil.rmtree(self.prefix, ignore_errors=True)
