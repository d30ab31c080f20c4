"""Host checks run by ``lago doctor``: each says ok, warn or fail, and the fix.

Every check is a small function returning a :class:`CheckResult`; none of
them changes the host. They look for what makes ``init`` or ``start`` fail
later with a cryptic error: no libvirt daemon, a workdir the qemu user
cannot reach, no subnet left, a template repository that does not answer.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"

QEMU_CONF = "/etc/libvirt/qemu.conf"
# Debian's libvirt runs qemu as this user unless qemu.conf says otherwise
DEFAULT_QEMU_USER = "libvirt-qemu"
MIN_FREE_BYTES = 256 * 1024**2
LOW_FREE_BYTES = 2 * 1024**3
FEW_SUBNETS = 4


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorSettings:
    """What the checks look at: the configuration in force."""

    libvirt_url: str
    domain_type: str
    workdir: Path
    template_store: Path
    lease_dir: Path
    template_repo_path: str | None
    libguestfs_launch: bool = False


# -- libvirt -----------------------------------------------------------------


def check_libvirt(settings: DoctorSettings) -> CheckResult:
    from lago.errors import LagoException
    from lago.providers.libvirt.utils import get_libvirt_connection

    try:
        conn = get_libvirt_connection("doctor", settings.libvirt_url)
        version = _version_text(int(conn.getLibVersion()))
    except LagoException as err:
        return CheckResult(
            "libvirt",
            FAIL,
            str(err),
            "start libvirtd (on the project's machines: "
            "`bash scripts/sandbox.sh start`) or fix libvirt_url",
        )
    return CheckResult(
        "libvirt", OK, f"{settings.libvirt_url} answers (libvirt {version})"
    )


def _version_text(number: int) -> str:
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def _host_virtualization(configured: str = "auto") -> tuple[str, bool]:
    """The domain type ``configured`` resolves to here, and whether KVM could
    run guests (``/dev/kvm`` usable and a vmx/svm CPU flag)."""
    from lago.providers.libvirt.host import (
        KVM_DEVICE,
        choose_domain_type,
        device_usable,
    )

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    kvm_usable = device_usable(KVM_DEVICE)
    hardware = choose_domain_type("auto", kvm_usable, cpuinfo) == "kvm"
    return choose_domain_type(configured, kvm_usable, cpuinfo), hardware


def check_virtualization(settings: DoctorSettings) -> CheckResult:
    from lago.errors import LagoException

    try:
        chosen, hw = _host_virtualization(settings.domain_type)
    except LagoException as err:
        return CheckResult("virtualization", FAIL, str(err), "set domain_type to auto")
    if chosen == "kvm" and not hw:
        return CheckResult(
            "virtualization",
            FAIL,
            "domain_type is kvm, but KVM cannot run guests here "
            "(/dev/kvm unusable or no vmx/svm CPU flag)",
            "set domain_type = auto (or qemu) in lago.conf",
        )
    if chosen == "kvm":
        return CheckResult("virtualization", OK, "KVM hardware virtualization")
    return CheckResult(
        "virtualization",
        WARN,
        "no usable KVM: guests run under TCG software emulation, several times "
        "slower (a small guest boots in seconds, a full distribution in minutes)",
        "use a host with vmx/svm and /dev/kvm for speed; Lago works without",
    )


# -- files the qemu user must reach ------------------------------------------


def qemu_user(conf: str = QEMU_CONF) -> str:
    """The user libvirt runs qemu as, from ``qemu.conf`` (Debian's default)."""
    try:
        text = Path(conf).read_text()
    except OSError:
        return DEFAULT_QEMU_USER
    match = re.search(r'^\s*user\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else DEFAULT_QEMU_USER


def _identity(user: str) -> tuple[int, set[int]] | None:
    name = user.lstrip("+")
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError):
        return None
    gids = {entry.pw_gid} | {
        g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem
    }
    return entry.pw_uid, gids


def blocking_directory(path: Path, uid: int, gids: set[int]) -> Path | None:
    """The first existing ancestor of ``path`` that ``uid`` cannot enter."""
    if uid == 0:
        return None
    for directory in reversed([path, *path.parents]):
        try:
            info = directory.stat()
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(info.st_mode):
            continue
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in gids:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def qemu_reach_problem(path: Path, user: str | None = None) -> str | None:
    """Why the qemu user cannot reach ``path``, or None when it can."""
    user = user or qemu_user()
    identity = _identity(user)
    if identity is None:
        return None
    blocked = blocking_directory(path.absolute(), *identity)
    if blocked is None:
        return None
    return (
        f"the qemu user {user!r} cannot enter {blocked} (mode "
        f"{stat.S_IMODE(blocked.stat().st_mode):04o}), so VMs of {path} would not start"
    )


def check_qemu_access(settings: DoctorSettings) -> CheckResult:
    problems = [
        f"{what}: {problem}"
        for what, path in (
            ("workdir", settings.workdir),
            ("store", settings.template_store),
        )
        if (problem := qemu_reach_problem(path))
    ]
    if problems:
        return CheckResult(
            "qemu access",
            FAIL,
            "; ".join(problems),
            "give the directory named o+x (chmod o+x DIR) or work elsewhere",
        )
    return CheckResult(
        "qemu access",
        OK,
        f"the qemu user {qemu_user()!r} reaches {settings.workdir} and "
        f"{settings.template_store}",
    )


# -- libguestfs --------------------------------------------------------------


def check_libguestfs(settings: DoctorSettings) -> CheckResult:
    try:
        import guestfs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return CheckResult(
            "libguestfs",
            WARN,
            "the guestfs Python module is missing: templates without a NoCloud "
            "seed cannot be bootstrapped",
            "install python3-guestfs and libguestfs-tools",
        )
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        return CheckResult(
            "libguestfs",
            FAIL,
            "no kernel in /boot for the libguestfs appliance",
            "install a kernel package (e.g. linux-image-cloud-amd64)",
        )
    tcg = not _host_virtualization()[1]
    settings_text = "backend direct, force_tcg" if tcg else "backend direct"
    if not settings.libguestfs_launch:
        return CheckResult(
            "libguestfs",
            OK,
            f"guestfs module and kernel {kernels[-1].name} present ({settings_text}; "
            "`lago doctor --libguestfs` launches the appliance)",
        )
    return _launch_guestfs(guestfs, tcg, settings_text)


def _launch_guestfs(guestfs: Any, tcg: bool, settings_text: str) -> CheckResult:
    handle = guestfs.GuestFS(python_return_dict=True)
    try:
        handle.set_backend("direct")
        if tcg:
            handle.set_backend_settings(["force_tcg"])
        handle.add_drive_scratch(16 * 1024**2)
        handle.launch()
    except RuntimeError as err:
        return CheckResult(
            "libguestfs",
            FAIL,
            f"the appliance did not start ({settings_text}): {err}",
            "run libguestfs-test-tool to see why",
        )
    finally:
        handle.close()
    return CheckResult("libguestfs", OK, f"the appliance starts ({settings_text})")


# -- disk space, leases, network tools ----------------------------------------


def _existing(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
    return Path("/")


def check_disk_space(settings: DoctorSettings) -> CheckResult:
    worst = OK
    parts = []
    for what, path in (
        ("workdir", settings.workdir),
        ("store", settings.template_store),
    ):
        free = shutil.disk_usage(_existing(path)).free
        parts.append(f"{what} {free / 1024**3:.1f} GiB free")
        if free < MIN_FREE_BYTES:
            worst = FAIL
        elif free < LOW_FREE_BYTES and worst == OK:
            worst = WARN
    fix = "" if worst == OK else "free disk space, or move the workdir/store"
    return CheckResult("disk space", worst, ", ".join(parts), fix)


def check_leases(settings: DoctorSettings) -> CheckResult:
    from lago.subnet_lease import SubnetStore, host_subnet_octets

    lease_dir = settings.lease_dir
    target = lease_dir if lease_dir.exists() else _existing(lease_dir)
    if not os.access(target, os.W_OK | os.X_OK):
        return CheckResult(
            "subnet leases",
            FAIL,
            f"the lease directory {lease_dir} is not writable",
            f"make {target} writable for your user, or set lease_dir",
        )
    if not lease_dir.is_dir():
        return CheckResult(
            "subnet leases", OK, f"{lease_dir} will be made by the first init"
        )
    store = SubnetStore(str(lease_dir))
    low, high = store.min_third_octet, store.max_third_octet
    used = {
        int(lease.subnet.split(".")[2]) for lease in store.list_leases() if lease.valid
    }
    busy = used | host_subnet_octets()
    total = high - low + 1
    free = sum(1 for octet in range(low, high + 1) if octet not in busy)
    detail = f"{free} of {total} subnets free in {lease_dir}"
    if free == 0:
        return CheckResult(
            "subnet leases", FAIL, detail, "destroy environments you no longer need"
        )
    if free <= FEW_SUBNETS:
        return CheckResult(
            "subnet leases", WARN, detail, "destroy environments you no longer need"
        )
    return CheckResult("subnet leases", OK, detail)


def check_network_tools(settings: DoctorSettings) -> CheckResult:
    missing = [tool for tool in ("dnsmasq",) if not _which(tool)]
    firewall = [tool for tool in ("iptables", "nft") if _which(tool)]
    if not firewall:
        missing.append("iptables or nft")
    if missing:
        return CheckResult(
            "network tools",
            FAIL,
            f"missing: {', '.join(missing)} (libvirt's NAT networks need them)",
            "install dnsmasq-base and iptables",
        )
    return CheckResult("network tools", OK, f"dnsmasq, firewall backend {firewall[0]}")


def _which(tool: str) -> str | None:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return shutil.which(tool, path=path)


def check_template_repo(settings: DoctorSettings) -> CheckResult:
    from lago.errors import LagoException
    from lago.templates import TemplateRepository

    path = settings.template_repo_path
    if not path:
        return CheckResult(
            "templates",
            FAIL,
            "no template repository is configured",
            "build the embedded one (`bash scripts/build-templates.sh`) or set "
            "template_repo_path",
        )
    try:
        repo = TemplateRepository.from_url(path)
    except (LagoException, OSError, ValueError) as err:
        return CheckResult(
            "templates",
            FAIL,
            f"the template repository {path} cannot be read: {err}",
            "build the embedded one (`bash scripts/build-templates.sh`) or fix "
            "template_repo_path",
        )
    names = sorted(repo._dom.get("templates", {}))
    return CheckResult(
        "templates", OK, f"{repo.name} at {path} offers {', '.join(names) or 'nothing'}"
    )


CHECKS: tuple[Callable[[DoctorSettings], CheckResult], ...] = (
    check_libvirt,
    check_virtualization,
    check_qemu_access,
    check_libguestfs,
    check_disk_space,
    check_leases,
    check_network_tools,
    check_template_repo,
)


def run_checks(settings: DoctorSettings) -> list[CheckResult]:
    """Run every check; a check that crashes is reported as failed."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as err:  # a broken check must not hide the others
            LOGGER.debug("check %s crashed", check.__name__, exc_info=True)
            name = check.__name__.removeprefix("check_").replace("_", " ")
            results.append(CheckResult(name, FAIL, f"the check itself failed: {err}"))
    return results
