"""Sphinx configuration of Lago's documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

import lago  # noqa: E402

project = "Lago"
author = "Lago developers"
copyright = "Lago developers"
release = version = lago.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "lago_cli",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md", "examples"]
root_doc = "index"
# option names such as --workdir-path must keep both dashes
smartquotes = False

myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"Lago {release}"
html_copy_source = False

# the command line reference is also the man page
man_pages = [
    (
        "cli",
        "lago",
        "declarative multi-VM environments on libvirt and qemu",
        [author],
        1,
    )
]
man_show_urls = False
