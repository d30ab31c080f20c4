#!/usr/bin/env python3
"""Boot timeline of each VM of a Lago environment, from qemu start to SSH.

Run inside the sandbox namespace, in a workdir made by ``lago init``
(``bash scripts/sandbox.sh exec .venv/bin/python scripts/boot_timeline.py
--workdir DIR``). It runs ``lago start`` (unless ``--no-start``), then for
every VM stamps, in seconds since its qemu process started and in qemu's own
CPU-seconds so far (robust to other load on the machine):

- ``bootloader``: the boot loader's banner on the serial console (firmware done)
- ``kernel``: the boot loader has loaded the kernel and initrd
- ``init``: the first line of the template's init system on the console
- ``dhcp``: the VM's MAC shows up in the network's DHCP leases
- ``port22``: a TCP connect to port 22 succeeds
- ``answered``: ``lago shell VM true`` exits 0 (polled right after port22)
- ``ready``: the template's own readiness line on the console

Events the console does not show (a ``quiet`` kernel, another template) are
left out. It prints a table and, with ``--json``, writes the raw stamps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
LEASES = Path("/var/lib/libvirt/dnsmasq")
POLL = 0.05
SHELL_TIMEOUT = 120.0  # one `lago shell VM true`; it waits for SSH itself
READY_GRACE = 5.0  # seconds to wait for a ready line after SSH answers
# first console line of each stage, for the embedded templates and generic ones
MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("bootloader", re.compile(r"SYSLINUX|GRUB|ISOLINUX")),
    ("kernel", re.compile(r"Loading /boot/initrd\S*\s*\.*\s*ok|Linux version")),
    ("init", re.compile(r"lago-tiny: booting|Welcome to |systemd\[1\]|lago-seed")),
    ("ready", re.compile(r"lago-\w+: ready")),
]
EVENTS = ["bootloader", "kernel", "init", "dhcp", "port22", "answered", "ready"]


@dataclass
class Stamp:
    wall: float  # seconds since qemu started
    cpu: float  # qemu's CPU-seconds so far


@dataclass
class VMTimeline:
    vm: str
    events: dict[str, Stamp] = field(default_factory=dict)
    error: str | None = None
    qemu_start: float = 0.0  # CLOCK_BOOTTIME seconds


@dataclass(frozen=True)
class VMInfo:
    name: str
    domain: str  # libvirt name
    ip: str
    serial_log: Path


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def qemu_pid(domain: str) -> int | None:
    """The qemu process running libvirt domain ``domain``."""
    needle = f"guest={domain},".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if needle in cmdline.read_bytes():
                return int(cmdline.parent.name)
        except OSError:
            continue
    return None


def proc_times(pid: int) -> tuple[float, float]:
    """(start in CLOCK_BOOTTIME seconds, user+system CPU-seconds) of ``pid``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return int(fields[19]) / CLK_TCK, cpu


def mac_of(ip: str) -> str:
    return "54:52:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def leased(mac: str) -> bool:
    for status in LEASES.glob("*.status"):
        try:
            if mac in status.read_text():
                return True
        except OSError:
            continue
    return False


def port_open(ip: str, port: int = 22) -> bool:
    try:
        socket.create_connection((ip, port), 0.5).close()
    except OSError:
        return False
    return True


def lago_command(args: Sequence[str]) -> list[str]:
    exe = Path(sys.executable).with_name("lago")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "lago.cmd"]
    return [*base, *args]


class Watch:
    """Follows one VM from its qemu start until it answers over SSH."""

    def __init__(
        self, info: VMInfo, workdir: Path, shell: bool, poll: float = POLL
    ) -> None:
        self.info = info
        self.poll_every = poll
        self.workdir = workdir
        self.shell = shell
        self.timeline = VMTimeline(info.name)
        self.mac = mac_of(info.ip)
        self.pid: int | None = None
        self.start = 0.0
        self.offset = 0
        self.pending = ""

    def stamp(self, event: str) -> None:
        if event in self.timeline.events or self.pid is None:
            return
        try:
            cpu = proc_times(self.pid)[1]
        except OSError:
            cpu = float("nan")
        self.timeline.events[event] = Stamp(boottime() - self.start, cpu)

    def read_console(self) -> None:
        try:
            with self.info.serial_log.open("rb") as stream:
                stream.seek(self.offset)
                chunk = stream.read()
        except OSError:
            return
        self.offset += len(chunk)
        lines = (self.pending + chunk.decode("utf-8", "replace")).split("\n")
        self.pending = lines.pop()
        for line in [*lines, self.pending]:
            for event, pattern in MARKERS:
                if pattern.search(line):
                    self.stamp(event)

    def answered(self) -> bool:
        cmd = lago_command(["shell", self.info.name, "true"])
        try:
            proc = subprocess.run(
                cmd, cwd=self.workdir, capture_output=True, stdin=subprocess.DEVNULL,
                timeout=SHELL_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def poll(self) -> None:
        if self.pid is None:
            self.pid = qemu_pid(self.info.domain)
            if self.pid is not None:
                self.start = proc_times(self.pid)[0]
                self.timeline.qemu_start = self.start
            return
        self.read_console()
        events = self.timeline.events
        if "dhcp" not in events and leased(self.mac):
            self.stamp("dhcp")
        if "port22" not in events and port_open(self.info.ip):
            self.stamp("port22")
        want_answer = self.shell and "port22" in events and "answered" not in events
        if want_answer and self.answered():
            self.stamp("answered")

    def done(self) -> bool:
        """Reached SSH, and saw the ready line or gave it a few seconds."""
        last = "answered" if self.shell else "port22"
        reached = self.timeline.events.get(last)
        if reached is None:
            return False
        if "ready" in self.timeline.events:
            return True
        return boottime() - self.start > reached.wall + READY_GRACE

    def run(self, timeout: float) -> VMTimeline:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if self.done():
                return self.timeline
            time.sleep(self.poll_every)
        self.timeline.error = f"gave up after {timeout:.0f} s"
        return self.timeline


def vm_infos(workdir: Path) -> list[VMInfo]:
    """Name, libvirt name, address and serial log of each VM of the prefix."""
    prefix = (workdir / ".lago" / "current").resolve()
    uuid = (prefix / "uuid").read_text().strip()
    infos = []
    for spec_file in sorted((prefix / "virt").glob("vm-*")):
        spec = json.loads(spec_file.read_text())
        name = spec["name"]
        mgmt = spec.get("mgmt_net")
        nics = [n for n in spec.get("nics", []) if n.get("net") == mgmt] or spec["nics"]
        infos.append(VMInfo(
            name, f"{uuid[:8]}-{name}", nics[0]["ip"],
            prefix / "logs" / f"{name}.serial.log",
        ))  # fmt: skip
    return infos


def watch_all(
    workdir: Path, start: bool, timeout: float, shell: bool = True
) -> list[VMTimeline]:
    infos = vm_infos(workdir)
    watches = [Watch(info, workdir, shell) for info in infos]
    with ThreadPoolExecutor(max_workers=len(watches) + 1) as pool:
        futures = [pool.submit(w.run, timeout) for w in watches]
        if start:
            subprocess.run(lago_command(["start"]), cwd=workdir, check=True)
        return [f.result() for f in futures]


def format_timelines(timelines: Sequence[VMTimeline]) -> str:
    """A table: seconds since qemu start (qemu CPU-seconds) per event."""
    head = ["vm", *EVENTS]
    rows = [head, ["---"] * len(head)]
    for tl in timelines:
        cells = [tl.vm]
        for event in EVENTS:
            stamp = tl.events.get(event)
            cells.append(
                "-" if stamp is None else f"{stamp.wall:.1f} ({stamp.cpu:.1f})"
            )
        rows.append(cells)
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines += [f"{tl.vm}: {tl.error}" for tl in timelines if tl.error]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--no-start", action="store_true", help="VMs already start")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="write the stamps here")
    args = parser.parse_args(argv)
    timelines = watch_all(args.workdir, not args.no_start, args.timeout)
    print(format_timelines(timelines))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in timelines], indent=2))
    return 1 if any(t.error for t in timelines) else 0


if __name__ == "__main__":
    sys.exit(main())
