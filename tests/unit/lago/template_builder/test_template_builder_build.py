"""Building into a repository: caching, timestamps, atomic publication."""

import json

import pytest

from lago.template_builder import TemplateBuildError, build, workspace
from lago.template_builder.__main__ import main


def make_template(name, calls, fail=False):
    def inputs():
        return [], {"p": "1"}

    def do_build(workdir):
        calls.append(workdir)
        out = workdir / f"{name}.qcow2"
        out.write_bytes(f"{name} image {len(calls)}".encode())
        if fail:
            raise TemplateBuildError("boom")
        return out, {"distro": name, "root-password": "123456"}

    return build.Template(name, "v1", f"{name}-v1.qcow2", inputs, do_build)


def repo_meta(repo_dir):
    return json.loads((repo_dir / "repo.metadata").read_text())


def test_second_build_is_cached_and_keeps_the_timestamp(tmp_path):
    calls = []
    tpl = make_template("t1", calls)
    first = build.build_one(tmp_path, tpl)
    second = build.build_one(tmp_path, tpl)
    assert first.built and not second.built
    assert len(calls) == 1
    assert second.timestamp == first.timestamp
    versions = repo_meta(tmp_path)["templates"]["t1"]["versions"]
    assert list(versions) == [f"v1-{first.timestamp}"]
    entry = versions[f"v1-{first.timestamp}"]
    assert entry == {
        "source": "local",
        "handle": "t1-v1.qcow2",
        "timestamp": first.timestamp,
    }


def test_force_rebuilds(tmp_path):
    calls = []
    tpl = make_template("t1", calls)
    build.build_one(tmp_path, tpl)
    result = build.build_one(tmp_path, tpl, force=True)
    assert result.built and len(calls) == 2
    assert (tmp_path / "t1-v1.qcow2").read_bytes() == b"t1 image 2"


def test_other_templates_are_preserved(tmp_path):
    build.build_one(tmp_path, make_template("t1", []))
    build.build_one(tmp_path, make_template("t2", []))
    assert set(repo_meta(tmp_path)["templates"]) == {"t1", "t2"}


def test_lost_repo_entry_is_restored_with_the_same_timestamp(tmp_path):
    tpl = make_template("t1", [])
    first = build.build_one(tmp_path, tpl)
    (tmp_path / "repo.metadata").unlink()
    build.build_one(tmp_path, tpl)
    entry = repo_meta(tmp_path)["templates"]["t1"]["versions"][f"v1-{first.timestamp}"]
    assert entry["timestamp"] == first.timestamp


def test_failed_build_leaves_nothing_half_made(tmp_path):
    with pytest.raises(TemplateBuildError, match="boom"):
        build.build_one(tmp_path, make_template("t1", [], fail=True))
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == []


def test_failed_rebuild_keeps_the_previous_image(tmp_path):
    calls = []
    build.build_one(tmp_path, make_template("t1", calls))
    before = (tmp_path / "t1-v1.qcow2").read_bytes()
    with pytest.raises(TemplateBuildError):
        build.build_one(tmp_path, make_template("t1", calls, fail=True), force=True)
    assert (tmp_path / "t1-v1.qcow2").read_bytes() == before
    assert not list(tmp_path.glob(workspace.PREFIX + "*"))


def test_stale_build_dirs_are_removed(tmp_path):
    stale = tmp_path / f"{workspace.PREFIX}t1-99999"
    (stale / "root").mkdir(parents=True)
    workspace.remove_stale(tmp_path)
    assert not stale.exists()


def test_image_metadata_names_template_and_version(tmp_path):
    result = build.build_one(tmp_path, make_template("t1", []))
    meta = json.loads((tmp_path / "t1-v1.qcow2.metadata").read_text())
    assert meta["template"] == "t1" and meta["version"] == f"v1-{result.timestamp}"
    assert meta["root-password"] == "123456"


def test_a_rebuild_is_a_new_version_replacing_the_old(tmp_path, monkeypatch):
    tpl = make_template("t1", [])
    first = build.build_one(tmp_path, tpl)
    monkeypatch.setattr(build.time, "time", lambda: first.timestamp + 60)
    second = build.build_one(tmp_path, tpl, force=True)
    versions = repo_meta(tmp_path)["templates"]["t1"]["versions"]
    assert list(versions) == [f"v1-{second.timestamp}"]
    assert second.timestamp == first.timestamp + 60


def test_selection():
    assert [t.name for t in build.select(None, False)] == ["tiny"]
    assert [t.name for t in build.select(None, True)] == ["tiny", "debian12"]
    assert [t.name for t in build.select(["debian12"], False)] == ["debian12"]
    with pytest.raises(TemplateBuildError, match="unknown template 'nope'"):
        build.select(["nope"], False)


def test_cli_reports_one_line_on_error(tmp_path, capsys):
    assert main(["--repo-dir", str(tmp_path), "--only", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown template 'nope'" in err[0]
