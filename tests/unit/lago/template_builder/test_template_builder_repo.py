"""repo.metadata and image companion files in the original Lago's format."""

import json

import pytest

from lago.template_builder import TemplateBuildError, repo


def test_empty_repo_has_the_original_layout(tmp_path):
    meta = repo.load_metadata(tmp_path)
    assert meta == {
        "name": "lago-local",
        "sources": {"local": {"type": "file", "args": {"root": str(tmp_path)}}},
        "templates": {},
    }


def test_with_template_sets_one_version_and_keeps_the_rest(tmp_path):
    meta = repo.empty_metadata(tmp_path)
    meta = repo.with_template(
        meta, tmp_path, "debian12", "v1", "debian12-v1.qcow2", timestamp=5
    )
    meta["sources"]["other"] = {"type": "http", "args": {"baseurl": "http://x/"}}
    new = repo.with_template(meta, tmp_path, "tiny", "v1", "tiny-v1.qcow2", timestamp=7)
    assert new["templates"]["debian12"]["versions"]["v1"] == {
        "source": "local",
        "handle": "debian12-v1.qcow2",
        "timestamp": 5,
    }
    assert new["templates"]["tiny"]["versions"]["v1"] == {
        "source": "local",
        "handle": "tiny-v1.qcow2",
        "timestamp": 7,
    }
    assert new["sources"]["other"]["type"] == "http"
    assert "tiny" not in meta["templates"], "the input must not be modified"


def test_with_template_fixes_the_local_root_after_a_move(tmp_path):
    old = repo.empty_metadata(tmp_path / "old")
    new = repo.with_template(old, tmp_path, "tiny", "v1", "tiny-v1.qcow2", timestamp=1)
    assert new["sources"]["local"]["args"]["root"] == str(tmp_path)


def test_metadata_is_json_with_four_space_indent(tmp_path):
    meta = repo.with_template(
        repo.empty_metadata(tmp_path),
        tmp_path,
        "tiny",
        "v1",
        "tiny-v1.qcow2",
        timestamp=3,
    )
    assert repo.save_metadata(tmp_path, meta) is True
    text = (tmp_path / "repo.metadata").read_text()
    assert text.startswith('{\n    "name": "lago-local",\n')
    assert json.loads(text) == meta


def test_save_metadata_leaves_an_unchanged_file_alone(tmp_path):
    meta = repo.empty_metadata(tmp_path)
    repo.save_metadata(tmp_path, meta)
    before = (tmp_path / "repo.metadata").stat().st_mtime_ns
    assert repo.save_metadata(tmp_path, meta) is False
    assert (tmp_path / "repo.metadata").stat().st_mtime_ns == before


def test_malformed_metadata_is_one_clear_error(tmp_path):
    (tmp_path / "repo.metadata").write_text("{not json")
    with pytest.raises(TemplateBuildError, match=r"repo\.metadata"):
        repo.load_metadata(tmp_path)


def test_publish_image_writes_hash_and_metadata(tmp_path):
    built = tmp_path / "work.qcow2"
    built.write_bytes(b"image bytes")
    digest = repo.publish_image(
        tmp_path, built, "tiny-v1.qcow2", {"distro": "tiny", "root-password": "123456"}
    )
    assert not built.exists()
    assert (tmp_path / "tiny-v1.qcow2").read_bytes() == b"image bytes"
    # sha1 of b"image bytes", no trailing newline
    assert (tmp_path / "tiny-v1.qcow2.hash").read_text() == digest
    import hashlib

    assert digest == hashlib.sha1(b"image bytes").hexdigest()
    meta = json.loads((tmp_path / "tiny-v1.qcow2.metadata").read_text())
    assert meta == {"distro": "tiny", "root-password": "123456"}


def test_repo_lock_is_reentrant_across_calls(tmp_path):
    with repo.repo_lock(tmp_path):
        pass
    with repo.repo_lock(tmp_path):
        assert (tmp_path / repo.LOCK_FILE).exists()
