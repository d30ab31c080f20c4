"""Cache keys and the stored build state."""

import shutil

import pytest

from lago.template_builder import TemplateBuildError, cache


def fake_versions(packages):
    return {p: "1.0" for p in packages}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "builder"
    (root / "files/tiny").mkdir(parents=True)
    (root / "files/debian").mkdir(parents=True)
    (root / "tiny.py").write_text("tiny")
    (root / "debian.py").write_text("debian")
    (root / "files/tiny/rcS").write_text("rcS")
    (root / "files/debian/unit").write_text("unit")
    (root / "__pycache__").mkdir()
    (root / "__pycache__/x.pyc").write_bytes(b"junk")
    return root


def key(
    root, exclude=(), packages=("busybox-static",), versions=fake_versions, params=None
):
    return cache.compute_key(
        "tiny", list(packages), params, exclude, root=root, versions=versions
    )


def test_builder_files_skip_caches_and_excluded_globs(tree):
    names = [
        p.relative_to(tree).as_posix()
        for p in cache.builder_files(tree, ("debian.py", "files/debian/*"))
    ]
    assert names == ["files/tiny/rcS", "tiny.py"]


def test_key_is_stable(tree):
    assert key(tree) == key(tree)


def test_key_changes_with_a_builder_file(tree):
    before = key(tree)
    (tree / "files/tiny/rcS").write_text("rcS changed")
    assert key(tree) != before


def test_key_ignores_excluded_files(tree):
    exclude = ("debian.py", "files/debian/*")
    before = key(tree, exclude)
    (tree / "files/debian/unit").write_text("changed")
    (tree / "debian.py").write_text("changed")
    assert key(tree, exclude) == before


def test_key_ignores_bytecode(tree):
    before = key(tree)
    (tree / "__pycache__/x.pyc").write_bytes(b"other junk")
    assert key(tree) == before


def test_key_changes_with_a_package_version(tree):
    before = key(tree)
    after = key(tree, versions=lambda pkgs: {p: "2.0" for p in pkgs})
    assert after != before


def test_key_changes_with_params(tree):
    assert key(tree, params={"kernel": "a"}) != key(tree, params={"kernel": "b"})


def test_key_does_not_depend_on_the_tree_location(tree, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(tree, copy)
    assert key(copy) == key(tree)


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg-query")
def test_missing_package_is_one_clear_error():
    with pytest.raises(TemplateBuildError, match="no-such-package-lago"):
        cache.dpkg_versions(["no-such-package-lago"])


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg-query")
def test_dpkg_versions_of_an_installed_package():
    versions = cache.dpkg_versions(["dpkg"])
    assert versions["dpkg"]


def test_state_round_trip_and_freshness(tmp_path):
    image = tmp_path / "tiny-v1.qcow2"
    assert cache.fresh_state(image, "k") is None
    image.write_bytes(b"x")
    (tmp_path / "tiny-v1.qcow2.hash").write_text("h")
    (tmp_path / "tiny-v1.qcow2.metadata").write_text("{}")
    cache.write_state(image, cache.BuildState("k", 42))
    assert cache.fresh_state(image, "k") == cache.BuildState("k", 42)
    assert cache.fresh_state(image, "other") is None
    (tmp_path / "tiny-v1.qcow2.hash").unlink()
    assert cache.fresh_state(image, "k") is None


def test_forget_invalidates(tmp_path):
    image = tmp_path / "i.qcow2"
    cache.write_state(image, cache.BuildState("k", 1))
    cache.forget(image)
    assert cache.read_state(image) is None


def test_unreadable_state_is_a_miss(tmp_path):
    image = tmp_path / "i.qcow2"
    cache.key_path(image).write_text("garbage")
    assert cache.read_state(image) is None
