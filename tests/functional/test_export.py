"""export → destroy → init from the exported init file → start, on real VMs."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import yaml

from .conftest import LagoRunner
from .initfiles import MANAGEMENT_NET, scratch_disk, tiny_root, tiny_vm, write_tiny_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")

MARKER = "/root/exported-marker"


def _lines(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


def _qemu_info(path: Path) -> dict:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def _sha1(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha1").hexdigest()


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` (logs aside) with its size and mtime."""
    return {
        str(item.relative_to(path)): (item.lstat().st_size, item.lstat().st_mtime_ns)
        for item in sorted(path.rglob("*"))
        if "logs" not in item.relative_to(path).parts
    }


def _check_sidecars(image: Path) -> dict:
    assert (image.parent / (image.name + ".hash")).read_text() == _sha1(image)
    metadata = json.loads((image.parent / (image.name + ".metadata")).read_text())
    assert metadata["sha1"] == _sha1(image)
    assert metadata["name"] == image.name
    assert re.fullmatch(r"\d{8}\.0", metadata["version"])
    return metadata


def _rebuild_and_read_marker(lago: LagoRunner, init_file: Path, workdir: str) -> str:
    lago("init", workdir, str(init_file), timeout=900)
    lago("--workdir-path", workdir, "start", "--wait-for-ssh", timeout=900)
    return lago("--workdir-path", workdir, "shell", "vm01", "cat", MARKER).stdout


def test_export_layered_standalone_compressed_and_rebuild(lago: LagoRunner) -> None:
    vm = tiny_vm(disks=[tiny_root(), scratch_disk("32M")])
    write_tiny_env(lago.cwd, {"vm01": vm}, MANAGEMENT_NET)
    lago("init", timeout=900)
    prefix = lago.cwd / ".lago" / "default"
    lago("start", "--wait-for-ssh", timeout=900)
    lago("shell", "vm01", f"echo exported-data > {MARKER} && sync")

    # a running VM is refused, and nothing is created
    proc = lago("export", "-d", "refused", check=False)
    assert proc.returncode != 0
    assert _lines(proc.stderr) == ["The following vms must be off:", "vm01"]
    assert not (lago.cwd / "refused").exists()

    lago("stop")
    before = _tree(prefix)

    # an unknown VM is refused
    proc = lago("export", "-n", "nope", "-d", "refused", check=False)
    assert proc.returncode != 0
    assert _lines(proc.stderr) == ["Entity nope does not exist"]
    assert not (lago.cwd / "refused").exists()

    # --collect-only prints the source disks and writes nothing
    proc = lago("-f", "json", "export", "--collect-only", "-d", "collected")
    paths = json.loads(proc.stdout)
    assert sorted(Path(p).name for p in paths["vm01"]) == [
        "vm01_root.qcow2",
        "vm01_scratch.qcow2",
    ]
    assert list((lago.cwd / "collected").iterdir()) == []

    # layered: rebased on the template, relative to the export directory
    lago("export", "-d", "layered")
    layered = lago.cwd / "layered"
    root = layered / "vm01_root.qcow2"
    backing = _qemu_info(root)["backing-filename"]
    assert re.fullmatch(r"\./tiny:[^:/]+", backing)
    assert _qemu_info(root)["backing-filename-format"] == "raw"
    metadata = _check_sidecars(root)
    assert metadata["base"] == "vm01_root.qcow2"
    assert metadata["distro"] == "tiny"
    _check_sidecars(layered / "vm01_scratch.qcow2")
    spec = yaml.safe_load((layered / "LagoInitFile").read_text())
    disks = {disk["name"]: disk for disk in spec["domains"]["vm01"]["disks"]}
    assert set(disks) == {"root", "scratch"}
    assert disks["root"]["path"] == "$LAGO_INITFILE_PATH/vm01_root.qcow2"
    assert disks["root"]["template_type"] == "qcow2"
    assert disks["scratch"]["type"] == "file"
    assert disks["scratch"]["make_a_copy"] == "True"
    assert all("metadata" not in disk for disk in disks.values())

    # exporting again into the same place is refused and changes nothing
    exported = _tree(layered)
    proc = lago("export", "-d", "layered", check=False)
    assert proc.returncode != 0
    [line] = _lines(proc.stderr)
    assert line.startswith(f"Export destination already holds {layered}/vm01_")
    assert _tree(layered) == exported

    # standalone: a whole image with no backing file
    lago("export", "-s", "-d", "standalone")
    standalone = lago.cwd / "standalone"
    info = _qemu_info(standalone / "vm01_root.qcow2")
    assert "backing-filename" not in info
    assert _check_sidecars(standalone / "vm01_root.qcow2")["base"] == "None"

    # compressed (one disk after the other): the .xz replaces the image
    lago("export", "-c", "--without-threads", "-n", "vm01", "-d", "compressed",
         "--init-file-name", "Rebuild")  # fmt: skip
    compressed = lago.cwd / "compressed"
    assert (compressed / "Rebuild").is_file()
    assert not (compressed / "LagoInitFile").exists()
    xz = compressed / "vm01_root.qcow2.xz"
    assert xz.exists() and not (compressed / "vm01_root.qcow2").exists()
    subprocess.run(["xz", "--decompress", str(xz)], check=True)
    assert (compressed / "vm01_root.qcow2.hash").read_text() == _sha1(
        compressed / "vm01_root.qcow2"
    )

    # the prefix is as it was (exports only read it)
    assert _tree(prefix) == before

    # each export rebuilds the environment, with the file written before
    lago("destroy", "-y")
    marker = _rebuild_and_read_marker(lago, layered / "LagoInitFile", "from-layered")
    assert marker.strip() == "exported-data"
    lago("--workdir-path", "from-layered", "destroy", "-y")
    marker = _rebuild_and_read_marker(
        lago, standalone / "LagoInitFile", "from-standalone"
    )
    assert marker.strip() == "exported-data"
