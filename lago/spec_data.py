"""Loading and pruning the nested dicts of init files and saved specs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

import yaml

from lago.errors import LagoUserException


def deepcopy(original_obj: Any) -> Any:
    """Copy nested dicts and lists so that no two places share one object.

    YAML anchors and aliases make several keys point at one dict; the init
    file must see independent copies.
    """
    if isinstance(original_obj, dict):
        return {key: deepcopy(value) for key, value in original_obj.items()}
    if isinstance(original_obj, list):
        return [deepcopy(item) for item in original_obj]
    return original_obj


def json_or_yaml(
    data: str | bytes, yaml_load: Callable[[str], Any] = yaml.safe_load
) -> Any:
    """``data`` read as JSON, else as YAML by ``yaml_load``; aliased YAML
    nodes become independent copies."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        loaded = json.loads(data)
    except ValueError:
        loaded = yaml_load(data)
    return deepcopy(loaded)


def load_virt_stream(virt_fd: IO[str] | IO[bytes]) -> dict[str, Any]:
    """Load an init file: JSON first, then YAML (safe loader).

    Aliased YAML nodes are copied so that they are independent.
    """
    return json_or_yaml(virt_fd.read())


def filter_spec(
    spec: Any, paths: list[str], wildcard: str = "*", separator: str = "/"
) -> None:
    """Remove, in place, every key named by a ``/``-separated path.

    ``domains/*/disks/*/metadata`` removes the metadata of every disk of every
    domain; a final ``*`` empties the container. List items are addressed by
    index. Parts of a path that do not exist are skipped.

    :raises lago.errors.LagoUserException: a path with an empty part, or a non-number
        used as a list index
    """
    for path in paths:
        parts = path.split(separator)
        if "" in parts:
            raise LagoUserException(f'Malformed path "{path}": empty key')
        _remove_key(parts, spec, path, wildcard)


def _remove_key(parts: list[str], node: Any, path: str, wildcard: str) -> None:
    head, rest = parts[0], parts[1:]
    if head == wildcard:
        if not rest:
            if isinstance(node, (dict, list)):
                node.clear()
            return
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, (dict, list)):
            for child in list(children):
                _remove_key(rest, child, path, wildcard)
        return
    key: Any = head
    if isinstance(node, list):
        try:
            key = int(head)
        except ValueError:
            msg = f'Malformed path "{path}": "{head}" is not a list index'
            raise LagoUserException(msg) from None
        if not -len(node) <= key < len(node):
            return
    elif not isinstance(node, dict) or head not in node:
        return
    if rest:
        _remove_key(rest, node[key], path, wildcard)
    else:
        del node[key]
