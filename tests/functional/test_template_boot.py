"""Boot the embedded templates on a real libvirtd and log in over SSH.

Each test builds (or reuses) the local template repository, makes a qcow2
overlay and a NoCloud seed ISO (a fresh SSH key, a hostname, for tiny also a
root password), starts a transient NAT network and a transient TCG domain,
waits for the DHCP lease and an SSH login, checks the hostname, the readiness
line on the serial console and password login, then presses the ACPI power
button and waits for the domain to go away. Everything is removed afterwards.

Runs only inside the project's sandbox (``scripts/sandbox.sh exec ...``): the
libvirt daemon must answer and this process must be in the namespace.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional

REPO_ROOT = Path(__file__).resolve().parents[2]
NETNS = os.environ.get("LAGO_NETNS", "lago-sandbox")
LIBVIRT_URI = os.environ.get("LAGO_LIBVIRT_URL", "qemu:///system")
TEMPLATE_REPO = Path(
    os.environ.get("LAGO_TEST_TEMPLATE_REPO", "/var/lib/lago/repos/lago-local")
)
ROOT_PASSWORD = "123456"


def _in_namespace() -> bool:
    if os.environ.get("LAGO_USE_HOST_LIBVIRT") == "1":
        return True
    try:
        ours = os.stat("/proc/self/ns/net").st_ino
        sandbox = os.stat(f"/run/netns/{NETNS}").st_ino
    except OSError:
        return False
    return ours == sandbox


def _skip_reason() -> str | None:
    try:
        import libvirt
        import paramiko  # noqa: F401
    except ImportError as err:
        return f"needs libvirt-python and paramiko ({err})"
    if not _in_namespace():
        return (
            f"not inside network namespace {NETNS}: run with "
            "'bash scripts/sandbox.sh exec ...'"
        )
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(LIBVIRT_URI)
        conn.getVersion()
        conn.close()
    except libvirt.libvirtError as err:
        return f"no libvirt daemon answers at {LIBVIRT_URI}: {err}"
    if shutil.which("genisoimage") is None:
        return "genisoimage is not installed (scripts/install-deps.sh)"
    return None


@pytest.fixture(scope="module")
def conn():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    import libvirt

    connection = libvirt.open(LIBVIRT_URI)
    yield connection
    connection.close()


def build_template(name: str) -> Path:
    """Build (or reuse) one template of the repository; return the image."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lago.template_builder",
            "--repo-dir",
            str(TEMPLATE_REPO),
            "--only",
            name,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"template build failed: {proc.stderr.strip()}"
    image = TEMPLATE_REPO / f"{name}-v1.qcow2"
    assert image.is_file()
    return image


# --- the things a test creates, removed in the fixture's finalizer ---------


@dataclass
class Resources:
    """libvirt objects and files one test made."""

    conn: object
    prefix: str
    tmpdir: Path
    domains: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        import libvirt

        for name in self.domains:
            with contextlib.suppress(libvirt.libvirtError):
                self.conn.lookupByName(name).destroy()
        for name in self.networks:
            with contextlib.suppress(libvirt.libvirtError):
                self.conn.networkLookupByName(name).destroy()
        keep = os.environ.get("LAGO_TEST_KEEP_LOGS")
        if keep and (self.tmpdir / "serial.log").exists():
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(self.tmpdir / "serial.log", Path(keep) / f"{self.prefix}.log")
        shutil.rmtree(self.tmpdir, ignore_errors=True)


@pytest.fixture
def resources(conn) -> Iterator[Resources]:
    prefix = f"lagotest-{secrets.token_hex(3)}"
    # qemu runs as libvirt-qemu: the directory must be traversable by it
    tmpdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    tmpdir.chmod(0o755)
    res = Resources(conn, prefix, tmpdir)
    try:
        yield res
    finally:
        res.cleanup()


# --- seed, network, domain ------------------------------------------------


def make_seed(
    directory: Path, hostname: str, pubkey: str, password: str | None
) -> Path:
    """A NoCloud seed ISO (volume id cidata)."""
    seed_dir = directory / "seed"
    seed_dir.mkdir()
    (seed_dir / "meta-data").write_text(
        f"instance-id: iid-{hostname}\nlocal-hostname: {hostname}\n"
    )
    user_data = ["#cloud-config", "ssh_authorized_keys:", f"  - {pubkey}"]
    if password is not None:
        user_data += [
            "chpasswd:",
            "  expire: false",
            "  list: |",
            f"    root:{password}",
        ]
    (seed_dir / "user-data").write_text("\n".join(user_data) + "\n")
    iso = directory / "seed.iso"
    subprocess.run(
        [
            "genisoimage",
            "-quiet",
            "-output",
            str(iso),
            "-volid",
            "cidata",
            "-joliet",
            "-rock",
            str(seed_dir / "user-data"),
            str(seed_dir / "meta-data"),
        ],
        check=True,
        capture_output=True,
    )
    iso.chmod(0o644)
    return iso


def used_subnets(conn) -> set[int]:
    used = set()
    for net in conn.listAllNetworks():
        used.update(
            int(m) for m in re.findall(r"address='192\.168\.(\d+)\.", net.XMLDesc())
        )
    return used


def network_xml(
    name: str, bridge: str, third: int, mac: str, ip: str, hostname: str
) -> str:
    return f"""<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='{bridge}' stp='off' delay='0'/>
  <ip address='192.168.{third}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.{third}.100' end='192.168.{third}.254'/>
      <host mac='{mac}' name='{hostname}' ip='{ip}'/>
    </dhcp>
  </ip>
</network>"""


def create_network(res: Resources, mac: str, hostname: str) -> tuple[str, str]:
    """A transient NAT network on a free 192.168.2xx.0/24; return (name, ip)."""
    import libvirt

    name = f"{res.prefix}-net"
    bridge = f"ltb{res.prefix[-6:]}"
    last_error = None
    for _ in range(8):
        free = sorted(set(range(200, 255)) - used_subnets(res.conn))
        assert free, "no free 192.168.2xx.0/24 subnet"
        third = random.choice(free)
        ip = f"192.168.{third}.10"
        try:
            xml = network_xml(name, bridge, third, mac, ip, hostname)
            res.conn.networkCreateXML(xml)
        except libvirt.libvirtError as err:  # a concurrent test took the subnet
            last_error = err
            continue
        res.networks.append(name)
        return name, ip
    raise AssertionError(f"cannot create a network: {last_error}")


def domain_xml(
    name: str,
    disk: Path,
    seed: Path,
    network: str,
    mac: str,
    serial: Path,
    memory_mib: int,
) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{seed}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network='{network}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='{serial}'/>
      <target port='0'/>
    </serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
</domain>"""


# --- waiting ----------------------------------------------------------------


def wait_for(what: str, timeout: float, probe, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as err:
            last = err
            result = None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} ({last})")


def lease_of(conn, network: str, mac: str) -> str | None:
    for lease in conn.networkLookupByName(network).DHCPLeases():
        if lease.get("mac", "").lower() == mac.lower():
            return lease.get("ipaddr")
    return None


def ssh_client(ip: str, **auth):
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        ip,
        username="root",
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
        banner_timeout=10,
        auth_timeout=10,
        **auth,
    )
    return client


def run_ssh(client, command: str, stdin: str | None = None) -> str:
    chan_in, chan_out, chan_err = client.exec_command(command, timeout=30)
    if stdin is not None:
        chan_in.write(stdin)
        chan_in.channel.shutdown_write()
    out = chan_out.read().decode()
    status = chan_out.channel.recv_exit_status()
    assert status == 0, f"{command!r} exited {status}: {chan_err.read().decode()}"
    return out


def report(request, line: str) -> None:
    """Print a timing line even while pytest captures output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n    {line}", flush=True)


# --- the scenario -----------------------------------------------------------


def boot_and_check(
    request,
    res: Resources,
    image: Path,
    ready_line: str,
    memory_mib: int,
    boot_timeout: float,
    seed_password: str | None,
) -> None:
    import paramiko

    key = paramiko.RSAKey.generate(2048)
    pubkey = f"{key.get_name()} {key.get_base64()} {res.prefix}"
    hostname = f"{res.prefix}-vm"
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))

    overlay = res.tmpdir / "disk.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            str(image),
            str(overlay),
        ],
        check=True,
    )
    overlay.chmod(0o666)
    seed = make_seed(res.tmpdir, hostname, pubkey, seed_password)
    serial = res.tmpdir / "serial.log"
    network, ip = create_network(res, mac, hostname)

    name = f"{res.prefix}-vm"
    started = time.monotonic()
    dom = res.conn.createXML(
        domain_xml(name, overlay, seed, network, mac, serial, memory_mib), 0
    )
    res.domains.append(name)

    leased = wait_for(
        "a DHCP lease", boot_timeout, lambda: lease_of(res.conn, network, mac)
    )
    lease_s = time.monotonic() - started
    assert leased == ip
    client = wait_for(
        "an SSH login with the seeded key",
        boot_timeout,
        lambda: ssh_client(ip, pkey=key),
        interval=1,
    )
    ssh_s = time.monotonic() - started
    report(
        request,
        f"{image.name}: DHCP lease after {lease_s:.1f} s, "
        f"SSH login after {ssh_s:.1f} s (TCG)",
    )
    try:
        assert run_ssh(client, "hostname").strip() == hostname
        assert run_ssh(client, "bash -s", "echo $((6 * 7))\n").strip() == "42"
        with contextlib.suppress(ImportError):
            import scp

            with scp.SCPClient(client.get_transport()) as copier:
                copier.putfo(io.BytesIO(b"lago scp\n"), "/tmp/lago-scp-test")
            assert run_ssh(client, "cat /tmp/lago-scp-test") == "lago scp\n"
    finally:
        client.close()

    wait_for(
        "the readiness line on the serial console",
        60,
        lambda: ready_line in serial.read_text(errors="replace"),
    )

    password = seed_password or ROOT_PASSWORD
    with contextlib.closing(ssh_client(ip, password=password)) as pw_client:
        assert run_ssh(pw_client, "id -u").strip() == "0"

    import libvirt

    dom.shutdown()  # the ACPI power button

    def gone() -> bool:
        try:
            res.conn.lookupByName(name)
        except libvirt.libvirtError:
            return True
        return False

    wait_for("the domain to power off after the ACPI power button", 120, gone)
    report(
        request,
        f"{image.name}: powered off {time.monotonic() - started:.1f} s after start",
    )


def test_tiny_boots_with_seed(request, resources):
    image = build_template("tiny")
    boot_and_check(
        request,
        resources,
        image,
        "lago-tiny: ready",
        memory_mib=256,
        boot_timeout=180,
        seed_password=f"pw-{secrets.token_hex(4)}",
    )


def _debian12_skip_reason() -> str | None:
    if os.environ.get("LAGO_TEST_DEBIAN12") == "1":
        return None
    if (TEMPLATE_REPO / "debian12-v1.qcow2").is_file():
        return None
    return (
        "debian12 is not built: run 'bash scripts/build-templates.sh --only "
        "debian12' (needs the Debian mirror) or set LAGO_TEST_DEBIAN12=1"
    )


@pytest.mark.slow
def test_debian12_boots_with_seed(request, resources):
    reason = _debian12_skip_reason()
    if reason:
        pytest.skip(reason)
    if os.environ.get("LAGO_TEST_DEBIAN12") == "1":
        image = build_template("debian12")
    else:
        image = TEMPLATE_REPO / "debian12-v1.qcow2"
    boot_and_check(
        request,
        resources,
        image,
        "lago-debian12: ready",
        memory_mib=1024,
        boot_timeout=900,
        # as lago's own seed does: the seed's password replaces the image's
        seed_password=f"pw-{secrets.token_hex(4)}",
    )
