"""lago.ssh against a real SSH server on 127.0.0.1 (tests/unit/lago/sshd_fixture)."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import signal
import socket
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from lago import ssh
from lago.config import config
from lago.errors import ConfigError, LagoUserException
from lago.utils import CommandStatus, run_command
from tests.unit.lago.sshd_fixture import SSHServer, free_port

LOCAL = "127.0.0.1"


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "id_rsa"
    keygen = ["ssh-keygen", "-t", "rsa", "-m", "PEM", "-b", "2048", "-N", ""]
    result = run_command([*keygen, "-q", "-f", str(path)])
    assert result.code == 0, result.err
    assert path.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    return path


@pytest.fixture(scope="module")
def public_key(key_path: Path) -> paramiko.PKey:
    return paramiko.PKey.from_path(key_path)


@pytest.fixture
def server(public_key: paramiko.PKey) -> Iterator[SSHServer]:
    with SSHServer(public_key, password="123456") as srv:
        yield srv


@pytest.fixture
def lago_config() -> Iterator[Any]:
    """Sets ``[lago]`` values for one test, then puts the old ones back."""
    saved: dict[str, Any] = {}

    def set_value(key: str, value: Any) -> None:
        saved.setdefault(key, config.get(key))
        config.set(key, value)

    yield set_value
    for key, value in saved.items():
        config.set(key, value)


def run(srv: SSHServer, command: Any, **kwargs: Any) -> CommandStatus:
    kwargs.setdefault("show_output", False)
    return ssh.ssh(LOCAL, command, port=srv.port, **kwargs)


# authentication


def test_key_auth(public_key: paramiko.PKey, key_path: Path) -> None:
    with SSHServer(public_key, password=None) as srv:
        client = ssh.get_ssh_client(
            LOCAL, ssh_key=key_path, password=None, port=srv.port
        )
        assert isinstance(client, paramiko.SSHClient)
        client.close()
        result = run(srv, ["echo", "hi"], ssh_key=str(key_path), username="lago")
    assert result == CommandStatus(0, "hi\n", "")
    assert srv.log.auths == [("root", "publickey"), ("lago", "publickey")]


def test_password_auth() -> None:
    with SSHServer(None, password="123456") as srv:
        result = run(srv, ["true"])
    assert result == CommandStatus(0, "", "")
    assert srv.log.auths == [("root", "password")]


def test_wrong_password_is_retried_then_times_out() -> None:
    with (
        SSHServer(None, password="123456") as srv,
        pytest.raises(ssh.LagoSSHTimeoutError) as err,
    ):
        run(srv, ["true"], password="wrong", tries=1, host_name="vm0")
    assert str(err.value) == "Timed out (in 1 s) trying to ssh to vm0"
    assert srv.log.auths == []


def test_unusable_key_file_is_raised_at_once(tmp_path: Path, server: SSHServer) -> None:
    bad = tmp_path / "id_rsa"
    bad.write_text("not a key\n")
    with pytest.raises(ssh.LagoSSHError, match=rf"^Cannot use SSH key {bad}: "):
        run(server, ["true"], ssh_key=bad, propagate_fail=False)
    missing = tmp_path / "missing"
    with pytest.raises(ssh.LagoSSHError) as err:
        ssh.get_ssh_client(
            LOCAL, ssh_key=missing, port=server.port, propagate_fail=False
        )
    assert str(err.value) == f"Cannot use SSH key {missing}: No such file or directory"
    assert server.log.commands == []


def test_password_is_never_logged(server: SSHServer, caplog: Any) -> None:
    caplog.set_level("DEBUG", logger="lago")
    run(server, ["true"], password="123456")
    assert "123456" not in caplog.text
    assert "with a password" in caplog.text


# commands


def test_exit_code_and_separate_streams(server: SSHServer) -> None:
    result = run(server, ["echo", "out;", "echo", "err", ">&2;", "exit", "3"])
    assert result == CommandStatus(3, "out\n", "err\n")
    assert server.log.commands == ["echo out; echo err >&2; exit 3"]


def test_arguments_are_joined_for_the_remote_shell(server: SSHServer) -> None:
    result = run(server, ["echo", "$HOME"])
    assert result.out == os.environ["HOME"] + "\n"
    assert run(server, "echo one  two").out == "one two\n"


def test_empty_command_is_refused(server: SSHServer) -> None:
    with pytest.raises(ssh.LagoSSHError) as err:
        run(server, [], host_name="vm0")
    assert str(err.value) == "Empty command given to run on vm0 over ssh"


def test_data_goes_to_stdin(server: SSHServer) -> None:
    assert run(server, ["tr", "a-z", "A-Z"], data="hello\n").out == "HELLO\n"
    assert run(server, ["od", "-An", "-tx1"], data=b"\x00\xff").out.split() == [
        "00",
        "ff",
    ]
    # without data stdin is at EOF at once, so readers do not hang
    assert run(server, ["cat"]) == CommandStatus(0, "", "")


def test_large_stdin_and_output_do_not_deadlock(server: SSHServer) -> None:
    data = b"x" * (4 * 1024 * 1024)
    result = run(server, ["cat;", "cat", "/dev/null"], data=data)
    assert result.code == 0
    assert len(result.out) == len(data)


def test_show_output_streams_to_local_streams(
    server: SSHServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(server, ["printf", "a;", "printf", "b", ">&2"], show_output=True)
    assert result == CommandStatus(0, "a", "b")
    assert capsys.readouterr() == ("a", "b")
    run(server, ["printf", "a;", "printf", "b", ">&2"], show_output=False)
    assert capsys.readouterr() == ("", "")


class _TimedWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.times.append((time.monotonic(), text))
        return super().write(text)


def test_output_is_shown_as_it_arrives(server: SSHServer) -> None:
    client = ssh.get_ssh_client(LOCAL, port=server.port)
    assert client is not None
    with client:
        chan = client.get_transport().open_session()
        chan.exec_command("echo first; sleep 1; echo second")
        out = _TimedWrites()
        code, text, err = ssh.drain_ssh_channel(chan, stdout=out, stderr=None)
    assert (code, text, err) == (0, "first\nsecond\n", "")
    assert [chunk for _, chunk in out.times] == ["first\n", "second\n"]
    assert out.times[1][0] - out.times[0][0] > 0.8


def test_ssh_script_runs_bash_with_the_file_on_stdin(
    tmp_path: Path, server: SSHServer
) -> None:
    script = tmp_path / "script.sh"
    script.write_text('read -r line <<< "$(echo inner)"\necho "$0 $line"\nexit 4\n')
    result = ssh.ssh_script(LOCAL, script, show_output=False, port=server.port)
    assert result == CommandStatus(4, "bash inner\n", "")
    assert server.log.commands == ["bash -s"]


def test_ssh_script_missing_file(tmp_path: Path, server: SSHServer) -> None:
    with pytest.raises(ssh.LagoSSHError) as err:
        ssh.ssh_script(LOCAL, tmp_path / "nope.sh", port=server.port)
    assert (
        str(err.value)
        == f"Cannot read script {tmp_path / 'nope.sh'}: No such file or directory"
    )


# retries and waiting


def test_closed_port_times_out_after_the_tries() -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(ssh.LagoSSHTimeoutError) as err:
        ssh.get_ssh_client(LOCAL, ssh_tries=2, port=port)
    elapsed = time.monotonic() - start
    assert str(err.value) == "Timed out (in 2 s) trying to ssh to 127.0.0.1"
    assert isinstance(err.value, LagoUserException)
    assert 1.9 < elapsed < 3.5
    assert ssh.LagoSSHTimeoutException is ssh.LagoSSHTimeoutError


def test_closed_port_without_propagation() -> None:
    port = free_port()
    assert (
        ssh.get_ssh_client(LOCAL, ssh_tries=1, propagate_fail=False, port=port) is None
    )
    result = ssh.ssh(
        LOCAL, ["true"], host_name="vm1", tries=1, propagate_fail=False, port=port
    )
    assert result == CommandStatus(255, "", "Timed out (in 1 s) trying to ssh to vm1")


def test_tries_come_from_config(lago_config: Any) -> None:
    lago_config("ssh_tries", "1")
    with pytest.raises(ssh.LagoSSHTimeoutError, match=r"^Timed out \(in 1 s\)"):
        ssh.ssh(LOCAL, ["true"], port=free_port())


def test_bad_config_value(lago_config: Any) -> None:
    lago_config("ssh_tries", "many")
    with pytest.raises(ConfigError) as err:
        ssh.get_ssh_client(LOCAL, port=free_port())
    assert (
        str(err.value)
        == "Invalid value for ssh_tries in [lago]: 'many' (expected a number)"
    )


def test_server_starting_late_is_reached(public_key: paramiko.PKey) -> None:
    port = free_port()
    srv = SSHServer(public_key, port=port)
    timer = threading.Timer(1.5, srv.start)
    start = time.monotonic()
    timer.start()
    try:
        client = ssh.get_ssh_client(LOCAL, ssh_tries=5, port=port)
        elapsed = time.monotonic() - start
        assert client is not None
        client.close()
    finally:
        timer.join()
        srv.stop()
    assert 1.5 < elapsed < 3.5
    assert srv.log.auths == [("root", "password")]


def test_wait_for_ssh_times_out(lago_config: Any) -> None:
    lago_config("ssh_tries", 1)
    start = time.monotonic()
    with pytest.raises(ssh.LagoSSHTimeoutError) as err:
        ssh.wait_for_ssh(LOCAL, host_name="vm0", connect_timeout=2, port=free_port())
    elapsed = time.monotonic() - start
    assert str(err.value) == "Failed to connect remote shell to vm0"
    assert 2.9 < elapsed < 5


def test_wait_for_ssh_ends_with_one_attempt_not_every_try(
    lago_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the deadline is the user's timeout: the last attempt must not add
    # ssh_tries x ssh_timeout to it
    lago_config("ssh_tries", 100)
    last: list[Any] = []

    def record(*args: Any, **kwargs: Any) -> CommandStatus:
        last.append(kwargs.get("tries"))
        return CommandStatus(255, b"", b"")

    monkeypatch.setattr(ssh, "ssh", record)
    with pytest.raises(ssh.LagoSSHTimeoutError):
        ssh.wait_for_ssh(LOCAL, host_name="vm0", connect_timeout=0.5, port=free_port())
    assert last == [1]


def test_wait_for_ssh_on_a_ready_host(server: SSHServer) -> None:
    start = time.monotonic()
    assert ssh.wait_for_ssh(LOCAL, connect_timeout=5, port=server.port) is None
    assert time.monotonic() - start < 1
    assert server.log.commands == ["true"]


def test_wait_for_ssh_notices_a_late_host(public_key: paramiko.PKey) -> None:
    port = free_port()
    srv = SSHServer(public_key, port=port)
    timer = threading.Timer(1.2, srv.start)
    start = time.monotonic()
    timer.start()
    try:
        ssh.wait_for_ssh(LOCAL, connect_timeout=10, port=port)
        elapsed = time.monotonic() - start
    finally:
        timer.join()
        srv.stop()
    assert 1.2 < elapsed < 2.8
    assert srv.log.commands == ["true"]


# copies


def _make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "top.txt").write_text("top\n")
    (root / "sub" / "data.bin").write_bytes(bytes(range(256)) * 64)
    (root / "sub" / "deeper" / "empty").write_bytes(b"")


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def test_copy_tree_to_and_from(tmp_path: Path, server: SSHServer) -> None:
    source = tmp_path / "source"
    _make_tree(source)
    remote = tmp_path / "remote"
    ssh.copy_to(LOCAL, source, remote, port=server.port)
    assert _tree(remote) == _tree(source)
    back = tmp_path / "back"
    ssh.copy_from(LOCAL, str(remote), str(back), port=server.port)
    assert _tree(back) == _tree(source)
    assert len(_tree(back)) == 5
    assert server.log.commands == [f"scp -r -t {remote}", f"scp -r -f {remote}"]


def test_copy_single_file_into_directory(tmp_path: Path, server: SSHServer) -> None:
    source = tmp_path / "one.txt"
    source.write_text("one\n")
    target = tmp_path / "target"
    target.mkdir()
    ssh.copy_to(LOCAL, source, target, recursive=False, port=server.port)
    assert (target / "one.txt").read_text() == "one\n"


def test_copy_from_missing_remote_path(tmp_path: Path, server: SSHServer) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(ssh.LagoSSHCopyError) as err:
        ssh.copy_from(LOCAL, missing, tmp_path / "local", port=server.port)
    assert (
        str(err.value)
        == f"Failed to extract files: scp: {missing}: No such file or directory"
    )
    assert isinstance(err.value, LagoUserException)


def test_copy_from_into_unwritable_place(tmp_path: Path, server: SSHServer) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")
    local = tmp_path / "no" / "such" / "a.txt"
    with pytest.raises(ssh.LagoSSHCopyError) as err:
        ssh.copy_from(LOCAL, source, local, port=server.port)
    assert str(err.value) == (
        f"Failed to copy files/directory from {source} to {local}\n"
        f"No such file or directory: {local}"
    )


def test_copy_to_missing_local_path(tmp_path: Path, server: SSHServer) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(ssh.LagoSSHCopyError) as err:
        ssh.copy_to(LOCAL, missing, tmp_path / "remote", port=server.port)
    assert str(err.value) == (
        f"Failed to copy files/directory {missing}\n"
        f"No such file or directory: {missing}"
    )


def test_copy_to_unwritable_remote_path(tmp_path: Path, server: SSHServer) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")
    remote = tmp_path / "no" / "such" / "a.txt"
    with pytest.raises(ssh.LagoSSHCopyError) as err:
        ssh.copy_to(LOCAL, source, remote, port=server.port)
    assert str(err.value) == (
        f"Failed to copy files/directory {source}\n"
        f"scp: {remote}: No such file or directory"
    )


# interactive


def test_interactive_without_tty_streams_stdin(
    server: SSHServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.BytesIO(b"echo from-shell; echo oops >&2; exit 5\n")
    )
    result = ssh.interactive_ssh(LOCAL, port=server.port)
    assert result == CommandStatus(5, "", "")
    assert capsys.readouterr() == ("from-shell\n", "oops\n")
    monkeypatch.setattr(sys, "stdin", io.BytesIO(b"piped"))
    assert ssh.interactive_ssh(LOCAL, ["cat"], port=server.port).code == 0
    assert capsys.readouterr().out == "piped"
    assert server.log.commands == ["<shell>", "cat"]
    assert server.log.ptys == []


def _set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_interactive_with_tty_uses_a_pty_and_raw_mode(
    server: SSHServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, slave = pty.openpty()
    _set_window(slave, 30, 100)
    before = termios.tcgetattr(slave)
    handler = signal.getsignal(signal.SIGWINCH)
    monkeypatch.setenv("TERM", "xterm-test")

    def user_types() -> None:
        time.sleep(0.5)
        _set_window(master, 40, 120)
        os.kill(os.getpid(), signal.SIGWINCH)
        time.sleep(0.3)
        os.write(master, b"hello")  # no newline: raw mode passes it at once

    with os.fdopen(slave, "rb", buffering=0) as terminal:
        monkeypatch.setattr(sys, "stdin", terminal)
        typist = threading.Thread(target=user_types)
        typist.start()
        try:
            result = ssh.interactive_ssh(LOCAL, ["head", "-c", "5"], port=server.port)
        finally:
            typist.join()
            after = termios.tcgetattr(slave)
    os.close(master)
    assert result == CommandStatus(0, "", "")
    assert capsys.readouterr().out == "hello"
    assert server.log.ptys == [("xterm-test", 100, 30)]
    assert server.log.resizes == [(120, 40)]
    assert after == before
    assert signal.getsignal(signal.SIGWINCH) == handler


def test_wait_for_ssh_stops_when_the_machine_is_gone() -> None:
    started = time.monotonic()
    with pytest.raises(ssh.LagoSSHTimeoutError) as err:
        ssh.wait_for_ssh(
            "127.0.0.1",
            host_name="vm01",
            connect_timeout=60,
            port=9,
            alive=lambda: False,
        )
    assert str(err.value) == "Failed to connect remote shell to vm01: it is not running"
    assert time.monotonic() - started < 5


_HOSTILE_SCP = '''#!/usr/bin/env python3
"""A guest's `scp -f` that sends the records listed in $HOSTILE_RECORDS."""
import json, os, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
inp.read(1)
for record, data in json.loads(os.environ["HOSTILE_RECORDS"]):
    out.write(record.encode() + b"\\n"); out.flush()
    if inp.read(1) != b"\\0":
        sys.exit(1)
    if data is not None:
        out.write(data.encode() + b"\\0"); out.flush()
        if inp.read(1) != b"\\0":
            sys.exit(1)
'''


@pytest.fixture
def hostile_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the loopback server's `scp` a hostile one; returns a setter."""
    bindir = tmp_path / "guest-bin"
    bindir.mkdir()
    fake = bindir / "scp"
    fake.write_text(_HOSTILE_SCP)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")

    def records(*items: tuple[str, str | None]) -> None:
        import json

        monkeypatch.setenv("HOSTILE_RECORDS", json.dumps(items))

    return records


@pytest.mark.parametrize(
    ("records", "refused"),
    [
        ([("D0777 0 ..", None), ("C0644 5 evil", "owned")], "directory named '..'"),
        ([("C0644 5 ../evil", "owned")], "file named '../evil'"),
        (
            [("D0777 0 sub", None), ("C0644 5 /tmp/evil", "owned")],
            "file named '/tmp/evil'",
        ),
        ([("D0755 0 .", None), ("C0644 5 evil", "owned")], "directory named '.'"),
    ],
)
def test_copy_from_refuses_records_that_leave_the_target(
    tmp_path: Path, server: SSHServer, hostile_guest: Any, records: list, refused: str
) -> None:
    hostile_guest(*records)
    outside = tmp_path / "area"
    dest = outside / "dest"
    dest.mkdir(parents=True)
    outside.chmod(0o750)
    with pytest.raises(ssh.LagoSSHCopyError) as err:
        ssh.copy_from(LOCAL, "/anything", dest, port=server.port)
    assert f"the guest sent a {refused}" in str(err.value)
    assert sorted(p.name for p in outside.iterdir()) == ["dest"]
    assert not list(tmp_path.rglob("evil"))
    assert not Path("/tmp/evil").exists()
    assert outside.stat().st_mode & 0o777 == 0o750


def test_copy_from_masks_modes(tmp_path: Path, server: SSHServer, hostile_guest: Any) -> None:  # fmt: skip
    hostile_guest(("D2777 0 tree", None), ("C4777 5 tool", "hello"), ("E", None))
    dest = tmp_path / "dest"
    dest.mkdir()
    ssh.copy_from(LOCAL, "/anything", dest, port=server.port)
    assert (dest / "tree" / "tool").read_text() == "hello"
    assert (dest / "tree").stat().st_mode & 0o7777 == 0o755
    assert (dest / "tree" / "tool").stat().st_mode & 0o7777 == 0o755


# key loading: waiting must not cost CPU


@pytest.fixture
def key_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every parse of a private key file, by path."""
    from lago import _ssh_keys

    _ssh_keys.forget_keys()
    loads: list[str] = []
    real = _ssh_keys._parse

    def counting(data: bytes, path: str) -> paramiko.PKey:
        loads.append(path)
        return real(data, path)

    monkeypatch.setattr(_ssh_keys, "_parse", counting)
    yield loads
    _ssh_keys.forget_keys()


def test_waiting_on_a_closed_port_loads_no_key(
    key_path: Path, key_loads: list[str]
) -> None:
    with pytest.raises(ssh.LagoSSHTimeoutError):
        ssh.wait_for_ssh(
            LOCAL, host_name="vm0", connect_timeout=1.5, port=free_port(),
            ssh_key=key_path, password=None,
        )  # fmt: skip
    with pytest.raises(ssh.LagoSSHTimeoutError):
        ssh.get_ssh_client(LOCAL, ssh_tries=2, port=free_port(), ssh_key=key_path)
    assert key_loads == []


def test_the_key_is_loaded_once_per_process(
    server: SSHServer, key_path: Path, key_loads: list[str]
) -> None:
    for _ in range(3):
        result = run(server, ["true"], ssh_key=key_path, password=None)
        assert result.code == 0
    ssh.wait_for_ssh(
        LOCAL, connect_timeout=5, port=server.port, ssh_key=key_path, password=None
    )
    assert key_loads == [str(key_path.resolve())]
    assert ("root", "publickey") in server.log.auths


def test_a_rewritten_key_file_is_loaded_again(
    tmp_path: Path, server: SSHServer, key_path: Path, key_loads: list[str]
) -> None:
    copy = tmp_path / "id_rsa"
    copy.write_bytes(key_path.read_bytes())
    run(server, ["true"], ssh_key=copy, password=None)
    copy.write_bytes(key_path.read_bytes() + b"\n")
    run(server, ["true"], ssh_key=copy, password=None)
    assert key_loads == [str(copy.resolve())] * 2


def test_a_slow_greeting_is_awaited_not_reconnected(lago_config: Any) -> None:
    """An open port whose sshd has not greeted yet gets one patient login."""
    lago_config("ssh_tries", 1)
    lago_config("ssh_timeout", 1)
    listener = socket.create_server((LOCAL, 0))
    logins: list[bytes] = []
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn = listener.accept()[0]
                held.append(conn)  # never greets
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    data = conn.recv(64)
                    if data.startswith(b"SSH-"):  # a client banner: a login
                        logins.append(data)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        with pytest.raises(ssh.LagoSSHTimeoutError):
            ssh.wait_for_ssh(LOCAL, host_name="vm0", connect_timeout=6, port=port)
    finally:
        listener.close()
        for conn in held:
            conn.close()
    # a patient login while waiting (perhaps one more as the deadline nears),
    # then the last attempt; impatient probes would make one a second
    assert 2 <= len(logins) <= 3


def test_the_readiness_login_serves_the_next_command(server: SSHServer) -> None:
    ssh.wait_for_ssh(LOCAL, host_name="vm0", connect_timeout=5, port=server.port)
    result = run(server, ["echo", "hi"], host_name="vm0")
    assert result.out == "hi\n"
    assert server.log.commands == ["true", "echo hi"]
    assert len(server.log.auths) == 1  # one key exchange and login for both


def test_an_old_readiness_login_is_not_reused(
    server: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lago import _ssh_reuse

    monkeypatch.setattr(_ssh_reuse, "KEEP_SECONDS", -1.0)
    ssh.wait_for_ssh(LOCAL, host_name="vm0", connect_timeout=5, port=server.port)
    run(server, ["true"], host_name="vm0")
    assert len(server.log.auths) == 2
