"""lago._ssh_jump: the jump host a libvirt URL implies, and SSH to guests
through it (two SSH servers on 127.0.0.1: the "libvirt host" and a guest
whose name only the host can resolve)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from lago import _ssh_jump, ssh
from lago._ssh_jump import JumpHost, LagoSSHJumpError, configured_jump, jump_from_url
from lago.config import config
from lago.errors import ConfigError
from lago.process import run_command
from tests.unit.lago.sshd_fixture import SSHServer, free_port

# resolvable by the jump host alone (".invalid" never resolves here): a
# direct connection from the client would fail
GUEST = "guest.invalid"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("qemu:///system", None),
        ("qemu:///session", None),
        ("qemu+unix:///system", None),
        ("qemu+unix://host.example/system", None),
        ("test:///default", None),
        (
            "qemu+ssh://alice@kvm.example:2222/system?keyfile=/k/id&no_verify=1",
            JumpHost("kvm.example", 2222, "alice", "/k/id", verify=False),
        ),
        ("qemu+ssh://kvm.example/system", JumpHost("kvm.example")),
        ("qemu+libssh2://bob@kvm.example/system", JumpHost("kvm.example", 22, "bob")),
        ("qemu+ssh://kvm.example/system?no_verify=0", JumpHost("kvm.example")),
        # libvirtd's TCP/TLS port is not the SSH port
        ("qemu+tcp://10.9.8.7:16509/system", JumpHost("10.9.8.7")),
        ("qemu+tls://carol@kvm.example/system", JumpHost("kvm.example", 22, "carol")),
        ("qemu://kvm.example/system", JumpHost("kvm.example")),
    ],
)
def test_jump_from_url(url: str, expected: JumpHost | None) -> None:
    assert jump_from_url(url) == expected


def test_jump_host_names_the_local_user_by_default() -> None:
    jump = JumpHost("kvm.example", 2222)
    assert jump.user  # whoever runs the tests
    assert str(jump) == f"{jump.user}@kvm.example:2222"
    assert str(JumpHost("h", 22, "root")) == "root@h"


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
    _ssh_jump.close_all()


def test_local_url_means_no_jump(lago_config: Any) -> None:
    lago_config("libvirt_url", "qemu:///system")
    lago_config("ssh_jump_host", None)
    assert configured_jump() is None


def test_explicit_jump_host_and_key_win(lago_config: Any) -> None:
    lago_config("libvirt_url", "qemu+ssh://root@kvm.example/system?keyfile=/url/key")
    lago_config("ssh_jump_host", "ops@bastion.example:2200")
    lago_config("ssh_jump_key", "/conf/key")
    assert configured_jump() == JumpHost("bastion.example", 2200, "ops", "/conf/key")


def test_explicit_jump_host_keeps_the_url_key_for_the_same_host(
    lago_config: Any,
) -> None:
    lago_config("libvirt_url", "qemu+ssh://kvm.example/system?keyfile=/url/key")
    lago_config("ssh_jump_host", "root@kvm.example")
    lago_config("ssh_jump_key", None)
    assert configured_jump() == JumpHost("kvm.example", 22, "root", "/url/key")


def test_jump_key_applies_to_the_url_host(lago_config: Any) -> None:
    lago_config("libvirt_url", "qemu+tcp://kvm.example/system")
    lago_config("ssh_jump_host", None)
    lago_config("ssh_jump_key", "/conf/key")
    assert configured_jump() == JumpHost("kvm.example", 22, None, "/conf/key")


@pytest.mark.parametrize("value", ["host:notaport", "host/path", "@"])
def test_bad_jump_host_is_a_config_error(lago_config: Any, value: str) -> None:
    lago_config("ssh_jump_host", value)
    with pytest.raises(ConfigError, match="ssh_jump_host"):
        configured_jump()


class _FakeTransport:
    """Refuses every channel, as a host whose guest port is closed does."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.asked: list[tuple[str, int]] = []

    def open_channel(self, kind: str, dest: tuple[str, int], *_: Any, **__: Any) -> Any:
        assert kind == "direct-tcpip"
        self.asked.append(dest)
        raise self.error


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (paramiko.ChannelException(2, "Connection refused"), ConnectionRefusedError),
        (EOFError(), ConnectionResetError),
        (paramiko.SSHException("Timeout opening channel."), ConnectionResetError),
    ],
)
def test_channel_failures_look_like_socket_errors(
    monkeypatch: pytest.MonkeyPatch, error: Exception, raised: type[OSError]
) -> None:
    # the readiness wait polls a port by catching OSError: through a jump too
    fake = _FakeTransport(error)
    monkeypatch.setattr(_ssh_jump, "_transport", lambda jump, timeout: fake)
    with pytest.raises(raised):
        _ssh_jump.open_channel(JumpHost("h"), "192.0.2.5", 22, 1.0)
    assert fake.asked == [("192.0.2.5", 22)]


# through a real jump host on loopback


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jumpkeys") / "id_ed25519"
    result = run_command(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)]
    )
    assert result.code == 0, result.err
    return path


@pytest.fixture
def guest(key_path: Path) -> Iterator[SSHServer]:
    with SSHServer(paramiko.PKey.from_path(key_path), password="123456") as srv:
        yield srv


@pytest.fixture
def jump(key_path: Path, guest: SSHServer) -> Iterator[SSHServer]:
    forwards = {(GUEST, 22): ("127.0.0.1", guest.port)}
    with SSHServer(paramiko.PKey.from_path(key_path), None, forwards=forwards) as srv:
        yield srv


def _remote_url(port: int, key: Path) -> str:
    return f"qemu+ssh://root@127.0.0.1:{port}/system?keyfile={key}&no_verify=1"


def test_commands_reach_the_guest_through_one_jump(
    lago_config: Any, jump: SSHServer, key_path: Path
) -> None:
    lago_config("libvirt_url", _remote_url(jump.port, key_path))
    lago_config("ssh_jump_host", None)
    first = ssh.ssh(GUEST, ["echo", "hi"], show_output=False, tries=1)
    second = ssh.ssh(GUEST, ["echo", "again"], show_output=False, tries=1)
    assert (first.code, first.out) == (0, "hi\n")
    assert second.out == "again\n"
    assert jump.log.forwards == [(GUEST, 22), (GUEST, 22)]
    # one login to the host for the whole process
    assert jump.log.auths == [("root", "publickey")]


def test_wait_for_ssh_through_the_jump(
    lago_config: Any, jump: SSHServer, key_path: Path
) -> None:
    lago_config("libvirt_url", _remote_url(jump.port, key_path))
    lago_config("ssh_jump_host", None)
    ssh.wait_for_ssh(GUEST, connect_timeout=30)
    assert (GUEST, 22) in jump.log.forwards


def test_closed_guest_port_through_the_jump_times_out(
    lago_config: Any, jump: SSHServer, key_path: Path
) -> None:
    lago_config("libvirt_url", _remote_url(jump.port, key_path))
    lago_config("ssh_jump_host", None)
    with pytest.raises(ssh.LagoSSHTimeoutError, match=r"other\.invalid"):
        ssh.wait_for_ssh("other.invalid", connect_timeout=1)
    assert ("other.invalid", 22) in jump.log.forwards


def test_jump_logs_in_again_after_the_host_dropped_it(
    lago_config: Any, jump: SSHServer, key_path: Path
) -> None:
    lago_config("libvirt_url", _remote_url(jump.port, key_path))
    lago_config("ssh_jump_host", None)
    assert ssh.ssh(GUEST, ["true"], show_output=False, tries=1).code == 0
    for transport in list(_ssh_jump._CLIENTS.values()):
        transport.close()  # the connection is gone, the entry stays
    assert ssh.ssh(GUEST, ["true"], show_output=False, tries=1).code == 0
    assert len(jump.log.auths) == 2


def test_unreachable_jump_host_is_one_clear_error(
    lago_config: Any, key_path: Path
) -> None:
    port = free_port()
    lago_config("libvirt_url", _remote_url(port, key_path))
    lago_config("ssh_jump_host", None)
    # not retried ssh_tries times: the host itself is wrong
    with pytest.raises(LagoSSHJumpError) as info:
        ssh.ssh(GUEST, ["true"], show_output=False, tries=50)
    message = str(info.value)
    assert f"root@127.0.0.1:{port}" in message
    assert "Cannot reach the libvirt host" in message
    assert "\n" not in message


def test_refused_key_names_the_key(
    lago_config: Any, jump: SSHServer, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    result = run_command(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)]
    )
    assert result.code == 0, result.err
    lago_config("libvirt_url", _remote_url(jump.port, other))
    lago_config("ssh_jump_host", None)
    with pytest.raises(LagoSSHJumpError, match=re.escape(f"refused key {other}")):
        ssh.ssh(GUEST, ["true"], show_output=False, tries=5)
    assert jump.log.forwards == []


def test_changed_host_key_is_refused_unless_no_verify(
    lago_config: Any,
    jump: SSHServer,
    key_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    other = paramiko.ECDSAKey.generate()
    entry = f"[127.0.0.1]:{jump.port} {other.get_name()} {other.get_base64()}\n"
    (tmp_path / ".ssh" / "known_hosts").write_text(entry)
    lago_config("ssh_jump_host", None)
    checked = f"qemu+ssh://root@127.0.0.1:{jump.port}/system?keyfile={key_path}"
    lago_config("libvirt_url", checked)
    with pytest.raises(LagoSSHJumpError, match="another SSH host key"):
        ssh.ssh(GUEST, ["true"], show_output=False, tries=1)
    assert jump.log.forwards == []
    lago_config("libvirt_url", _remote_url(jump.port, key_path))  # no_verify=1
    assert ssh.ssh(GUEST, ["true"], show_output=False, tries=1).code == 0


def test_local_url_never_uses_a_jump(lago_config: Any, guest: SSHServer) -> None:
    lago_config("libvirt_url", "qemu:///system")
    lago_config("ssh_jump_host", None)
    status = ssh.ssh(
        "127.0.0.1", ["echo", "direct"], show_output=False, port=guest.port
    )
    assert status.out == "direct\n"
    assert _ssh_jump._CLIENTS == {}


def test_guest_name_is_not_resolvable_here() -> None:
    # what makes the tests above prove that the jump carried the connection
    with pytest.raises(OSError):
        socket.getaddrinfo(GUEST, 22)
