"""SSH host keys: recorded per prefix at the first connection, then enforced
(against the real SSH server of tests/unit/lago/sshd_fixture)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest

from lago import ssh
from lago._ssh_host_keys import RecordPolicy
from lago.process import run_command
from tests.unit.lago.sshd_fixture import SSHServer

LOCAL = "127.0.0.1"


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    """A directory that looks like a prefix: a uuid and the id_rsa pair."""
    path = tmp_path / "prefix"
    path.mkdir()
    (path / "uuid").write_text("0" * 32)
    keygen = ["ssh-keygen", "-t", "rsa", "-m", "PEM", "-b", "2048", "-N", "", "-q"]
    assert run_command([*keygen, "-f", str(path / "id_rsa")]).code == 0
    return path


@pytest.fixture
def public_key(prefix: Path) -> paramiko.PKey:
    return paramiko.PKey.from_path(prefix / "id_rsa")


def _true(srv: SSHServer, key: Path, tries: int = 3) -> ssh.CommandStatus:
    return ssh.ssh(
        LOCAL, ["true"], host_name="vm01", show_output=False, tries=tries,
        ssh_key=str(key), password=None, port=srv.port,
    )  # fmt: skip


def test_first_connection_records_the_key_in_openssh_format(
    prefix: Path, public_key: paramiko.PKey
) -> None:
    with SSHServer(public_key, password=None) as srv:
        assert _true(srv, prefix / "id_rsa").code == 0
        assert _true(srv, prefix / "id_rsa").code == 0  # same key: accepted
        host_key = srv.host_key
    lines = (prefix / "known_hosts").read_text().splitlines()
    assert lines == [
        f"[{LOCAL}]:{srv.port},vm01 {host_key.get_name()} {host_key.get_base64()}"
    ]
    # OpenSSH reads the file as it is
    found = run_command(
        ["ssh-keygen", "-F", f"[{LOCAL}]:{srv.port}", "-f", str(prefix / "known_hosts")]
    )
    assert found.code == 0, found.err


def test_a_changed_key_is_refused_with_one_line(
    prefix: Path, public_key: paramiko.PKey
) -> None:
    with SSHServer(public_key, password=None) as first:
        assert _true(first, prefix / "id_rsa").code == 0
    recorded = (prefix / "known_hosts").read_text()
    # the same address comes back with another host key (a new machine)
    with SSHServer(public_key, password=None, port=first.port) as second:
        with pytest.raises(ssh.LagoSSHHostKeyError) as err:
            _true(second, prefix / "id_rsa", tries=50)
        auths = list(second.log.auths)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"VM vm01 ([{LOCAL}]:{first.port}) offered SSH host key")
    assert f"not the one recorded in {prefix / 'known_hosts'}" in message
    assert (
        f"ssh-keygen -R [{LOCAL}]:{first.port} -f {prefix / 'known_hosts'}" in message
    )
    assert auths == []  # refused before logging in, and not retried
    assert (prefix / "known_hosts").read_text() == recorded


def test_propagate_fail_false_still_refuses_a_changed_key(
    prefix: Path, public_key: paramiko.PKey
) -> None:
    with SSHServer(public_key, password=None) as first:
        assert _true(first, prefix / "id_rsa").code == 0
    with (
        SSHServer(public_key, password=None, port=first.port) as second,
        pytest.raises(ssh.LagoSSHHostKeyError),
    ):
        ssh.ssh(
            LOCAL, ["true"], host_name="vm01", show_output=False, tries=1,
            propagate_fail=False, ssh_key=str(prefix / "id_rsa"),
            password=None, port=second.port,
        )  # fmt: skip


def test_a_key_outside_a_prefix_records_nothing(
    prefix: Path, public_key: paramiko.PKey, tmp_path: Path
) -> None:
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(prefix / "id_rsa", own / "id_rsa")
    with SSHServer(public_key, password=None) as srv:
        assert _true(srv, own / "id_rsa").code == 0
    assert sorted(p.name for p in own.iterdir()) == ["id_rsa"]


def test_vms_connecting_at_once_are_all_recorded(prefix: Path) -> None:
    known = prefix / "known_hosts"
    keys = {f"192.168.200.{i}": paramiko.ECDSAKey.generate() for i in range(2, 22)}

    def record(item: tuple[str, paramiko.PKey]) -> None:
        host, key = item
        RecordPolicy(known, f"vm{host.rsplit('.', 1)[1]}").missing_host_key(
            paramiko.SSHClient(), host, key
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(record, keys.items()))
    recorded = paramiko.HostKeys(str(known))
    assert len(known.read_text().splitlines()) == len(keys)
    for host, key in keys.items():
        assert recorded.lookup(host)[key.get_name()] == key
