"""TemplateOptions resolves the settings once; TemplateSource loads once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from lago import template_source
from lago.errors import LagoUserException
from lago.template_source import TemplateOptions, TemplateSource


def test_repository_is_loaded_once_for_many_disks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loads: list[str] = []
    fetched: list[tuple[Any, str]] = []
    repo = object()

    def from_url(path: str) -> object:
        loads.append(path)
        return repo

    def fetch(repository: Any, store: Any, name: str, version: Any) -> tuple:
        fetched.append((repository, name))
        return (f"/store/{name}", {})

    monkeypatch.setattr(template_source.TemplateRepository, "from_url", from_url)
    monkeypatch.setattr(template_source, "fetch_template", fetch)
    source = TemplateSource("/repos/r.json", str(tmp_path))
    threads = [threading.Thread(target=source, args=(f"t{i}", None)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["/repos/r.json"]
    assert len(fetched) == 8
    assert all(repository is repo for repository, _ in fetched)


def test_no_repository_configured_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LagoUserException, match="No template repo"):
        TemplateSource(None, str(tmp_path))("t", None)


def test_options_take_the_configuration_for_what_is_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    section = {
        "template_repo_path": "/cfg/repo.json",
        "template_store": "/cfg/store",
        "template_repos": "/cfg/repos",
    }
    monkeypatch.setattr(
        template_source.config, "get_section", lambda name: dict(section)
    )
    options = TemplateOptions.resolve(store="/given/store")
    assert options == TemplateOptions(
        repo_path="/cfg/repo.json", store="/given/store", repos="/cfg/repos"
    )
    source = options.source()
    assert (source.repo_path, source.store_path) == ("/cfg/repo.json", "/given/store")
    assert source.repos_dir == "/cfg/repos"


def test_a_repo_path_given_with_a_repo_name_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Init files and CI scripts written for the original pass both; the
    original used the path (the name only labelled it)."""
    loads: list[str] = []
    monkeypatch.setattr(template_source.TemplateRepository, "from_url", loads.append)

    def no_search(*args: Any) -> None:
        raise AssertionError("the repository was looked up by name")

    monkeypatch.setattr(template_source, "find_repo_by_name", no_search)
    monkeypatch.setattr(template_source.config, "get_section", lambda name: {})
    options = TemplateOptions.resolve(repo_path="/given/repo.json", repo_name="other")
    options.source().repository()
    assert loads == ["/given/repo.json"]


def test_a_repo_name_given_alone_wins_over_the_configured_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    section = {"template_repo_path": "/cfg/repo.json", "template_repos": "/cfg/r"}
    monkeypatch.setattr(template_source.config, "get_section", lambda name: section)
    searched: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        template_source,
        "find_repo_by_name",
        lambda name, repos: searched.append((name, repos)),
    )
    TemplateOptions.resolve(repo_name="mine").source().repository()
    assert searched == [("mine", "/cfg/r")]
