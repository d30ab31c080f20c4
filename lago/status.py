"""The ``status`` report of a prefix."""

from __future__ import annotations

from typing import Any


def _net_status(net: Any) -> dict[str, Any]:
    return {
        "gateway": net.gw(),
        "status": "up" if net.alive() else "down",
        "management": net.is_management(),
    }


def _vm_status(vm: Any) -> dict[str, Any]:
    nics = {
        f"eth{index}": {"network": nic["net"], "ip": nic.get("ip") or "N/A"}
        for index, nic in enumerate(vm.nics())
    }
    return {
        "distro": vm.distro(),
        "root password": vm.root_password(),
        "status": vm.state(),
        "snapshots": ", ".join(vm.spec.get("snapshots", {})),
        "metadata": vm.metadata,
        "NICs": nics,
    }


def prefix_status(prefix: Any) -> dict[str, Any]:
    env = prefix.virt_env
    return {
        "Prefix": {
            "Base directory": prefix.paths.prefix,
            "UUID": prefix.uuid,
            "Networks": {
                name: _net_status(net) for name, net in env.get_nets().items()
            },
            "VMs": {name: _vm_status(vm) for name, vm in env.get_vms().items()},
        }
    }
