"""The one table of Lago's default settings.

Read by the configuration (:mod:`lago.config`, the values under the
``[lago]`` and ``[init]`` sections), by the command line's option defaults
(:mod:`lago.cmd`) and by the subnet lease store; a default is changed here
and nowhere else.
"""

from __future__ import annotations

from typing import Any, Final

#: ``[lago]``: the global options of every verb.
LAGO: Final[dict[str, Any]] = {
    "logdepth": 3,
    "loglevel": "info",
    "ssh_user": "root",
    "ssh_password": "123456",
    "ssh_tries": 100,
    "ssh_timeout": 10,
    "libvirt_url": "qemu:///system",
    "default_vm_type": "default",
    "default_vm_provider": "local-libvirt",
    "lease_dir": "/var/lib/lago/subnets",
    "prefix_name": "current",
    "reposync_dir": "/var/lib/lago",
}

#: ``[init]``: where ``init`` keeps downloaded templates.
TEMPLATE_STORE: Final = "/var/lib/lago/store"
#: ``[init]``: where ``init`` looks up template repositories by name.
TEMPLATE_REPOS: Final = "/var/lib/lago/repos"
