"""A prefix written on disk by the original Lago is read by ``lago status``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import LagoRunner

UUID = "b338c730e60b11f1befe02fc00000001"

NET_SPEC = {
    "dhcp": {"start": 100, "end": 254},
    "management": True,
    "type": "nat",
    "name": "mgmt",
    "mapping": {
        "vm01": "192.168.200.2",
        "vm01-eth0": "192.168.200.2",
        "vm01-mgmt": "192.168.200.2",
        "vm01-mgmt-0": "192.168.200.2",
    },
    "dns_domain_name": "lago.local",
    "gw": "192.168.200.1",
    "dns_records": {
        "vm01": "192.168.200.2",
        "vm01-eth0": "192.168.200.2",
        "vm01-mgmt": "192.168.200.2",
        "vm01-mgmt-0": "192.168.200.2",
    },
}

VM_SPEC = {
    "memory": 2048,
    "nics": [{"net": "mgmt", "ip": "192.168.200.2"}],
    "disks": [
        {
            "template_name": "el7.3-base",
            "type": "template",
            "name": "root",
            "dev": "vda",
            "format": "qcow2",
            "metadata": {"root-partition": "/dev/sda1", "distro": "el7"},
            "path": "$LAGO_PREFIX_PATH/images/vm01_root.qcow2",
        }
    ],
    "name": "vm01",
    "mgmt_net": "mgmt",
    "vm-type": "default",
    "snapshots": {},
    "metadata": {},
    "ssh-password": "123456",
    "ssh-user": "root",
    "vm-provider": "local-libvirt",
}

DEFAULT_OUTPUT = """\
[Prefix]:
    Base directory: {base}
    [Networks]:
        [mgmt]:
            gateway: 192.168.200.1
            management: True
            status: down
    UUID: b338c730e60b11f1befe02fc00000001
    [VMs]:
        [vm01]:
            [NICs]:
                [eth0]:
                    ip: 192.168.200.2
                    network: mgmt
            distro: el7
            root password: 123456
            status: down
"""

FLAT_OUTPUT = """\
Base directory: {base}
Networks/mgmt/gateway: 192.168.200.1
Networks/mgmt/management: True
Networks/mgmt/status: down
UUID: b338c730e60b11f1befe02fc00000001
VMs/vm01/NICs/eth0/ip: 192.168.200.2
VMs/vm01/NICs/eth0/network: mgmt
VMs/vm01/distro: el7
VMs/vm01/root password: 123456
"""
FLAT_OUTPUT += "VMs/vm01/snapshots: \nVMs/vm01/status: down\n"

YAML_OUTPUT = """\
Prefix:
  Base directory: {base}
  Networks:
    mgmt:
      gateway: 192.168.200.1
      management: true
      status: down
  UUID: b338c730e60b11f1befe02fc00000001
  VMs:
    vm01:
      NICs:
        eth0:
          ip: 192.168.200.2
          network: mgmt
      distro: el7
      metadata: {{}}
      root password: '123456'
      snapshots: ''
      status: down

"""


def _write_original_prefix(workdir: Path) -> Path:
    """Files exactly as the original wrote them (4-space JSON, no newline)."""
    prefix = workdir / "default"
    (prefix / "virt").mkdir(parents=True)
    (prefix / "images").mkdir()
    (prefix / "uuid").write_text(UUID)
    (prefix / "initialized").write_text("")
    (prefix / "metadata").write_text(json.dumps({"lago_version": "0.42.0"}, indent=4))
    (prefix / "virt/env").write_text(
        json.dumps({"nets": ["mgmt"], "vms": ["vm01"]}, indent=4)
    )
    (prefix / "virt/net-mgmt").write_text(json.dumps(NET_SPEC, indent=4))
    (prefix / "virt/vm-vm01").write_text(json.dumps(VM_SPEC, indent=4))
    (workdir / "current").symlink_to("default")
    return prefix


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("default", DEFAULT_OUTPUT), ("flat", FLAT_OUTPUT), ("yaml", YAML_OUTPUT)],
)
def test_status_of_original_prefix(lago: LagoRunner, fmt: str, expected: str) -> None:
    prefix = _write_original_prefix(lago.cwd / ".lago")
    proc = lago("-f", fmt, "status")
    assert proc.stdout == expected.format(base=prefix)
    # reading must not rewrite the original's files
    assert json.loads((prefix / "virt/vm-vm01").read_text()) == VM_SPEC


def test_status_json_of_original_prefix(lago: LagoRunner) -> None:
    prefix = _write_original_prefix(lago.cwd / ".lago")
    status = json.loads(lago("-f", "json", "status").stdout)
    assert status == {
        "Prefix": {
            "Base directory": str(prefix),
            "Networks": {
                "mgmt": {
                    "gateway": "192.168.200.1",
                    "management": True,
                    "status": "down",
                }
            },
            "UUID": UUID,
            "VMs": {
                "vm01": {
                    "NICs": {"eth0": {"ip": "192.168.200.2", "network": "mgmt"}},
                    "distro": "el7",
                    "metadata": {},
                    "root password": "123456",
                    "snapshots": "",
                    "status": "down",
                }
            },
        }
    }
    assert re.match(
        r"^\{\n    \"Prefix\": \{\n        \"Base directory\"",
        lago("-f", "json", "status").stdout,
    )
