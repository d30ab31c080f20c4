"""The init file written beside exported disks.

It describes the exported VMs so that ``lago init`` rebuilds the same
environment from the exported images: disks point at
``$LAGO_INITFILE_PATH/<image>``, template disks become ``template_type:
qcow2`` layers on the exported image, and empty disks become files copied
into the new prefix. What only made sense in the old prefix is dropped.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from typing import Any

import yaml

from lago.plugins.output import (
    DefaultOutFormatPlugin,
    OutFormatPlugin,
    YAMLOutFormatPlugin,
)
from lago.spec_data import filter_spec

#: Keys of the saved spec that only belong to the exported prefix
EXPORT_FILTERS = (
    "domains/*/disks/*/metadata",
    "domains/*/metadata/deploy-scripts",
    "domains/*/snapshots",
    "domains/*/name",
    "nets/*/mapping",
    "nets/*/dns_records",
)


def filtered_spec(
    spec: dict[str, Any], filters: Iterable[str] | None
) -> dict[str, Any]:
    """A deep copy of ``spec`` without the keys the ``/`` paths name."""
    result = copy.deepcopy(spec)
    filter_spec(result, list(filters or []))
    return result


def exported_disk(disk: dict[str, Any]) -> dict[str, Any]:
    """One disk as the exported init file describes it."""
    result = dict(disk)
    if result.get("type") == "template":
        result["template_type"] = "qcow2"
    elif result.get("type") == "empty":
        result["type"] = "file"
        result["make_a_copy"] = "True"
    result["path"] = "$LAGO_INITFILE_PATH/" + os.path.basename(result["path"])
    return result


def exported_init_spec(
    env_spec: dict[str, Any], vm_names: Iterable[str]
) -> dict[str, Any]:
    """The init file's content: only ``vm_names``, and their exported disks."""
    spec = copy.deepcopy(env_spec)
    wanted = list(vm_names)
    spec["domains"] = {
        name: domain for name, domain in spec["domains"].items() if name in wanted
    }
    for domain in spec["domains"].values():
        domain["disks"] = [
            exported_disk(disk)
            for disk in domain.get("disks", [])
            if not disk.get("skip-export")
        ]
    return spec


class _NoAliasDumper(yaml.SafeDumper):
    """Each repeated value written in full: init files are edited by hand."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_init(spec: dict[str, Any], out_format: OutFormatPlugin | None) -> str:
    """YAML (sorted keys, block style) unless another format was chosen."""
    if out_format is None or isinstance(
        out_format, (DefaultOutFormatPlugin, YAMLOutFormatPlugin)
    ):
        return yaml.dump(spec, Dumper=_NoAliasDumper, default_flow_style=False)
    return out_format.format(spec) + "\n"


def write_init(
    path: str,
    env_spec: dict[str, Any],
    vm_names: Iterable[str],
    out_format: OutFormatPlugin | None,
) -> None:
    """Write the init file; an existing file is never overwritten."""
    text = render_init(exported_init_spec(env_spec, vm_names), out_format)
    with open(path, "x") as stream:
        stream.write(text)
