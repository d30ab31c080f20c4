"""NoCloud seed volumes: first-boot provisioning without a libguestfs appliance.

Images whose metadata says ``"seed": "nocloud"`` (the embedded templates)
read a volume labelled ``cidata`` at boot and apply its hostname (and the
fully qualified name ``hostname -f`` prints), SSH keys and root password. Writing that ISO takes milliseconds, where launching a
libguestfs appliance per disk took most of the original's ``init`` time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lago.errors import ToolError
from lago.process import run_command, tool_error


class SeedError(ToolError):
    pass


def supports_seed(disk_metadata: dict) -> bool:
    return (disk_metadata or {}).get("seed") == "nocloud"


def _user_data(
    authorized_keys: list[str],
    root_password: str | None,
    hostname: str | None = None,
    fqdn: str | None = None,
) -> str:
    lines = ["#cloud-config"]
    if fqdn:
        # cloud-init's keys: the short name stays the host name, and
        # /etc/hosts maps 127.0.1.1 to "<fqdn> <hostname>"
        lines += [
            f"hostname: {json.dumps(hostname)}",
            f"fqdn: {json.dumps(fqdn)}",
            "manage_etc_hosts: true",
        ]
    lines += ["ssh_authorized_keys:"]
    lines += [
        f"  - {json.dumps(key.strip())}" for key in authorized_keys if key.strip()
    ]
    if root_password:
        lines += [
            "chpasswd:",
            "  expire: false",
            "  list: |",
            f"    root:{root_password}",
        ]
    return "\n".join(lines) + "\n"


def _meta_data(instance_id: str, hostname: str) -> str:
    return f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n"


def make_seed(
    path: str | Path,
    hostname: str,
    authorized_keys: list[str],
    root_password: str | None = None,
    instance_id: str | None = None,
    *,
    fqdn: str | None = None,
) -> None:
    """Write a NoCloud ISO (label ``cidata``) at ``path``.

    ``fqdn`` (``<hostname>.<domain>``), when given, is what ``hostname -f``
    prints in the guest.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="lago-seed-") as tmp:
        workdir = Path(tmp)
        (workdir / "user-data").write_text(
            _user_data(authorized_keys, root_password, hostname, fqdn)
        )
        (workdir / "meta-data").write_text(
            _meta_data(instance_id or hostname, hostname)
        )
        partial = path.with_name(path.name + ".tmp")
        result = run_command(
            [
                "genisoimage",
                "-quiet",
                "-output",
                str(partial),
                "-volid",
                "cidata",
                "-joliet",
                "-rock",
                str(workdir / "user-data"),
                str(workdir / "meta-data"),
            ]
        )
        if result.code:
            partial.unlink(missing_ok=True)
            raise tool_error(
                "genisoimage", result, vm=hostname, disk=str(path), kind=SeedError
            )
        # it holds the root password; libvirt gives it to the qemu user at start
        partial.chmod(0o600)
        partial.replace(path)
