"""What bootstrapping writes into one guest whose root is mounted at ``/``.

The steps work on a libguestfs handle (or anything with the same calls):
hostname, root's password and SSH key, a clone's identity (machine-id, SSH
host keys where the guest makes new ones), and the distribution's network,
iSCSI and boot-loader files, as ``virt-sysprep`` with Lago's command
templates used to write them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from lago.errors import LagoException
from lago.process import run_command

LOGGER = logging.getLogger(__name__)

#: A guest with one of these makes missing SSH host keys at boot, so a clone
#: may lose the template's keys; any other guest keeps them (or it has none).
HOST_KEY_MAKERS = (
    "/usr/libexec/openssh/sshd-keygen",
    "/usr/sbin/sshd-keygen",
    "/usr/lib/systemd/system/sshd-keygen@.service",
    "/usr/lib/systemd/system/sshd-keygen.service",
    "/lib/systemd/system/regenerate-ssh-host-keys.service",
)
#: Services a booted clone of el7/fedora need not start (slow, unused).
UNWANTED_UNITS = ("kdump.service", "postfix.service")
GRUB_CONFIGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
GRUB_TIMEOUT = re.compile(r"^(\s*set timeout=)\d+", re.MULTILINE)
DEFAULT_GRUB_TIMEOUT = re.compile(r"^(GRUB_TIMEOUT=)\d+", re.MULTILINE)


class GuestPrepError(LagoException):
    pass


@dataclass
class GuestSpec:
    """One VM's first disk and what to write into it."""

    vm: str
    disk: str
    distro: str
    hostname: str
    ssh_key: str
    root_password: str = ""
    iscsi_name: str = ""
    #: interface name -> MAC address, in NIC order
    macs: dict[str, str] = field(default_factory=dict)
    disk_format: str | None = None


@dataclass(frozen=True)
class DistroSteps:
    """Which of the distribution-specific steps a guest gets."""

    ifcfg: bool = False
    iscsi: bool = False
    grub: bool = False
    debian_interfaces: bool = False


def distro_steps(distro: str) -> DistroSteps:
    """The steps for Lago's distro names (``el6``, ``el7``, ``fc25``, ``debian``)."""
    el = re.fullmatch(r"el(\d+)", distro)
    if el:
        newer = int(el.group(1)) >= 7
        return DistroSteps(ifcfg=True, iscsi=True, grub=newer)
    if re.fullmatch(r"fc\d+", distro):
        return DistroSteps(iscsi=True, grub=True)
    if distro.startswith("debian"):
        return DistroSteps(grub=True, debian_interfaces=True)
    return DistroSteps()


def hash_password(password: str) -> str:
    """A SHA-512 crypt hash of ``password`` for /etc/shadow."""
    result = run_command(["openssl", "passwd", "-6", "-stdin"], input_data=password)
    hashed = result.out.strip()
    if result.code or not hashed.startswith("$6$"):
        raise GuestPrepError(
            f"Cannot hash the root password with openssl: {result.err.strip()}"
        )
    return hashed


def apply(g: Any, spec: GuestSpec, password_hash: str | None) -> None:
    """Every bootstrap step for one guest mounted at ``/`` (read-write)."""
    set_hostname(g, spec.hostname)
    if password_hash:
        set_root_password(g, password_hash)
    inject_ssh_key(g, spec.ssh_key)
    forget_identity(g)
    steps = distro_steps(spec.distro)
    if steps.iscsi:
        write_iscsi_name(g, spec.iscsi_name, spec.hostname)
    if steps.ifcfg:
        write_ifcfg(g, spec.macs)
    if steps.debian_interfaces:
        write_debian_interfaces(g, spec.macs)
    if steps.grub:
        zero_grub_timeout(g)
        for unit in UNWANTED_UNITS:
            g.rm_f(f"/etc/systemd/system/multi-user.target.wants/{unit}")
    relabel_if_selinux(g)


#: Bytes asked per read: far below the protocol's message limit.
READ_CHUNK = 256 * 1024


def _read(g: Any, path: str) -> str:
    # pread is answered by the appliance in one message; read_file would
    # download through a temporary file on the host, several times slower
    data = b""
    while True:
        chunk = g.pread(path, READ_CHUNK, len(data))
        data += chunk
        if len(chunk) < READ_CHUNK:
            return data.decode("utf-8", errors="replace")


def read_if_file(g: Any, path: str) -> str | None:
    """The file's text, or None when it is missing (or not a file).

    One call instead of a test and a read: each call to the appliance
    costs tens of milliseconds of emulated CPU.
    """
    try:
        return _read(g, path)
    except RuntimeError:
        return None


def _write(g: Any, path: str, text: str, mode: int | None = None) -> None:
    g.write(path, text.encode())
    if mode is not None:
        g.chmod(mode, path)


def set_hostname(g: Any, hostname: str) -> None:
    old = (read_if_file(g, "/etc/hostname") or "").strip()
    _write(g, "/etc/hostname", f"{hostname}\n")
    text = read_if_file(g, "/etc/sysconfig/network")
    if text is not None:
        line = f"HOSTNAME={hostname}"
        text, count = re.subn(r"^HOSTNAME=.*$", line, text, flags=re.MULTILINE)
        _write(g, "/etc/sysconfig/network", text if count else f"{text}{line}\n")
    hosts = read_if_file(g, "/etc/hosts") if old and old != "localhost" else None
    if hosts is not None:
        _write(
            g,
            "/etc/hosts",
            re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", hostname, hosts),
        )


def set_root_password(g: Any, password_hash: str) -> None:
    shadow = read_if_file(g, "/etc/shadow")
    if shadow is None:
        raise GuestPrepError("the guest has no /etc/shadow")
    lines = shadow.splitlines()
    for index, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == "root" and len(fields) > 1:
            fields[1] = password_hash
            lines[index] = ":".join(fields)
            break
    else:
        lines.insert(0, f"root:{password_hash}:0:0:99999:7:::")
    _write(g, "/etc/shadow", "\n".join(lines) + "\n")


def inject_ssh_key(g: Any, key: str) -> None:
    key = key.strip()
    g.mkdir_p("/root/.ssh")
    g.chmod(0o700, "/root/.ssh")
    g.chown(0, 0, "/root/.ssh")
    path = "/root/.ssh/authorized_keys"
    text = read_if_file(g, path) or ""
    if key not in text.splitlines():
        if text and not text.endswith("\n"):
            text += "\n"
        text += f"{key}\n"
    _write(g, path, text, 0o600)
    g.chown(0, 0, path)


def forget_identity(g: Any) -> None:
    """What makes each clone its own machine: a new machine-id and host keys."""
    try:
        # an empty file: systemd makes a new id at boot and keeps it
        g.truncate("/etc/machine-id")
    except RuntimeError:
        pass  # a guest without systemd has none
    g.rm_f("/var/lib/dbus/machine-id")
    keys = g.glob_expand("/etc/ssh/ssh_host_*")
    if keys and any(g.exists(path) for path in HOST_KEY_MAKERS):
        for path in keys:
            g.rm_f(path)


def write_iscsi_name(g: Any, iscsi_name: str, hostname: str) -> None:
    g.mkdir_p("/etc/iscsi")
    g.chmod(0o755, "/etc/iscsi")
    _write(
        g, "/etc/iscsi/initiatorname.iscsi", f"InitiatorName={iscsi_name}:{hostname}\n"
    )


def write_ifcfg(g: Any, macs: dict[str, str]) -> None:
    directory = "/etc/sysconfig/network-scripts"
    g.mkdir_p(directory)
    for iface, mac in macs.items():
        text = (
            f"HWADDR={mac}\nBOOTPROTO=dhcp\nONBOOT=yes\nTYPE=Ethernet\nNAME={iface}\n"
        )
        _write(g, f"{directory}/ifcfg-{iface}", text, 0o644)


def write_debian_interfaces(g: Any, macs: dict[str, str]) -> None:
    g.mkdir_p("/etc/network/interfaces.d")
    _write(
        g,
        "/etc/network/interfaces",
        "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*.cfg\n",
    )
    for iface, mac in macs.items():
        text = (
            f"auto {iface}\niface {iface} inet dhcp\n    hwaddress ether {mac}\n"
            f"iface {iface} inet6 auto\n"
        )
        _write(g, f"/etc/network/interfaces.d/ifcfg-{iface}.cfg", text)


def zero_grub_timeout(g: Any) -> None:
    """No boot menu wait: a test VM is never booted by hand into another entry."""
    for path in GRUB_CONFIGS:
        if g.is_file(path):
            _write(g, path, GRUB_TIMEOUT.sub(r"\g<1>0", _read(g, path)))
    if g.is_file("/etc/default/grub"):
        text = _read(g, "/etc/default/grub")
        _write(g, "/etc/default/grub", DEFAULT_GRUB_TIMEOUT.sub(r"\g<1>0", text))


def relabel_if_selinux(g: Any) -> None:
    """Files written from outside carry no SELinux label: relabel at first boot."""
    config = read_if_file(g, "/etc/selinux/config")
    if config and re.search(r"^SELINUX=(enforcing|permissive)", config, re.MULTILINE):
        g.touch("/.autorelabel")
