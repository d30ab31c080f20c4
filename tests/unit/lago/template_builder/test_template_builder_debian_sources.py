"""The Debian mirror comes from the host's apt sources or the environment."""

from __future__ import annotations

import pytest

from lago.template_builder import debian
from lago.template_builder.errors import TemplateBuildError

ONE_LINE = """\
# deb http://old.example/debian bookworm main
deb [arch=amd64] http://mirror.example/debian/ bookworm main
deb http://mirror.example/debian-security bookworm-security main
"""
DEB822 = """\
Types: deb
URIs: http://other.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://other.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_plain_and_security_mirrors_from_one_line_sources() -> None:
    assert debian.mirror_from_sources([ONE_LINE]) == "http://mirror.example/debian"
    assert debian.security_from_sources([ONE_LINE]) == (
        "http://mirror.example/debian-security"
    )


def test_plain_and_security_mirrors_from_deb822_sources() -> None:
    assert debian.mirror_from_sources([DEB822]) == "http://other.example/debian"
    assert debian.security_from_sources([DEB822]) == (
        "http://other.example/debian-security"
    )


def test_no_source_for_the_suite_means_no_mirror() -> None:
    texts = ["deb http://mirror.example/debian trixie main\n"]
    assert debian.mirror_from_sources(texts) is None
    assert debian.security_from_sources(texts) is None


def test_without_sources_or_variable_the_build_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAGO_DEBIAN_MIRROR", raising=False)
    monkeypatch.setattr(debian, "_host_sources", lambda: [])
    with pytest.raises(TemplateBuildError, match="LAGO_DEBIAN_MIRROR"):
        debian.host_mirror()


def test_the_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAGO_DEBIAN_MIRROR", "http://local.example/debian/")
    monkeypatch.setattr(debian, "_host_sources", lambda: [ONE_LINE])
    assert debian.host_mirror() == "http://local.example/debian"
