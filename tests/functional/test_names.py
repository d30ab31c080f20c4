"""Names in the guests: ``hostname -f`` and every VM's names resolve everywhere.

Two VMs on two NAT networks (``mgmt`` is the management network, so its DNS
domain is ``lago.local`` unless ``dns_domain_name`` says otherwise). From each
VM, the other VM and the VM itself must answer a ping by short name, by
``<vm>.<domain>`` and by each name of the
network mapping (``<vm>-eth<i>``, ``<vm>-<net>``, ``<vm>-<net>-0``), and each
name must lead to the address the prefix gave that NIC.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from .conftest import LagoRunner, template_missing, write_init_file

DEFAULT_DOMAIN = "lago.local"
VMS = ("web", "db")
MEMORY = {"tiny": 256, "debian12": 768}

INIT = """\
domains:
{domains}
nets:
  mgmt: {{type: nat, management: true{domain_key}}}
  data: {{type: nat}}
"""

DOMAIN_ENTRY = """\
  {name}:
    memory: {memory}
    vcpu: 1
    nics: [{{net: mgmt}}, {{net: data}}]
    disks:
      - {{template_name: {template}, type: template, name: root, dev: vda, format: qcow2}}
"""

# ping each name once (bounded); print "<name> <exit code> <first line>"
PING_SCRIPT = """\
for name in {names}; do
    out=$(ping -4 -c 1 -W 2 "$name" 2>&1)
    code=$?
    echo "$name $code $(echo "$out" | head -n 1)"
done
"""
ADDRESS = re.compile(r"\((\d+\.\d+\.\d+\.\d+)\)")


def _expected_names(prefix: Path, domain: str) -> dict[str, str]:
    """Every name the prefix gives each VM, with the address it must reach."""
    virt = prefix / "virt"
    expected: dict[str, str] = {}
    for net in ("mgmt", "data"):
        expected.update(json.loads((virt / f"net-{net}").read_text())["mapping"])
    for vm in VMS:
        expected[f"{vm}.{domain}"] = expected[vm]
    return expected


def _ping_all(lago: LagoRunner, vm: str, names: list[str]) -> dict[str, str]:
    script = PING_SCRIPT.format(names=" ".join(names))
    out = lago("shell", vm, script, timeout=600).stdout
    results = {}
    for line in out.splitlines():
        name, code, first = [*line.split(" ", 2), ""][:3]
        found = ADDRESS.search(first)
        results[name] = found.group(1) if code == "0" and found else f"failed: {line}"
    return results


@pytest.mark.parametrize(
    ("template", "domain"),
    [("tiny", None), ("debian12", None), ("tiny", "corp.test")],
    ids=["tiny", "debian12", "tiny-own-domain"],
)
def test_names_resolve_in_every_vm(
    lago: LagoRunner, template: str, domain: str | None
) -> None:
    reason = template_missing(template)
    if reason:
        pytest.skip(reason)
    domains = "".join(
        DOMAIN_ENTRY.format(name=vm, memory=MEMORY[template], template=template)
        for vm in VMS
    )
    domain_key = f", dns_domain_name: {domain}" if domain else ""
    init = INIT.format(domains=domains, domain_key=domain_key)
    write_init_file(lago.cwd, textwrap.dedent(init))
    domain = domain or DEFAULT_DOMAIN
    lago("init")
    lago("start", "--wait-for-ssh", timeout=1200)

    expected = _expected_names(lago.cwd / ".lago" / "default", domain)
    for vm in VMS:
        mapping = {
            f"{vm}-eth0", f"{vm}-mgmt", f"{vm}-mgmt-0",
            f"{vm}-eth1", f"{vm}-data", f"{vm}-data-0",
        }  # fmt: skip
        assert mapping | {vm, f"{vm}.{domain}"} <= set(expected)
    names = sorted(expected)

    for vm in VMS:
        assert lago("shell", vm, "hostname").stdout == f"{vm}\n"
        assert lago("shell", vm, "hostname -f").stdout == f"{vm}.{domain}\n"
        reached = _ping_all(lago, vm, names)
        # its own short and full names are the loopback alias of /etc/hosts
        own = {vm: "127.0.1.1", f"{vm}.{domain}": "127.0.1.1"}
        wanted = {name: own.get(name, ip) for name, ip in expected.items()}
        assert reached == wanted, f"names as seen from {vm}"
