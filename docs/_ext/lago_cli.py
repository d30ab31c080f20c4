"""Sphinx directive ``lago-cli``: the command line reference, from the parser.

The HTML page and the ``lago(1)`` man page are built from the same document,
so both list exactly the verbs and options that ``lago`` accepts.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


class LagoCliDirective(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from lago.cli_reference import render_rst

        container = nodes.section()
        container.document = self.state.document
        source = self.get_source_info()[0]
        lines = StringList(render_rst().splitlines(), source=source)
        nested_parse_with_titles(self.state, lines, container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("lago-cli", LagoCliDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
