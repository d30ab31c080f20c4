"""Where ``init`` takes its templates from: options, then one loaded repository.

:class:`TemplateOptions` resolves the four template settings once (a value
not given comes from the ``[init]`` section of the configuration).
:class:`TemplateSource` loads the repository they name at most once, on the
first disk that needs a template, however many disks and threads ask.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from lago import defaults
from lago.config import config
from lago.errors import LagoUserException
from lago.templates import (
    TemplateRepository,
    TemplateStore,
    fetch_template,
    find_repo_by_name,
)

#: Where downloaded templates are kept when nothing else is configured.
DEFAULT_TEMPLATE_STORE = defaults.TEMPLATE_STORE


class TemplateSource:
    """Finds templates in the configured repository, loading it only if needed."""

    def __init__(self, repo_path: str | None, store_path: str, repo_name: str | None = None,
                 repos_dir: str | None = None) -> None:  # fmt: skip
        self.repo_path = repo_path
        self.repo_name = repo_name
        self.repos_dir = repos_dir
        self.store_path = store_path
        self._repo: TemplateRepository | None = None
        self._lock = threading.Lock()

    def repository(self) -> TemplateRepository:
        """The repository, loaded (or downloaded) on the first call only."""
        with self._lock:
            if self._repo is None:
                self._repo = self._load()
            return self._repo

    def _load(self) -> TemplateRepository:
        # a path given with a name wins, as in the original: init files and
        # scripts written for it pass both, the name only labelling the path
        if self.repo_path:
            return TemplateRepository.from_url(self.repo_path)
        if self.repo_name:
            return find_repo_by_name(self.repo_name, self.repos_dir)
        raise LagoUserException("No template repo was configured or specified")

    def __call__(self, name: str, version: str | None) -> tuple[str, dict[str, Any]]:
        """The stored image path and metadata of template ``name``."""
        store = TemplateStore(self.store_path)
        return fetch_template(self.repository(), store, name, version)


@dataclass(frozen=True)
class TemplateOptions:
    """The template settings of one ``init``."""

    repo_path: str | None = None
    store: str | None = None
    repo_name: str | None = None
    repos: str | None = None

    @classmethod
    def resolve(
        cls,
        repo_path: str | None = None,
        store: str | None = None,
        repo_name: str | None = None,
        repos: str | None = None,
    ) -> TemplateOptions:
        """The given values, each missing one from the configuration; a
        repository name given alone wins over the configured path."""
        init_cfg = config.get_section("init") or {}
        configured_path = None if repo_name else init_cfg.get("template_repo_path")
        return cls(
            repo_path=repo_path or configured_path,
            store=store or init_cfg.get("template_store"),
            repo_name=repo_name,
            repos=repos or init_cfg.get("template_repos"),
        )

    def source(self) -> TemplateSource:
        return TemplateSource(
            repo_path=self.repo_path,
            store_path=os.path.abspath(self.store or DEFAULT_TEMPLATE_STORE),
            repo_name=self.repo_name,
            repos_dir=os.path.abspath(self.repos) if self.repos else None,
        )
