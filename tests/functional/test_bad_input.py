"""Bad input through the CLI: one clear line, a non-zero exit, nothing left behind."""

from __future__ import annotations

import http.server
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LIBVIRT_URL, LagoRunner, write_init_file

ANSI = re.compile(r"\x1b\[[0-9;]*m")

GOOD_DOMAIN = """\
  vm01:
    memory: 256
    vcpu: 1
    nics: [{net: lago}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
"""


def _lines(stderr: str) -> list[str]:
    return [line for line in ANSI.sub("", stderr).splitlines() if line.strip()]


def _libvirt_objects(tag: str = "") -> set[str]:
    import libvirt

    conn = libvirt.open(LIBVIRT_URL)
    try:
        names = {d.name() for d in conn.listAllDomains()} | {
            n.name() for n in conn.listAllNetworks()
        }
    finally:
        conn.close()
    return {name for name in names if name.startswith(tag)}


@pytest.fixture
def snapshot(lago: LagoRunner, tmp_path: Path) -> Iterator[None]:
    """A private lease store, which must still be empty afterwards.

    (init never talks to libvirt, and other environments may come and go
    in the shared daemon meanwhile, so libvirt is checked per uuid below.)
    """
    leases = tmp_path / "leases"
    lago.env["LAGO_LEASE_DIR"] = str(leases)
    yield
    assert not list(leases.glob("*.lease"))


def _assert_one_line_error(
    proc: subprocess.CompletedProcess[str], message: str, code: int = 2
) -> None:
    lines = _lines(proc.stderr)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines and lines[0] == message, lines
    assert len(lines) <= 2, lines  # the message, and at most a hint


def _init_fails(lago: LagoRunner, text: str, message: str) -> None:
    init = write_init_file(lago.cwd, text)
    proc = lago("init", check=False)
    _assert_one_line_error(proc, message.format(file=init))
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]


@pytest.mark.usefixtures("snapshot")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "domains:\n  vm01: [\nnets:\n",
            "{file}: malformed YAML at line 4, column 1: expected the node content, but found '<stream end>'",
            id="malformed-yaml",
        ),
        pytest.param(
            "domains:\n"
            + GOOD_DOMAIN.replace("memory", "memroy")
            + "nets:\n  lago: {management: true}\n",
            "{file}: domains.vm01: unknown key 'memroy' (did you mean 'memory'?)",
            id="unknown-key",
        ),
        pytest.param(
            "domains:\n" + GOOD_DOMAIN + "nets:\n  lago: {type: vxlan}\n",
            "{file}: nets.lago.type: expected nat or bridge, got 'vxlan'",
            id="unknown-value",
        ),
        pytest.param(
            "domains:\n"
            + GOOD_DOMAIN.replace("net: lago", "net: nope")
            + "nets:\n  lago: {}\n",
            "{file}: domains.vm01.nics[0].net: unknown network 'nope', declared networks: lago",
            id="undeclared-network",
        ),
        pytest.param(
            "domains:\n"
            + GOOD_DOMAIN.replace("[{net: lago}]", "[{net: a}, {net: b}]")
            + "nets:\n  a: {management: true}\n  b: {management: true}\n",
            "{file}: Networks a,b are both marked as management; exactly one management network is supported",
            id="two-management-networks",
        ),
    ],
)
def test_bad_init_file(lago: LagoRunner, text: str, message: str) -> None:
    _init_fails(lago, text, message)


@pytest.mark.usefixtures("snapshot")
def test_static_ip_outside_subnet(lago: LagoRunner) -> None:
    text = "domains:\n" + GOOD_DOMAIN.replace(
        "{net: lago}", "{net: lago, ip: 192.168.240.5}"
    )
    text += "nets:\n  lago: {management: true, gw: 192.168.241.1}\n"
    write_init_file(lago.cwd, text)
    proc = lago("init", check=False)
    assert proc.returncode == 2
    assert _lines(proc.stderr)[-1] == (
        f"{lago.cwd / 'LagoInitFile'}: vm01:nic0's IP [192.168.240.5] is outside the subnet [192.168.241.1]"
    )
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]


@pytest.mark.usefixtures("snapshot")
def test_missing_template(lago: LagoRunner) -> None:
    store = Path("/var/lib/lago/store")
    before = sorted(p.name for p in store.iterdir()) if store.exists() else []
    write_init_file(
        lago.cwd,
        "domains:\n" + GOOD_DOMAIN.replace("tiny", "nosuch") + "nets:\n  lago: {}\n",
    )
    proc = lago("init", check=False)
    assert proc.returncode == 2
    repo = lago.env["LAGO__INIT__TEMPLATE_REPO_PATH"]
    assert _lines(proc.stderr)[-2] == (
        f"Image nosuch doesn't exist in repo {repo} (it has: debian12, tiny)"
    )
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]
    assert sorted(p.name for p in store.iterdir()) == before


@pytest.mark.usefixtures("snapshot")
def test_missing_init_file(lago: LagoRunner) -> None:
    proc = lago("init", "nope.yaml", check=False)
    _assert_one_line_error(proc, f"Unable to find init file: {lago.cwd / 'nope.yaml'}")
    assert list(lago.cwd.iterdir()) == []


@pytest.mark.usefixtures("snapshot")
def test_unreadable_config_file(lago: LagoRunner) -> None:
    conf = Path(lago.env["XDG_CONFIG_HOME"]) / "lago" / "lago.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("ssh_user = alice\n")
    proc = lago("status", check=False)
    assert proc.returncode == 2
    assert _lines(proc.stderr)[0].startswith(f"Malformed config file {conf}: ")


def test_unknown_vm_names(lago: LagoRunner) -> None:
    write_init_file(lago.cwd, "domains:\n" + GOOD_DOMAIN + "nets:\n  lago: {}\n")
    lago("init")
    tag = (lago.cwd / ".lago/default/uuid").read_text()[:4]
    _assert_one_line_error(
        lago("start", "vm01", "nosuch", check=False), "Unable to find VM nosuch", code=1
    )
    _assert_one_line_error(
        lago("stop", "nosuch", check=False), "The following vms do not exist: "
    )
    assert _lines(lago("stop", "nosuch", check=False).stderr)[1] == "nosuch"
    _assert_one_line_error(
        lago("shell", "nosuch", "true", check=False), "Unable to find VM nosuch", code=1
    )
    _assert_one_line_error(
        lago("console", "nosuch", check=False), "Unable to find VM nosuch", code=1
    )
    _assert_one_line_error(
        lago("shell", "vm01", "true", check=False),
        'Host vm01 is not "running", but "down"',
        code=1,
    )
    assert _libvirt_objects(tag) == set()


class _StallingHandler(http.server.BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()
        self.wfile.write(b"\0" * 4096)
        self.release.wait(60)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.usefixtures("snapshot")
def test_interrupted_init_rolls_back(lago: LagoRunner) -> None:
    _StallingHandler.release.clear()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _StallingHandler)
    server.block_on_close = True  # server_close() joins the handler threads
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/big.img"
        text = "domains:\n" + GOOD_DOMAIN.replace(
            "name: root, dev: vda, format: qcow2}]",
            f"name: root, dev: vda, format: qcow2}}, {{type: file, name: big, dev: vdb, format: raw, url: '{url}'}}]",
        )
        write_init_file(lago.cwd, text + "nets:\n  lago: {}\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "lago.cmd", "init"], cwd=lago.cwd, env=lago.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        # wait until the download (hence the prefix and its lease) exists
        while not list(lago.cwd.glob(".lago/default/images/*.tmp")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]
    finally:
        _StallingHandler.release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.usefixtures("snapshot")
@pytest.mark.parametrize(
    ("repo", "template", "message"),
    [
        pytest.param(
            "{tmp}/repo.metadata",
            "template_name: tiny",
            "Unable to load repo from {tmp}/repo.metadata: invalid JSON: Expecting value: line 1 column 1 (char 0)",
            id="repo-not-json",
        ),
        pytest.param(
            "{local}",
            "template_name: tiny, template_version: v9",
            "Version v9 of image tiny doesn't exist in repo {local}",
            id="missing-version",
        ),
        pytest.param(
            "http://127.0.0.1:9/repo.metadata",
            "template_name: tiny",
            "Unable to load repo from http://127.0.0.1:9/repo.metadata: Connection refused",
            id="unreachable-http-repo",
        ),
    ],
)
def test_bad_template_repository(
    lago: LagoRunner,
    tmp_path: Path,
    local_repo: Path,
    repo: str,
    template: str,
    message: str,
) -> None:
    (tmp_path / "repo.metadata").write_text("not json")
    store = tmp_path / "store"
    values = {"tmp": tmp_path, "local": local_repo}
    text = (
        "domains:\n"
        + GOOD_DOMAIN.replace("template_name: tiny", template)
        + "nets:\n  lago: {}\n"
    )
    write_init_file(lago.cwd, text)
    proc = lago(
        "init",
        "--template-repo-path",
        repo.format(**values),
        "--template-store",
        str(store),
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert _lines(proc.stderr)[-1] == message.format(**values)
    assert sorted(p.name for p in lago.cwd.iterdir()) == ["LagoInitFile"]
    stored = [p.name for p in store.glob("*") if not p.name.endswith(".lock")]
    assert stored == []
