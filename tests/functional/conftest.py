"""Fixtures for functional tests: real libvirtd, real VMs, in the sandbox.

Every test here is marked ``functional`` and skipped unless libvirt answers
and the test process runs inside the project's network namespace (see
``scripts/sandbox.sh``), so that no Lago network or VM is ever reached from
the root namespace. Each environment a test makes is destroyed afterwards,
and anything left in libvirt under its uuid is removed, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NETNS = os.environ.get("LAGO_NETNS", "lago-sandbox")
LIBVIRT_URL = "qemu:///system"
REPO_ROOT = Path(__file__).resolve().parents[2]
WORK_BASE = Path("/var/tmp/lago-functional")
# LAGO_TEST_TEMPLATE_REPO points the tests at another built repository (a
# directory), e.g. one built from a changed template builder
LOCAL_REPO = (
    Path(os.environ.get("LAGO_TEST_TEMPLATE_REPO", "/var/lib/lago/repos/lago-local"))
    / "repo.metadata"
)


def _in_sandbox() -> bool:
    if os.environ.get("LAGO_USE_HOST_LIBVIRT") == "1":
        return True
    try:
        return (
            os.stat(f"/run/netns/{NETNS}").st_ino == os.stat("/proc/self/ns/net").st_ino
        )
    except OSError:
        return False


def _libvirt_answers() -> bool:
    try:
        import libvirt

        libvirt.registerErrorHandler(lambda *_: None, None)
        conn = libvirt.open(LIBVIRT_URL)
        conn.close()
        return True
    except Exception:
        return False


SKIP_REASON = None
if not _in_sandbox():
    SKIP_REASON = (
        f"not inside network namespace {NETNS} (run through scripts/sandbox.sh exec)"
    )
elif not _libvirt_answers():
    SKIP_REASON = (
        f"no libvirt daemon answers at {LIBVIRT_URL} (run scripts/sandbox.sh start)"
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.functional)
            if SKIP_REASON:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def local_repo() -> Path:
    if not LOCAL_REPO.exists():
        subprocess.run(
            [
                "bash",
                str(REPO_ROOT / "scripts/build-templates.sh"),
                "--repo-dir",
                str(LOCAL_REPO.parent),
            ],
            check=True,
        )
    return LOCAL_REPO


@dataclass
class Made:
    """The libvirt names of one environment the suite made."""

    domains: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)


#: every environment the session made, by uuid: what the leftover checks
#: look for (exact names, so that other users' objects are never touched)
MADE: dict[str, Made] = {}


def remember(base: Path) -> list[str]:
    """Record the environments under ``base`` and their libvirt names."""
    from lago.providers.libvirt.utils import net_libvirt_name, prefixed_name

    uuids = []
    for uuid_file in base.glob("**/uuid"):
        try:
            uuid = uuid_file.read_text().strip()
        except OSError:  # removed meanwhile
            continue
        if not uuid:
            continue
        uuids.append(uuid)
        made = MADE.setdefault(uuid, Made())
        try:
            env = json.loads((uuid_file.parent / "virt" / "env").read_text())
        except (OSError, ValueError):
            continue  # no VM or network can run before virt/env exists
        made.domains |= {prefixed_name(uuid, vm) for vm in env.get("vms", [])}
        made.networks |= {net_libvirt_name(uuid, net) for net in env.get("nets", [])}
    return uuids


@dataclass
class LagoRunner:
    """Runs the ``lago`` CLI as a user would, in an isolated configuration."""

    cwd: Path
    env: dict[str, str]
    made: list[Path] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def remember(self) -> list[str]:
        """Record the environments made so far (done after every run; a
        test that runs ``lago`` by itself calls it)."""
        uuids = remember(self.cwd)
        self.seen.update(uuids)
        return uuids

    def __call__(self, *args: str, check: bool = True, input: str | None = None,
                 timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "lago.cmd", *args],
            cwd=self.cwd, env=self.env, text=True, capture_output=True,
            input=input, timeout=timeout, check=False,
        )  # fmt: skip
        self.remember()
        if check and proc.returncode != 0:
            raise AssertionError(
                f"lago {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc


def _uuids_under(workdir: Path) -> list[str]:
    return remember(workdir)


def _ours(uuids: list[str]) -> tuple[set[str], set[str]]:
    domains: set[str] = set()
    networks: set[str] = set()
    for uuid in uuids:
        made = MADE.get(uuid, Made())
        domains |= made.domains
        networks |= made.networks
    return domains, networks


def _purge_libvirt(uuids: list[str]) -> list[str]:
    """Remove the domains and networks these environments made (exact
    names recorded from their ``virt/env``); return their names."""
    import libvirt

    domains, networks = _ours(uuids)
    if not domains and not networks:
        return []
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(LIBVIRT_URL)
    leftovers: list[str] = []
    try:
        for kind, names, lookup in (
            ("domain", domains, conn.lookupByName),
            ("network", networks, conn.networkLookupByName),
        ):
            for name in sorted(names):
                try:
                    obj = lookup(name)
                    obj.destroy()
                except libvirt.libvirtError:
                    continue  # not there (or gone since the lookup)
                leftovers.append(f"{kind} {name}")
    finally:
        conn.close()
    return leftovers


def _leases_of(lease_dir: Path, uuids: list[str]) -> list[Path]:
    found = []
    for lease in lease_dir.glob("*.lease"):
        try:
            content = json.loads(lease.read_text())
        except ValueError:
            continue
        if len(content) == 2 and content[1] in uuids:
            found.append(lease)
    return found


@pytest.fixture
def lago(tmp_path: Path, local_repo: Path) -> Iterator[LagoRunner]:
    """A ``lago`` runner in a fresh directory with its own lease store."""
    home = tmp_path / "home"
    home.mkdir()
    lease_dir = Path(os.environ.get("LAGO_TEST_LEASE_DIR", "/var/lib/lago/subnets"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAGO")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        LAGO_LEASE_DIR=str(lease_dir),
        LAGO__INIT__TEMPLATE_REPO_PATH=str(local_repo),
        PYTHONPATH=str(REPO_ROOT),
    )
    # qemu runs as an unprivileged user: it must reach the images, which
    # pytest's private (0700) tmp_path would hide
    WORK_BASE.mkdir(parents=True, exist_ok=True)
    WORK_BASE.chmod(0o755)
    workspace = Path(tempfile.mkdtemp(prefix="work-", dir=WORK_BASE))
    workspace.chmod(0o755)
    runner = LagoRunner(cwd=workspace, env=env)
    try:
        yield runner
    finally:
        uuids = sorted(set(runner.remember()) | runner.seen)
        for workdir in {
            link.parent for link in workspace.glob("**/current") if link.is_symlink()
        }:
            subprocess.run(
                [sys.executable, "-m", "lago.cmd", "--workdir-path", str(workdir), "destroy", "-y", "--all-prefixes"],
                cwd=workspace, env=env, capture_output=True, timeout=300, check=False,
            )  # fmt: skip
        leftovers = _purge_libvirt(uuids) if uuids else []
        for lease in _leases_of(lease_dir, uuids):
            lease.unlink()
        shutil.rmtree(workspace, ignore_errors=True)
        assert not leftovers, f"libvirt objects outlived the test: {leftovers}"


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """At the end of the session, fail if any environment the suite made
    still has a libvirt domain, network or subnet lease."""
    yield
    if SKIP_REASON or not MADE:
        return
    uuids = list(MADE)
    leftovers = _purge_libvirt(uuids)
    lease_dir = Path(os.environ.get("LAGO_TEST_LEASE_DIR", "/var/lib/lago/subnets"))
    leases = _leases_of(lease_dir, uuids)
    for lease in leases:
        lease.unlink()
    leftovers += [f"lease {lease}" for lease in leases]
    assert not leftovers, f"the functional suite left these behind: {leftovers}"


def write_init_file(directory: Path, text: str, name: str = "LagoInitFile") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def template_missing(template: str) -> str | None:
    """Why a test of ``template`` cannot run (it is not built), or None."""
    try:
        templates = json.loads(LOCAL_REPO.read_text()).get("templates", {})
    except (OSError, ValueError):
        return None  # the lago fixture builds the repository
    if template in templates:
        return None
    return (
        f"template {template} is not in {LOCAL_REPO}: build it with "
        f"'bash scripts/build-templates.sh --repo-dir {LOCAL_REPO.parent} "
        f"--only {template}'"
    )
