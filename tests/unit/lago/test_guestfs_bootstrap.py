"""Bootstrap of seedless disks in one libguestfs appliance, on a faked handle."""

from __future__ import annotations

import os
import subprocess

import pytest

from lago import guestfs_bootstrap
from lago.guest_prep import GuestSpec
from lago.guestfs_bootstrap import BootstrapError, bootstrap_guests

from .fake_guestfs import FakeDisk, FakeFS, FakeGuestFS

KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 lago@prefix"
TEMPLATE_SHADOW = (
    "root:$6$old$oldhash:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\n"
)


def tiny_root(uuid: str = "0000-root") -> FakeFS:
    """A busybox-like root: no distribution libguestfs would know."""
    fs = FakeFS(uuid=uuid, label="lago-root")
    fs.put("/etc/fstab", "LABEL=lago-root / ext4 defaults 0 1\n")
    fs.put("/etc/hostname", "lago-tiny\n")
    fs.put("/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tlago-tiny\n")
    fs.put("/etc/shadow", TEMPLATE_SHADOW, 0o600)
    fs.dirs.add("/root")
    return fs


def el7_disk() -> tuple[FakeDisk, FakeFS, FakeFS]:
    boot = FakeFS(vfs_type="xfs", uuid="b00t")
    boot.put("/grub2/grub.cfg", "set default=0\nset timeout=5\nmenuentry x {}\n")
    root = FakeFS(vfs_type="xfs", uuid="r00t")
    root.put(
        "/etc/fstab", "UUID=r00t / xfs defaults 0 0\nUUID=b00t /boot xfs defaults 0 0\n"
    )
    root.put("/etc/hostname", "localhost.localdomain\n")
    root.put("/etc/shadow", TEMPLATE_SHADOW, 0o000)
    root.put("/etc/sysconfig/network", "NETWORKING=yes\nHOSTNAME=localhost\n")
    root.put("/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    root.put("/etc/machine-id", "0123456789abcdef\n", 0o444)
    root.put("/etc/ssh/ssh_host_rsa_key", "secret", 0o600)
    root.put("/etc/ssh/ssh_host_rsa_key.pub", "public")
    root.put("/etc/ssh/sshd_config", "PermitRootLogin yes\n")
    root.put("/usr/libexec/openssh/sshd-keygen", "#!/bin/sh\n", 0o755)
    for unit in ("kdump.service", "postfix.service", "sshd.service"):
        root.put(f"/etc/systemd/system/multi-user.target.wants/{unit}", "")
    root.dirs.add("/root")
    root.dirs.add("/boot")
    return FakeDisk(partitions=[boot, root]), root, boot


def spec(vm: str, disk: str, distro: str = "tiny", **kwargs: object) -> GuestSpec:
    values: dict = {
        "root_password": "s3cret",
        "iscsi_name": f"iqn.2014-07.org.lago:{vm}",
    }
    values.update(kwargs)
    return GuestSpec(
        vm=vm, disk=disk, distro=distro, hostname=vm, ssh_key=KEY, **values
    )


class Factory:
    """Hands out fake handles over the same disks and keeps them."""

    def __init__(self, disks: dict[str, FakeDisk], **kwargs: object) -> None:
        self.disks = disks
        self.kwargs = kwargs
        self.handles: list[FakeGuestFS] = []

    def __call__(self) -> FakeGuestFS:
        handle = FakeGuestFS(self.disks, **self.kwargs)
        self.handles.append(handle)
        return handle


def crypt_check(password: str, hashed: str) -> bool:
    salt = hashed.split("$")[2]
    out = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=password, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return out == hashed


def test_three_clones_are_bootstrapped_in_one_appliance_each_with_its_own_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roots = {f"/img/vm0{i}.qcow2": tiny_root() for i in (1, 2, 3)}
    factory = Factory({path: FakeDisk(partitions=[fs]) for path, fs in roots.items()})
    guests = [
        spec(f"vm0{i}", f"/img/vm0{i}.qcow2", disk_format="qcow2") for i in (1, 2, 3)
    ]

    monkeypatch.delenv("LIBGUESTFS_BACKEND", raising=False)
    bootstrap_guests(guests, force_tcg=True, factory=factory)

    assert len(factory.handles) == 1
    g = factory.handles[0]
    assert g.drives == [(guest.disk, {"format": "qcow2"}) for guest in guests]
    assert g.settings["backend"] == "direct"
    assert g.settings["backend_settings"] == ["force_tcg"]
    assert g.settings["memsize"] == guestfs_bootstrap.memsize_for(3)
    assert g.shut_down and g.closed
    for i, fs in enumerate(roots.values(), start=1):
        name = f"vm0{i}"
        assert fs.text("/etc/hostname") == f"{name}\n"
        assert fs.text("/etc/hosts") == f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"
        assert fs.text("/root/.ssh/authorized_keys") == f"{KEY}\n"
        assert fs.modes["/root/.ssh"] == 0o700
        assert fs.modes["/root/.ssh/authorized_keys"] == 0o600
        assert (
            fs.owners["/root/.ssh"] == fs.owners["/root/.ssh/authorized_keys"] == (0, 0)
        )
        root_line, daemon_line = fs.text("/etc/shadow").splitlines()
        fields = root_line.split(":")
        assert fields[0] == "root" and fields[2:] == [
            "19700",
            "0",
            "99999",
            "7",
            "",
            "",
            "",
        ]
        assert crypt_check("s3cret", fields[1])
        assert daemon_line == "daemon:*:19700:0:99999:7:::"
        assert fs.modes["/etc/shadow"] == 0o600
        assert not fs.files.get("/.autorelabel")


def test_kvm_hosts_leave_the_backend_settings_alone_and_the_environment_is_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIBGUESTFS_BACKEND", raising=False)
    factory = Factory({"/img/a": FakeDisk(partitions=[tiny_root()])})
    before = {k: v for k, v in os.environ.items() if k.startswith("LIBGUESTFS")}
    bootstrap_guests([spec("vm01", "/img/a")], force_tcg=False, factory=factory)
    assert "backend_settings" not in factory.handles[0].settings
    assert factory.handles[0].drives == [("/img/a", {})]
    assert {k: v for k, v in os.environ.items() if k.startswith("LIBGUESTFS")} == before


def test_a_backend_the_user_chose_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBGUESTFS_BACKEND", "libvirt")
    factory = Factory({"/img/a": FakeDisk(partitions=[tiny_root()])})
    bootstrap_guests([spec("vm01", "/img/a")], force_tcg=True, factory=factory)
    assert factory.handles[0].settings["backend"] == "libvirt"
    assert factory.handles[0].settings["backend_settings"] == ["force_tcg"]


def test_an_existing_authorized_key_is_kept_and_ours_added_once() -> None:
    fs = tiny_root().put(
        "/root/.ssh/authorized_keys", "ssh-ed25519 AAAAother user", 0o644
    )
    factory = Factory({"/img/a": FakeDisk(partitions=[fs])})
    bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    assert (
        fs.text("/root/.ssh/authorized_keys") == f"ssh-ed25519 AAAAother user\n{KEY}\n"
    )
    assert fs.modes["/root/.ssh/authorized_keys"] == 0o600


def test_el7_gets_network_iscsi_grub_and_a_clone_identity() -> None:
    disk, root, boot = el7_disk()
    factory = Factory({"/img/el": disk})
    guest = spec(
        "db",
        "/img/el",
        "el7",
        macs={"eth0": "54:52:c0:a8:c8:02", "eth1": "54:52:c0:a8:c9:02"},
    )

    bootstrap_guests([guest], factory=factory)

    assert root.text("/etc/hostname") == "db\n"
    assert root.text("/etc/sysconfig/network") == "NETWORKING=yes\nHOSTNAME=db\n"
    assert root.text("/etc/sysconfig/network-scripts/ifcfg-eth1") == (
        "HWADDR=54:52:c0:a8:c9:02\nBOOTPROTO=dhcp\nONBOOT=yes\nTYPE=Ethernet\nNAME=eth1\n"
    )
    assert root.text("/etc/iscsi/initiatorname.iscsi") == (
        "InitiatorName=iqn.2014-07.org.lago:db:db\n"
    )
    assert root.modes["/etc/iscsi"] == 0o755
    # /boot is its own file system, found through fstab's UUID
    assert "set timeout=0\n" in boot.text("/grub2/grub.cfg")
    wants = "/etc/systemd/system/multi-user.target.wants"
    assert f"{wants}/kdump.service" not in root.files
    assert f"{wants}/postfix.service" not in root.files
    assert f"{wants}/sshd.service" in root.files
    assert root.text("/etc/machine-id") == ""
    assert not any(path.startswith("/etc/ssh/ssh_host_") for path in root.files)
    assert "/etc/ssh/sshd_config" in root.files
    assert "/.autorelabel" in root.files


def test_debian_gets_interfaces_and_keeps_host_keys_it_could_not_remake() -> None:
    root = tiny_root()
    root.put("/boot/grub/grub.cfg", "set timeout=5\n")
    root.put("/etc/default/grub", "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n")
    root.put("/etc/ssh/ssh_host_ed25519_key", "secret", 0o600)
    factory = Factory({"/img/deb": FakeDisk(partitions=[root])})

    bootstrap_guests(
        [spec("web", "/img/deb", "debian", macs={"eth0": "54:52:c0:a8:c8:03"})],
        factory=factory,
    )

    assert root.text("/etc/network/interfaces") == (
        "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*.cfg\n"
    )
    assert root.text("/etc/network/interfaces.d/ifcfg-eth0.cfg") == (
        "auto eth0\niface eth0 inet dhcp\n    hwaddress ether 54:52:c0:a8:c8:03\n"
        "iface eth0 inet6 auto\n"
    )
    assert root.text("/boot/grub/grub.cfg") == "set timeout=0\n"
    assert root.text("/etc/default/grub") == "GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\n"
    assert "/etc/ssh/ssh_host_ed25519_key" in root.files
    assert "/etc/iscsi/initiatorname.iscsi" not in root.files


def test_other_distros_get_only_the_base_steps() -> None:
    root = tiny_root()
    root.put("/boot/grub/grub.cfg", "set timeout=5\n")
    factory = Factory({"/img/a": FakeDisk(partitions=[root])})
    bootstrap_guests(
        [spec("vm01", "/img/a", "tiny", macs={"eth0": "54:52:00:00:00:01"})],
        factory=factory,
    )
    assert root.text("/boot/grub/grub.cfg") == "set timeout=5\n"
    assert not [p for p in root.files if "network" in p or "iscsi" in p]


def test_clones_with_a_shared_boot_uuid_each_get_their_own_boot_edited() -> None:
    (disk1, root1, boot1), (disk2, root2, boot2) = el7_disk(), el7_disk()
    factory = Factory({"/img/1": disk1, "/img/2": disk2})
    bootstrap_guests(
        [spec("a", "/img/1", "el7"), spec("b", "/img/2", "el7")], factory=factory
    )
    assert len(factory.handles) == 1
    for root, boot, name in ((root1, boot1, "a"), (root2, boot2, "b")):
        assert root.text("/etc/hostname") == f"{name}\n"
        assert "set timeout=0" in boot.text("/grub2/grub.cfg")


def test_the_root_is_found_after_other_partitions() -> None:
    swap = FakeFS(vfs_type="swap", uuid="s")
    data = FakeFS(vfs_type="ext4", uuid="d").put("/lost+found/x", "")
    root = tiny_root()
    factory = Factory({"/img/a": FakeDisk(partitions=[swap, data, root])})
    bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    assert root.text("/etc/hostname") == "vm01\n"
    assert factory.handles[0].calls[-1] == "mount /dev/sda3 /"


def test_a_file_system_on_the_whole_device_is_a_root_too() -> None:
    root = tiny_root()
    factory = Factory({"/img/a": FakeDisk(whole=root)})
    bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    assert root.text("/etc/hostname") == "vm01\n"


def test_a_root_on_lvm_gets_an_appliance_of_its_own() -> None:
    lvm_root = tiny_root()
    factory = Factory({
        "/img/a": FakeDisk(partitions=[tiny_root()]),
        "/img/b": FakeDisk(partitions=[FakeFS(vfs_type="LVM2_member")], lvs={"/dev/vg/root": lvm_root}),
    })  # fmt: skip
    bootstrap_guests([spec("vm01", "/img/a"), spec("vm02", "/img/b")], factory=factory)
    assert len(factory.handles) == 2
    assert [path for path, _ in factory.handles[1].drives] == ["/img/b"]
    assert lvm_root.text("/etc/hostname") == "vm02\n"


def test_a_disk_without_a_root_fails_naming_the_vm_and_the_disk() -> None:
    factory = Factory({
        "/img/a": FakeDisk(partitions=[tiny_root()]),
        "/img/b": FakeDisk(partitions=[FakeFS(vfs_type="vfat")]),
    })  # fmt: skip
    with pytest.raises(BootstrapError) as err:
        bootstrap_guests(
            [spec("vm01", "/img/a"), spec("vm02", "/img/b")], factory=factory
        )
    assert str(err.value) == (
        "Failed to bootstrap VM vm02 disk /img/b: no Linux root file system found on it"
    )
    assert all(handle.closed for handle in factory.handles)


def test_a_failing_step_names_the_vm_and_the_disk_in_one_line() -> None:
    root = tiny_root()
    del root.files["/etc/shadow"]
    factory = Factory(
        {
            "/img/a": FakeDisk(partitions=[tiny_root()]),
            "/img/b": FakeDisk(partitions=[root]),
        }
    )
    with pytest.raises(BootstrapError) as err:
        bootstrap_guests(
            [spec("vm01", "/img/a"), spec("vm02", "/img/b")], factory=factory
        )
    assert (
        str(err.value)
        == "Failed to bootstrap VM vm02 disk /img/b: the guest has no /etc/shadow"
    )
    assert factory.handles[0].closed and not factory.handles[0].shut_down


def test_a_libguestfs_error_is_cut_to_its_first_line() -> None:
    factory = Factory(
        {"/img/a": FakeDisk(partitions=[tiny_root()])},
        fail_on={"chown": "chown: /root/.ssh: Input/output error\nmore detail"},
    )
    with pytest.raises(BootstrapError) as err:
        bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    assert str(err.value) == (
        "Failed to bootstrap VM vm01 disk /img/a: chown: /root/.ssh: Input/output error"
    )


def test_a_failed_launch_names_every_vm_and_disk() -> None:
    factory = Factory(
        {
            "/img/a": FakeDisk(partitions=[tiny_root()]),
            "/img/b": FakeDisk(partitions=[tiny_root()]),
        },
        fail_on={"launch": "qemu exited\nlong log"},
    )
    with pytest.raises(BootstrapError) as err:
        bootstrap_guests(
            [spec("vm01", "/img/a"), spec("vm02", "/img/b")], factory=factory
        )
    assert str(err.value) == (
        "Failed to bootstrap vm01 (/img/a), vm02 (/img/b): libguestfs: qemu exited"
    )


def test_many_disks_are_split_into_appliances_of_limited_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guestfs_bootstrap, "MAX_DISKS", 2)
    roots = {f"/img/{i}": tiny_root() for i in range(5)}
    factory = Factory({path: FakeDisk(partitions=[fs]) for path, fs in roots.items()})
    bootstrap_guests([spec(f"vm{i}", f"/img/{i}") for i in range(5)], factory=factory)
    assert [len(h.drives) for h in factory.handles] == [2, 2, 1]
    assert [fs.text("/etc/hostname") for fs in roots.values()] == [
        f"vm{i}\n" for i in range(5)
    ]


def test_an_empty_password_leaves_shadow_alone() -> None:
    root = tiny_root()
    factory = Factory({"/img/a": FakeDisk(partitions=[root])})
    bootstrap_guests([spec("vm01", "/img/a", root_password="")], factory=factory)
    assert root.text("/etc/shadow") == TEMPLATE_SHADOW


def test_files_longer_than_one_read_are_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lago import guest_prep

    monkeypatch.setattr(guest_prep, "READ_CHUNK", 4)
    root = tiny_root()
    factory = Factory({"/img/a": FakeDisk(partitions=[root])})
    bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    assert root.text("/etc/hosts") == "127.0.0.1\tlocalhost\n127.0.1.1\tvm01\n"
    assert root.text("/etc/shadow").endswith("\ndaemon:*:19700:0:99999:7:::\n")


def test_a_root_without_fstab_is_known_by_its_os_release() -> None:
    root = (
        FakeFS()
        .put("/etc/os-release", "ID=something\n")
        .put("/etc/shadow", TEMPLATE_SHADOW)
    )
    factory = Factory({"/img/a": FakeDisk(partitions=[root])})
    bootstrap_guests([spec("vm01", "/img/a")], factory=factory)
    assert root.text("/etc/hostname") == "vm01\n"
