"""The documentation: lago(1) matches the parser, init file examples load."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lago import cli_reference
from lago.initfile import load_init_file

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _builtin_verbs() -> set[str]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    entries = setup["options.entry_points"]["lago.plugins.cli"]
    return {line.split("=")[0].strip() for line in entries.strip().splitlines()}


@pytest.fixture(scope="module")
def man_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``man -l`` of lago(1) as Sphinx's man builder writes it."""
    out = tmp_path_factory.mktemp("man")
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "man",
         "-D", "include_patterns=cli.rst", "-D", "root_doc=cli", str(DOCS), str(out)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    env = dict(os.environ, LC_ALL="C", LANG="C", MANWIDTH="250")
    env.pop("MAN_KEEP_FORMATTING", None)
    rendered = subprocess.run(
        ["man", "-l", str(out / "lago.1")],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return re.sub(r".\x08", "", rendered)  # overstrike bold, if any


def _options_of(section: str) -> set[str]:
    """Option strings of the definition terms (7-space indent) of a section."""
    found: set[str] = set()
    for line in section.splitlines():
        if re.match(r"^ {7}-", line):
            term = re.split(r" {2,}", line.strip())[0]
            found.update(re.findall(r"(?:^|, )(--?[A-Za-z][\w-]*)", term))
    return found


def _parser_options(parser) -> set[str]:
    return {
        option
        for action in cli_reference.documented_actions(parser)
        for option in action.option_strings
    }


@pytest.mark.skipif(not shutil.which("man"), reason="man is not installed")
def test_man_page_lists_every_verb_and_option(man_text: str) -> None:
    parser = cli_reference.builtin_parser()
    verbs = cli_reference.verb_parsers(parser)
    assert set(verbs) == _builtin_verbs()

    head, _, verbs_part = man_text.partition("\n   Verbs\n")
    assert verbs_part, "no Verbs section"
    global_part = head.partition("\n   Global options\n")[2]
    assert _options_of(global_part) == _parser_options(parser)

    chunks = re.split(r"^   lago (\S+)\n", verbs_part, flags=re.MULTILINE)
    sections = dict(zip(chunks[1::2], chunks[2::2], strict=True))
    assert list(sections) == sorted(verbs)
    for verb, sub in verbs.items():
        section = sections[verb].split("\nEXIT STATUS")[0]
        assert _options_of(section) == _parser_options(sub), verb
        for action in cli_reference.documented_actions(sub):
            if not action.option_strings:
                assert cli_reference.action_term(action) in section, (verb, action.dest)


def test_man_page_names_graph_and_its_output_option(man_text: str) -> None:
    assert "lago graph [-h] [-o FILE]" in man_text
    assert "--out-format {default,dot,flat,json,yaml}" in man_text


def _fenced_blocks(text: str, languages: tuple[str, ...]) -> list[str]:
    pattern = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return [body for lang, body in pattern.findall(text) if lang in languages]


def init_file_examples() -> list[tuple[str, str, str]]:
    """(page, suffix, text) of every init file shown in the documentation."""
    examples = []
    for page in sorted(DOCS.glob("*.md")):
        for body in _fenced_blocks(page.read_text(), ("yaml", "json")):
            if re.search(r'^\s*"?domains"?:', body, re.MULTILINE):
                suffix = ".json" if body.lstrip().startswith("{") else ".yaml"
                examples.append((page.name, suffix, body))
    for path in sorted((DOCS / "examples").glob("*.yaml")):
        examples.append((f"examples/{path.name}", ".yaml", path.read_text()))
    return examples


def test_the_docs_show_init_files_on_every_topic() -> None:
    pages = {page for page, _, _ in init_file_examples()}
    for page in ("quickstart.md", "initfile.md", "networking.md", "cpu.md",
                 "build-bootstrap.md", "snapshots-export.md", "examples/two-nets.yaml"):  # fmt: skip
        assert page in pages, page


@pytest.mark.parametrize(
    "page,suffix,text",
    init_file_examples(),
    ids=[f"{page}-{n}" for n, (page, _, _) in enumerate(init_file_examples())],
)
def test_init_file_example_loads(
    tmp_path: Path, page: str, suffix: str, text: str
) -> None:
    path = tmp_path / f"LagoInitFile{suffix}"
    path.write_text(text)
    if suffix == ".json":
        json.loads(text)
    init = load_init_file(path)
    assert init.domains and init.nets
    for name, spec in init.expanded_domains().items():
        assert spec["name"] == name
        assert spec["disks"] and spec["nics"]
