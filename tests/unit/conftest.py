"""Fixtures shared by the unit tests.

``lago_cli`` runs the installed ``lago`` executable in a subprocess with a
controlled environment (``HOME`` and the XDG directories in a temporary
directory, no ``LAGO_*`` variable inherited). ``plugin_site`` installs the
test-only plugin packages of ``tests/unit/lago/plugin_pkgs`` the way a user
would, with pip, into temporary directories that ``lago_cli`` can put on
``PYTHONPATH``.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PLUGIN_PKGS = Path(__file__).parent / "lago" / "plugin_pkgs"
SYSTEM_CONF = Path("/etc/lago/lago.conf")


def _bin(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install lago in the venv (pip install -e .)")
    return path


def _install(package: str, target: Path, scratch: Path) -> None:
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    source = scratch / package
    shutil.copytree(PLUGIN_PKGS / package, source)
    cmd = [str(_bin("pip")), "install", "--quiet", "--no-deps", "--no-index"]
    cmd += ["--no-build-isolation", "--target", str(target), str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode:
        pytest.fail(f"installing {package} failed:\n{result.stdout}{result.stderr}")


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Directories holding the installed test plugin packages, by short name."""
    root = tmp_path_factory.mktemp("plugin_site")
    sites = {"good": root / "good", "broken": root / "broken"}
    _install("lago_test_plugins", sites["good"], root)
    _install("lago_broken_plugin", sites["broken"], root)
    return sites


@pytest.fixture(scope="session")
def entrypoints_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stevedore's entry-point cache, shared by the CLI runs of a session."""
    return tmp_path_factory.mktemp("xdg_cache")


def _system_conf_sets_values() -> bool:
    if not SYSTEM_CONF.exists():
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(SYSTEM_CONF, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return True
    return any(parser.items(section) for section in parser.sections())


@dataclass
class LagoCLI:
    """Runs ``lago`` with a clean, private configuration."""

    home: Path
    xdg_dirs: list[Path]
    cache: Path
    plugin_site: dict[str, Path] = field(default_factory=dict)

    @property
    def config_home(self) -> Path:
        return self.home / ".config"

    @property
    def user_conf(self) -> Path:
        """``$XDG_CONFIG_HOME/lago/lago.conf``."""
        return self.config_home / "lago" / "lago.conf"

    def write_conf(self, text: str | bytes, base: Path | None = None) -> Path:
        """Write ``lago/lago.conf`` under ``base`` (default: XDG_CONFIG_HOME)."""
        path = (base or self.config_home) / "lago" / "lago.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def env(
        self, extra: Mapping[str, str] | None = None, plugins: Sequence[str] = ("good",)
    ) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LAGO_", "XDG_")) and key != "PYTHONPATH"
        }
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.config_home),
            XDG_CONFIG_DIRS=":".join(str(path) for path in self.xdg_dirs),
            XDG_CACHE_HOME=str(self.cache),
        )
        paths = [str(self.plugin_site[name]) for name in plugins]
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        env.update(extra or {})
        return env

    def command(self, args: Sequence[str], program: str = "lago") -> list[str]:
        return [str(_bin(program)), *args]

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        plugins: Sequence[str] = ("good",),
        program: str = "lago",
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args, program),
            env=self.env(env, plugins),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def lago_cli(
    tmp_path: Path, plugin_site: dict[str, Path], entrypoints_cache: Path
) -> LagoCLI:
    if _system_conf_sets_values():
        pytest.skip(f"{SYSTEM_CONF} sets values; the CLI tests need the defaults")
    home = tmp_path / "home"
    home.mkdir()
    xdg_dirs = [tmp_path / "xdg1", tmp_path / "xdg2"]
    return LagoCLI(home, xdg_dirs, entrypoints_cache, plugin_site)


@pytest.fixture(autouse=True)
def _no_host_subnets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests must not depend on the bridges of the machine they run on
    (``make test`` runs them inside the sandbox, next to real networks)."""
    from lago import subnet_lease

    monkeypatch.setattr(subnet_lease, "host_subnet_octets", set)


@pytest.fixture(autouse=True)
def fresh_entry_points() -> Iterator[None]:
    """stevedore keeps each group's entry points for the whole process: a test
    that adds a plugin package to ``sys.path`` must not see an earlier list."""
    from stevedore import ExtensionManager

    ExtensionManager.ENTRY_POINT_CACHE.clear()
    yield
    ExtensionManager.ENTRY_POINT_CACHE.clear()
