"""collect and deploy without VMs: the receiving side against hostile tar
streams, the guest command run by a local shell, naming, the output
directory, the deploy scripts' errors and the init file's ``device``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from lago.collect import CollectOutputError, prepare_output_dir
from lago.deploy import LagoDeployError, expanded_scripts, run_scripts
from lago.errors import InitFileError
from lago.guest_extract import receive as receive_stream
from lago.guest_extract import remote_tar_command
from lago.initfile import load_init_file
from lago.plugins.vm import VMPlugin
from lago.process import CommandStatus
from lago.safe_tar import UnsafeMemberError, extract_tree


def _archive(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    data.seek(0)
    return data


def _file(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


def _tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


# --- a hostile guest's stream ------------------------------------------------


def test_a_hostile_stream_writes_nothing_outside_the_destination(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "out" / "vm01" / "_var_log"
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    stream = _archive(
        (_file("./good.txt"), b"good\n"),
        (_file("../../escaped.txt"), b"evil\n"),
        (_file(str(tmp_path / "absolute.txt")), b"evil\n"),
        (_link("./up", "../../.."), None),
        (_file("./up/through-link.txt"), b"evil\n"),
        (_link("./abs", str(tmp_path)), None),
        (_file("./abs/victim"), b"evil\n"),
        (_link("./hard", str(victim), tarfile.LNKTYPE), None),
        (_link("./hard-rel", "../../../victim", tarfile.LNKTYPE), None),
        (_device("./null"), None),
        (_file("./setuid", 0o4755), b"#!/bin/sh\n"),
        (_file("./sub/nested.txt"), b"nested\n"),
    )
    extract_tree(stream, dest)

    assert victim.read_text() == "untouched\n"
    outside = {
        path for path in _tree(tmp_path) if not path.startswith("out/vm01/_var_log/")
    }
    assert outside == {"victim", "out", "out/vm01", "out/vm01/_var_log"}
    # names are kept inside: '/' stripped, a refused link leaves a plain directory
    absolute = dest / str(tmp_path / "absolute.txt").lstrip("/")
    assert absolute.read_text() == "evil\n"
    for refused_link in ("up", "abs"):
        assert (dest / refused_link).is_dir()
        assert not (dest / refused_link).is_symlink()
    for refused in ("hard", "hard-rel", "null"):
        assert not os.path.lexists(dest / refused)
    assert (dest / "good.txt").read_text() == "good\n"
    assert not (dest / "setuid").stat().st_mode & 0o7000


def test_a_file_answer_must_be_the_regular_file_asked_for(tmp_path: Path) -> None:
    vm_dir = tmp_path / "vm01"
    vm_dir.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    # a symlink where the file should be would make the copy point outside
    stream = _archive((_link("hostname", str(secret)), None))
    with pytest.raises(UnsafeMemberError):
        receive_stream(b"F", stream, "/etc/hostname", vm_dir / "_etc_hostname")
    stream = _archive((_file("other"), b"x"))
    with pytest.raises(UnsafeMemberError):
        receive_stream(b"F", stream, "/etc/hostname", vm_dir / "_etc_hostname")
    with pytest.raises(UnsafeMemberError):
        receive_stream(b"X", io.BytesIO(b""), "/etc/hostname", vm_dir / "_x")
    assert list(vm_dir.iterdir()) == []
    assert secret.read_text() == "host secret\n"


# --- the guest command, run by a local shell ------------------------------


def _run_guest_command(guest_path: str) -> tuple[int, bytes]:
    proc = subprocess.run(
        ["sh", "-c", remote_tar_command(guest_path)], capture_output=True, check=False
    )
    return proc.returncode, proc.stdout


def test_the_guest_command_sends_a_tree_a_file_or_says_missing(tmp_path: Path) -> None:
    guest = tmp_path / "guest dir"  # a blank, to prove the quoting
    (guest / "sub").mkdir(parents=True)
    (guest / "a.txt").write_text("alpha\n")
    (guest / "sub" / "b.txt").write_text("beta\n")
    (guest / "link").symlink_to("a.txt")
    host = tmp_path / "host"
    host.mkdir()

    code, out = _run_guest_command(f"{guest}/")
    assert code == 0
    receive_stream(out[:1], io.BytesIO(out[1:]), str(guest), host / "_tree")
    assert _tree(host / "_tree") == {"a.txt", "link", "sub", "sub/b.txt"}
    assert (host / "_tree" / "link").read_text() == "alpha\n"
    assert not (host / "_tree" / "link").is_symlink()  # followed on the guest

    code, out = _run_guest_command(str(guest / "sub" / "b.txt"))
    assert code == 0
    receive_stream(out[:1], io.BytesIO(out[1:]), str(guest / "sub/b.txt"), host / "_b")
    assert (host / "_b").read_text() == "beta\n"
    assert sorted(p.name for p in host.iterdir()) == ["_b", "_tree"]

    code, out = _run_guest_command(str(tmp_path / "nope"))
    assert (code, out) == (44, b"")


# --- naming and the output directory -----------------------------------------


class _FakeVM:
    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.asked: list[Any] = []

    def _artifact_paths(self) -> list[str]:
        return self.paths

    def extract_paths(self, paths: list[tuple[str, str]], ignore_nopath: bool) -> None:
        self.asked.append((paths, ignore_nopath))


def test_collect_artifacts_names_each_path_and_uses_the_hook(tmp_path: Path) -> None:
    vm = _FakeVM(["/var/log", "/etc/hostname", "relative/dir"])
    VMPlugin.collect_artifacts(vm, str(tmp_path / "vm01"), False)  # type: ignore[arg-type]
    base = str(tmp_path / "vm01")
    assert vm.asked == [
        (
            [
                ("/var/log", f"{base}/_var_log"),
                ("/etc/hostname", f"{base}/_etc_hostname"),
                ("relative/dir", f"{base}/relative_dir"),
            ],
            False,
        )
    ]
    assert (tmp_path / "vm01").is_dir()


def test_an_existing_output_directory_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("kept\n")
    monkeypatch.setattr(time, "strftime", lambda fmt: "2026-12-01_03:04:05")
    prepare_output_dir(str(out))
    assert list(out.iterdir()) == []
    assert (tmp_path / "out.2026-12-01_03:04:05" / "old").read_text() == "kept\n"


def test_an_output_directory_that_cannot_be_made_is_one_clear_error(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CollectOutputError) as err:
        prepare_output_dir(str(blocker / "out"))
    assert str(err.value) == (
        f"Cannot create the output directory {blocker / 'out'}: Not a directory"
    )
    assert err.value.exit_code == 2


# --- deploy ------------------------------------------------------------------


class _FakeHost:
    def __init__(self, results: list[CommandStatus]) -> None:
        self.results = results
        self.ran: list[str] = []

    def name(self) -> str:
        return "vm01"

    def ssh_reachable(self, tries: int | None = None) -> bool:
        return True

    def ssh_script(self, path: str, show_output: bool = True) -> CommandStatus:
        assert not show_output
        self.ran.append(os.path.basename(path))
        return self.results.pop(0)


def test_deploy_stops_at_the_first_failing_script(tmp_path: Path) -> None:
    scripts = []
    for name in ("a.sh", "b.sh", "c.sh"):
        (tmp_path / name).write_text("true\n")
        scripts.append(str(tmp_path / name))
    host = _FakeHost([CommandStatus(0, "", ""), CommandStatus(3, "out\n", "no\nway\n")])
    with pytest.raises(LagoDeployError) as err:
        run_scripts(host, scripts)
    assert str(err.value) == f"{scripts[1]} failed with status 3 on vm01: no; way"
    assert host.ran == ["a.sh", "b.sh"]


def test_saved_scripts_are_expanded_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "_x.sh").write_text("true\n")
    saved = ["$LAGO_PREFIX_PATH/scripts/_x.sh"]
    assert expanded_scripts("vm01", saved, str(tmp_path)) == [
        str(tmp_path / "scripts" / "_x.sh")
    ]
    with pytest.raises(LagoDeployError) as err:
        expanded_scripts(
            "vm01", [*saved, "$LAGO_PREFIX_PATH/scripts/_gone.sh"], str(tmp_path)
        )
    assert str(err.value) == (
        f"Script {tmp_path / 'scripts' / '_gone.sh'} of VM vm01 does not exist"
    )


# --- the init file's documented ``device`` -------------------------------


def _load_disk(tmp_path: Path, disk: dict[str, Any]) -> dict[str, Any]:
    spec = {
        "nics": [{"net": "lago"}],
        "disks": [
            {"template_name": "tiny", "type": "template", "format": "qcow2", **disk}
        ],
    }
    path = tmp_path / "LagoInitFile"
    path.write_text(json.dumps({"domains": {"vm": spec}, "nets": {"lago": {}}}))
    return load_init_file(path).domains["vm"]["disks"][0]


def test_device_is_read_as_dev(tmp_path: Path) -> None:
    disk = _load_disk(tmp_path, {"device": "vdb"})
    assert disk["dev"] == "vdb" and disk["name"] == "vdb" and "device" not in disk
    assert _load_disk(tmp_path, {"device": "vda", "dev": "vda"})["dev"] == "vda"


def test_device_and_a_different_dev_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InitFileError) as err:
        _load_disk(tmp_path, {"device": "vdb", "dev": "vda"})
    assert "domains.vm.disks[0].device: 'vdb' differs from dev 'vda'" in str(err.value)


def test_the_sdk_exposes_collect_and_deploy() -> None:
    from lago.prefix import Prefix
    from lago.sdk_utils import getattr_sdk

    for name in ("collect_artifacts", "deploy"):
        assert getattr_sdk(getattr(Prefix, name), name)
    with pytest.raises(AttributeError):
        getattr_sdk(Prefix._deploy_host, "_deploy_host")
