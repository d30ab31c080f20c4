"""Which template repository ``init`` uses, and what it says when one lacks
a template; file disks whose ``url`` would replace a host file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import LagoRunner, write_init_file

ANSI = re.compile(r"\x1b\[[0-9;]*m")

INIT = """\
domains:
  vm01:
    memory: 256
    vcpu: 1
    nics: [{{net: lago}}]
    disks:
      - {{template_name: {template}, type: template, name: root, dev: vda, format: qcow2}}
{extra}
nets:
  lago: {{}}
"""


def _init_file(directory: Path, template: str = "tiny", extra: str = "") -> Path:
    return write_init_file(directory, INIT.format(template=template, extra=extra))


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


FILE_DISK = """\
      - {{type: file, name: data, dev: vdb, format: raw, url: "{url}", path: "{path}"{more}}}"""


def test_a_file_disk_url_never_replaces_a_host_file(lago: LagoRunner) -> None:
    source = lago.cwd / "source.img"
    source.write_bytes(b"\0" * 65536)
    host = lago.cwd / "host"
    host.mkdir()
    precious = host / "precious.img"
    precious.write_bytes(b"user data")
    extra = FILE_DISK.format(url=source.as_uri(), path=precious, more="")
    _init_file(lago.cwd, extra=extra)
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
    extra = "\n".join([
        FILE_DISK.format(url=source.as_uri(), path=precious, more=", overwrite: true"),
        FILE_DISK.format(url=source.as_uri(), path=fresh, more="").replace(
            "name: data, dev: vdb", "name: more, dev: vdc"
        ),
        # fails after both downloads: the template store has no such image
        "      - {type: template, template_name: no-such, name: x, dev: vdd, format: qcow2}",
    ])  # fmt: skip
    _init_file(lago.cwd, extra=extra)
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
