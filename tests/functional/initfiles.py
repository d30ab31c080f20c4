"""Init files of the functional tests: `tiny` VMs on one NAT network.

``write_tiny_env(lago.cwd)`` writes the usual one: ``vm01`` (256 MiB, one
vCPU, a qcow2 layer over ``tiny``) with one NIC on the network ``lago``.
``tiny_vm`` makes one VM's spec, for other names, sizes, disks or keys.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

NET = "lago"
MANAGEMENT_NET = {"type": "nat", "management": True}


def tiny_root(template: str = "tiny", **keys: Any) -> dict[str, Any]:
    """The root disk: a qcow2 layer over ``template`` on ``vda``."""
    disk = {"template_name": template, "type": "template", "name": "root",
            "dev": "vda", "format": "qcow2"}  # fmt: skip
    disk.update(keys)
    return disk


def scratch_disk(size: str, name: str = "scratch", dev: str = "vdb") -> dict[str, Any]:
    """An empty qcow2 disk."""
    return {"type": "empty", "name": name, "dev": dev, "format": "qcow2", "size": size}


def tiny_vm(
    memory: int | None = 256,
    vcpu: int | None = 1,
    disks: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One VM on ``lago``; ``None`` leaves ``memory``/``vcpu`` to Lago's
    defaults, ``disks`` replaces the root disk alone, ``extra`` adds keys."""
    spec: dict[str, Any] = {}
    if memory is not None:
        spec["memory"] = memory
    if vcpu is not None:
        spec["vcpu"] = vcpu
    spec["nics"] = [{"net": NET}]
    spec["disks"] = [dict(d) for d in disks] if disks is not None else [tiny_root()]
    spec.update(extra or {})
    return spec


def tiny_env(
    vms: Mapping[str, Mapping[str, Any]] | None = None,
    net: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The init file's content: ``vms`` (``vm01`` by default) on the one
    network ``lago`` (``{}`` by default)."""
    # one copy each: YAML would write a spec shared by two VMs as an alias
    vms = vms or {"vm01": tiny_vm()}
    return {
        "domains": {name: copy.deepcopy(dict(spec)) for name, spec in vms.items()},
        "nets": {NET: copy.deepcopy(dict(net or {}))},
    }


def write_tiny_env(
    directory: Path,
    vms: Mapping[str, Mapping[str, Any]] | None = None,
    net: Mapping[str, Any] | None = None,
    name: str = "LagoInitFile",
) -> Path:
    """Write ``tiny_env(vms, net)`` as YAML into ``directory``; return its path."""
    path = Path(directory) / name
    path.write_text(yaml.safe_dump(tiny_env(vms, net), sort_keys=False))
    return path
