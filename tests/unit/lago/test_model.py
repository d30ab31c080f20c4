"""The model without a daemon: init and its rollback, start/stop, destroy,
set-current and the SDK.

VMs run on the ``fake`` provider of the test plugin package (installed the way
a user installs a plugin); networks are created on libvirt's in-process test
driver (``test:///default``), so nothing touches the host's libvirtd.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lago import sdk
from lago.config import config
from lago.init_env import init_environment, load_checked
from lago.plugins.vm import VMError
from lago.providers.libvirt import utils as lvutils
from lago.template_source import TemplateOptions
from lago.verbs.info import do_set_current
from lago.verbs.init import do_init
from lago.workdir import Workdir

INIT_FILE = """\
domains:
  vm01:
    memory: 256
    nics: [{net: lago}]
    metadata: {fail-bootstrap: %s}
  vm02:
    memory: 256
    nics: [{net: lago}, {net: side}]
nets:
  lago: {}
  side: {}
"""
NO_TEMPLATES = TemplateOptions(store="/nonexistent/store")


@pytest.fixture
def fake(
    plugin_site: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[ModuleType]:
    """The fake provider, made the default; leases and networks kept apart."""
    monkeypatch.syspath_prepend(str(plugin_site["good"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from lago_test_plugins import provider

    provider.CALLS.clear()
    provider.RUNNING.clear()
    provider.PREFIX_PATHS_SEEN.clear()
    section = config.get_section("lago")
    assert section is not None
    monkeypatch.setitem(section, "libvirt_url", "test:///default")
    monkeypatch.setitem(section, "lease_dir", str(tmp_path / "subnets"))
    monkeypatch.setitem(section, "default_vm_provider", "fake")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.setLevel(logging.DEBUG)  # as the CLI and the SDK set it
    yield provider
    root.setLevel(level)
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()


def init_file(tmp_path: Path, fail: bool = False) -> str:
    path = tmp_path / "LagoInitFile"
    path.write_text(INIT_FILE % ("true" if fail else "false"))
    return str(path)


def leases(tmp_path: Path) -> list[str]:
    store = tmp_path / "subnets"
    return sorted(p.name for p in store.glob("*.lease")) if store.exists() else []


def net_active(libvirt_name: str) -> bool:
    import libvirt

    conn = lvutils.get_libvirt_connection("test", "test:///default")
    try:
        return bool(conn.networkLookupByName(libvirt_name).isActive())
    except libvirt.libvirtError:
        return False


def test_init_start_stop_destroy(fake: ModuleType, tmp_path: Path) -> None:
    workdir_path = str(tmp_path / "work")
    work = init_environment(
        load_checked(init_file(tmp_path)), workdir_path, None, NO_TEMPLATES
    )
    prefix = work.get_prefix("current")
    assert os.path.basename(prefix.prefix) == "default"
    assert sorted(fake.CALLS) == [("vm01", "bootstrap"), ("vm02", "bootstrap")]
    assert len(leases(tmp_path)) == 2  # one /24 per NAT network
    assert sorted(os.listdir(prefix.paths.virt())) == [
        "env", "net-lago", "net-side", "vm-vm01", "vm-vm02",
    ]  # fmt: skip

    nets = [net.libvirt_name() for net in prefix.get_nets().values()]
    prefix.start()
    assert all(net_active(name) for name in nets)
    assert {vm: vm_obj.state() for vm, vm_obj in prefix.get_vms().items()} == {
        "vm01": "running",
        "vm02": "running",
    }

    prefix.stop(vm_names=["vm01"])
    # vm02 still uses both networks
    assert prefix.get_vms()["vm01"].state() == "down"
    assert all(net_active(name) for name in nets)

    prefix.stop()
    assert not any(net_active(name) for name in nets)
    assert prefix.get_vms()["vm02"].state() == "down"

    prefix.start()
    Workdir(workdir_path).destroy()
    assert not os.path.exists(workdir_path)
    assert leases(tmp_path) == []
    assert not any(net_active(name) for name in nets)
    assert not fake.RUNNING


def test_failed_init_leaves_no_prefix_and_no_lease(
    fake: ModuleType, tmp_path: Path
) -> None:
    workdir_path = str(tmp_path / "work")
    with pytest.raises(VMError, match="bootstrap of vm01 failed on purpose"):
        init_environment(
            load_checked(init_file(tmp_path, fail=True)),
            workdir_path,
            None,
            NO_TEMPLATES,
        )
    assert not os.path.exists(workdir_path)  # this call made it: removed again
    assert leases(tmp_path) == []


def test_failed_init_keeps_the_other_prefixes(fake: ModuleType, tmp_path: Path) -> None:
    workdir_path = str(tmp_path / "work")
    good = load_checked(init_file(tmp_path))
    init_environment(good, workdir_path, "first", NO_TEMPLATES)
    before = leases(tmp_path)
    with pytest.raises(VMError):
        init_environment(
            load_checked(init_file(tmp_path / "..", fail=True)),
            workdir_path,
            "second",
            NO_TEMPLATES,
        )
    assert sorted(os.listdir(workdir_path)) == ["current", "first"]
    assert os.readlink(os.path.join(workdir_path, "current")) == "first"
    assert leases(tmp_path) == before


def test_set_current_switches_between_prefixes(
    fake: ModuleType, tmp_path: Path
) -> None:
    workdir_path = str(tmp_path / "work")
    loaded = load_checked(init_file(tmp_path))
    init_environment(loaded, workdir_path, "a", NO_TEMPLATES)
    init_environment(loaded, workdir_path, "b", NO_TEMPLATES)
    assert os.readlink(os.path.join(workdir_path, "current")) == "a"
    do_set_current(prefix_name_arg="b", workdir_path=workdir_path)
    assert os.readlink(os.path.join(workdir_path, "current")) == "b"
    Workdir(workdir_path).destroy()
    assert leases(tmp_path) == []


def test_cli_init_exports_paths_and_logs_to_the_prefix(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("LAGO_PREFIX_PATH", "LAGO_WORKDIR_PATH", "LAGO_INITFILE_PATH"):
        monkeypatch.setenv(var, "unset")
    workdir_path = str(tmp_path / "work")
    work = do_init(
        workdir_path, init_file(tmp_path), template_store="/nonexistent/store"
    )
    prefix = work.get_prefix("current")
    assert os.environ["LAGO_PREFIX_PATH"] == prefix.paths.prefix
    assert os.environ["LAGO_WORKDIR_PATH"] == workdir_path
    assert os.environ["LAGO_INITFILE_PATH"] == str(tmp_path)
    log = Path(prefix.paths.logs(), "lago.log").read_text()
    assert "Bootstrapping vm01" in log
    work.destroy()


def test_sdk_environments_keep_their_own_logs(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAGO_PREFIX_PATH", raising=False)
    root = logging.getLogger()
    before = list(root.handlers)

    def new_file_handlers() -> list[logging.Handler]:
        return [
            h
            for h in root.handlers
            if h not in before and isinstance(h, logging.FileHandler)
        ]

    envs = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        envs[name] = sdk.init(
            init_file(tmp_path / name),
            workdir=str(tmp_path / name / "work"),
            template_store="/nonexistent/store",
        )
    # setup_sdk_logging adds a NullHandler per call; no file handler is left
    assert new_file_handlers() == []
    assert len(root.handlers) == len(before) + 2
    assert "LAGO_PREFIX_PATH" not in os.environ

    envs["b"].start(vm_names=["vm02"])
    # the call saw its own environment's path, which is gone afterwards
    seen = list(fake.PREFIX_PATHS_SEEN)
    assert seen == [os.path.realpath(envs["b"].get_paths().prefix)]
    assert "LAGO_PREFIX_PATH" not in os.environ
    logs = {
        name: Path(env.get_paths().logs(), "lago.log").read_text()
        for name, env in envs.items()
    }
    assert "Start specified VMs" in logs["b"]
    assert "Start specified VMs" not in logs["a"]
    assert "Bootstrapping vm01" in logs["a"]
    assert envs["b"].get_vms()["vm02"].state() == "running"
    assert envs["a"].get_vms()["vm02"].state() == "down"
    assert new_file_handlers() == []

    for env in envs.values():
        env.destroy()
    assert leases(tmp_path) == []
    assert not (tmp_path / "a" / "work").exists()


def test_sdk_hides_what_is_not_exposed(fake: ModuleType, tmp_path: Path) -> None:
    env = sdk.init(
        init_file(tmp_path),
        workdir=str(tmp_path / "work"),
        template_store="/nonexistent/store",
    )
    try:
        assert "start" in dir(env)
        with pytest.raises(AttributeError, match="not part of the SDK"):
            env.cleanup  # noqa: B018 - the lookup is what is tested
        loaded = sdk.load_env(str(tmp_path / "work"))
        assert sorted(loaded.get_vms()) == ["vm01", "vm02"]
    finally:
        env.destroy()


def test_each_prefix_is_destroyed_with_its_recorded_host(
    fake: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lago import env_host
    from lago.prefix import Prefix

    workdir_path = str(tmp_path / "work")
    for name in ("a", "b"):
        init_environment(
            load_checked(init_file(tmp_path)), workdir_path, name, NO_TEMPLATES
        )
    record_b = Path(workdir_path, "b", env_host.HOST_FILE)
    assert json.loads(record_b.read_text())["libvirt_url"] == "test:///default"
    record_b.write_text(
        json.dumps({"libvirt_url": "test:///default", "ssh_jump_host": "b-host"})
    )
    seen: dict[str, Any] = {}
    original = Prefix.destroy

    def destroy(self: Prefix) -> None:
        seen[os.path.basename(self.paths.prefix)] = config.get("ssh_jump_host")
        original(self)

    monkeypatch.setattr(Prefix, "destroy", destroy)
    monkeypatch.setitem(config.get_section("lago") or {}, "ssh_jump_host", None)
    Workdir(workdir_path).destroy()
    assert seen == {"a": None, "b": "b-host"}
    assert leases(tmp_path) == []
