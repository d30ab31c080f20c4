"""The benchmark's side effects: run the lago CLI, account CPU, watch qemus.

Imported by benchmark.py (same folder); no measurement logic of its own.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event, Lock, Thread

NOT_RUNNING = 'is not "running"'  # lago shell's message for a VM that is down
CLK_TCK = os.sysconf("SC_CLK_TCK")


class StepFailed(Exception):
    def __init__(self, step: str, vms: int, detail: str) -> None:
        super().__init__(f"step {step} failed with {vms} VM(s): {detail}")
        self.step = step


def vm_names(count: int) -> list[str]:
    return [f"vm{i:02d}" for i in range(1, count + 1)]


def check_hostname(vm: str, out: str) -> str | None:
    """Why ``out`` is not ``vm``'s own hostname, or None when it is."""
    got = out.strip()
    return None if got == vm else f"{vm} answered hostname {got!r}"


def children_cpu() -> float:
    """CPU-seconds of every finished child process so far (the lago CLIs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_sandbox() -> bool:
    """True when this process may reach VMs under the network rule."""
    if os.environ.get("LAGO_USE_HOST_LIBVIRT") == "1":
        return True
    netns = Path("/run/netns", os.environ.get("LAGO_NETNS", "lago-sandbox"))
    try:
        return netns.stat().st_ino == Path("/proc/self/ns/net").stat().st_ino
    except OSError:
        return False


def qemu_cpu(needle: bytes = b"") -> dict[int, float]:
    """CPU-seconds of each running qemu whose command line holds ``needle``."""
    found: dict[int, float] = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if not comm.read_text().startswith("qemu-system"):
                continue
            if needle and needle not in (comm.parent / "cmdline").read_bytes():
                continue
            stat = (comm.parent / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(comm.parent.name)] = (int(stat[11]) + int(stat[12])) / CLK_TCK
    return found


def count_qemus() -> int:
    """Running qemu processes: others' VMs disturb the timings."""
    return len(qemu_cpu())


@dataclass
class QemuSampler:
    """The latest CPU-seconds of every qemu of one environment, sampled."""

    needle: bytes = b""
    latest: dict[int, float] = field(default_factory=dict)
    most: int = 0  # the most qemu processes (anyone's) seen at once
    lock: Lock = field(default_factory=Lock)

    def sample(self) -> None:
        everyone = qemu_cpu()
        ours = qemu_cpu(self.needle) if self.needle else {}
        with self.lock:
            self.latest.update(ours)
            self.most = max(self.most, len(everyone))

    def total(self) -> float:
        """CPU-seconds of the environment's qemus, gone ones included."""
        self.sample()
        with self.lock:
            return sum(self.latest.values())


@contextlib.contextmanager
def sampling(sampler: QemuSampler, every: float = 0.5) -> Iterator[None]:
    done = Event()

    def loop() -> None:
        while not done.wait(every):
            sampler.sample()

    thread = Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Cleanup must finish even when Ctrl-C is pressed again."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@dataclass
class Lago:
    """Runs the real ``lago`` CLI in a workdir and times it."""

    cwd: Path
    vms: int
    timeout: float
    ssh_timeout: float
    stop: Event = field(default_factory=Event)
    procs: set[subprocess.Popen[str]] = field(default_factory=set)
    #: CLOCK_BOOTTIME when each VM answered in the last until_all_answer
    answered_at: dict[str, float] = field(default_factory=dict)
    runs: int = 0  # lago processes started so far
    #: environment of the lago processes (None: this process's)
    env: dict[str, str] | None = None

    def command(self, args: Sequence[str]) -> list[str]:
        exe = Path(sys.executable).with_name("lago")
        base = [str(exe)] if exe.exists() else [sys.executable, "-m", "lago.cmd"]
        return [*base, *args]

    def run(
        self, step: str, args: Sequence[str], timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = self.command(args)
        proc = subprocess.Popen(
            cmd, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=self.env,
        )  # fmt: skip
        self.procs.add(proc)
        self.runs += 1
        try:
            out, err = proc.communicate(timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired as exc:
            detail = f"lago {' '.join(args)} timed out after {exc.timeout:.0f} s"
            raise StepFailed(step, self.vms, detail) from exc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.procs.discard(proc)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def kill_all(self) -> None:
        """End the commands still running (Ctrl-C, or a VM that failed)."""
        self.stop.set()
        for proc in list(self.procs):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def timed(self, step: str, args: Sequence[str]) -> float:
        begin = time.monotonic()
        proc = self.run(step, args)
        seconds = time.monotonic() - begin
        if proc.returncode:
            detail = f"lago {' '.join(args)} exited {proc.returncode}"
            raise StepFailed(step, self.vms, f"{detail}\n{proc.stderr[-4000:]}")
        return seconds

    def answer_time(self, step: str, vm: str, begin: float) -> float:
        """Seconds from ``begin`` until ``vm`` answers its own hostname."""
        last = ""
        while not self.stop.is_set():
            left = begin + self.ssh_timeout - time.monotonic()
            if left <= 0:
                detail = f"{vm} did not answer in {self.ssh_timeout:.0f} s:\n{last}"
                raise StepFailed(step, self.vms, detail)
            proc = self.run(step, ["shell", vm, "hostname"], timeout=left)
            if proc.returncode == 0:
                self.answered_at[vm] = time.clock_gettime(time.CLOCK_BOOTTIME)
                problem = check_hostname(vm, proc.stdout)
                if problem:
                    raise StepFailed(step, self.vms, problem)
                return time.monotonic() - begin
            last = f"exit {proc.returncode}: {proc.stderr[-2000:]}"
            if NOT_RUNNING in proc.stderr:  # polling will not bring it back
                raise StepFailed(step, self.vms, last)
            self.stop.wait(1.0)
        raise StepFailed(step, self.vms, f"{vm}: interrupted")

    def until_all_answer(self, step: str) -> dict[str, float]:
        """Poll every VM in parallel; each VM's answer time."""
        names = vm_names(self.vms)
        self.answered_at.clear()
        begin = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = {
                vm: pool.submit(self.answer_time, step, vm, begin) for vm in names
            }
            try:
                return {vm: future.result() for vm, future in futures.items()}
            except BaseException:
                self.kill_all()  # the others stop polling when one failed
                raise
