"""lago.env_host: the init file's host section, recorded per prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lago import env_host
from lago.config import config
from lago.errors import InitFileError
from lago.initfile import load_init_file

INIT = """\
domains:
  vm0:
    nics: [{net: lago}]
    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]
nets:
  lago: {type: nat}
"""


@pytest.fixture
def host_config() -> Iterator[None]:
    saved = {key: config.get(key) for key in env_host.HOST_KEYS}
    yield
    env_host._REPLACED.clear()
    env_host._PINNED.clear()
    for key, value in saved.items():
        config.set(key, value)


def _init_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "LagoInitFile"
    path.write_text(INIT + extra)
    return path


def test_host_section_is_read(tmp_path: Path) -> None:
    extra = "host:\n  libvirt_url: qemu+ssh://root@kvm.example/system\n"
    init = load_init_file(_init_file(tmp_path, extra))
    assert init.host == {"libvirt_url": "qemu+ssh://root@kvm.example/system"}


def test_no_host_section(tmp_path: Path) -> None:
    assert load_init_file(_init_file(tmp_path, "")).host == {}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("host: qemu:///system\n", "host: expected a mapping"),
        ("host:\n  url: qemu:///system\n", "host: unknown key 'url'"),
        ("host:\n  libvirt_url: 3\n", "host: libvirt_url: expected a non-empty string"),
        ("host:\n  ssh_jump_key: ''\n", "host: ssh_jump_key: expected a non-empty"),
    ],
)
def test_bad_host_section(tmp_path: Path, extra: str, problem: str) -> None:
    path = _init_file(tmp_path, extra)
    with pytest.raises(InitFileError) as info:
        load_init_file(path)
    assert str(info.value).startswith(f"{path}: {problem}")


def test_record_and_restore(tmp_path: Path, host_config: None) -> None:
    config.set("libvirt_url", "qemu+tcp://10.9.8.7/system")
    config.set("ssh_jump_host", "ops@bastion.example")
    config.set("ssh_jump_key", None)
    env_host.record(tmp_path)
    config.set("libvirt_url", "qemu:///system")
    config.set("ssh_jump_host", None)
    config.set("ssh_jump_key", "/my/key")
    env_host.restore(tmp_path)
    assert config.get("libvirt_url") == "qemu+tcp://10.9.8.7/system"
    assert config.get("ssh_jump_host") == "ops@bastion.example"
    # not recorded: the configuration's own value
    assert config.get("ssh_jump_key") == "/my/key"


def test_a_url_typed_on_the_command_line_wins_over_the_record(
    tmp_path: Path, host_config: None
) -> None:
    (tmp_path / env_host.HOST_FILE).write_text('{"libvirt_url": "qemu+tcp://b/system"}')
    config.set("libvirt_url", "qemu:///system")
    # argparse's default is the configuration's value: only a typed one differs
    env_host.pin_explicit({"libvirt_url": "qemu:///system"})
    env_host.restore(tmp_path)
    assert config.get("libvirt_url") == "qemu+tcp://b/system"
    env_host.restore(tmp_path / "none")
    env_host.pin_explicit({"libvirt_url": "qemu+unix:///system?socket=/dead"})
    env_host.restore(tmp_path)
    assert config.get("libvirt_url") == "qemu:///system"


def test_restore_undoes_the_previous_prefix(tmp_path: Path, host_config: None) -> None:
    config.set("libvirt_url", "qemu:///system")
    config.set("ssh_jump_host", None)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / env_host.HOST_FILE).write_text(
        '{"libvirt_url": "qemu+ssh://a/system", "ssh_jump_host": "a-jump"}'
    )
    (second / env_host.HOST_FILE).write_text('{"libvirt_url": "qemu+tcp://b/system"}')
    env_host.restore(first)
    assert config.get("ssh_jump_host") == "a-jump"
    env_host.restore(second)
    assert config.get("libvirt_url") == "qemu+tcp://b/system"
    assert config.get("ssh_jump_host") is None
    env_host.restore(tmp_path)  # no record: the configuration as it was
    assert config.get("libvirt_url") == "qemu:///system"


def test_prefix_without_record_keeps_the_config(
    tmp_path: Path, host_config: None
) -> None:
    config.set("libvirt_url", "qemu+tcp://10.9.8.7/system")
    assert env_host.recorded(tmp_path) is None
    env_host.restore(tmp_path)
    assert config.get("libvirt_url") == "qemu+tcp://10.9.8.7/system"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_unreadable_record(tmp_path: Path, text: str) -> None:
    (tmp_path / env_host.HOST_FILE).write_text(text)
    with pytest.raises(env_host.HostRecordError, match=env_host.HOST_FILE):
        env_host.restore(tmp_path)


def test_apply_ignores_other_keys(host_config: Any) -> None:
    before = config.get("ssh_user")
    env_host.apply({"libvirt_url": "qemu+ssh://h/system", "ssh_user": "mallory"})
    assert config.get("libvirt_url") == "qemu+ssh://h/system"
    assert config.get("ssh_user") == before
