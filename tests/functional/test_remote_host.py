"""An environment on a remote libvirt host: the second daemon of
``scripts/sandbox.sh start --remote``, which shares nothing with the
sandbox's but the kernel (its own network and mount namespaces, its own
/run, /var/lib/libvirt and /etc/libvirt), reached from here only over a veth
pair: libvirt through ``qemu+tcp://`` or ``qemu+ssh://``, the guests through
an SSH jump to its sshd (their addresses have no route from here)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from .conftest import LagoRunner, _leases_of, _uuids_under, write_init_file

REMOTE_ENV = Path("/run/lago-remote/env")
LEASE_DIR = Path("/var/lib/lago/subnets")


def _remote_settings() -> dict[str, str]:
    try:
        lines = REMOTE_ENV.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.partition("=") for line in lines if "=" in line)
    return {key: shlex.split(value)[0] for key, _, value in pairs}


def _virsh(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["virsh", "-q", "-c", url, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


REMOTE = _remote_settings()
_ANSWERS = bool(REMOTE) and _virsh(REMOTE["LAGO_REMOTE_TCP_URL"], "uri").returncode == 0
pytestmark = pytest.mark.skipif(
    not _ANSWERS,
    reason="the remote libvirt host does not run (scripts/sandbox.sh start --remote)",
)

INIT = """\
host:
  libvirt_url: {url}
domains:
  vm0:
    memory: 256
    nics: [{{net: lago}}]
    disks:
      - {{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}}
  vm1:
    memory: 256
    nics: [{{net: lago}}]
    disks:
      - {{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}}
nets:
  lago: {{type: nat, management: true}}
"""


def _remote_objects(uuids: list[str]) -> list[str]:
    """The remote daemon's domains and networks named after these uuids."""
    url = REMOTE["LAGO_REMOTE_TCP_URL"]
    tags = tuple({u[:8] for u in uuids} | {u[:4] for u in uuids})
    names = _virsh(url, "list", "--all", "--name").stdout.split()
    names += _virsh(url, "net-list", "--all", "--name").stdout.split()
    return [name for name in names if name.startswith(tags)]


def _purge_remote(names: list[str]) -> None:
    url = REMOTE["LAGO_REMOTE_TCP_URL"]
    for name in names:
        _virsh(url, "destroy", name)
        _virsh(url, "net-destroy", name)


def test_both_transports_answer_from_the_sandbox() -> None:
    for url in (REMOTE["LAGO_REMOTE_TCP_URL"], REMOTE["LAGO_REMOTE_SSH_URL"]):
        proc = _virsh(url, "list", "--all")
        assert proc.returncode == 0, f"{url}: {proc.stderr}"
    # a daemon of its own: a network made there is not the sandbox's
    url = REMOTE["LAGO_REMOTE_TCP_URL"]
    name = f"rsand-probe-{uuid.uuid4().hex[:8]}"
    xml = f"<network><name>{name}</name><bridge name='rp{name[-8:]}'/></network>"
    made = subprocess.run(
        ["virsh", "-q", "-c", url, "net-create", "/dev/stdin"],
        input=xml, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        assert name in _virsh(url, "net-list", "--name").stdout.split()
        local = _virsh("qemu:///system", "net-list", "--all", "--name").stdout
        assert name not in local.split()
    finally:
        _virsh(url, "net-destroy", name)


def test_guest_addresses_have_no_route_from_here() -> None:
    # what makes the jump necessary: the remote's NAT networks are not ours
    routes = subprocess.run(
        ["ip", "-4", "route"], capture_output=True, text=True, check=True
    ).stdout
    assert REMOTE["LAGO_REMOTE_HOST"].rsplit(".", 1)[0] in routes
    assert "default" not in routes


def _console_shows_login(lago: LagoRunner, vm: str) -> bytes:
    """What ``lago console`` shows until the guest's login prompt (or 120 s)."""
    command = f"{sys.executable} -m lago.cmd console {vm}"
    # script(1) gives virsh the terminal it needs; Ctrl-] (\x1d) detaches
    proc = subprocess.Popen(
        ["script", "-qec", command, "/dev/null"], cwd=lago.cwd, env=lago.env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    seen = bytearray()

    def read() -> None:
        while chunk := proc.stdout.read1(4096):  # type: ignore[union-attr]
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while b"login:" not in seen and time.monotonic() < deadline:
        proc.stdin.write(b"\n")  # a getty prints its prompt again on Enter
        proc.stdin.flush()
        time.sleep(2)
    proc.stdin.write(b"\x1d")
    proc.stdin.flush()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    proc.stdin.close()
    proc.stdout.close()
    assert proc.returncode == 0, bytes(seen)
    return bytes(seen)


def _remote_pools() -> dict[str, list[str]]:
    """Every storage pool of the remote daemon and its volumes."""
    url = REMOTE["LAGO_REMOTE_TCP_URL"]
    pools = _virsh(url, "pool-list", "--all", "--name").stdout.split()
    return {
        pool: sorted(
            line.split()[0] for line in _virsh(url, "vol-list", pool).stdout.splitlines()
            if line.strip()
        )
        for pool in pools
    }  # fmt: skip


def _backing_of(url: str, path: str) -> str:
    xml = _virsh(url, "vol-dumpxml", path).stdout
    return xml.split("<backingStore>")[1].split("<path>")[1].split("</path>")[0]


def test_two_vms_on_the_remote_host(lago: LagoRunner) -> None:
    tcp, ssh_url = REMOTE["LAGO_REMOTE_TCP_URL"], REMOTE["LAGO_REMOTE_SSH_URL"]
    # two prefixes, one through each libvirt transport
    one, two = lago.cwd / "one", lago.cwd / "two"
    for directory, url in ((one, ssh_url), (two, tcp)):
        directory.mkdir()
        write_init_file(directory, INIT.format(url=url))
    # deploy and collect go through the jump too
    (one / "deploy.sh").write_text("hostname > /root/deployed\n")
    with_deploy = INIT.format(url=ssh_url).replace(
        "  vm1:\n",
        "  vm1:\n    metadata: {deploy-scripts: [deploy.sh]}\n"
        "    artifacts: [/root/deployed]\n",
    )
    write_init_file(one, with_deploy)
    run_one = LagoRunner(cwd=one, env=lago.env)
    run_two = LagoRunner(cwd=two, env=lago.env)
    store_before = _remote_pools().get("lago-store", [])
    run_one("init", timeout=900)
    run_two("init", timeout=900)
    uuids = _uuids_under(lago.cwd)
    assert len(uuids) == 2
    try:
        # the template went into the host's store once, for both prefixes
        pools = _remote_pools()
        added = sorted(set(pools["lago-store"]) - set(store_before))
        assert len(added) <= 2, added  # an image and its .sha1, or already there
        roots = []
        for uuid in uuids:
            volumes = pools[f"lago-{uuid}"]
            assert "vm0_root.qcow2" in volumes and "vm1_root.qcow2" in volumes
            path = f"/var/lib/libvirt/images/lago-{uuid}/vm0_root.qcow2"
            roots.append(_backing_of(tcp, path))
        assert roots[0] == roots[1]
        assert roots[0].startswith("/var/lib/libvirt/images/lago-store/")
        assert not list(lago.cwd.glob("*/.lago/*/images/*.qcow2"))

        # no --libvirt_url from here on: the environment remembers its host
        run_one("start", "--wait-for-ssh", timeout=900)
        remote_names = _remote_objects(uuids)
        assert len(remote_names) == 3, remote_names  # two domains, one network
        local = _virsh("qemu:///system", "list", "--all", "--name").stdout.split()
        assert not set(remote_names) & set(local)

        for vm in ("vm0", "vm1"):
            assert run_one("shell", vm, "hostname").stdout == f"{vm}\n"

        source = lago.cwd / "to-vm.txt"
        source.write_text("through the jump\n")
        run_one("copy-to-vm", "vm1", str(source), "/root/got.txt")
        got = run_one("shell", "vm1", "cat /root/got.txt").stdout
        assert got == "through the jump\n"
        back = lago.cwd / "from-vm.txt"
        run_one("copy-from-vm", "vm1", "/root/got.txt", str(back))
        assert back.read_text() == "through the jump\n"

        run_one("deploy", timeout=600)
        collected = lago.cwd / "collected"
        run_one("collect", "--output", str(collected), timeout=600)
        assert (collected / "vm1" / "_root_deployed").read_text() == "vm1\n"

        status = run_one("status").stdout
        assert "vm0" in status and "vm1" in status
        assert status.count("running") >= 2

        if shutil.which("script"):
            assert b"vm0 login:" in _console_shows_login(run_one, "vm0")

        run_one("destroy", "-y", timeout=600)
        run_two("destroy", "-y", timeout=600)
        # nothing left on either side (the local side: the lago fixture)
        assert _remote_objects(uuids) == []
        pools = _remote_pools()
        assert not [uuid for uuid in uuids if f"lago-{uuid}" in pools]
        assert _leases_of(LEASE_DIR, uuids) == []
        # the store keeps the template for the next environment
        assert set(added) <= set(pools["lago-store"])
    finally:
        _purge_remote(_remote_objects(uuids))


ANSI = re.compile(r"\x1b\[[0-9;]*m")
# the task tree's lines; the error comes after them, with its hint
TASK_LINE = re.compile(r"^\s*[@#*-] ")


def _error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The error's lines: stderr without the task tree (message, then hint)."""
    lines = ANSI.sub("", proc.stderr).splitlines()
    return [line for line in lines if line.strip() and not TASK_LINE.match(line)]


def test_unreachable_remote_host_is_one_clear_line(lago: LagoRunner) -> None:
    # nothing listens on port 1 of the remote host
    url = f"qemu+tcp://{REMOTE['LAGO_REMOTE_HOST']}:1/system"
    write_init_file(lago.cwd, INIT.format(url=url))
    proc = lago("init", check=False, timeout=300)
    if proc.returncode == 0:  # disks made here: the host is first asked at start
        proc = lago("start", check=False, timeout=300)
    assert proc.returncode != 0
    errors = _error_lines(proc)
    assert len(errors) <= 2, proc.stderr
    assert errors[0].startswith(f"Cannot connect to libvirt at {url}: "), errors


def test_refused_jump_key_is_one_clear_line(lago: LagoRunner) -> None:
    key = lago.cwd / "not-authorized"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
    )
    init = INIT.format(url=REMOTE["LAGO_REMOTE_TCP_URL"]).replace(
        "host:\n", f"host:\n  ssh_jump_key: {key}\n"
    )
    write_init_file(lago.cwd, init)
    lago("init", timeout=900)
    proc = lago("start", "--wait-for-ssh", check=False, timeout=900)
    assert proc.returncode != 0
    errors = _error_lines(proc)
    assert len(errors) <= 2, proc.stderr
    assert errors[0].startswith(
        f"The libvirt host root@{REMOTE['LAGO_REMOTE_HOST']} refused key {key} "
    ), errors
