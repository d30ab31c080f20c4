"""``lago cleanup --orphans`` and the status warning, on real libvirt objects."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import (
    LIBVIRT_URL,
    LagoRunner,
    _leases_of,
    _purge_libvirt,
)
from .initfiles import write_tiny_env


def _libvirt_names() -> tuple[set[str], set[str]]:
    import libvirt

    def active(objects: list) -> set[str]:
        names = set()
        for obj in objects:
            try:
                if obj.isActive():
                    names.add(obj.name())
            except libvirt.libvirtError:  # gone since listed (other tests run)
                pass
        return names

    conn = libvirt.open(LIBVIRT_URL)
    try:
        return active(conn.listAllDomains()), active(conn.listAllNetworks())
    finally:
        conn.close()


def _created(name: str) -> bool:
    import libvirt

    conn = libvirt.open(LIBVIRT_URL)
    try:
        state, reason = conn.lookupByName(name).state()
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()
    starting = (
        state == libvirt.VIR_DOMAIN_PAUSED
        and reason == libvirt.VIR_DOMAIN_PAUSED_STARTING_UP
    )
    return (
        state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED)
        and not starting
    )


def _init(lago: LagoRunner, name: str) -> tuple[Path, str]:
    base = lago.cwd / name
    base.mkdir()
    write_tiny_env(base)
    workdir = base / ".lago"
    lago("init", str(workdir), str(base / "LagoInitFile"))
    return workdir, (workdir / "default" / "uuid").read_text()


def _kill_start_once_domain_runs(lago: LagoRunner, workdir: Path, uuid: str) -> None:
    # the domain is created paused and `start` sleeps before resuming it:
    # the kill lands while `start` is in the middle of its work
    env = {**lago.env, "LAGO__START__WAIT_SUSPEND": "30"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lago.cmd", "--workdir-path", str(workdir), "start"],
        cwd=lago.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        # created, and no longer starting up: killing the client during
        # createXML would make libvirt abort the start and remove the domain
        while not _created(f"{uuid[:8]}-vm01"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the domain never appeared"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert f"{uuid[:8]}-vm01" in _libvirt_names()[0], (
        "the killed start took its domain along"
    )


def test_orphans_of_a_killed_start_are_removed_and_nothing_else(lago: LagoRunner) -> None:  # fmt: skip
    lease_dir = Path(lago.env["LAGO_LEASE_DIR"])
    live_wd, live_uuid = _init(lago, "live")
    lago("--workdir-path", str(live_wd), "start")
    dead_wd, dead_uuid = _init(lago, "dead")
    try:
        _kill_start_once_domain_runs(lago, dead_wd, dead_uuid)
        # the crashed run's prefix is deleted by hand, as users do
        shutil.rmtree(dead_wd)
        listed = lago("cleanup", "--orphans").stdout
        lines = listed.splitlines()
        assert (
            f"domain   {dead_uuid[:8]}-vm01: its prefix {dead_wd}/default is gone"
            in lines
        )
        assert any(
            line.startswith(f"network  {dead_uuid[:4]}-lago: the lease of its subnet")
            and line.endswith(
                "is stale (" + str(dead_wd / "default" / "uuid") + " is gone)"
            )
            for line in lines
        ), listed
        assert any(
            line.startswith("lease    192.168.") and str(dead_wd) in line
            for line in lines
        ), listed
        assert live_uuid[:8] not in listed and live_uuid[:4] + "-" not in listed
        assert lines[-1].endswith("run `lago cleanup --orphans -y` to remove them")
        # listing removed nothing
        assert f"{dead_uuid[:8]}-vm01" in _libvirt_names()[0]

        removed = json.loads(lago("-f", "json", "cleanup", "--orphans", "-y").stdout)
        assert removed["removed"] is True
        kinds = {(o["kind"], o["name"]) for o in removed["orphans"]}
        assert ("domain", f"{dead_uuid[:8]}-vm01") in kinds
        assert ("network", f"{dead_uuid[:4]}-lago") in kinds

        domains, nets = _libvirt_names()
        assert f"{dead_uuid[:8]}-vm01" not in domains
        assert f"{dead_uuid[:4]}-lago" not in nets
        assert not _leases_of(lease_dir, [dead_uuid])
        # the live environment is untouched
        assert f"{live_uuid[:8]}-vm01" in domains
        assert f"{live_uuid[:4]}-lago" in nets
        assert _leases_of(lease_dir, [live_uuid])
        status = json.loads(
            lago("--workdir-path", str(live_wd), "-f", "json", "status").stdout
        )
        assert status["Prefix"]["VMs"]["vm01"]["status"] == "running"
        # nothing of ours is left to report
        again = lago("cleanup", "--orphans").stdout
        assert dead_uuid[:8] not in again and str(dead_wd) not in again
    finally:
        _purge_libvirt([dead_uuid])
        for lease in _leases_of(lease_dir, [dead_uuid]):
            lease.unlink()


def test_status_warns_about_objects_it_does_not_know(lago: LagoRunner) -> None:
    import libvirt

    workdir, uuid = _init(lago, "env")
    conn = libvirt.open(LIBVIRT_URL)
    try:
        xml = (
            f"<network><name>{uuid[:4]}-zz</name>"
            f"<bridge name='{uuid[:4]}-zz-nic'/></network>"
        )
        net = conn.networkCreateXML(xml)
        try:
            proc = lago("--workdir-path", str(workdir), "status")
            assert (
                f"libvirt object {uuid[:4]}-zz carries this environment's uuid"
                in proc.stderr
            )
            assert "-vm01 carries" not in proc.stderr
        finally:
            net.destroy()
    finally:
        conn.close()
