"""The original Lago's public Python API, pinned.

``data/original_api.txt`` lists, one per line, every name of the original's
core modules as ``module owner name kind params`` (``owner`` is ``-`` for a
module-level name; ``params`` is ``-`` for classes and attributes, else the
parameter names in order, ``name=`` when the original gave a default).
Plugins and SDK scripts written for the original import these names, call
them with these parameters and override the hooks, so each public name must
exist here as the same kind of thing with a compatible signature: the same
names in the same positions, defaults where the original had them, and any
extra parameter only with a default.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TABLE = Path(__file__).parent / "data" / "original_api.txt"

# underscore names that subclasses of the original override or read, and
# that our own code therefore keeps and calls
HOOKS = {
    "__init__",
    "_create_virt_env",
    "_create_vm",
    "_create_net",
    "_artifact_paths",
}


@dataclass(frozen=True)
class Entry:
    module: str
    owner: str
    name: str
    kind: str
    params: tuple[str, ...] | None

    @property
    def id(self) -> str:
        owner = f"{self.owner}." if self.owner else ""
        return f"{self.module}:{owner}{self.name}"


def _load() -> list[Entry]:
    entries = []
    for line in TABLE.read_text().splitlines():
        module, owner, name, kind, params = line.split(" ")
        entry = Entry(
            module=module,
            owner="" if owner == "-" else owner,
            name=name,
            kind=kind,
            params=None if params == "-" else tuple(p for p in params.split(",") if p),
        )
        if name.startswith("_") and name not in HOOKS:
            continue
        if entry.owner.startswith("_"):
            continue
        entries.append(entry)
    return entries


ENTRIES = _load()


def _lookup(entry: Entry) -> tuple[Any, Any]:
    """Return (the attribute as seen statically, the attribute as fetched)."""
    module = importlib.import_module(entry.module)
    if not entry.owner:
        assert hasattr(module, entry.name), f"{entry.id} is missing"
        value = getattr(module, entry.name)
        return value, value
    owner = getattr(module, entry.owner, None)
    assert owner is not None, f"{entry.module}.{entry.owner} is missing"
    try:
        static = inspect.getattr_static(owner, entry.name)
    except AttributeError:
        pytest.fail(f"{entry.id} is missing")
    return static, getattr(owner, entry.name)


def _callable_of(value: Any) -> Any:
    # the original's CLI verbs are CLIPluginFuncWrapper objects around a function
    inner = getattr(value, "_do_run", None)
    return inner if callable(inner) else value


def _check_params(entry: Entry, func: Any, skip_first: bool) -> None:
    assert entry.params is not None
    expected = list(entry.params)
    if skip_first and expected:
        expected = expected[1:]
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if skip_first and params and params[0].name in {"self", "cls"}:
        params = params[1:]
    named = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    kinds = {p.kind for p in params}
    want_named = [p for p in expected if not p.startswith("*")]
    for index, spec in enumerate(want_named):
        name = spec.rstrip("=")
        assert index < len(named), f"{entry.id}: parameter {name!r} missing in {sig}"
        ours = named[index]
        assert ours.name == name, (
            f"{entry.id}: parameter {index + 1} is {ours.name!r}, the original's is "
            f"{name!r} ({sig})"
        )
        if spec.endswith("="):
            assert ours.default is not ours.empty, (
                f"{entry.id}: {name!r} needs a default as in the original ({sig})"
            )
    for extra in named[len(want_named) :]:
        assert extra.default is not extra.empty, (
            f"{entry.id}: extra parameter {extra.name!r} has no default ({sig})"
        )
    if "*args" in expected:
        assert inspect.Parameter.VAR_POSITIONAL in kinds, (
            f"{entry.id}: no *args ({sig})"
        )
    if "**kwargs" in expected:
        assert inspect.Parameter.VAR_KEYWORD in kinds, (
            f"{entry.id}: no **kwargs ({sig})"
        )


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_original_name_is_kept(entry: Entry) -> None:
    static, value = _lookup(entry)
    kind = entry.kind.removesuffix("+cm")
    if kind == "class":
        assert inspect.isclass(value), f"{entry.id} is not a class"
    elif kind == "attribute":
        pass
    elif kind == "property":
        assert isinstance(static, property), f"{entry.id} is not a property"
    elif kind == "staticmethod":
        assert isinstance(static, staticmethod), f"{entry.id} is not a staticmethod"
        _check_params(entry, static.__func__, skip_first=False)
    elif kind == "classmethod":
        assert isinstance(static, classmethod), f"{entry.id} is not a classmethod"
        _check_params(entry, static.__func__, skip_first=True)
    elif kind == "method" and entry.name == "__init__" and entry.params == ("self",):
        # an inherited object.__init__ takes no arguments either
        assert callable(static)
    elif kind == "method":
        assert inspect.isfunction(static), f"{entry.id} is not a plain method"
        _check_params(entry, static, skip_first=True)
    else:
        func = _callable_of(value)
        assert callable(func), f"{entry.id} is not callable"
        _check_params(entry, func, skip_first=False)


def test_table_is_complete() -> None:
    # the table is the original's whole surface: a truncated file would
    # silently pin less
    modules = {entry.module for entry in ENTRIES}
    assert len(ENTRIES) > 500
    assert {"lago.prefix", "lago.utils", "lago.cmd", "lago.export"} <= modules
