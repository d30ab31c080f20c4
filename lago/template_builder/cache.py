"""Cache keys: when must a template be rebuilt?

A template's key is a sha256 over the builder's own files (its Python modules
and the guest-side files it installs, minus those that only another template
uses), the versions of the Debian packages the template is made from (from
``dpkg-query``) and a few build parameters. The key is stored beside the image
as ``<handle>.cache-key`` (JSON, with the build's timestamp); an image whose
stored key equals the current one, and whose ``.hash`` and ``.metadata`` are in
place, is not rebuilt.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import TemplateBuildError
from .util import write_atomic

LOGGER = logging.getLogger(__name__)

BUILDER_DIR = Path(__file__).resolve().parent
KEY_SUFFIX = ".cache-key"

VersionLookup = Callable[[Sequence[str]], dict[str, str]]


def builder_files(root: Path = BUILDER_DIR, exclude: Iterable[str] = ()) -> list[Path]:
    """The builder's own files under root, sorted, minus excluded globs.

    Globs match the POSIX path relative to root (e.g. ``files/debian/*``).
    """
    patterns = list(exclude)
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if path.suffix in {".pyc", ".pyo"} or path.name.startswith("."):
            continue
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(rel, pat) for pat in patterns):
            continue
        found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def builder_digest(root: Path = BUILDER_DIR, exclude: Iterable[str] = ()) -> str:
    """sha256 over the relative names and contents of the builder's files."""
    digest = hashlib.sha256()
    for path in builder_files(root, exclude):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def dpkg_versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed versions of Debian packages; fail naming any missing one."""
    if not packages:
        return {}
    proc = subprocess.run(
        [
            "dpkg-query",
            "-W",
            "-f=${Package}\t${Version}\t${db:Status-Status}\n",
            *packages,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    versions = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            versions[parts[0].split(":")[0]] = parts[1]
    missing = [p for p in packages if p not in versions]
    if missing:
        raise TemplateBuildError(
            f"Debian packages not installed: {', '.join(missing)} "
            "(run scripts/install-deps.sh)"
        )
    return versions


def compute_key(
    template: str,
    packages: Sequence[str],
    params: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
    *,
    root: Path = BUILDER_DIR,
    versions: VersionLookup = dpkg_versions,
) -> str:
    """The cache key of one template."""
    material = {
        "template": template,
        "builder": builder_digest(root, exclude),
        "packages": versions(sorted(set(packages))),
        "params": dict(params or {}),
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class BuildState:
    """What the stored cache-key file says about a built image."""

    key: str
    timestamp: int


def key_path(image: Path) -> Path:
    """Where the cache key of an image is stored."""
    return image.with_name(image.name + KEY_SUFFIX)


def read_state(image: Path) -> BuildState | None:
    """The stored state of an image, or None if absent or unreadable."""
    try:
        data = json.loads(key_path(image).read_text())
        return BuildState(key=str(data["key"]), timestamp=int(data["timestamp"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(image: Path, state: BuildState) -> None:
    """Store the key and build timestamp beside the image."""
    text = json.dumps({"key": state.key, "timestamp": state.timestamp}, indent=4)
    write_atomic(key_path(image), text)


def forget(image: Path) -> None:
    """Invalidate an image's cache entry (before replacing it)."""
    key_path(image).unlink(missing_ok=True)


def fresh_state(image: Path, key: str) -> BuildState | None:
    """The stored state if the image is complete and built with this key."""
    state = read_state(image)
    if state is None or state.key != key:
        return None
    for companion in (
        image,
        image.with_name(image.name + ".hash"),
        image.with_name(image.name + ".metadata"),
    ):
        if not companion.is_file():
            LOGGER.debug("cache miss: %s is missing", companion)
            return None
    return state
