"""init → start → status → stop → start → destroy on real VMs."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import LIBVIRT_URL, LagoRunner, write_init_file
from .initfiles import MANAGEMENT_NET, tiny_env, write_tiny_env

TWO_NETS = """\
domains:
  vm01:
    memory: 256
    vcpu: 1
    nics:
      - net: mgmt
      - net: data
        ip: 192.168.{data}.10
    disks:
      - template_name: tiny
        type: template
        name: root
        dev: vda
        format: qcow2
      - type: empty
        name: scratch
        dev: vdb
        format: qcow2
        size: 64M
  vm02:
    memory: 256
    vcpu: 1
    nics:
      - net: mgmt
        ip: 192.168.{mgmt}.77
      - net: data
    disks:
      - template_name: tiny
        type: template
        name: root
        dev: sda
        format: qcow2
      - type: file
        name: data
        dev: vdc
        format: raw
        path: $LAGO_INITFILE_PATH/data.raw
nets:
  mgmt:
    type: nat
    management: true
    gw: 192.168.{mgmt}.1
    dhcp:
      start: 100
      end: 200
  data:
    type: nat
    gw: 192.168.{data}.1
"""


def _free_subnets(count: int) -> list[int]:
    """Third octets with no lease file, from the top of the range down."""
    leased = {int(p.stem) for p in Path("/var/lib/lago/subnets").glob("*.lease")}
    return [n for n in range(254, 199, -1) if n not in leased][:count]


def _dhcp_leases(net_name: str) -> dict[str, str]:
    import libvirt

    conn = libvirt.open(LIBVIRT_URL)
    try:
        net = conn.networkLookupByName(net_name)
        return {lease["mac"]: lease["ipaddr"] for lease in net.DHCPLeases()}
    finally:
        conn.close()


def _status(lago: LagoRunner) -> dict:
    return json.loads(lago("-f", "json", "status").stdout)["Prefix"]


def test_two_vms_two_nets_full_cycle(lago: LagoRunner) -> None:
    mgmt, data = _free_subnets(2)
    write_init_file(lago.cwd, TWO_NETS.format(mgmt=mgmt, data=data))
    data_disk = lago.cwd / "data.raw"
    subprocess.run(
        ["qemu-img", "create", "-f", "raw", str(data_disk), "32M"], check=True
    )
    data_disk.chmod(0o666)
    lago("init")
    prefix = lago.cwd / ".lago" / "default"
    assert (prefix / "initialized").is_file()
    assert oct((prefix / "id_rsa").stat().st_mode & 0o777) == "0o600"

    # disks are qcow2 layers over the store's template
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", str(prefix / "images/vm01_root.qcow2")],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert info["format"] == "qcow2"
    assert re.search(r"/lago-local:tiny:v1-\d+$", info["backing-filename"])
    assert info["backing-filename-format"] == "raw"

    lago("start", "--wait-for-ssh", timeout=900)
    status = _status(lago)
    assert {name: net["status"] for name, net in status["Networks"].items()} == {
        "mgmt": "up",
        "data": "up",
    }
    assert status["Networks"]["mgmt"]["gateway"] == f"192.168.{mgmt}.1"
    assert status["Networks"]["mgmt"]["management"] is True
    assert {name: vm["status"] for name, vm in status["VMs"].items()} == {
        "vm01": "running",
        "vm02": "running",
    }
    vm01_nics = status["VMs"]["vm01"]["NICs"]
    vm02_nics = status["VMs"]["vm02"]["NICs"]
    assert vm01_nics["eth1"] == {"network": "data", "ip": f"192.168.{data}.10"}
    assert vm02_nics["eth0"] == {"network": "mgmt", "ip": f"192.168.{mgmt}.77"}
    assert vm01_nics["eth0"]["ip"].startswith(f"192.168.{mgmt}.")

    # the guests hold the declared addresses, leased by libvirt's dnsmasq
    uuid = (prefix / "uuid").read_text()
    leases = _dhcp_leases(f"{uuid[:4]}-mgmt")
    assert leases[f"54:52:c0:a8:{mgmt:02x}:4d"] == f"192.168.{mgmt}.77"
    assert sorted(leases.values()) == sorted(
        [vm01_nics["eth0"]["ip"], f"192.168.{mgmt}.77"]
    )
    assert lago("shell", "vm02", "hostname").stdout.strip() == "vm02"
    addrs = lago("shell", "vm01", "ip", "-4", "-o", "addr").stdout
    assert f"192.168.{data}.10/" in addrs
    # the file disk (found through $LAGO_INITFILE_PATH) and the empty one
    # vm02's root is on virtio-scsi, so its only virtio disk (data.raw) is vda
    sizes = lago("shell", "vm02", "cat", "/sys/block/vda/size").stdout
    assert int(sizes) * 512 == 32 * 1024 * 1024
    assert (
        int(lago("shell", "vm01", "cat", "/sys/block/vdb/size").stdout) * 512
        == 64 << 20
    )
    # each VM's serial console is logged in the prefix
    serial = prefix / "logs" / "vm01.serial.log"
    assert "lago-tiny: ready" in serial.read_text(errors="replace")

    lago("stop")
    status = _status(lago)
    assert {vm["status"] for vm in status["VMs"].values()} == {"down"}
    assert {net["status"] for net in status["Networks"].values()} == {"down"}

    lago("start", "vm02", "--wait-for-ssh", timeout=900)
    status = _status(lago)
    assert status["VMs"]["vm02"]["status"] == "running"
    assert status["VMs"]["vm01"]["status"] == "down"

    lago("destroy", "-y")
    assert not (lago.cwd / ".lago").exists()
    assert not [p for p in Path("/var/lib/lago/subnets").glob("*.lease")
                if json.loads(p.read_text())[1] == uuid]  # fmt: skip


def test_two_environments_get_different_subnets(lago: LagoRunner) -> None:
    # a JSON init file, as the original also accepted
    init = tiny_env(net=MANAGEMENT_NET)
    write_init_file(lago.cwd, json.dumps(init), name="init.json")
    lago("init", str(lago.cwd / "a"), "init.json")
    lago("init", str(lago.cwd / "b"), "init.json")
    nets = []
    for workdir in ("a", "b"):
        spec = json.loads((lago.cwd / workdir / "default/virt/net-lago").read_text())
        nets.append(spec["gw"])
    assert nets[0] != nets[1]
    for workdir in ("a", "b"):
        lago("--workdir-path", workdir, "start", "--wait-for-ssh", timeout=900)
    # each environment's VM sees its own gateway, not the other's subnet
    out_a = lago(
        "--workdir-path", "a", "shell", "vm01", "ip", "-4", "-o", "addr"
    ).stdout
    out_b = lago(
        "--workdir-path", "b", "shell", "vm01", "ip", "-4", "-o", "addr"
    ).stdout
    assert nets[0].rsplit(".", 1)[0] + "." in out_a
    assert nets[1].rsplit(".", 1)[0] + "." in out_b
    assert nets[1].rsplit(".", 1)[0] + "." not in out_a
    # libvirt keeps networks apart: a VM cannot reach another environment's VM
    ip_b = json.loads((lago.cwd / "b/default/virt/vm-vm01").read_text())["nics"][0][
        "ip"
    ]
    ping = lago(
        "--workdir-path", "a", "shell", "vm01", "ping", "-c1", "-W2", ip_b, check=False
    )
    assert ping.returncode != 0, ping.stdout
    status_a = json.loads(lago("--workdir-path", "a", "-f", "json", "status").stdout)
    assert list(status_a["Prefix"]["VMs"]) == ["vm01"]
    lago("--workdir-path", "a", "destroy", "-y")
    status_b = json.loads(lago("--workdir-path", "b", "-f", "json", "status").stdout)
    assert status_b["Prefix"]["VMs"]["vm01"]["status"] == "running"
    lago("--workdir-path", "b", "destroy", "-y")


@pytest.mark.parametrize("reboot", [False, True])
def test_shutdown_and_reboot(lago: LagoRunner, reboot: bool) -> None:
    write_tiny_env(lago.cwd, net=MANAGEMENT_NET)
    lago("init")
    lago("start", "--wait-for-ssh", timeout=900)
    if reboot:
        boot_id = lago("shell", "vm01", "cat", "/proc/sys/kernel/random/boot_id").stdout
        lago("shutdown", "--reboot")
        # the reboot is asked of the guest and `shutdown -r` returns at once,
        # as the original's did: the old system may still answer for a while
        deadline = time.monotonic() + 600
        while True:
            now = lago(
                "shell", "vm01", "cat", "/proc/sys/kernel/random/boot_id",
                check=False, timeout=900,
            )  # fmt: skip
            if now.returncode == 0 and now.stdout != boot_id:
                break
            assert time.monotonic() < deadline, "the VM did not reboot"
            time.sleep(1)
        assert _status(lago)["VMs"]["vm01"]["status"] == "running"
    else:
        lago("shutdown", timeout=400)
        status = _status(lago)
        assert status["VMs"]["vm01"]["status"] == "down"
        assert status["Networks"]["lago"]["status"] == "down"
