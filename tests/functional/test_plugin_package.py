"""A plugin package built like the original's real ones, on a real VM.

``lago_env_plugin`` (tests/unit/lago/plugin_pkgs) is pip-installed as a user
would; its verb runs through our ``lago`` on a running ``tiny`` environment
and reports what its overrides did: its own Prefix, Paths, VirtEnv and
Workdir classes were used, ``_create_virt_env`` and ``_create_vm`` ran, the
VMs are of its VM type, and collect went through its ``_artifact_paths``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, LagoRunner
from .initfiles import MANAGEMENT_NET, tiny_vm, write_tiny_env

pytestmark = pytest.mark.slow

PACKAGE = REPO_ROOT / "tests/unit/lago/plugin_pkgs/lago_env_plugin"


def _install(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(PACKAGE, source)
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    cmd += ["--no-index", "--no-build-isolation", "--target", str(site), str(source)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return site


def test_plugin_overrides_run_on_a_real_environment(
    lago: LagoRunner, tmp_path: Path
) -> None:
    site = _install(tmp_path)
    lago.env["PYTHONPATH"] = f"{site}:{REPO_ROOT}"
    extra = {"vm-type": "envvm", "artifacts": ["/root/art"]}
    write_tiny_env(lago.cwd, {"vm01": tiny_vm(extra=extra)}, MANAGEMENT_NET)
    lago("init", timeout=900)
    lago("start", "--wait-for-ssh", timeout=900)
    art = tmp_path / "art"
    art.write_text("made by the test\n")
    lago("copy-to-vm", "vm01", str(art), "/root/art", timeout=600)

    out = lago.cwd / "collected"
    proc = lago("envcheck", "--output", str(out), timeout=900)
    report = json.loads(proc.stdout.strip().splitlines()[-1])

    prefix = (lago.cwd / ".lago" / "default").resolve()
    assert report["prefix_class"] == "EnvPrefix"
    assert report["paths_class"] == "EnvPaths"
    assert report["workdir_class"] == "EnvWorkdir"
    assert report["workdir_prefixes"] == ["default"]
    assert Path(report["prefix_attr"]).resolve() == prefix
    assert Path(report["paths_prefix"]).resolve() == prefix
    assert report["virt_env_class"] == "EnvVirtEnv"
    assert report["loaded_by_hook"] is True
    assert report["created_by_hook"] == ["vm01"]
    assert report["uuid"] == (prefix / "uuid").read_text().strip()
    assert report["nets"] == ["lago"]
    vm = report["vms"]["vm01"]
    assert vm["class"] == "EnvVM"
    assert vm["state"] == "running"
    assert vm["running"] is True
    assert vm["ip"].startswith("192.168.")
    # collect-like work went through the VM type's _artifact_paths
    assert (out / "vm01" / "_root_art").read_text() == "made by the test\n"
    assert (out / "vm01" / "_etc_hostname").read_text().strip()
    # the Paths subclass wrote where the prefix is
    assert json.loads((prefix / "env-plugin.json").read_text()) == report
    # the built-in status still reads an environment made by a plugin VM type
    status = lago("--out-format", "json", "status")
    assert json.loads(status.stdout)
