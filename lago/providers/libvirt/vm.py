"""The ``local-libvirt`` VM provider: transient libvirt domains.

A domain exists in libvirt only while it runs: ``start`` creates it from the
spec, ``stop`` destroys it, so a stopped environment leaves nothing defined.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from typing import Any

from lago import dns_names, interrupt, nocloud, sysprep
from lago.config import config
from lago.errors import LagoException, LagoUserException, why
from lago.guest_prep import GuestSpec
from lago.naming import ipv4_to_mac
from lago.plugins.vm import VMError, VMProviderPlugin, expand_path
from lago.process import CommandStatus, run_interactive_command
from lago.providers.libvirt import host as lvhost
from lago.providers.libvirt import leases as lvleases
from lago.providers.libvirt import (
    remote_disks,
    remote_export,
    remote_snapshot,
    vm_compat,
)
from lago.providers.libvirt import snapshot as lvsnapshot
from lago.providers.libvirt import utils as lvutils
from lago.providers.libvirt.disk_chain import backing_layers
from lago.providers.libvirt.domain_xml import domain_xml
from lago.snapshots import reclaim, snapshot_disks

LOGGER = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 300
SEED_DISK_NAME = "lago-seed"


def seed_dev(disks: list[dict[str, Any]]) -> str:
    """A ``vd*`` name after every virtio disk's: the seed is a read-only virtio
    disk, and coming last it leaves the guest's names of the others alone."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    used = [
        letters.index(dev[2])
        for dev in (str(disk.get("dev")) for disk in disks)
        if len(dev) == 3 and dev.startswith("vd") and dev[2] in letters
    ]
    after = max(used, default=-1) + 1
    if after < len(letters):
        return f"vd{letters[after]}"
    return "hdc"  # every virtio name taken: the IDE CD-ROM still works


LagoLocalLibvirtVMProviderException = vm_compat.LagoLocalLibvirtVMProviderException


class LagoSnapshotError(LagoUserException):
    pass


class LocalLibvirtVMProvider(vm_compat.LibvirtVMViews, VMProviderPlugin):
    def __init__(self, vm: Any) -> None:
        super().__init__(vm)
        self._env = vm.virt_env

    # -- libvirt plumbing -------------------------------------------------
    @property
    def libvirt_con(self) -> Any:
        return lvutils.configured_connection(self._env.uuid)

    def host_facts(self) -> lvhost.HostFacts:
        return lvhost.probe_host(
            self.libvirt_con, str(config.get("domain_type") or "auto")
        )

    def _libvirt_name(self) -> str:
        return self._env.prefixed_name(self.vm.name())

    def _get_domain(self) -> Any:
        import libvirt

        return lvutils.unless_gone(
            lambda: self.libvirt_con.lookupByName(self._libvirt_name()),
            libvirt.VIR_ERR_NO_DOMAIN,
        )

    def serial_log_path(self) -> str:
        return self._env.prefix.paths.prefixed("logs", f"{self.vm.name()}.serial.log")

    def _mgmt_mac(self) -> str | None:
        ip = self.vm.ip()
        return ipv4_to_mac(ip) if ip else None

    def dhcp_lease(self) -> str | None:
        """The IPv4 address leased to the management NIC, or None (readiness)."""
        dom = self._get_domain()
        if dom is None:
            return None
        ips = lvleases.leased_ips(dom, self._mgmt_mac())
        return ips[0] if ips else None

    def missing_lease_reason(self) -> str:
        """Why the management NIC may have no lease (readiness diagnosis)."""
        net = self._env.get_net(self.vm.mgmt_name)
        return lvleases.missing_lease_reason(
            self.libvirt_con, net.libvirt_name(), self._mgmt_mac(), self.vm.ip()
        )

    def _libvirt_xml(self) -> str:
        spec = copy.deepcopy(self.vm.spec)
        prefix_path = self._env.prefix.paths.prefix
        for disk in spec.get("disks", []):
            disk["path"] = expand_path(disk["path"], prefix_path)
        net_names = {
            name: net.libvirt_name() for name, net in self._env.get_nets().items()
        }
        os.makedirs(os.path.dirname(self.serial_log_path()), exist_ok=True)
        # a remote host cannot write into the local prefix, and its disk paths
        # are not files here for qemu-img to read the backing chain of
        remote = remote_disks.is_remote(remote_disks.env_libvirt_url(self._env.uuid))
        backing = (
            {}
            if remote
            else {
                disk["path"]: backing_layers(disk["path"])
                for disk in spec.get("disks", [])
                if disk.get("format") != "iso"
            }
        )
        return domain_xml(
            spec,
            libvirt_name=self._libvirt_name(),
            net_names=net_names,
            host=self.host_facts(),
            serial_log=None if remote else self.serial_log_path(),
            distro=self.vm.distro(),
            backing=backing,
        )

    # -- lifecycle ------------------------------------------------------------
    def defined(self, *args: Any, **kwargs: Any) -> bool:
        return self._get_domain() is not None

    def start(self, *args: Any, **kwargs: Any) -> None:
        import libvirt

        if self.defined():
            return
        wait_suspend = os.environ.get("LAGO__START__WAIT_SUSPEND")
        flags = libvirt.VIR_DOMAIN_START_PAUSED if wait_suspend else 0
        try:
            dom = self.libvirt_con.createXML(self._libvirt_xml(), flags)
        except libvirt.libvirtError as err:
            raise self._start_error(err) from err
        if wait_suspend:
            interrupt.sleep(float(wait_suspend))
            dom.resume()

    def _start_error(self, err: Any) -> LagoException:
        LOGGER.debug("libvirt could not start %s:\n%s", self.vm.name(), err)
        message = f"libvirt: {why(str(err))}"
        if "Cannot access storage file" in message or "Permission denied" in message:
            return LagoUserException(
                f"Failed to start VM {self.vm.name()}: {message}",
                hint="The qemu user must reach the images: try 'chmod o+x' on each "
                "directory above the workdir and the template store.",
            )
        return VMError(f"Failed to start VM {self.vm.name()}: {message}")

    def stop(self, *args: Any, **kwargs: Any) -> None:
        import libvirt

        dom = self._get_domain()
        if dom is None:
            return
        # gone, or not running any more: stopped either way
        lvutils.unless_gone(
            dom.destroy, libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID
        )

    def _has_acpi(self, dom: Any) -> bool:
        return "<acpi/>" in dom.XMLDesc(0)

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        dom = self._get_domain()
        if dom is None:
            return
        if self._has_acpi(dom):
            dom.shutdown()
        else:
            self.vm.ssh(["poweroff"], propagate_fail=False)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        while self.defined():
            if time.monotonic() > deadline:
                raise VMError(f"Failed to shutdown vm: {self.vm.name()}")
            time.sleep(0.5)

    def reboot(self, *args: Any, **kwargs: Any) -> None:
        dom = self._get_domain()
        if dom is None:
            raise VMError(f"Failed to reboot vm: {self.vm.name()} is not running")
        if self._has_acpi(dom):
            dom.reboot()
        else:
            self.vm.ssh(["reboot"], propagate_fail=False)

    def state(self, *args: Any, **kwargs: Any) -> str:
        import libvirt

        try:
            dom = self._get_domain()
        except libvirt.libvirtError:
            return "failed to get state"
        if dom is None:
            return "down"
        try:
            code = dom.state()[0]
        except libvirt.libvirtError:
            return "failed to get state"
        return lvutils.domain_state_name(code)

    def interactive_console(self) -> CommandStatus:
        if not self.defined():
            raise VMError(f"VM {self.vm.name()} is not running, it has no console")
        return run_interactive_command(
            ["virsh", "-c", config.get("libvirt_url"), "console", self._libvirt_name()]
        )

    # -- artifacts --------------------------------------------------------------
    def extract_paths(self, paths: list[tuple[str, str]], ignore_nopath: bool) -> None:
        """Over SSH while the VM runs and answers, else from its disk."""
        if self.defined() and self.vm.ssh_reachable(tries=1):
            super().extract_paths(paths, ignore_nopath)
            return
        LOGGER.info(
            "%s is down or does not answer SSH: reading its disk", self.vm.name()
        )
        self.extract_paths_dead(paths, ignore_nopath)

    def extract_paths_dead(
        self, paths: list[tuple[str, str]], ignore_nopath: bool
    ) -> None:
        """Read the paths from the root disk with libguestfs, read-only."""
        from lago import guestfs_tools

        disks = self.vm.spec.get("disks") or []
        if not disks:
            raise VMError(f"VM {self.vm.name()} has no disk to read artifacts from")
        root = disks[0]
        try:
            force_tcg: bool | None = self.host_facts().domain_type == "qemu"
        except Exception as err:  # no daemon: decide from this host alone
            LOGGER.debug("No libvirt host facts (%s)", err)
            force_tcg = None
        guestfs_tools.extract_paths(
            expand_path(root["path"], self._env.prefix.paths.prefix),
            (root.get("metadata") or {}).get("root-partition") or "root",
            paths,
            ignore_nopath,
            force_tcg=force_tcg,
            disk_format=root.get("format"),
            name=self.vm.name(),
        )

    # -- init-time preparation ------------------------------------------
    def bootstrap(self, *args: Any, guest_batch: Any = None, **kwargs: Any) -> None:
        """Seed or write the first disk; ``guest_batch`` collects seedless ones."""
        disks = self.vm.spec.get("disks") or []
        if (
            not disks
            or disks[0].get("type") == "empty"
            or disks[0].get("format") == "iso"
        ):
            return
        if nocloud.supports_seed(disks[0].get("metadata") or {}):
            self._bootstrap_seed()
        elif self._remote_storage() is not None:
            raise remote_disks.RemoteDiskError(
                f"VM {self.vm.name()}: its template has no NoCloud seed, and a disk "
                "on a remote libvirt host cannot be prepared from here"
            )
        elif guest_batch is not None:
            guest_batch.add(
                self._guest_spec(disks[0]),
                force_tcg=self.host_facts().domain_type == "qemu",
            )
        else:
            self._bootstrap_sysprep(disks[0])

    def _bootstrap_seed(self) -> None:
        paths = self._env.prefix.paths
        with open(paths.ssh_id_rsa_pub()) as stream:
            key = stream.read()
        seed_file = f"{self.vm.name()}_seed.iso"
        nocloud.make_seed(
            paths.images(seed_file),
            hostname=self.vm.name(),
            authorized_keys=[key],
            root_password=self.vm.root_password() or None,
            instance_id=f"{self._env.uuid}-{self.vm.name()}",
            fqdn=dns_names.fqdn(
                self.vm.name(), self.vm.mgmt_net.spec.get("dns_domain_name")
            ),
        )
        disks = self.vm.spec["disks"]
        disks[:] = [disk for disk in disks if disk.get("name") != SEED_DISK_NAME]
        disks.append(
            {
                "type": "file",
                "name": SEED_DISK_NAME,
                "dev": seed_dev(disks),
                "format": "iso",
                "path": f"$LAGO_PREFIX_PATH/images/{seed_file}",
                "skip-export": True,
            }
        )
        remote = self._remote_storage()
        if remote is not None:
            disks[-1] = remote.upload(paths.images(seed_file), seed_file, disks[-1])

    def _remote_storage(self) -> remote_disks.PrefixStorage | None:
        return remote_disks.storage_for(self._env.uuid)

    def _bootstrap_sysprep(self, disk: dict[str, Any]) -> None:
        paths = self._env.prefix.paths
        nics = self.vm.nics()
        sysprep.sysprep(
            expand_path(disk["path"], paths.prefix),
            self.vm.distro() or "base",
            hostname=self.vm.name(),
            root_password=self.vm.root_password(),
            ssh_key=paths.ssh_id_rsa_pub(),
            iscsi_name=self.vm.iscsi_name(),
            mappings={
                f"eth{i}": nic["ip"] for i, nic in enumerate(nics) if nic.get("ip")
            },
            force_tcg=self.host_facts().domain_type == "qemu",
        )

    def _guest_spec(self, disk: dict[str, Any]) -> GuestSpec:
        paths = self._env.prefix.paths
        with open(paths.ssh_id_rsa_pub()) as stream:
            key = stream.read()
        return GuestSpec(
            vm=self.vm.name(),
            disk=expand_path(disk["path"], paths.prefix),
            disk_format=disk.get("format"),
            distro=self.vm.distro() or "base",
            hostname=self.vm.name(),
            ssh_key=key,
            root_password=self.vm.root_password(),
            iscsi_name=self.vm.iscsi_name(),
            macs={
                f"eth{i}": ipv4_to_mac(nic["ip"])
                for i, nic in enumerate(self.vm.nics())
                if nic.get("ip")
            },
        )

    # -- export -----------------------------------------------------------------
    def export_disks(
        self,
        standalone: bool,
        dst_dir: str | None,
        compress: bool,
        collect_only: bool = False,
        with_threads: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> list[str]:
        from lago.export import VMExportManager

        prefix_path = self._env.prefix.paths.prefix
        disks = [
            {**disk, "path": expand_path(disk["path"], prefix_path)}
            for disk in self.vm.spec.get("disks", [])
        ]
        remote = self._remote_storage()
        if remote is None or collect_only:
            manager = VMExportManager(
                disks, dst_dir or ".", compress, with_threads, *args,
                standalone=standalone, **kwargs,
            )  # fmt: skip
            return manager.collect_paths() if collect_only else manager.export()
        # volumes of a remote host: downloaded first, exported from here
        images = self._env.prefix.paths.images()
        with remote_export.staged_disks(remote.conn, disks, images) as local:
            manager = VMExportManager(
                local, dst_dir or ".", compress, with_threads, *args,
                standalone=standalone, **kwargs,
            )  # fmt: skip
            return manager.export()

    # -- snapshots -----------------------------------------------------------
    def prefix_path(self) -> str:
        return self._env.prefix.paths.prefix

    def create_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        remote = self._remote_storage()
        if remote is not None:
            remote_snapshot.create(self, remote, name)
        elif self.defined():
            self._create_live_snapshot(name)
        else:
            self._create_dead_snapshot(name)

    def revert_snapshot(self, name: str, *args: Any, **kwargs: Any) -> None:
        remote = self._remote_storage()
        if remote is not None:
            remote_snapshot.revert(self, remote, name)
        else:
            lvsnapshot.revert(self, name)

    def _create_dead_snapshot(self, name: str) -> None:
        lvsnapshot.create_dead(self, name)

    def _create_live_snapshot(self, name: str) -> None:
        lvsnapshot.create_live(self, name)

    def _reclaim_disk(self, path: str) -> None:
        reclaim(path)

    def _reclaim_disks(self) -> None:
        for _, disk in snapshot_disks(self.vm.spec):
            reclaim(expand_path(disk["path"], self.prefix_path()))
