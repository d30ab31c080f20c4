"""Writing a template repository in the original Lago's format.

Layout of a repository directory::

    repo.metadata              JSON (4-space indent), see below
    <handle>                   the image (qcow2)
    <handle>.hash              sha1 hex of the image file, no newline
    <handle>.metadata          JSON: distro, root-password, root-partition, seed...
    <handle>.cache-key         the builder's cache key (see cache.py)

``repo.metadata``::

    {"name": "lago-local",
     "sources": {"local": {"type": "file", "args": {"root": "<repo dir>"}}},
     "templates": {"tiny": {"versions": {"v1": {"source": "local",
                                                "handle": "tiny-v1.qcow2",
                                                "timestamp": 1700000000}}}}}
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import TemplateBuildError
from .util import sha1_file, write_atomic

LOGGER = logging.getLogger(__name__)

METADATA_FILE = "repo.metadata"
DEFAULT_REPO_NAME = "lago-local"
SOURCE_NAME = "local"
LOCK_FILE = ".template-builder.lock"

RepoMeta = dict[str, Any]


def empty_metadata(repo_dir: Path, name: str = DEFAULT_REPO_NAME) -> RepoMeta:
    """A repository with no template yet."""
    return {
        "name": name,
        "sources": {SOURCE_NAME: {"type": "file", "args": {"root": str(repo_dir)}}},
        "templates": {},
    }


def load_metadata(repo_dir: Path, name: str = DEFAULT_REPO_NAME) -> RepoMeta:
    """The repository's metadata, or an empty one if it has none yet."""
    path = repo_dir / METADATA_FILE
    if not path.exists():
        return empty_metadata(repo_dir, name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise TemplateBuildError(
            f"unreadable repository metadata {path}: {err}"
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("templates", {}), dict):
        raise TemplateBuildError(f"{path}: not a Lago repository (no templates)")
    return data


def with_template(
    meta: Mapping[str, Any],
    repo_dir: Path,
    template: str,
    version: str,
    handle: str,
    *,
    timestamp: int,
) -> RepoMeta:
    """A copy of meta with one template version set and the local source fixed.

    Other templates, other sources and versions with other files are kept.
    """
    new: RepoMeta = copy.deepcopy(dict(meta))
    new.setdefault("name", DEFAULT_REPO_NAME)
    sources = new.setdefault("sources", {})
    sources[SOURCE_NAME] = {"type": "file", "args": {"root": str(repo_dir)}}
    templates = new.setdefault("templates", {})
    versions = templates.setdefault(template, {}).setdefault("versions", {})
    # an older version naming the same file describes bytes that are gone
    for stale in [v for v, spec in versions.items() if spec.get("handle") == handle]:
        del versions[stale]
    versions[version] = {
        "source": SOURCE_NAME,
        "handle": handle,
        "timestamp": int(timestamp),
    }
    return new


def render_metadata(meta: Mapping[str, Any]) -> str:
    """The JSON text of repo.metadata."""
    return json.dumps(meta, indent=4) + "\n"


def save_metadata(repo_dir: Path, meta: Mapping[str, Any]) -> bool:
    """Write repo.metadata atomically if it changed; return whether it did."""
    path = repo_dir / METADATA_FILE
    text = render_metadata(meta)
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    write_atomic(path, text)
    LOGGER.debug("wrote %s", path)
    return True


def image_metadata_text(metadata: Mapping[str, Any]) -> str:
    """The JSON text of <handle>.metadata."""
    return json.dumps(metadata, indent=4) + "\n"


def publish_image(
    repo_dir: Path, built: Path, handle: str, metadata: Mapping[str, Any]
) -> str:
    """Move a built image into the repository with its .hash and .metadata.

    ``built`` must be on the same filesystem as repo_dir. Returns the sha1.
    """
    digest = sha1_file(built)
    target = repo_dir / handle
    os.chmod(built, 0o644)
    os.replace(built, target)
    write_atomic(repo_dir / f"{handle}.hash", digest)
    write_atomic(repo_dir / f"{handle}.metadata", image_metadata_text(metadata))
    return digest


@contextlib.contextmanager
def repo_lock(repo_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the repository (one builder at a time)."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    with (repo_dir / LOCK_FILE).open("a") as handle:
        LOGGER.debug("locking %s", repo_dir / LOCK_FILE)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
