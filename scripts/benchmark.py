#!/usr/bin/env python3
"""Time Lago's CLI on real VMs, for 1, 3 and 10 VMs by default.

Run it inside the project's sandbox namespace (``make bench``, or
``bash scripts/sandbox.sh exec .venv/bin/python scripts/benchmark.py``).
For each VM count it makes a fresh workdir under /var/tmp/lago-bench and
times init, start, the wait until every VM answers ``lago shell VM hostname``,
stop, a second ``start --wait-for-ssh``, status and the destroy of the running
VMs (as in the original's figure). It prints a table next to the original's
figures and the project's targets and writes the raw numbers to
bench-results/<timestamp>.json. It measures, it does not assert: a missed
target still exits 0; a failing step exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from threading import Event, Thread

ROOT = Path(__file__).resolve().parents[1]
WORK_BASE = Path("/var/tmp/lago-bench")
LOCAL_REPO = Path("/var/lib/lago/repos/lago-local/repo.metadata")
DEFAULT_STORE = Path("/var/lib/lago/store")
TARGET_VMS = 3
NOT_RUNNING = 'is not "running"'  # lago shell's message for a VM that is down
# (key, label, original Lago's seconds for 3 VMs, measured on the reference machine)
STEPS: list[tuple[str, str, float | None]] = [
    ("init", "init (with bootstrap)", 63.0),
    ("start", "start", 2.0),
    ("until_ssh", "then until all answer `shell`", 14.7),
    ("start_to_ssh", "start + until SSH", 16.7),
    ("stop", "stop (VMs up)", None),
    ("start_wait", "start --wait-for-ssh", None),
    ("shell_all", "shell hostname, SSH up", None),
    ("status", "status", None),
    ("snapshot", "snapshot (VMs up)", None),
    ("revert", "revert (VMs up, started again)", None),
    ("revert_to_ssh", "revert + until SSH", None),
    ("destroy", "destroy -y (VMs up)", 7.3),
]


@dataclass(frozen=True)
class Target:
    step: str
    limit: float
    strict: bool  # True: measured < limit; False: measured <= limit

    def text(self) -> str:
        return f"{'<' if self.strict else '<='} {self.limit:.1f}"

    def met(self, seconds: float) -> bool:
        return seconds < self.limit if self.strict else seconds <= self.limit


TARGETS = [
    Target("init", 63.0 / 4, strict=False),
    Target("start_to_ssh", 16.7, strict=True),
    Target("start_wait", 16.7, strict=True),
    Target("destroy", 7.3 / 2, strict=False),
]


@dataclass
class RunResult:
    vms: int
    steps: dict[str, float] = field(default_factory=dict)
    ssh_by_vm: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    loadavg_before: list[float] = field(default_factory=list)
    qemus_before: int = 0  # others' VMs disturb the timings
    qemus_max: int = 0  # the most qemu processes seen while measuring

    @property
    def foreign_qemus(self) -> int:
        return max(self.qemus_before, self.qemus_max - self.vms, 0)


@dataclass
class Warmup:
    seconds: float
    copied: bool


class StepFailed(Exception):
    def __init__(self, step: str, vms: int, detail: str) -> None:
        super().__init__(f"step {step} failed with {vms} VM(s): {detail}")
        self.step = step


def vm_names(count: int) -> list[str]:
    return [f"vm{i:02d}" for i in range(1, count + 1)]


def init_file_text(count: int, memory: int) -> str:
    """A LagoInitFile: ``count`` tiny VMs on one NAT management network."""
    disk = ["      - template_name: tiny", "        type: template"]
    disk += ["        name: root", "        dev: vda", "        format: qcow2"]
    lines = ["domains:"]
    for name in vm_names(count):
        lines += [f"  {name}:", f"    memory: {memory}", "    vcpu: 1"]
        lines += ["    nics:", "      - net: lago", "    disks:", *disk]
    lines += ["nets:", "  lago:", "    type: nat", "    management: true"]
    lines += ["    dhcp: {start: 100, end: 254}"]
    return "\n".join(lines) + "\n"


def check_hostname(vm: str, out: str) -> str | None:
    """Why ``out`` is not ``vm``'s own hostname, or None when it is."""
    got = out.strip()
    return None if got == vm else f"{vm} answered hostname {got!r}"


def summarize(runs: Sequence[RunResult]) -> list[RunResult]:
    """One result per VM count: each step's median over the repeats."""
    counts = sorted({r.vms for r in runs})
    summary = []
    for vms in counts:
        group = [r for r in runs if r.vms == vms]
        keys = {key for r in group for key in r.steps}
        steps = {
            k: statistics.median(r.steps[k] for r in group if k in r.steps)
            for k in keys
        }
        errors = [r.error for r in group if r.error]
        summary.append(RunResult(
            vms, steps, error=errors[0] if errors else None,
            qemus_before=max(r.qemus_before for r in group),
            qemus_max=max(r.qemus_max for r in group),
        ))  # fmt: skip
    return summary


def evaluate(runs: Sequence[RunResult]) -> dict[str, bool | None]:
    """Each target's verdict on the 3-VM run (None: not measured)."""
    run = next((r for r in runs if r.vms == TARGET_VMS), None)
    verdicts: dict[str, bool | None] = {}
    for target in TARGETS:
        seconds = run.steps.get(target.step) if run else None
        verdicts[target.step] = None if seconds is None else target.met(seconds)
    return verdicts


def _cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def format_table(runs: Sequence[RunResult], warmup: Warmup | None) -> str:
    targets = {t.step: t for t in TARGETS}
    verdicts = evaluate(runs)
    head = ["step", *(f"N={r.vms}" for r in runs), "original N=3", "target N=3", "met"]
    rows = [head, ["---"] * len(head)]
    for key, label, original in STEPS:
        target = targets.get(key)
        verdict = {True: "yes", False: "NO", None: "n/a"}[verdicts.get(key)]
        rows.append([
            label, *(_cell(r.steps.get(key)) for r in runs),
            "crashes" if key == "status" else _cell(original),
            target.text() if target else "", verdict if target else "",
        ])  # fmt: skip
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    if warmup:
        state = "copied into the store" if warmup.copied else "already in the store"
        lines.append(
            f"\nwarm-up init (1 VM, template {state}): {warmup.seconds:.1f} s"
            " (original, 3 VMs, with the template copy into store: 73 s)"
        )
    lines += [f"N={r.vms}: {r.error}" for r in runs if r.error]
    lines += [
        f"N={r.vms}: disturbed: up to {r.foreign_qemus} qemu process(es) of others ran"
        for r in runs
        if r.foreign_qemus
    ]
    return "\n".join(lines)


def write_results(folder: Path, data: dict, now: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--vms", type=int, nargs="+", default=[1, 3, 10],
        help="VM counts to measure (default: 1 3 10)")  # fmt: skip
    add("--memory", type=int, default=256, help="MiB per VM (default 256)")
    add("--repeat", type=int, default=1,
        help="runs per VM count; the table shows the medians")  # fmt: skip
    add("--keep-going", action="store_true",
        help="after a failed step, clean up and measure the next count")  # fmt: skip
    add("--template-repo-path", type=Path, default=LOCAL_REPO,
        help=f"local repository file (default {LOCAL_REPO})")  # fmt: skip
    add("--template-store", type=Path, default=DEFAULT_STORE,
        help=f"template store (default {DEFAULT_STORE})")  # fmt: skip
    add("--fresh-store", action="store_true",
        help="use an empty temporary store, to time the template copy")  # fmt: skip
    add("--step-timeout", type=float, default=1800.0, help="seconds per step")
    add("--ssh-timeout", type=float, default=600.0,
        help="seconds for every VM to answer `lago shell VM hostname`")  # fmt: skip
    add("--results-dir", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    if min(*args.vms, args.repeat) < 1 or args.memory < 64:
        parser.error("--vms and --repeat must be >= 1, --memory >= 64")
    if not args.template_repo_path.is_file():
        parser.error(
            f"template repo {args.template_repo_path} is missing: "
            "run bash scripts/build-templates.sh"
        )
    return args


def in_sandbox() -> bool:
    """True when this process may reach VMs under the network rule."""
    if os.environ.get("LAGO_USE_HOST_LIBVIRT") == "1":
        return True
    netns = Path("/run/netns", os.environ.get("LAGO_NETNS", "lago-sandbox"))
    try:
        return netns.stat().st_ino == Path("/proc/self/ns/net").stat().st_ino
    except OSError:
        return False


def count_qemus() -> int:
    """Running qemu processes: others' VMs disturb the timings."""
    count = 0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            count += comm.read_text().startswith("qemu-system")
    return count


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
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.add(proc)
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


def _init_args(repo: Path, store: Path) -> list[str]:
    return ["init", "--template-repo-path", str(repo), "--template-store", str(store)]


def _record(result: RunResult, key: str, seconds: float) -> None:
    result.steps[key] = seconds
    print(f"  N={result.vms} {key}: {seconds:.1f} s", flush=True)


def run_steps(lago: Lago, result: RunResult, repo: Path, store: Path) -> None:
    _record(result, "init", lago.timed("init", _init_args(repo, store)))
    _record(result, "start", lago.timed("start", ["start"]))
    result.ssh_by_vm = lago.until_all_answer("until_ssh")
    _record(result, "until_ssh", max(result.ssh_by_vm.values()))
    _record(result, "start_to_ssh", result.steps["start"] + result.steps["until_ssh"])
    _record(result, "stop", lago.timed("stop", ["stop"]))
    wait = lago.timed("start_wait", ["start", "--wait-for-ssh"])
    _record(result, "start_wait", wait)
    _record(result, "shell_all", max(lago.until_all_answer("shell_all").values()))
    _record(result, "status", lago.timed("status", ["status"]))
    _record(result, "snapshot", lago.timed("snapshot", ["snapshot", "bench"]))
    _record(result, "revert", lago.timed("revert", ["revert", "bench"]))
    back = max(lago.until_all_answer("revert_to_ssh").values())
    _record(result, "revert_to_ssh", result.steps["revert"] + back)
    # destroy what runs, as the original's 7.3 s did
    _record(result, "destroy", lago.timed("destroy", ["destroy", "-y"]))


def warmup_steps(lago: Lago, result: RunResult, repo: Path, store: Path) -> None:
    _record(result, "init", lago.timed("init", _init_args(repo, store)))
    _record(result, "destroy", lago.timed("destroy", ["destroy", "-y"]))


Steps = Callable[[Lago, RunResult, Path, Path], None]


@contextlib.contextmanager
def watching_qemus(result: RunResult) -> Iterator[None]:
    """Record the most qemu processes seen, to spot others' VMs."""
    done = Event()

    def sample() -> None:
        while not done.wait(1.0):
            result.qemus_max = max(result.qemus_max, count_qemus())

    thread = Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def measure(
    vms: int, args: argparse.Namespace, store: Path, steps: Steps = run_steps
) -> RunResult:
    result = RunResult(vms, loadavg_before=list(os.getloadavg()))
    result.qemus_before = result.qemus_max = count_qemus()
    cwd = Path(tempfile.mkdtemp(prefix=f"n{vms}-", dir=WORK_BASE))
    cwd.chmod(0o755)
    (cwd / "LagoInitFile").write_text(init_file_text(vms, args.memory))
    lago = Lago(cwd, vms, args.step_timeout, args.ssh_timeout)
    try:
        with watching_qemus(result):
            steps(lago, result, args.template_repo_path, store)
    except StepFailed as err:
        result.error = str(err)
    finally:
        lago.kill_all()
        with signals_ignored():
            clean_up(lago)
    return result


def clean_up(lago: Lago) -> None:
    """Destroy whatever the run left; keep the workdir when that fails."""
    if (lago.cwd / ".lago").exists():
        try:
            proc = lago.run("cleanup", ["destroy", "-y", "--all-prefixes"], 600)
            failure = proc.returncode and f"exit {proc.returncode}: {proc.stderr}"
        except StepFailed as err:
            failure = str(err)
        if failure:
            print(f"warning: cleanup of {lago.cwd} failed: {failure}", file=sys.stderr)
            return
    shutil.rmtree(lago.cwd, ignore_errors=True)


def _store_state(store: Path) -> list[tuple[str, float]]:
    files = (p for p in store.glob("*") if not p.name.endswith(".lock"))
    return sorted((p.name, p.stat().st_mtime) for p in files)


def warm_up(args: argparse.Namespace, store: Path) -> Warmup:
    before = _store_state(store)
    run = measure(1, args, store, steps=warmup_steps)
    if run.error:
        raise StepFailed("warm-up", 1, run.error)
    return Warmup(run.steps["init"], copied=_store_state(store) != before)


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not in_sandbox():
        print("error: not inside the sandbox namespace; run through "
              "bash scripts/sandbox.sh exec", file=sys.stderr)  # fmt: skip
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    WORK_BASE.mkdir(parents=True, exist_ok=True)
    WORK_BASE.chmod(0o755)  # qemu runs unprivileged and must reach the disks
    store = args.template_store
    if args.fresh_store:
        store = Path(tempfile.mkdtemp(prefix="store-", dir=WORK_BASE))
        store.chmod(0o755)
    store.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    runs: list[RunResult] = []
    warmup: Warmup | None = None
    interrupted = False
    try:
        print(f"warm-up (1 VM); {count_qemus()} qemu processes already run", flush=True)
        warmup = warm_up(args, store)
        for vms, attempt in [(n, i) for n in args.vms for i in range(args.repeat)]:
            print(f"measuring {vms} VM(s), run {attempt + 1}...", flush=True)
            runs.append(measure(vms, args, store))
            if runs[-1].error and not args.keep_going:
                break
    except StepFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        interrupted = True
    finally:
        if args.fresh_store:
            shutil.rmtree(store, ignore_errors=True)
    report(args, started, warmup, runs)
    if interrupted:
        return 130
    return 1 if any(r.error for r in runs) else 0


def report(
    args: argparse.Namespace, started: datetime, warmup: Warmup | None,
    runs: list[RunResult],
) -> None:  # fmt: skip
    summary = summarize(runs)
    print(format_table(summary, warmup))
    data = {
        "started": started.isoformat(),
        "nproc": os.cpu_count(),
        "args": json.loads(json.dumps(vars(args), default=str)),
        "warmup": asdict(warmup) if warmup else None,
        "runs": [asdict(r) for r in runs],
        "medians": [asdict(r) for r in summary],
        "targets": {t.step: {"limit": t.limit, "strict": t.strict} for t in TARGETS},
        "verdicts_n3": evaluate(summary),
    }
    print(f"raw results: {write_results(args.results_dir, data, started)}")
    for run in runs:
        if run.error:
            print(f"error: {run.error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
