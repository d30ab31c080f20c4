"""DNS names of VMs: the fully qualified name a guest gives itself.

Every VM is named ``<vm>.<dns_domain_name>`` by the DNS server of its
management network (``lago.local`` unless the init file says otherwise); the
guest learns the same name from its NoCloud seed, so that ``hostname -f``
agrees with what the other VMs resolve.
"""

from __future__ import annotations

import re

# RFC 1123 labels: letters, digits and inner hyphens, at most 63 characters
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAX_NAME = 253


def is_dns_name(name: str) -> bool:
    """Whether ``name`` is a host or domain name a resolver accepts as is."""
    if not name or len(name) > _MAX_NAME:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def fqdn(host: str, domain: str | None) -> str | None:
    """``<host>.<domain>``, or ``None`` when either part is no DNS name.

    A VM whose name a resolver would reject (``vm_01``) is still reached by
    its address; it simply gets no fully qualified name.
    """
    if not domain or not is_dns_name(host) or not is_dns_name(domain):
        return None
    name = f"{host}.{domain}"
    return name if len(name) <= _MAX_NAME else None
