"""Template repositories, providers and the store, against real files, a real
HTTP server on 127.0.0.1 and real qemu-img/xz."""

from __future__ import annotations

import collections
import functools
import hashlib
import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lago import templates
from lago.process import run_command
from lago.templates import (
    FileSystemTemplateProvider,
    HttpTemplateProvider,
    LagoMissingTemplateError,
    Template,
    TemplateDownloadError,
    TemplateError,
    TemplateHashError,
    TemplateRepository,
    TemplateStore,
    TemplateVersion,
    fetch_template,
    find_repo_by_name,
    resolve_template,
)

META = {"distro": "el7", "root-password": "123456"}
Hook = Callable[[http.server.BaseHTTPRequestHandler], bool]


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may turn a 127.0.0.1 request into outside traffic."""
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server: Server = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        with server.lock:
            server.gets[path] += 1
        hook = server.hooks.get(path)
        if hook is None or not hook(self):
            super().do_GET()


class Server:
    """A threaded HTTP server on 127.0.0.1 serving ``root``, counting GETs."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.gets: collections.Counter[str] = collections.Counter()
        self.hooks: dict[str, Hook] = {}
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    srv = Server(root)
    yield srv
    srv.close()


@pytest.fixture
def raw_image(tmp_path: Path) -> Path:
    """A 1 MiB raw image with data at both ends."""
    path = tmp_path / "src.raw"
    with open(path, "wb") as stream:
        stream.write(b"lago-template" * 100)
        stream.seek(1024 * 1024 - 3)
        stream.write(b"end")
    return path


@pytest.fixture
def qcow2_image(tmp_path: Path, raw_image: Path) -> Path:
    path = tmp_path / "src.qcow2"
    cmd = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw_image), str(path)]
    assert run_command(cmd).code == 0
    return path


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def publish(
    directory: Path, handle: str, image: Path, digest: str | None = None
) -> None:
    """Put an image with its .hash and .metadata into a provider directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / handle).write_bytes(image.read_bytes())
    (directory / f"{handle}.hash").write_text((digest or sha1(image)) + "\n")
    (directory / f"{handle}.metadata").write_text(json.dumps(META))


def write_repo(path: Path, source: dict[str, Any], versions: dict[str, Any]) -> str:
    dom = {
        "name": "myrepo",
        "sources": {"src": source},
        "templates": {"el7": {"versions": versions}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dom))
    return str(path)


def version(handle: str, timestamp: int) -> dict[str, Any]:
    return {"source": "src", "handle": handle, "timestamp": timestamp}


def http_repo(server: Server, tmp_path: Path) -> str:
    base = {"type": "http", "args": {"baseurl": f"{server.url}/images"}}
    versions = {"v1": version("el7-v1", 1), "v2": version("el7-v2", 2)}
    write_repo(tmp_path / "www" / "repo.metadata", base, versions)
    return f"{server.url}/repo.metadata"


def file_repo(tmp_path: Path, root: str | None = None) -> str:
    source = {"type": "file", "args": {"root": root or str(tmp_path / "files")}}
    versions = {"v1": version("el7-v1", 1), "v2": version("el7-v2", 2)}
    return write_repo(tmp_path / "repo" / "repo.metadata", source, versions)


def store_files(store: Path) -> list[str]:
    return sorted(os.listdir(store)) if store.exists() else []


def qemu_format(path: str) -> str:
    out = run_command(["qemu-img", "info", "--output=json", path]).out
    return json.loads(out)["format"]


def assert_stored(store: Path, name: str, image: Path, raw: Path) -> None:
    assert store_files(store) == [
        name,
        f"{name}.check",
        f"{name}.hash",
        f"{name}.lock",
        f"{name}.metadata",
    ]
    entry = store / name
    assert qemu_format(str(entry)) == "raw"
    assert entry.read_bytes() == raw.read_bytes()
    assert (store / f"{name}.hash").read_text() == sha1(image)
    assert (store / f"{name}.metadata").read_text() == json.dumps(META, indent=4)


# --- downloads that work ---------------------------------------------------


def test_http_repo_stores_latest_version_with_hash_and_metadata(
    server: Server, tmp_path: Path, qcow2_image: Path, raw_image: Path, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    images = tmp_path / "www" / "images"
    publish(images, "el7-v1", raw_image)
    publish(images, "el7-v2", qcow2_image)
    store = tmp_path / "store"

    path, meta = resolve_template(http_repo(server, tmp_path), str(store), "el7", None)

    assert path == str(store / "myrepo:el7:v2")
    assert meta == META
    assert_stored(store, "myrepo:el7:v2", qcow2_image, raw_image)
    # the .xz form is asked for first, then the plain one, once each
    assert server.gets["/images/el7-v2.xz"] == 1
    assert server.gets["/images/el7-v2"] == 1
    assert server.gets["/images/el7-v2.hash"] == 1
    messages = [record.getMessage() for record in caplog.records]
    assert "force-show:Template myrepo:el7:v2 not in cache, downloading" in messages
    size_kb = qcow2_image.stat().st_size // 1024
    url = f"{server.url}/images/el7-v2"
    assert f"Downloading {size_kb} Kilobytes from {url}" in messages


def test_http_repo_xz_variant_is_decompressed(
    server: Server, tmp_path: Path, qcow2_image: Path, raw_image: Path
) -> None:
    images = tmp_path / "www" / "images"
    images.mkdir(parents=True)
    xz = images / "el7-v1.xz"
    with open(xz, "wb") as out:
        subprocess.run(["xz", "--stdout", str(qcow2_image)], stdout=out, check=True)
    (images / "el7-v1.xz.hash").write_text(sha1(qcow2_image))
    (images / "el7-v1.xz.metadata").write_text(json.dumps(META))
    store = tmp_path / "store"

    path, meta = resolve_template(http_repo(server, tmp_path), str(store), "el7", "v1")

    assert path == str(store / "myrepo:el7:v1")
    assert meta == META
    assert_stored(store, "myrepo:el7:v1", qcow2_image, raw_image)
    assert server.gets["/images/el7-v1.xz"] == 1
    assert server.gets["/images/el7-v1"] == 0


def test_file_repo_with_env_var_root(
    tmp_path: Path, raw_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(tmp_path / "files", "el7-v1", raw_image)
    monkeypatch.setenv("TPL_ROOT", str(tmp_path))
    repo = file_repo(tmp_path, root="$TPL_ROOT/files")
    store = tmp_path / "store"

    path, meta = resolve_template(repo, str(store), "el7", "v1")

    assert path == str(store / "myrepo:el7:v1")
    assert meta == META
    assert_stored(store, "myrepo:el7:v1", raw_image, raw_image)
    # a second call finds it in the store: same result, no download
    (tmp_path / "files" / "el7-v1").unlink()
    assert resolve_template(repo, str(store), "el7", "v1") == (path, META)


def test_store_without_metadata_and_accessors(tmp_path: Path, raw_image: Path) -> None:
    publish(tmp_path / "files", "el7-v1", raw_image)
    repo = TemplateRepository.from_url(file_repo(tmp_path))
    temp_ver = repo.get_by_name("el7").get_version("v1")
    store = TemplateStore(tmp_path / "a" / "store")
    assert temp_ver not in store
    with pytest.raises(TemplateError) as err:
        store.get_path(temp_ver)
    assert str(err.value) == (
        f"Template myrepo:el7:v1 is not in the store {tmp_path}/a/store"
    )

    store.download(temp_ver, store_metadata=False)

    assert temp_ver in store
    assert store.get_stored_hash(temp_ver) == sha1(raw_image)
    assert store_files(tmp_path / "a" / "store") == [
        "myrepo:el7:v1", "myrepo:el7:v1.check", "myrepo:el7:v1.hash",
        "myrepo:el7:v1.lock",
    ]  # fmt: skip
    with pytest.raises(TemplateError) as err:
        store.get_stored_metadata(temp_ver)
    assert str(err.value) == (
        "Unable to read the stored metadata of myrepo:el7:v1: "
        f"{tmp_path}/a/store/myrepo:el7:v1.metadata: No such file or directory"
    )


# --- the repository model --------------------------------------------------


def test_repository_model_keeps_the_original_names(tmp_path: Path) -> None:
    repo = TemplateRepository.from_url(file_repo(tmp_path))
    assert repo.name == "myrepo"
    assert repo.path == str(tmp_path / "repo" / "repo.metadata")
    template = repo.get_by_name("el7")
    assert isinstance(template, Template)
    assert template.name == "el7"
    latest = template.get_version()
    assert isinstance(latest, TemplateVersion)
    assert latest is template.get_latest_version()
    assert (latest.name, latest._handle, latest.timestamp()) == (
        "myrepo:el7:v2",
        "el7-v2",
        2,
    )
    assert latest._timestamp == 2
    assert isinstance(latest._source, FileSystemTemplateProvider)
    assert template.get_version("v1").name == "myrepo:el7:v1"
    with pytest.raises(KeyError):
        repo.get_by_name("nope")
    with pytest.raises(KeyError):
        template.get_version("v9")


def test_http_provider_reads_hash_and_metadata(server: Server, tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "img.hash").write_text("abc123\n")
    (www / "img.metadata").write_text(json.dumps(META))
    provider = HttpTemplateProvider(server.url)
    assert provider.get_hash("img") == "abc123"
    assert provider.get_metadata("img") == META
    assert server.gets["/img.xz.hash"] == 1
    response = provider.open_url("img", suffix=".hash")
    with response:
        assert response.read() == b"abc123\n"


def test_http_provider_download_without_content_length(
    server: Server, tmp_path: Path
) -> None:
    def no_length(handler: http.server.BaseHTTPRequestHandler) -> bool:
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(b"plain payload")
        return True

    server.hooks["/img"] = no_length
    dest = tmp_path / "out"
    HttpTemplateProvider(server.url).download_image("img", str(dest))
    assert dest.read_bytes() == b"plain payload"


def test_http_provider_truncated_body_is_an_error(
    server: Server, tmp_path: Path
) -> None:
    def truncated(handler: http.server.BaseHTTPRequestHandler) -> bool:
        handler.send_response(200)
        handler.send_header("Content-Length", "5000")
        handler.end_headers()
        handler.wfile.write(b"x" * 100)
        return True

    server.hooks["/img.xz"] = truncated
    with pytest.raises(TemplateDownloadError) as err:
        HttpTemplateProvider(server.url).download_image("img", str(tmp_path / "out"))
    assert str(err.value) == (
        f"Failed to retrieve URL {server.url}/img.xz: got 100 of 5000 bytes"
    )


def test_locked_decorator_holds_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"

    class Thing:
        def lock_path(self) -> str:
            return str(lock)

        @templates._locked
        def work(self) -> bool:
            probe = os.open(lock, os.O_RDWR)
            try:
                import fcntl

                with pytest.raises(BlockingIOError):
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(probe)
            return True

    assert Thing().work() is True


def test_find_repo_by_name(
    tmp_path: Path, raw_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos = tmp_path / "repos"
    file_repo(tmp_path / "repos" / "a")
    other = {"name": "other", "sources": {}, "templates": {}}
    (repos / "b").mkdir(parents=True)
    (repos / "b" / "other.json").write_text(json.dumps(other))
    (repos / "broken.json").write_text("{")

    assert find_repo_by_name("other", str(repos)).name == "other"
    assert find_repo_by_name("myrepo", str(repos)).path == str(
        repos / "a" / "repo" / "repo.metadata"
    )
    from lago.config import config

    monkeypatch.setitem(config.get_section("init"), "template_repos", str(repos))
    assert find_repo_by_name("other").name == "other"
    found = find_repo_by_name("myrepo")
    publish(repos / "a" / "files", "el7-v1", raw_image)
    path, meta = resolve_template(found, str(tmp_path / "store"), "el7", "v1")
    assert (path, meta) == (str(tmp_path / "store" / "myrepo:el7:v1"), META)
    with pytest.raises(TemplateError) as err:
        find_repo_by_name("missing", str(repos))
    assert str(err.value) == "Could not find repo missing"
    assert err.value.hint == f"searched *.json and repo.metadata files under {repos}"


# --- hash verification -----------------------------------------------------


def test_hash_mismatch_is_rejected_and_nothing_is_stored(
    tmp_path: Path, raw_image: Path
) -> None:
    wrong = "0" * 40
    publish(tmp_path / "files", "el7-v1", raw_image, digest=wrong)
    repo = file_repo(tmp_path)
    store = tmp_path / "store"

    with pytest.raises(TemplateHashError) as err:
        resolve_template(repo, str(store), "el7", "v1")

    assert str(err.value) == (
        f"Image myrepo:el7:v1 does not match the expected hash {wrong}"
        f" (the downloaded image has sha1 {sha1(raw_image)})"
    )
    assert store_files(store) == ["myrepo:el7:v1.lock"]
    temp_ver = TemplateRepository.from_url(repo).get_by_name("el7").get_version("v1")
    assert temp_ver not in TemplateStore(store)

    # once the repository is fixed the same store accepts it
    publish(tmp_path / "files", "el7-v1", raw_image)
    assert resolve_template(repo, str(store), "el7", "v1")[1] == META
    assert_stored(store, "myrepo:el7:v1", raw_image, raw_image)


def test_image_with_backing_file_is_refused(tmp_path: Path, raw_image: Path) -> None:
    layered = tmp_path / "layered.qcow2"
    cmd = ["qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", str(raw_image)]
    assert run_command([*cmd, str(layered)]).code == 0
    publish(tmp_path / "files", "el7-v1", layered)
    store = tmp_path / "store"

    with pytest.raises(TemplateError) as err:
        resolve_template(file_repo(tmp_path), str(store), "el7", "v1")

    assert str(err.value) == (
        f"Image myrepo:el7:v1 has a backing file ({raw_image});"
        " templates must be standalone"
    )
    assert store_files(store) == ["myrepo:el7:v1.lock"]


# --- two processes, one download ---------------------------------------------

CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from lago.templates import resolve_template
path, meta = resolve_template(sys.argv[1], sys.argv[2], "el7", None)
print(path, meta["distro"])
"""


def test_two_processes_download_once(
    server: Server, tmp_path: Path, qcow2_image: Path, raw_image: Path
) -> None:
    publish(tmp_path / "www" / "images", "el7-v2", qcow2_image)
    repo = http_repo(server, tmp_path)
    store = tmp_path / "store"

    def gate(handler: http.server.BaseHTTPRequestHandler) -> bool:
        # serve the image only once both processes have read the repository
        # (and so found the template missing), then slowly
        deadline = time.monotonic() + 60
        while server.gets["/repo.metadata"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        return False

    server.hooks["/images/el7-v2"] = gate
    cmd = [sys.executable, "-c", CHILD, repo, str(store)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]

    assert [proc.returncode for proc in procs] == [0, 0], results
    for out, err in results:
        assert out == f"{store}/myrepo:el7:v2 el7\n"
        # each one found it missing, so the second waited on the lock
        assert "force-show:Template myrepo:el7:v2 not in cache, downloading" in err
    assert server.gets["/repo.metadata"] == 2
    assert server.gets["/images/el7-v2"] == 1
    assert server.gets["/images/el7-v2.hash"] == 1
    assert_stored(store, "myrepo:el7:v2", qcow2_image, raw_image)


# --- bad input -------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_repo_not_json(tmp_path: Path) -> None:
    repo = tmp_path / "repo.metadata"
    repo.write_text("name: not json\n")
    store = tmp_path / "store"
    with pytest.raises(TemplateError) as err:
        resolve_template(str(repo), str(store), "el7", None)
    assert str(err.value) == (
        f"Unable to load repo from {repo}: invalid JSON:"
        " Expecting value: line 1 column 1 (char 0)"
    )
    assert store_files(store) == []


@pytest.mark.parametrize(
    ("dom", "reason"),
    [
        ([], "not a JSON object"),
        ({"sources": {}}, "'name' is missing or not a string"),
        ({"name": "r", "templates": []}, "'templates' is not an object"),
        (
            {"name": "r", "sources": {"s": {"type": "ftp", "args": {}}}},
            "source 's' has unknown type 'ftp' (known: file, http)",
        ),
        (
            {"name": "r", "sources": {"s": {"type": "http", "args": {"url": "x"}}}},
            "source 's' has bad args: HttpTemplateProvider.__init__()"
            " got an unexpected keyword argument 'url'",
        ),
    ],
)
def test_malformed_repo(tmp_path: Path, dom: Any, reason: str) -> None:
    repo = tmp_path / "repo.metadata"
    repo.write_text(json.dumps(dom))
    with pytest.raises(TemplateError) as err:
        TemplateRepository.from_url(str(repo))
    assert str(err.value) == f"Unable to load repo from {repo}: {reason}"


def test_repo_path_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "repo.metadata"
    with pytest.raises(TemplateError) as err:
        resolve_template(str(missing), str(tmp_path / "store"), "el7", None)
    assert str(err.value) == (
        f"Unable to load repo from {missing}: no such file, and not an http(s) URL"
    )


def test_missing_template_and_version(tmp_path: Path, raw_image: Path) -> None:
    publish(tmp_path / "files", "el7-v1", raw_image)
    repo = file_repo(tmp_path)
    store = tmp_path / "store"
    with pytest.raises(TemplateError) as err:
        resolve_template(repo, str(store), "fc40", None)
    assert str(err.value) == f"Image fc40 doesn't exist in repo {repo} (it has: el7)"
    with pytest.raises(TemplateError) as err:
        resolve_template(repo, str(store), "el7", "v7")
    assert str(err.value) == f"Version v7 of image el7 doesn't exist in repo {repo}"
    assert store_files(store) == []


def test_version_naming_unknown_source(tmp_path: Path) -> None:
    source = {"type": "file", "args": {"root": str(tmp_path)}}
    bad = {"source": "elsewhere", "handle": "h", "timestamp": 1}
    repo = write_repo(tmp_path / "repo.metadata", source, {"v1": bad})
    with pytest.raises(TemplateError) as err:
        resolve_template(repo, str(tmp_path / "store"), "el7", None)
    assert str(err.value) == (
        f"Version v1 of image el7 in repo {repo} names unknown source 'elsewhere'"
    )


def test_http_repo_404(server: Server, tmp_path: Path) -> None:
    url = f"{server.url}/repo.metadata"
    with pytest.raises(TemplateError) as err:
        resolve_template(url, str(tmp_path / "store"), "el7", None)
    assert str(err.value) == f"Unable to load repo from {url}: HTTP 404 File not found"
    assert store_files(tmp_path / "store") == []


def test_http_image_404_leaves_only_the_lock(
    server: Server, tmp_path: Path, raw_image: Path
) -> None:
    images = tmp_path / "www" / "images"
    publish(images, "el7-v2", raw_image)
    (images / "el7-v2").unlink()
    store = tmp_path / "store"
    with pytest.raises(TemplateDownloadError) as err:
        resolve_template(http_repo(server, tmp_path), str(store), "el7", None)
    assert str(err.value) == (
        f"Failed to retrieve URL {server.url}/images/el7-v2: HTTP 404 File not found"
    )
    assert store_files(store) == ["myrepo:el7:v2.lock"]


def test_http_hash_404(server: Server, tmp_path: Path) -> None:
    with pytest.raises(TemplateDownloadError) as err:
        resolve_template(http_repo(server, tmp_path), str(tmp_path / "s"), "el7", "v1")
    assert str(err.value) == (
        f"Failed to retrieve URL {server.url}/images/el7-v1.hash:"
        " HTTP 404 File not found"
    )
    assert store_files(tmp_path / "s") == ["myrepo:el7:v1.lock"]


def test_unreachable_repo_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/repo.metadata"
    with pytest.raises(TemplateError) as err:
        resolve_template(url, str(tmp_path / "store"), "el7", None)
    assert str(err.value) == f"Unable to load repo from {url}: Connection refused"
    assert store_files(tmp_path / "store") == []


def test_unreachable_source_url(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    source = {"type": "http", "args": {"baseurl": base}}
    repo = write_repo(tmp_path / "repo.metadata", source, {"v1": version("img", 1)})
    store = tmp_path / "store"
    with pytest.raises(TemplateDownloadError) as err:
        resolve_template(repo, str(store), "el7", None)
    assert (
        str(err.value)
        == f"Failed to retrieve URL {base}/img.xz.hash: Connection refused"
    )
    assert store_files(store) == ["myrepo:el7:v1.lock"]


def test_missing_file_image(tmp_path: Path, raw_image: Path) -> None:
    publish(tmp_path / "files", "el7-v1", raw_image)
    (tmp_path / "files" / "el7-v1").unlink()
    store = tmp_path / "store"
    with pytest.raises(TemplateError) as err:
        resolve_template(file_repo(tmp_path), str(store), "el7", "v1")
    assert str(err.value) == f"Template image {tmp_path}/files/el7-v1 does not exist"
    assert store_files(store) == ["myrepo:el7:v1.lock"]


def test_file_metadata_not_json(tmp_path: Path, raw_image: Path) -> None:
    publish(tmp_path / "files", "el7-v1", raw_image)
    (tmp_path / "files" / "el7-v1.metadata").write_text("[")
    store = TemplateStore(tmp_path / "store")
    repo = TemplateRepository.from_url(file_repo(tmp_path))
    with pytest.raises(TemplateError) as err:
        fetch_template(repo, store, "el7", "v1")
    assert str(err.value) == (
        f"Template metadata {tmp_path}/files/el7-v1.metadata is not valid JSON:"
        " Expecting value: line 1 column 2 (char 1)"
    )
    assert store_files(tmp_path / "store") == ["myrepo:el7:v1.lock"]


def test_corrupt_xz_payload(server: Server, tmp_path: Path, raw_image: Path) -> None:
    images = tmp_path / "www" / "images"
    publish(images, "el7-v1", raw_image)
    good = subprocess.run(
        ["xz", "--stdout", str(raw_image)], capture_output=True, check=True
    ).stdout
    (images / "el7-v1").write_bytes(good[: len(good) // 2])
    store = tmp_path / "store"
    with pytest.raises(TemplateError) as err:
        resolve_template(http_repo(server, tmp_path), str(store), "el7", "v1")
    tmp_xz = store / "myrepo:el7:v1.tmp.xz"
    assert str(err.value) == (
        f"Failed to decompress {tmp_xz}: xz: {tmp_xz}: Unexpected end of input"
    )
    assert store_files(store) == ["myrepo:el7:v1.lock"]


def test_store_path_not_a_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TemplateError) as err:
        TemplateStore(blocker / "store")
    assert str(err.value) == (
        f"Unable to create template store {blocker}/store: Not a directory"
    )


def test_missing_template_lists_the_repository_and_says_where_to_get_more(
    tmp_path: Path, raw_image: Path
) -> None:
    publish(tmp_path / "files", "el7-v1", raw_image)
    repo = file_repo(tmp_path)
    with pytest.raises(LagoMissingTemplateError) as err:
        resolve_template(repo, str(tmp_path / "store"), "el7.3-base", None)
    assert str(err.value) == (
        f"Image el7.3-base doesn't exist in repo {repo} (it has: el7)"
    )
    hint = err.value.hint or ""
    assert "original's public template repository no longer exists" in hint
    assert "--template-repo-path" in hint and "template_repo_path" in hint
    assert "scripts/build-templates.sh" in hint and "docs/templates.md" in hint
    assert "\n" not in str(err.value) + hint
