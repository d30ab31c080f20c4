"""The LagoInitFile: load it, validate it, expand one VM spec for populate.

Loading has no side effects: nothing is created and ``os.environ`` is never
written (``$LAGO_INITFILE_PATH`` and friends are passed to the expansion as a
local mapping). Every problem is reported as one
:class:`~lago.errors.InitFileError` line ``<file>: <key path>: <problem>``,
e.g. ``LagoInitFile: domains.vm01.memory: expected a positive integer (MiB),
got 'lots'``, before anything is made.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lago.env_host import check_host_section
from lago.errors import InitFileError
from lago.initfile_schema import check_domain, check_net, merge_based_on
from lago.initfile_values import FieldError, as_mapping, as_name, show
from lago.yaml_strict import YAMLContentError, load_init_text

__all__ = [
    "InitFile",
    "expand_domain",
    "expand_path",
    "expand_vars",
    "initfile_env",
    "load_init_file",
    "validate",
]

LOGGER = logging.getLogger(__name__)

#: Top-level keys besides ``domains`` and ``nets`` that are read and unused.
KNOWN_TOP_LEVEL = ("domains", "nets", "prototypes", "host")
_VAR_RE = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclass
class InitFile:
    """A loaded, validated init file.

    ``domains`` and ``nets`` are normalized copies (numbers as integers,
    yes/no as booleans, ``groups`` as lists, each disk with a ``name``), in
    file order; ``raw`` is the document as parsed.
    """

    path: Path
    domains: dict[str, dict[str, Any]]
    nets: dict[str, dict[str, Any]]
    raw: dict[str, Any]

    @property
    def init_dir(self) -> str:
        """The value of ``$LAGO_INITFILE_PATH``: the file's absolute folder."""
        return os.path.dirname(os.path.abspath(self.path))

    @property
    def host(self) -> dict[str, str]:
        """The ``host`` section: where the environment's libvirt runs."""
        return check_host_section(self.raw.get("host"), str(self.path))

    def expanded_domains(
        self, extra_vars: Mapping[str, str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Every VM spec through :func:`expand_domain`, in file order."""
        return {
            name: expand_domain(name, spec, self.init_dir, extra_vars)
            for name, spec in self.domains.items()
        }


def load_init_file(path: str | os.PathLike[str]) -> InitFile:
    """Read, parse (JSON, else YAML) and validate the init file at ``path``."""
    source = os.fspath(path)
    file_path = Path(source)
    if not file_path.exists():
        raise InitFileError(f"Unable to find init file: {source}")
    raw = _parse(file_path, source)
    # checked on a copy: the normalized specs share no object with ``raw``
    domains, nets = _checked(copy.deepcopy(raw), source)
    return InitFile(path=file_path.absolute(), domains=domains, nets=nets, raw=raw)


def validate(data: Any, source: str) -> None:
    """Raise :class:`InitFileError` naming ``source`` if ``data`` is not a
    valid init file (parsed form)."""
    _checked(data, source)


def _parse(file_path: Path, source: str) -> dict[str, Any]:
    try:
        return load_init_text(file_path.read_bytes())
    except YAMLContentError as err:
        raise InitFileError(f"{source}: {err}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = err.problem or err.context
        raise InitFileError(f"{source}: malformed YAML{where}: {problem}") from None
    except yaml.YAMLError as err:
        raise InitFileError(f"{source}: malformed YAML: {err}") from None
    except RecursionError:
        raise InitFileError(f"{source}: a YAML alias refers to itself") from None
    except UnicodeDecodeError as err:
        raise InitFileError(
            f"{source}: not UTF-8 text (bad byte at offset {err.start})"
        ) from None
    except OSError as err:
        raise InitFileError(
            f"Unable to read init file {source}: {err.strerror}"
        ) from None


def _checked(
    data: Any, source: str
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    if not isinstance(data, dict):
        got = "an empty file" if data is None else show(data)
        raise InitFileError(
            f"{source}: top level: expected a mapping with the keys 'domains' "
            f"and 'nets', got {got}"
        )
    for key in data:
        if key not in KNOWN_TOP_LEVEL:
            LOGGER.debug("%s: ignoring top-level key %s", source, show(key))
    check_host_section(data.get("host"), source)
    try:
        nets = _check_nets(data)
        return _check_domains(data, nets), nets
    except FieldError as err:
        raise InitFileError(f"{source}: {err.path}: {err.problem}") from None


def _check_nets(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    expected = "a mapping of network names to network specs"
    if "nets" not in data:
        raise FieldError("nets", f"required top-level key is missing ({expected})")
    nets = as_mapping(data["nets"], "nets", expected)
    if not nets:
        raise FieldError(
            "nets", "no networks configured; declare at least one, e.g. lago: {}"
        )
    return {
        as_name(name, "nets", "network"): check_net(spec, f"nets.{name}")
        for name, spec in nets.items()
    }


def _check_domains(
    data: dict[str, Any], nets: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    expected = "a mapping of VM names to VM specs"
    if "domains" not in data:
        raise FieldError("domains", f"required top-level key is missing ({expected})")
    domains = as_mapping(data["domains"], "domains", expected)
    return {
        as_name(name, "domains", "VM"): check_domain(spec, f"domains.{name}", nets)
        for name, spec in domains.items()
    }


def initfile_env(
    init_dir: str | os.PathLike[str], extra_vars: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables an init file may use: the environment, plus
    ``LAGO_INITFILE_PATH`` and ``extra_vars`` (``LAGO_PREFIX_PATH``, ...)."""
    return {
        **os.environ,
        "LAGO_INITFILE_PATH": os.fspath(init_dir),
        **(extra_vars or {}),
    }


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` replaced from ``env``; unknown ones kept."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("{") and name.endswith("}"):
            name = name[1:-1]
        return env.get(name, match.group(0))

    return _VAR_RE.sub(replace, text)


def expand_path(text: str, env: Mapping[str, str]) -> str:
    """A path with its variables and a leading ``~`` expanded."""
    expanded = expand_vars(text, env)
    return str(Path(expanded).expanduser()) if expanded.startswith("~") else expanded


def expand_domain(
    name: str,
    spec: dict[str, Any],
    init_dir: str | os.PathLike[str],
    extra_vars: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The VM spec ``spec`` (of an :class:`InitFile`) ready to populate.

    ``name`` set, ``based-on`` merged in (its keys copied when absent),
    ``ovirt-scripts`` renamed ``deploy-scripts``, variables expanded in the
    places the original expanded them (file-disk ``url``/``path``, qcow2
    template ``path``, deploy scripts), ``groups`` made a list. ``spec`` is
    not changed.
    """
    domain = copy.deepcopy(spec)
    domain["name"] = name
    domain = merge_based_on(domain)
    _rename_ovirt_scripts(name, domain)
    env = initfile_env(init_dir, extra_vars)
    for disk in domain.get("disks", []):
        _expand_disk(disk, env)
    scripts = domain.get("metadata", {}).get("deploy-scripts")
    if scripts:
        domain["metadata"]["deploy-scripts"] = [
            expand_path(script, env) for script in scripts
        ]
    if isinstance(domain.get("groups"), str):
        domain["groups"] = [domain["groups"]]
    return domain


def _rename_ovirt_scripts(name: str, domain: dict[str, Any]) -> None:
    metadata = domain.get("metadata", {})
    if "ovirt-scripts" not in metadata:
        return
    LOGGER.warning(
        "%s: metadata key 'ovirt-scripts' is deprecated, rename it to 'deploy-scripts'",
        name,
    )
    scripts = metadata.pop("ovirt-scripts")
    if not metadata.get("deploy-scripts"):
        metadata["deploy-scripts"] = scripts


def _expand_disk(disk: dict[str, Any], env: Mapping[str, str]) -> None:
    if disk.get("type") == "file":
        if "url" in disk:
            disk["url"] = expand_vars(disk["url"], env)
        if "path" in disk:
            disk["path"] = expand_path(disk["path"], env)
    elif disk.get("type") == "template" and disk.get("template_type") == "qcow2":
        disk["path"] = expand_path(disk["path"], env)
