"""Which template repository ``init`` uses, and what it says when one lacks
a template; file disks whose ``url`` would replace a host file."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from .conftest import LagoRunner
from .initfiles import tiny_root, tiny_vm, write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _init_file(
    directory: Path, template: str = "tiny", more: Sequence[dict] = ()
) -> Path:
    """``vm01`` on ``template``, with ``more`` disks after its root."""
    disks = [tiny_root(template), *more]
    return write_tiny_env(directory, {"vm01": tiny_vm(disks=disks)})


def _lines(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


def _private_store(lago: LagoRunner) -> Path:
    store = lago.cwd / "store"
    lago.env["LAGO__INIT__TEMPLATE_STORE"] = str(store)
    return store


def test_repo_path_wins_over_repo_name(lago: LagoRunner, local_repo: Path) -> None:
    """As in the original, whose users' init scripts pass both."""
    store = _private_store(lago)
    mine = json.loads(local_repo.read_text())
    mine["name"] = "mine"
    repo = lago.cwd / "mine.json"
    repo.write_text(json.dumps(mine))
    lago.env["LAGO__INIT__TEMPLATE_REPO_PATH"] = str(lago.cwd / "no-such-repo.json")
    _init_file(lago.cwd)
    lago("init", "--template-repo-path", str(repo), "--template-repo-name", local_repo.parent.name)  # fmt: skip
    entries = sorted(p.name for p in store.iterdir() if "." not in p.name)
    assert len(entries) == 1 and entries[0].startswith("mine:tiny:"), entries
    lago("destroy", "-y")


def test_a_template_the_repo_lacks_lists_what_it_has(
    lago: LagoRunner, local_repo: Path
) -> None:
    _init_file(lago.cwd, template="el7.3-base")
    proc = lago("init", check=False)
    assert proc.returncode == 2
    *_, line, hint = _lines(proc.stderr)
    assert "Traceback" not in proc.stderr
    assert re.search(
        rf"Image el7\.3-base doesn't exist in repo {re.escape(str(local_repo))} "
        r"\(it has: [^)]*\btiny\b[^)]*\)$",
        line,
    ), line
    assert "original's public template repository no longer exists" in hint
    assert "--template-repo-path" in hint
    assert "scripts/build-templates.sh" in hint
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]


def _file_disk(
    url: str, path: Path, name: str = "data", dev: str = "vdb", **more: object
) -> dict:
    return {"type": "file", "name": name, "dev": dev, "format": "raw",
            "url": url, "path": str(path), **more}  # fmt: skip


def test_a_file_disk_url_never_replaces_a_host_file(lago: LagoRunner) -> None:
    source = lago.cwd / "source.img"
    source.write_bytes(b"\0" * 65536)
    host = lago.cwd / "host"
    host.mkdir()
    precious = host / "precious.img"
    precious.write_bytes(b"user data")
    _init_file(lago.cwd, more=[_file_disk(source.as_uri(), precious)])
    proc = lago("init", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert _lines(proc.stderr)[-1] == (
        f"VM vm01: disk file {precious} exists already, refusing to overwrite it "
        f"with {source.as_uri()} (add 'overwrite: true' to the disk to replace it)"
    )
    assert precious.read_bytes() == b"user data"
    assert sorted(p.name for p in host.iterdir()) == ["precious.img"]
    assert not (lago.cwd / ".lago").exists()


def test_a_failed_init_puts_an_overwritten_file_back(lago: LagoRunner) -> None:
    source = lago.cwd / "source.img"
    source.write_bytes(b"\0" * 65536)
    precious = lago.cwd / "precious.img"
    precious.write_bytes(b"user data")
    fresh = lago.cwd / "fresh.img"
    more = [
        _file_disk(source.as_uri(), precious, overwrite=True),
        _file_disk(source.as_uri(), fresh, name="more", dev="vdc"),
        # fails after both downloads: the template store has no such image
        tiny_root("no-such", name="x", dev="vdd"),
    ]
    _init_file(lago.cwd, more=more)
    proc = lago("init", check=False)
    assert proc.returncode == 2, proc.stderr
    assert precious.read_bytes() == b"user data"
    assert not fresh.exists()
    assert sorted(p.name for p in lago.cwd.iterdir()) == [
        "LagoInitFile", "precious.img", "source.img",
    ]  # fmt: skip


def test_a_truncated_store_image_is_refused(lago: LagoRunner) -> None:
    store = _private_store(lago)
    _init_file(lago.cwd)
    lago("init")
    lago("destroy", "-y")
    (entry,) = [p for p in store.iterdir() if "." not in p.name]
    size = entry.stat().st_size
    with open(entry, "r+b") as stream:
        stream.truncate(1 << 20)
    proc = lago("init", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    *_, line, hint = _lines(proc.stderr)
    assert line.startswith(f"Template {entry.name} in the store is damaged: {entry} ")
    assert f"it was stored with {size} bytes" in line
    assert hint.startswith(f"remove {entry} and its .check, .hash and .metadata")
    assert not (lago.cwd / ".lago").exists()
