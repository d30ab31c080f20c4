"""The recorded SSH host keys go back with a snapshot's disks."""

from __future__ import annotations

from pathlib import Path

from lago import snapshot_host_keys
from lago.paths import Paths


def _paths(tmp_path: Path) -> Paths:
    (tmp_path / "virt").mkdir()
    return Paths(tmp_path)


def test_a_revert_gives_back_the_keys_of_the_snapshot(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    known = tmp_path / "known_hosts"
    snapshot_host_keys.save(paths, "fresh")  # before any connection
    known.write_text("192.168.200.100,vm01 ssh-ed25519 AAAA1\n")
    snapshot_host_keys.save(paths, "booted")
    known.write_text("192.168.200.100,vm01 ssh-ed25519 AAAA2\n")

    snapshot_host_keys.restore(paths, "booted")
    assert known.read_text() == "192.168.200.100,vm01 ssh-ed25519 AAAA1\n"
    snapshot_host_keys.restore(paths, "fresh")
    assert known.read_text() == ""


def test_a_snapshot_without_kept_keys_leaves_them(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    known = tmp_path / "known_hosts"
    known.write_text("192.168.200.100,vm01 ssh-ed25519 AAAA1\n")
    snapshot_host_keys.restore(paths, "old")
    assert known.read_text() == "192.168.200.100,vm01 ssh-ed25519 AAAA1\n"
