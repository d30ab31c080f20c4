"""The original's hooks and helpers behave as its subclasses and scripts
expect: overrides are called by our own code, context managers work, the
verb decorator hands ``parent_workdir``, SDK environments log apart."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from lago import sdk
from lago.errors import TimerException
from lago.fileio import TemporaryDirectory
from lago.locks import EggTimer, ExceptionTimer, Flock, LockFile
from lago.paths import Paths
from lago.plugins.cli import CLIPluginFuncWrapper
from lago.prefix import Prefix
from lago.process import read_nonblocking
from lago.providers.libvirt.network import Network
from lago.sdk_utils import expose
from lago.validation import check_import
from lago.verbs._context import in_prefix
from lago.virt import LagoUnknownVMTypeError, VirtEnv
from lago.workdir import (
    PrefixAlreadyExists,
    Workdir,
    WorkdirError,
    set_current,
    workdir_loaded,
)

UUID = "0123456789abcdef0123456789abcdef"


def _prefix(path: Path, vms: dict[str, Any] | None = None, nets: dict[str, Any] | None = None) -> Path:  # fmt: skip
    (path / "virt").mkdir(parents=True)
    (path / "uuid").write_text(UUID)
    (path / "initialized").write_text("")
    vms, nets = vms or {}, nets or {}
    (path / "virt" / "env").write_text(
        json.dumps({"vms": list(vms), "nets": list(nets)})
    )
    for name, spec in vms.items():
        (path / "virt" / f"vm-{name}").write_text(json.dumps(spec))
    for name, spec in nets.items():
        (path / "virt" / f"net-{name}").write_text(json.dumps(spec))
    return path


def _workdir(root: Path, **specs: Any) -> Path:
    workdir = root / ".lago"
    _prefix(workdir / "default", **specs)
    os.symlink("default", workdir / "current")
    return workdir


VM = {
    "name": "vm01",
    "vm-type": "default",
    "vm-provider": "local-libvirt",
    "disks": [],
    "nics": [{"net": "lago", "ip": "192.168.200.2"}],
    "metadata": {},
}
NET = {"name": "lago", "type": "nat", "management": True, "gw": "192.168.200.1"}


class HookedEnv(VirtEnv):
    def __init__(self, *args: Any) -> None:
        self.calls: list[str] = []
        super().__init__(*args)

    def _create_net(self, net_spec: dict[str, Any], compat: str) -> Network:
        self.calls.append(f"net {net_spec['name']} {compat}")
        return super()._create_net(net_spec, compat)

    def _create_vm(self, vm_spec: dict[str, Any]) -> Any:
        self.calls.append(f"vm {vm_spec['name']}")
        return super()._create_vm(vm_spec)


class HookedPrefix(Prefix):
    VIRT_ENV_CLASS = HookedEnv

    def _create_virt_env(self) -> VirtEnv:
        env = super()._create_virt_env()
        env.calls.append("virt env")  # type: ignore[attr-defined]
        return env


def test_overridden_hooks_are_called(tmp_path: Path) -> None:
    prefix = HookedPrefix(_prefix(tmp_path / "p", {"vm01": VM}, {"lago": NET}))
    env = prefix.virt_env
    assert isinstance(env, HookedEnv)
    assert env.calls == ["net lago 0.36.0", "vm vm01", "virt env"]
    assert prefix._prefix == str(tmp_path / "p")
    assert prefix._paths is prefix.paths
    assert prefix._virt_env is env
    assert env.prefix is prefix and env.uuid == UUID
    assert list(env._vms) == ["vm01"] and list(env._nets) == ["lago"]
    assert "default" in env.vm_types and env._default_vm_type == "default"
    assert env._nets["lago"].compat == "0.36.0"
    vm = env._vms["vm01"]
    assert vm.virt_env is env and vm._spec["name"] == "vm01"


def test_unknown_vm_type(tmp_path: Path) -> None:
    spec = {**VM, "vm-type": "nosuch"}
    with pytest.raises(LagoUnknownVMTypeError, match="Unknown VM type: nosuch"):
        _ = Prefix(_prefix(tmp_path / "p", {"vm01": spec}, {"lago": NET})).virt_env


def test_prefix_metadata_and_save(tmp_path: Path) -> None:
    path = _prefix(tmp_path / "p", {}, {"lago": NET})
    prefix = Prefix(path)
    assert prefix.metadata == {}
    prefix.metadata["owner"] = "plugin"
    prefix.save()
    assert json.loads((path / "metadata").read_text()) == {"owner": "plugin"}
    assert json.loads((path / "virt" / "net-lago").read_text())["name"] == "lago"
    assert Prefix(path)._metadata is None
    assert Prefix(path).metadata == {"owner": "plugin"}


def test_paths_keep_the_original_attributes(tmp_path: Path) -> None:
    paths = Paths(str(tmp_path))
    assert paths.prefix == paths._prefix_path == paths.prefix_path() == str(tmp_path)
    assert paths.uuid() == str(tmp_path / "uuid")


def test_network_mappings(tmp_path: Path) -> None:
    class Env:
        uuid = UUID

        def virt_path(self, *args: str) -> str:
            return str(tmp_path.joinpath(*args))

    net = Network(Env(), dict(NET), compat="1.0.0")
    assert net.mtu() == 1500
    net.add_mappings([("vm01", "192.168.200.2"), ("vm01-eth0", "192.168.200.2")])
    net.add_mapping("db", "192.168.200.3")
    assert net.resolve(name="db") == "192.168.200.3"
    assert json.loads((tmp_path / "net-lago").read_text())["mapping"] == {
        "vm01": "192.168.200.2",
        "vm01-eth0": "192.168.200.2",
        "db": "192.168.200.3",
    }
    with pytest.raises(KeyError):
        net.resolve("nosuch")


def test_workdir_names(tmp_path: Path) -> None:
    workdir = Workdir(_workdir(tmp_path))

    @workdir_loaded
    def names(self: Workdir) -> list[str]:
        return sorted(self.prefixes)

    assert not workdir.loaded
    assert names(workdir) == ["default"]
    assert workdir.loaded
    with pytest.raises(PrefixAlreadyExists, match="already exists") as err:
        workdir.add_prefix("default")
    assert isinstance(err.value, WorkdirError)
    _prefix(Path(workdir.join("other")))
    set_current("other", workdir)
    assert os.readlink(workdir.join("current")) == "other"
    assert Workdir.is_workdir(workdir.path)


def test_in_prefix_hands_parent_workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _workdir(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAGO_PREFIX_PATH", "")
    monkeypatch.setenv("LAGO_WORKDIR_PATH", "")
    seen: dict[str, Any] = {}

    @in_prefix(prefix_class=HookedPrefix, logs=False)
    def verb(prefix: Prefix, parent_workdir: Workdir, **kwargs: Any) -> None:
        seen.update(prefix=prefix, parent_workdir=parent_workdir, **kwargs)

    verb(workdir_path=str(path))
    assert isinstance(seen["prefix"], HookedPrefix)
    assert isinstance(seen["parent_workdir"], Workdir)
    assert seen["workdir"] is seen["parent_workdir"]
    assert seen["parent_workdir"].path == str(path)


def test_cmd_verbs_are_cli_plugins_with_the_original_parameters() -> None:
    import lago.cmd

    assert isinstance(lago.cmd.do_collect, CLIPluginFuncWrapper)
    assert lago.cmd.do_collect.help
    parser_args = [args for args, _ in lago.cmd.do_collect._parser_args]
    assert ("--output",) in parser_args
    with pytest.raises(AttributeError):
        _ = lago.cmd.do_nosuch


def test_cmd_faces_run_the_verbs_with_the_original_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import lago.cmd
    from lago.plugins.output import JSONOutFormatPlugin

    workdir = _workdir(tmp_path)
    _prefix(workdir / "other")
    lago.cmd.do_list(str(workdir), JSONOutFormatPlugin())
    assert sorted(json.loads(capsys.readouterr().out)) == ["default", "other"]


def test_exception_timer_is_a_context_manager() -> None:
    with ExceptionTimer(None) as timer:  # no timeout: inert
        assert isinstance(timer, ExceptionTimer)


def test_egg_timer_counts_from_entering_the_block() -> None:
    timer = EggTimer(3600)
    with timer as entered:
        assert entered is timer
        assert not timer.elapsed()
    with EggTimer(-1) as past:
        assert past.elapsed()


def test_flock_and_lockfile(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with LockFile(path, timeout=5, readonly=False) as lock:
        assert lock._fd is not None
        other = Flock(str(path), blocking=False)
        with pytest.raises(BlockingIOError):
            other.acquire()
        with pytest.raises(TimerException), LockFile(path, timeout=0.1, lock_cls=Flock):
            pass
    assert lock._fd is None
    shared = [Flock(str(path), readonly=True, blocking=False) for _ in range(2)]
    for item in shared:
        item.acquire()
    for item in shared:
        item.release()


def test_temporary_directory() -> None:
    with TemporaryDirectory() as path:
        Path(path, "file").write_text("x")
        assert os.path.isdir(path)
    assert not os.path.exists(path)


def test_read_nonblocking() -> None:
    read_end, write_end = os.pipe()
    try:
        assert read_nonblocking(read_end) == b""
        os.write(write_end, b"data")
        assert read_nonblocking(read_end) == b"data"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_check_import() -> None:
    assert check_import("json")
    assert not check_import("no_such_module_for_lago")
    assert not check_import("json.no_such_child")


def test_two_sdk_environments_log_each_to_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @expose
    def get_paths(self: Prefix) -> Paths:
        logging.getLogger("lago.test").info("paths of %s", self.paths.prefix)
        logging.getLogger("lago.test").debug("debug of %s", self.paths.prefix)
        return self.paths

    monkeypatch.setattr(Prefix, "get_paths", get_paths)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        one = sdk.load_env(
            str(_workdir(tmp_path / "one")), logfile=str(tmp_path / "one.log")
        )
        two = sdk.load_env(
            str(_workdir(tmp_path / "two")),
            logfile=str(tmp_path / "two.log"),
            loglevel=logging.DEBUG,
        )
        assert root.level == logging.DEBUG
        one.get_paths()
        two.get_paths()
    finally:
        for handler in set(root.handlers) - set(before):
            root.removeHandler(handler)
        for handler in [*one._log_handlers, *two._log_handlers]:
            handler.close()
    first = (tmp_path / "one.log").read_text()
    second = (tmp_path / "two.log").read_text()
    assert "paths of" in first and "/one/" in first and "/two/" not in first
    assert "debug of" not in first  # its loglevel is INFO
    assert "/two/" in second and "/one/" not in second and "debug of" in second
    lago_log = tmp_path / "one" / ".lago" / "default" / "logs" / "lago.log"
    assert "debug of" in lago_log.read_text()


def test_missing_template_is_a_key_error() -> None:
    from lago.templates import LagoMissingTemplateError, TemplateRepository

    repo = TemplateRepository({"name": "repo", "templates": {}}, path="/r.json")
    assert repo.path == "/r.json"
    with pytest.raises(KeyError) as err:
        repo.get_by_name("tiny")
    assert isinstance(err.value, LagoMissingTemplateError)
    assert str(err.value) == (
        "Image tiny doesn't exist in repo /r.json (it has: no templates)"
    )


def test_lease_errors_take_the_original_arguments() -> None:
    from lago import subnet_lease as sl

    taken = sl.LagoSubnetLeaseTakenException("192.168.200.0/24", "/p/uuid")
    assert str(taken) == (
        "Can't acquire subnet 192.168.200.0/24. The subnet is already taken by /p/uuid."
    )
    out = sl.LagoSubnetLeaseOutOfRangeException("10.0.0.0/24", "R")
    assert (
        str(out) == "Subnet 10.0.0.0/24 is not valid. Subnet should be in the range R."
    )
    perms = sl.LagoSubnetLeaseBadPermissionsException("/s", "Permission denied")
    assert str(perms) == "Failed to get access to the store at /s"
    assert perms.hint == "Permission denied"
    assert str(sl.LagoSubnetLeaseLockException("/s")).startswith(
        "Failed to acquire a lock"
    )
    assert "range R" in str(sl.LagoSubnetLeaseStoreFullException("R"))
    assert "x.y" in str(sl.LagoSubnetLeaseMalformedAddrException("x.y"))
    assert sl.LagoSubnetLeaseException("msg", "why").hint == "why"


def test_check_running_refuses_a_stopped_vm() -> None:
    from lago.plugins.vm import LagoVMNotRunningError, check_running

    class VM:
        up = False

        def running(self) -> bool:
            return self.up

        def state(self) -> str:
            return "running" if self.up else "down"

        def name(self) -> str:
            return "vm01"

        @check_running
        def work(self) -> str:
            return "done"

    vm = VM()
    with pytest.raises(
        LagoVMNotRunningError, match='Host vm01 is not "running", but "down"'
    ):
        vm.work()
    vm.up = True
    assert vm.work() == "done"
