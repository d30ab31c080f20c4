"""Half-made and half-started environments: interrupted, killed, cut off."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from lago import init_env
from lago.init_env import init_environment, load_checked
from lago.prefix import Prefix, PrefixIncomplete
from lago.rollback import RollbackContext
from lago.workdir import LagoPrefixAlreadyExistsError, Workdir, WorkdirError

from .test_model import NO_TEMPLATES, fake, init_file, leases, net_active

__all__ = ["fake"]  # the fixture, imported for the tests below


def test_ctrl_c_while_making_the_keys_rolls_back(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Prefix) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Prefix, "_create_ssh_keys", interrupted)
    workdir_path = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        init_environment(
            load_checked(init_file(tmp_path)), str(workdir_path), None, NO_TEMPLATES
        )
    assert not workdir_path.exists()


def test_what_a_killed_init_leaves_is_refused_reported_and_destroyed(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a kill: the bootstrap fails and no rollback runs
    monkeypatch.setattr(init_env, "_rollback", lambda *args: None)
    monkeypatch.setattr(RollbackContext, "run_undo", lambda self: None)
    workdir_path = str(tmp_path / "work")
    with pytest.raises(Exception, match="failed on purpose"):
        init_environment(
            load_checked(init_file(tmp_path, fail=True)),
            workdir_path,
            None,
            NO_TEMPLATES,
        )
    assert len(leases(tmp_path)) == 2  # taken before the bootstrap
    assert os.readlink(os.path.join(workdir_path, "current")) == "default"

    uuid = Path(workdir_path, "default", "uuid").read_text()
    with pytest.raises(LagoPrefixAlreadyExistsError, match="already exists"):
        init_environment(
            load_checked(init_file(tmp_path)), workdir_path, None, NO_TEMPLATES
        )
    assert Path(workdir_path, "default", "uuid").read_text() == uuid

    prefix = Workdir(workdir_path).get_prefix("current")
    with pytest.raises(PrefixIncomplete, match="lago destroy -y"):
        prefix.virt_env  # noqa: B018 - what status reads first

    Workdir(workdir_path).destroy(["default"])
    assert not os.path.exists(workdir_path)
    assert leases(tmp_path) == []


def test_a_killed_init_before_the_keys_leaves_a_workdir_destroy_finds(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Killed(BaseException):
        pass

    def killed(self: Prefix) -> None:
        raise Killed

    monkeypatch.setattr(Prefix, "_create_ssh_keys", killed)
    monkeypatch.setattr(init_env, "_rollback", lambda *args: None)
    workdir_path = str(tmp_path / "work")
    with pytest.raises(Killed):
        init_environment(
            load_checked(init_file(tmp_path)), workdir_path, None, NO_TEMPLATES
        )
    assert Workdir.is_workdir(workdir_path)
    Workdir(workdir_path).destroy(["default"])
    assert not os.path.exists(workdir_path)


def test_start_restarts_vms_whose_network_was_down(
    fake: ModuleType, tmp_path: Path
) -> None:
    workdir_path = str(tmp_path / "work")
    work = init_environment(
        load_checked(init_file(tmp_path)), workdir_path, None, NO_TEMPLATES
    )
    prefix = work.get_prefix("current")
    prefix.start()
    side = prefix.get_nets()["side"]
    side.stop()  # only vm02 uses it
    assert not net_active(side.libvirt_name())
    fake.CALLS.clear()

    Workdir(workdir_path).get_prefix("current").start()
    assert net_active(side.libvirt_name())
    assert fake.CALLS == [("vm02", "stop"), ("vm02", "start")]
    work.destroy()


def test_a_failed_start_stops_every_vm_it_started_before_the_networks(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir_path = str(tmp_path / "work")
    work = init_environment(
        load_checked(init_file(tmp_path)), workdir_path, None, NO_TEMPLATES
    )
    prefix = work.get_prefix("current")
    original = fake.FakeProvider.start

    def start(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)  # defined, then the start fails
        if self.vm.name() == "vm02":
            raise KeyboardInterrupt

    monkeypatch.setattr(fake.FakeProvider, "start", start)
    with pytest.raises(KeyboardInterrupt):
        prefix.start()
    assert not fake.RUNNING
    names = [net.libvirt_name() for net in prefix.get_nets().values()]
    assert not any(net_active(name) for name in names)
    work.destroy()


def test_a_prefix_directory_without_a_workdir_is_refused_untouched(
    fake: ModuleType, tmp_path: Path
) -> None:
    stray = tmp_path / "work" / "default"
    stray.mkdir(parents=True)
    (stray / "uuid").write_text("left")
    with pytest.raises(WorkdirError, match="not a workdir") as raised:
        init_environment(
            load_checked(init_file(tmp_path)),
            str(tmp_path / "work"),
            None,
            NO_TEMPLATES,
        )
    assert raised.value.hint == f"remove {stray} by hand, or init elsewhere"
    assert sorted(p.name for p in stray.iterdir()) == ["uuid"]
    assert not (tmp_path / "work" / "current").exists()
