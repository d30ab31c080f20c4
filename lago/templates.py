"""Disk templates: repositories, templates, versions, providers and the store.

- A *template repository* (``repo.metadata``, JSON) names its ``sources``
  (providers: ``file`` or ``http``) and its ``templates``, each with
  ``versions`` that point at a source, a ``handle`` and a ``timestamp``.
- A *template version* is one image of a template, named
  ``<repo>:<template>:<version>``.
- The *template store* caches downloaded versions on the host.

Providers live in :mod:`lago._template_providers` and the store in
:mod:`lago._template_store`; every public name is importable from here.
"""

from __future__ import annotations

import functools
import json
import logging
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lago._template_providers import (
    PROVIDERS,
    FileSystemTemplateProvider,
    HttpTemplateProvider,
    TemplateDownloadError,
    TemplateError,
    TemplateHashError,
    read_body,
    urlopen,
)
from lago._template_store import TemplateStore
from lago.locks import LockFile
from lago.log_utils import log_always

__all__ = [
    "FileSystemTemplateProvider",
    "HttpTemplateProvider",
    "LagoMissingTemplateError",
    "Template",
    "TemplateDownloadError",
    "TemplateError",
    "TemplateHashError",
    "TemplateRepository",
    "TemplateStore",
    "TemplateVersion",
    "fetch_template",
    "find_repo_by_name",
    "resolve_template",
]

LOGGER = logging.getLogger(__name__)


def _locked(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a method while holding the flock of ``self.lock_path()``."""

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LockFile(self.lock_path()):
            return func(self, *args, **kwargs)

    return wrapper


class TemplateVersion:
    """One image of a template; ``name`` is ``<repo>:<template>:<version>``."""

    def __init__(self, name: str, source: Any, handle: str, timestamp: int) -> None:
        self.name = name
        self._source = source
        self._handle = handle
        self._timestamp = timestamp
        self._hash: str | None = None
        self._metadata: dict[str, Any] | None = None

    def timestamp(self) -> int:
        return self._timestamp

    def download(self, destination: str) -> None:
        """Fetch the image from its provider to ``destination``."""
        self._source.download_image(self._handle, destination)

    def get_hash(self) -> str:
        """The repository's sha1 of the image (asked once, then cached)."""
        if self._hash is None:
            self._hash = self._source.get_hash(self._handle)
        return self._hash

    def get_metadata(self) -> dict[str, Any]:
        """The repository's metadata of the image (asked once, then cached)."""
        if self._metadata is None:
            self._metadata = self._source.get_metadata(self._handle)
        return self._metadata


class Template:
    """A named template and its versions (``dict`` of version name to version)."""

    def __init__(self, name: str, versions: dict[str, TemplateVersion]) -> None:
        self.name = name
        self._versions = versions

    def get_version(self, ver_name: str | None = None) -> TemplateVersion:
        """The named version (``KeyError`` if absent), or the latest one."""
        if ver_name is None:
            return self.get_latest_version()
        return self._versions[ver_name]

    def get_latest_version(self) -> TemplateVersion:
        """The version with the newest timestamp."""
        if not self._versions:
            raise TemplateError(f"Image {self.name} has no versions")
        return max(self._versions.values(), key=lambda version: version.timestamp())


def _check_dom(dom: Any) -> None:
    if not isinstance(dom, dict):
        raise TemplateError("not a JSON object")
    if not isinstance(dom.get("name"), str) or not dom["name"]:
        raise TemplateError("'name' is missing or not a string")
    for key in ("sources", "templates"):
        if not isinstance(dom.get(key, {}), dict):
            raise TemplateError(f"'{key}' is not an object")


#: Init files written for the original name its public repository's
#: templates (el7.x, fc2x); that repository no longer exists.
MISSING_TEMPLATE_HINT = (
    "the original's public template repository no longer exists: point "
    "--template-repo-path (or [init] template_repo_path) at a repository that "
    "has the template, or build one with scripts/build-templates.sh "
    "(docs/templates.md)"
)


class LagoMissingTemplateError(TemplateError, KeyError):
    """The repository has no template of that name (also a ``KeyError``,
    as a missing key of the repository's ``templates`` was)."""

    def __init__(
        self, name: str, path: str | None, available: list[str] | None = None
    ) -> None:
        message = f"Image {name} doesn't exist in repo {path}"
        if available is not None:
            has = ", ".join(sorted(available)) or "no templates"
            message += f" (it has: {has})"
        super().__init__(message, hint=MISSING_TEMPLATE_HINT)

    def __str__(self) -> str:
        # KeyError.__str__ would add quotes around the message
        return Exception.__str__(self)


class TemplateRepository:
    """A set of templates served by one or more providers (``sources``)."""

    def __init__(self, dom: dict[str, Any], path: str | None = None) -> None:
        _check_dom(dom)
        self._dom = dom
        self._path = path
        self._providers = {
            name: self._get_provider(spec, name)
            for name, spec in dom.get("sources", {}).items()
        }

    @staticmethod
    def _get_provider(spec: Any, name: str = "") -> Any:
        """A provider instance for the source ``spec`` (``type`` and ``args``)."""
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in PROVIDERS:
            known = ", ".join(sorted(PROVIDERS))
            raise TemplateError(
                f"source '{name}' has unknown type {kind!r} (known: {known})"
            )
        try:
            return PROVIDERS[kind](**spec.get("args", {}))
        except TypeError as err:
            raise TemplateError(f"source '{name}' has bad args: {err}") from err

    @classmethod
    def from_url(cls, path: str) -> TemplateRepository:
        """Load the repository JSON from a local file, or else an http(s) URL."""
        try:
            return cls(json.loads(_read_repo(path)), path)
        except ValueError as err:
            msg = f"Unable to load repo from {path}: invalid JSON: {err}"
            raise TemplateError(msg) from err
        except TemplateError as err:
            raise TemplateError(f"Unable to load repo from {path}: {err}") from err

    @property
    def name(self) -> str:
        return self._dom["name"]

    @property
    def path(self) -> str | None:
        """Where the repository file was read from."""
        return self._path

    def get_by_name(self, name: str) -> Template:
        """The template called ``name``; :class:`LagoMissingTemplateError`
        (a ``KeyError``) if there is none."""
        templates = self._dom.get("templates", {})
        if name not in templates:
            raise LagoMissingTemplateError(name, self._where, list(templates))
        spec = templates[name]
        versions = spec.get("versions", {}) if isinstance(spec, dict) else None
        if not isinstance(versions, dict):
            raise TemplateError(
                f"Image {name} in repo {self._where} has no 'versions' object"
            )
        return Template(
            name=name,
            versions={
                ver: self._version(name, ver, vspec) for ver, vspec in versions.items()
            },
        )

    @property
    def _where(self) -> str:
        return self.path or self.name

    def _version(self, template: str, ver_name: str, spec: Any) -> TemplateVersion:
        label = f"Version {ver_name} of image {template} in repo {self._where}"
        if not isinstance(spec, dict) or not {"source", "handle"} <= spec.keys():
            raise TemplateError(f"{label} needs 'source' and 'handle'")
        if spec["source"] not in self._providers:
            raise TemplateError(f"{label} names unknown source '{spec['source']}'")
        return TemplateVersion(
            name=f"{self.name}:{template}:{ver_name}",
            source=self._providers[spec["source"]],
            handle=spec["handle"],
            timestamp=spec.get("timestamp", 0),
        )


def _read_repo(path: str) -> str | bytes:
    """The repository text from a file, or an http(s) URL (``TemplateError``)."""
    if Path(path).exists():
        try:
            return Path(path).read_bytes()
        except OSError as err:
            raise TemplateError(err.strerror or str(err)) from err
    if urllib.parse.urlsplit(path).scheme not in ("http", "https"):
        raise TemplateError("no such file, and not an http(s) URL")
    try:
        response = urlopen(path)
        with response:
            return read_body(response, path)
    except TemplateDownloadError as err:
        raise TemplateError(err.reason) from err


def find_repo_by_name(name: str, repo_dir: str | None = None) -> TemplateRepository:
    """The repository called ``name`` among ``*.json`` and ``repo.metadata``
    files under ``repo_dir`` (default: ``[init] template_repos``)."""
    if repo_dir is None:
        from lago.config import config

        repo_dir = (config.get_section("init") or {}).get("template_repos")
    root = Path(repo_dir or "")
    candidates = (
        sorted({*root.rglob("*.json"), *root.rglob("repo.metadata")})
        if repo_dir
        else []
    )
    for path in candidates:
        try:
            repo = TemplateRepository.from_url(str(path))
        except TemplateError as err:
            LOGGER.warning("Skipping %s", err)
            continue
        if repo.name == name:
            return repo
    hint = f"searched *.json and repo.metadata files under {repo_dir}"
    raise TemplateError(f"Could not find repo {name}", hint=hint)


def fetch_template(
    repo: TemplateRepository,
    store: TemplateStore,
    template_name: str,
    version: str | None,
) -> tuple[str, dict[str, Any]]:
    """Store path and stored metadata of a template version of ``repo``,
    downloading it into ``store`` first if needed."""
    where = repo.path or repo.name
    # a missing template is a LagoMissingTemplateError naming what there is
    template = repo.get_by_name(template_name)
    if version is not None:
        version = str(version)
    try:
        temp_ver = template.get_version(version)
    except KeyError as err:
        msg = (
            f"Version {version} of image {template_name} doesn't exist in repo {where}"
        )
        raise TemplateError(msg) from err
    except TemplateError as err:
        raise TemplateError(f"{err} in repo {where}") from err
    if temp_ver not in store:
        LOGGER.info(log_always(f"Template {temp_ver.name} not in cache, downloading"))
        store.download(temp_ver)
    store.verify(temp_ver)
    return store.get_path(temp_ver), store.get_stored_metadata(temp_ver)


def resolve_template(
    repo_path: str | TemplateRepository,
    store_path: str,
    template_name: str,
    version: str | None,
) -> tuple[str, dict[str, Any]]:
    """Load the repository at ``repo_path`` (or take a loaded one, such as
    :func:`find_repo_by_name` returns) and :func:`fetch_template`."""
    if isinstance(repo_path, TemplateRepository):
        repo = repo_path
    else:
        repo = TemplateRepository.from_url(repo_path)
    return fetch_template(repo, TemplateStore(store_path), template_name, version)
