"""Fixed paths and names shared by the whole package."""

from __future__ import annotations

#: Where configuration files are looked up first.
CONFS_PATH = ["/etc/lago/lago.conf"]

LIBEXEC_DIR = "/usr/libexec/lago/"

#: Entry-point groups of the plugin kinds (the original's namespaces).
PLUGIN_NAMESPACES = {
    "cli": "lago.plugins.cli",
    "out": "lago.plugins.output",
    "vm": "lago.plugins.vm",
    "vm-provider": "lago.plugins.vm_provider",
    "vm-service": "lago.plugins.vm_service",
}

#: The original's dead public repository, kept as the fallback default.
ORIGINAL_TEMPLATE_REPO = "http://templates.ovirt.org/repo/repo.metadata"

#: The embedded repository built by ``lago.template_builder``.
LOCAL_REPO_NAME = "lago-local"
