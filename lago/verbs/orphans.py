"""``lago cleanup --orphans``: list, and with ``-y`` remove, what crashed runs left."""

from __future__ import annotations

import sys
from typing import Any

from lago.config import config
from lago.plugins.output import DefaultOutFormatPlugin, OutFormatPlugin
from lago.providers.libvirt.orphans import Orphan, find_orphans, remove_orphans
from lago.providers.libvirt.utils import get_libvirt_connection


def _human(orphans: list[Orphan], removed: bool) -> str:
    if not orphans:
        return "No orphans found"
    lines = [f"{o.kind:<8} {o.name}: {o.reason}" for o in orphans]
    lines.append(
        f"Removed {len(orphans)} orphans"
        if removed
        else f"{len(orphans)} orphans; run `lago cleanup --orphans -y` to remove them"
    )
    return "\n".join(lines)


def cleanup_orphans(
    out_format: OutFormatPlugin, yes: bool = False, **kwargs: Any
) -> None:
    """Report the orphans of the configured libvirt and lease store; remove them if ``yes``."""
    lease_dir = kwargs.get("lease_dir") or config.get("lease_dir")
    conn = get_libvirt_connection(
        "cleanup --orphans",
        kwargs.get("libvirt_url") or config.get("libvirt_url"),
        config.get("libvirt_username"),
        config.get("libvirt_password"),
    )
    orphans = find_orphans(conn, lease_dir)
    if yes and orphans:
        remove_orphans(conn, orphans, lease_dir)
    if isinstance(out_format, DefaultOutFormatPlugin):
        text = _human(orphans, removed=yes)
    else:
        text = out_format.format(
            {
                "orphans": [o.as_dict() for o in orphans],
                "removed": bool(yes and orphans),
            }
        )
    sys.stdout.write(text + "\n")
