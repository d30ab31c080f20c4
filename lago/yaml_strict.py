"""The init file's YAML loader: safe, with no duplicate keys and bounded aliases.

PyYAML's safe loader keeps the last of two equal keys silently, and a few
hundred bytes of nested aliases ("billion laughs") expand to more objects
than memory holds once aliased parts are copied apart. Both are refused here
with the line that causes them.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from lago.spec_data import json_or_yaml

#: more nodes than any real init file has (150 VMs take a few thousand)
MAX_EXPANDED_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YAMLContentError(ValueError):
    """Valid YAML that an init file must not contain; names the line."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(
        self, node: MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise YAMLContentError(
                    line, f"duplicate key {key!r} (first at line {first})"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def expanded_size(root: Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """Nodes in ``root`` once every alias is copied out; stops past ``limit``."""
    sizes: dict[int, int] = {}

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                raise YAMLContentError(
                    node.start_mark.line + 1,
                    f"aliases expand to more than {limit} values",
                )
        sizes[id(node)] = total
        return total

    return size(root)


def load_yaml(text: str) -> Any:
    """Parse one YAML document strictly (see the module's docstring)."""
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        expanded_size(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def load_init_text(data: str | bytes) -> Any:
    """An init file's text: JSON first, else strict YAML; aliased parts copied
    apart (``copy.deepcopy`` would keep them shared)."""
    return json_or_yaml(data, load_yaml)
