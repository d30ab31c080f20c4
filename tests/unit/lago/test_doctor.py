"""lago.doctor: the host checks, without a libvirt daemon."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lago import doctor
from lago.doctor import FAIL, OK, WARN, CheckResult, DoctorSettings


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="lago-doctor-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if sub.is_dir():
                sub.chmod(0o755)
        shutil.rmtree(path)


def settings(tmp_path: Path, **changes: object) -> DoctorSettings:
    values: dict[str, object] = {
        "libvirt_url": "test:///default",
        "domain_type": "auto",
        "workdir": tmp_path / "work" / ".lago",
        "template_store": tmp_path / "store",
        "lease_dir": tmp_path / "leases",
        "template_repo_path": None,
    }
    values.update(changes)
    return DoctorSettings(**values)  # type: ignore[arg-type]


def test_qemu_user_from_qemu_conf(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text('# user = "nobody"\nuser = "qemu"\n')
    assert doctor.qemu_user(str(conf)) == "qemu"
    conf.write_text('#user = "libvirt-qemu"\n')
    assert doctor.qemu_user(str(conf)) == doctor.DEFAULT_QEMU_USER
    assert doctor.qemu_user(str(tmp_path / "missing")) == doctor.DEFAULT_QEMU_USER


def test_blocking_directory_names_the_closed_ancestor(open_dir: Path) -> None:
    tmp_path = open_dir
    closed = tmp_path / "closed"
    inner = closed / "inner"
    inner.mkdir(parents=True)
    tmp_path.chmod(0o755)
    closed.chmod(0o700)
    try:
        stranger = os.getuid() + 12345
        assert doctor.blocking_directory(inner / "wd", stranger, set()) == closed
        # the owner and root may enter
        assert doctor.blocking_directory(inner, os.getuid(), set()) is None
        assert doctor.blocking_directory(inner, 0, set()) is None
        closed.chmod(0o750)
        gid = closed.stat().st_gid
        assert doctor.blocking_directory(inner, stranger, {gid}) is None
        assert doctor.blocking_directory(inner, stranger, set()) == closed
    finally:
        closed.chmod(0o755)


def test_qemu_access_fails_for_a_closed_workdir(open_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    tmp_path = open_dir
    closed = tmp_path / "closed"
    closed.mkdir()
    closed.chmod(0o700)
    tmp_path.chmod(0o755)
    monkeypatch.setattr(doctor, "_identity", lambda user: (os.getuid() + 12345, set()))
    result = doctor.check_qemu_access(settings(tmp_path, workdir=closed / "wd"))
    assert result.status == FAIL
    assert f"cannot enter {closed} (mode 0700)" in result.detail
    assert "chmod o+x" in result.fix
    closed.chmod(0o755)
    assert (
        doctor.check_qemu_access(settings(tmp_path, workdir=closed / "wd")).status == OK
    )


def test_leases_count_free_subnets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import lago.subnet_lease as subnet_lease

    monkeypatch.setattr(subnet_lease, "host_subnet_octets", lambda: {201})
    lease_dir = tmp_path / "leases"
    assert doctor.check_leases(settings(tmp_path)).status == OK  # made later
    lease_dir.mkdir()
    uuid_file = tmp_path / "uuid"
    uuid_file.write_text("abc")
    (lease_dir / "200.lease").write_text(json.dumps([str(uuid_file), "abc"]))
    result = doctor.check_leases(settings(tmp_path))
    assert result.status == OK
    assert result.detail == f"54 of 56 subnets free in {lease_dir}"
    for octet in range(202, 253):
        (lease_dir / f"{octet}.lease").write_text(json.dumps([str(uuid_file), "abc"]))
    assert doctor.check_leases(settings(tmp_path)).status == WARN
    for octet in range(253, 256):
        (lease_dir / f"{octet}.lease").write_text(json.dumps([str(uuid_file), "abc"]))
    assert doctor.check_leases(settings(tmp_path)).status == FAIL


def test_unwritable_lease_dir_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)
    result = doctor.check_leases(settings(tmp_path))
    assert result.status == FAIL
    assert "is not writable" in result.detail


def test_network_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_which", lambda tool: f"/usr/sbin/{tool}")
    assert doctor.check_network_tools(settings(tmp_path)).status == OK
    monkeypatch.setattr(doctor, "_which", lambda tool: None)
    result = doctor.check_network_tools(settings(tmp_path))
    assert result.status == FAIL
    assert result.detail.startswith("missing: dnsmasq, iptables or nft")


def test_template_repo(tmp_path: Path) -> None:
    assert doctor.check_template_repo(settings(tmp_path)).status == FAIL
    missing = tmp_path / "nothing" / "repo.metadata"
    result = doctor.check_template_repo(
        settings(tmp_path, template_repo_path=str(missing))
    )
    assert result.status == FAIL
    assert str(missing) in result.detail
    repo = tmp_path / "repo.metadata"
    repo.write_text(json.dumps({
        "name": "r1",
        "sources": {"local": {"type": "file", "args": {"root": str(tmp_path)}}},
        "templates": {"b": {"versions": {}}, "a": {"versions": {}}},
    }))  # fmt: skip
    result = doctor.check_template_repo(
        settings(tmp_path, template_repo_path=str(repo))
    )
    assert result == CheckResult("templates", OK, f"r1 at {repo} offers a, b")


def test_libvirt_unreachable(tmp_path: Path) -> None:
    url = f"qemu+unix:///system?socket={tmp_path}/no-such-socket"
    result = doctor.check_libvirt(settings(tmp_path, libvirt_url=url))
    assert result.status == FAIL
    assert url in result.detail
    assert doctor.check_libvirt(settings(tmp_path)).status == OK


def test_forced_kvm_without_kvm_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import lago.providers.libvirt.host as host

    monkeypatch.setattr(host, "device_usable", lambda path: False)
    result = doctor.check_virtualization(settings(tmp_path, domain_type="kvm"))
    assert result.status == FAIL
    assert "domain_type = auto" in result.fix
    result = doctor.check_virtualization(settings(tmp_path))
    assert result.status == WARN
    assert "TCG" in result.detail


def test_a_crashing_check_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def broken(_settings: DoctorSettings) -> CheckResult:
        raise OSError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (broken,))
    assert doctor.run_checks(settings(tmp_path)) == [
        CheckResult("broken", FAIL, "the check itself failed: boom")
    ]


def test_disk_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = type("usage", (), {"free": 10 * 1024**3})
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage)
    assert doctor.check_disk_space(settings(tmp_path)).status == OK
    usage.free = 1024**3
    assert doctor.check_disk_space(settings(tmp_path)).status == WARN
    usage.free = 1024
    assert doctor.check_disk_space(settings(tmp_path)).status == FAIL
