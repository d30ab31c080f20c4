#!/usr/bin/env python3
"""Time Lago's CLI on real VMs, for 1, 3 and 10 VMs by default.

Run it inside the project's sandbox namespace (``make bench``, or
``bash scripts/sandbox.sh exec .venv/bin/python scripts/benchmark.py``).
For each VM count it makes a fresh workdir under /var/tmp/lago-bench and
runs the steps of :data:`STEPS` (init, start, the wait until every VM answers
``lago shell VM hostname``, stop, ``start --wait-for-ssh``, status, destroy).
Each step records its wall time, the CPU-seconds of the lago processes it ran
and those of the environment's qemu processes. While VMs boot it also
probes each guest (see boot_timeline.py): the guest boot time (qemu start to
port 22 open) and lago's own overhead on top of it (port 22 open until the
last VM answered). The original Lago's figures appear only as a labelled
reference row with the date they were measured; nothing is judged against
them. Raw numbers go to bench-results/<timestamp>.json. It measures, it does
not assert: a failing step exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runner import (
    Lago,
    QemuSampler,
    StepFailed,
    check_hostname,
    children_cpu,
    count_qemus,
    in_sandbox,
    sampling,
    signals_ignored,
    vm_names,
)
from boot_timeline import VMTimeline, Watch, vm_infos

__all__ = ["Lago", "StepFailed", "check_hostname", "vm_names"]

ROOT = Path(__file__).resolve().parents[1]
WORK_BASE = Path("/var/tmp/lago-bench")
LOCAL_REPO = Path("/var/lib/lago/repos/lago-local/repo.metadata")
DEFAULT_STORE = Path("/var/lib/lago/store")
SEEDLESS_REPO_NAME = "bench-seedless"


@dataclass(frozen=True)
class Step:
    """One measured step: a lago command line, or a custom measurement."""

    key: str
    label: str
    args: tuple[str, ...] = ()  # empty: measured by CUSTOM_STEPS[key]


# in order; add a step here to measure it
STEPS: list[Step] = [
    Step("init", "init"),
    Step("start", "start"),
    Step("until_ssh", "then until all answer"),
    Step("stop", "stop", ("stop",)),
    # export refuses running VMs: measured while they are stopped
    Step("export", "export -d exported", ("export", "--dst-dir", "exported")),
    Step("start_wait", "start --wait-for-ssh"),
    Step("shell_all", "shell, SSH up"),
    Step("status", "status", ("status",)),
    Step("snapshot", "snapshot (VMs up)", ("snapshot", "bench")),
    Step("revert", "revert (VMs up, started again)", ("revert", "bench")),
    Step("destroy", "destroy -y", ("destroy", "-y")),
]
# on a remote libvirt host (--remote): the disks go to its storage pools
REMOTE_STEPS: list[Step] = [
    Step("init", "init"),
    Step("start", "start"),
    Step("until_ssh", "then until all answer"),
    Step("destroy", "destroy -y", ("destroy", "-y")),
]
REMOTE_ENV = Path("/run/lago-remote/env")
# derived figures, shown after the steps
DERIVED: list[tuple[str, str]] = [
    ("start_to_ssh", "start -> all answer"),
    ("guest_boot", "guest boot (qemu -> port 22)"),
    ("lago_overhead", "lago overhead (port 22 -> answered)"),
    ("shell_cpu", "CPU-s per waiting shell"),
]


@dataclass(frozen=True)
class Reference:
    """The original Lago's figures from another run: shown, never compared."""

    label: str
    steps: dict[str, str]


ORIGINAL = Reference(
    "original Lago N=3, measured 2026-12-01 (reference, not this run)",
    {"init": "64-86", "start_to_ssh": "14.4-17.5", "destroy": "7.1-7.4"},
)


@dataclass
class RunResult:
    vms: int
    steps: dict[str, float] = field(default_factory=dict)  # wall seconds
    lago_cpu: dict[str, float] = field(default_factory=dict)
    guest_cpu: dict[str, float] = field(default_factory=dict)
    ssh_by_vm: dict[str, float] = field(default_factory=dict)
    boot: list[VMTimeline] = field(default_factory=list)
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


def init_file_text(
    count: int, memory: int, template: str = "tiny", vcpu: int = 1
) -> str:
    """A LagoInitFile: ``count`` VMs of ``template`` on one NAT network."""
    disk = [f"      - template_name: {template}", "        type: template"]
    disk += ["        name: root", "        dev: vda", "        format: qcow2"]
    lines = ["domains:"]
    for name in vm_names(count):
        lines += [f"  {name}:", f"    memory: {memory}", f"    vcpu: {vcpu}"]
        lines += ["    nics:", "      - net: lago", "    disks:", *disk]
    lines += ["nets:", "  lago:", "    type: nat", "    management: true"]
    lines += ["    dhcp: {start: 100, end: 254}"]
    return "\n".join(lines) + "\n"


def _medians(group: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = {key for d in group for key in d}
    return {k: statistics.median(d[k] for d in group if k in d) for k in keys}


def summarize(runs: Sequence[RunResult]) -> list[RunResult]:
    """One result per VM count: each figure's median over the repeats."""
    summary = []
    for vms in sorted({r.vms for r in runs}):
        group = [r for r in runs if r.vms == vms]
        errors = [r.error for r in group if r.error]
        summary.append(RunResult(
            vms, _medians([r.steps for r in group]),
            lago_cpu=_medians([r.lago_cpu for r in group]),
            guest_cpu=_medians([r.guest_cpu for r in group]),
            error=errors[0] if errors else None,
            qemus_before=max(r.qemus_before for r in group),
            qemus_max=max(r.qemus_max for r in group),
        ))  # fmt: skip
    return summary


def _cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = [head, ["---"] * len(head), *rows]
    return ["| " + " | ".join(row) + " |" for row in lines]


def format_table(
    runs: Sequence[RunResult],
    warmup: Warmup | None,
    steps: Sequence[Step] = tuple(STEPS),
    title: str = "wall seconds",
) -> str:
    """Wall seconds per run, the reference row, then CPU-seconds per run."""
    keys = [s.key for s in steps] + [k for k, _ in DERIVED]
    labels = [s.label for s in steps] + [label for _, label in DERIVED]
    rows = [[f"N={r.vms}", *(_cell(r.steps.get(k)) for k in keys)] for r in runs]
    rows.append([ORIGINAL.label, *(ORIGINAL.steps.get(k, "") for k in keys)])
    lines = [title, "", *_table(["run", *labels], rows)]
    step_keys = [s.key for s in steps]
    cpu_rows = []
    for r in runs:
        cpu_rows.append(
            [f"N={r.vms} lago", *(_cell(r.lago_cpu.get(k)) for k in step_keys)]
        )
        cpu_rows.append(
            [f"N={r.vms} guests", *(_cell(r.guest_cpu.get(k)) for k in step_keys)]
        )
    lines += ["", "CPU-seconds (lago processes; the environment's qemus)", ""]
    lines += _table(["run", *(s.label for s in steps)], cpu_rows)
    if warmup:
        state = "copied into the store" if warmup.copied else "already in the store"
        lines.append(f"\nwarm-up init (1 VM, template {state}): {warmup.seconds:.1f} s")
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
    add(
        "--vcpu",
        type=int,
        default=1,
        help="vCPUs per VM (default 1; Lago's own default is 2)",
    )
    add("--repeat", type=int, default=1,
        help="runs per VM count; the table shows the medians")  # fmt: skip
    add("--keep-going", action="store_true",
        help="after a failed step, clean up and measure the next count")  # fmt: skip
    add("--template-repo-path", type=Path, default=LOCAL_REPO,
        help=f"local repository file (default {LOCAL_REPO})")  # fmt: skip
    add("--template", default="tiny", help="template of every VM (default tiny)")
    add("--seedless", action="store_true",
        help="use a copy of the template without its NoCloud seed, so that "
        "init bootstraps the disks as for any other image")  # fmt: skip
    add("--template-store", type=Path, default=DEFAULT_STORE,
        help=f"template store (default {DEFAULT_STORE})")  # fmt: skip
    add("--fresh-store", action="store_true",
        help="use an empty temporary store, to time the template copy")  # fmt: skip
    add("--step-timeout", type=float, default=1800.0, help="seconds per step")
    add("--ssh-timeout", type=float, default=600.0,
        help="seconds for every VM to answer `lago shell VM hostname`")  # fmt: skip
    add("--results-dir", type=Path, default=ROOT / "bench-results")
    add("--remote", nargs="?", const="auto", metavar="URL",
        help="also measure init/start/until SSH/destroy on the libvirt host at "
        "URL (default: the sandbox's remote host, scripts/sandbox.sh start "
        "--remote)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.remote == "auto":
        args.remote = remote_url()
        if not args.remote:
            parser.error(
                f"--remote: no remote host runs ({REMOTE_ENV} is missing): "
                "run bash scripts/sandbox.sh start --remote, or give its URL"
            )
    if min(*args.vms, args.repeat, args.vcpu) < 1 or args.memory < 64:
        parser.error("--vms, --repeat and --vcpu must be >= 1, --memory >= 64")
    if not args.template_repo_path.is_file():
        parser.error(
            f"template repo {args.template_repo_path} is missing: "
            "run bash scripts/build-templates.sh"
        )
    return args


def remote_url(env_file: Path = REMOTE_ENV) -> str | None:
    """The SSH URL (with its key, which the guests are reached through) of
    the sandbox's remote libvirt host, if it runs."""
    try:
        lines = env_file.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition("=")
        if name == "LAGO_REMOTE_SSH_URL":
            return value.strip().strip("'\"")
    return None


def seedless_repo(repo_file: Path, template: str, folder: Path) -> Path:
    """A repository in ``folder`` whose ``template`` has no NoCloud seed.

    Same image (linked), own repository name, so the store keeps it apart.
    """
    repo = json.loads(repo_file.read_text())
    root = Path(repo["sources"]["local"]["args"]["root"])
    versions = repo["templates"][template]["versions"]
    for version in versions.values():
        handle = version["handle"]
        (folder / handle).symlink_to(root / handle)
        shutil.copy(root / f"{handle}.hash", folder / f"{handle}.hash")
        meta = json.loads((root / f"{handle}.metadata").read_text())
        meta.pop("seed", None)
        (folder / f"{handle}.metadata").write_text(json.dumps(meta, indent=4))
    repo["name"] = SEEDLESS_REPO_NAME
    repo["sources"]["local"]["args"]["root"] = str(folder)
    repo["templates"] = {template: {"versions": versions}}
    out = folder / "repo.metadata"
    out.write_text(json.dumps(repo, indent=4))
    return out


def _init_args(repo: Path, store: Path) -> list[str]:
    return ["init", "--template-repo-path", str(repo), "--template-store", str(store)]


@dataclass
class Context:
    """What the steps of one run share."""

    lago: Lago
    result: RunResult
    repo: Path
    store: Path
    sampler: QemuSampler
    pool: ThreadPoolExecutor
    probes: list[Future[VMTimeline]] = field(default_factory=list)
    probe_timeout: float = 600.0
    #: the guests run on another host: their ports are not probed from here
    remote: bool = False


def _start_probes(ctx: Context) -> None:
    """Watch every guest boot (qemu start, port 22) while the step runs."""
    infos = vm_infos(ctx.lago.cwd)
    watches = [Watch(i, ctx.lago.cwd, shell=False, poll=0.2) for i in infos]
    ctx.probes = [ctx.pool.submit(w.run, ctx.probe_timeout) for w in watches]


def _port22_times(ctx: Context) -> list[tuple[float, float]]:
    """(qemu start, port 22 open) in CLOCK_BOOTTIME seconds, per VM."""
    stamps = []
    for future in ctx.probes:
        timeline = future.result()
        ctx.result.boot.append(timeline)
        port = timeline.events.get("port22")
        if port is not None:
            stamps.append((timeline.qemu_start, timeline.qemu_start + port.wall))
    return stamps


def _init(ctx: Context) -> float:
    seconds = ctx.lago.timed("init", _init_args(ctx.repo, ctx.store))
    uuid = (ctx.lago.cwd / ".lago" / "current" / "uuid").read_text().strip()
    ctx.sampler.needle = f"guest={uuid[:8]}-".encode()
    return seconds


def _start(ctx: Context) -> float:
    if not ctx.remote:
        _start_probes(ctx)
    return ctx.lago.timed("start", ["start"])


def _until_ssh(ctx: Context) -> float:
    runs = ctx.lago.runs
    ctx.result.ssh_by_vm = ctx.lago.until_all_answer("until_ssh")
    shells = ctx.lago.runs - runs
    ports = _port22_times(ctx)
    derived = ctx.result.steps
    if ports and len(ports) == ctx.lago.vms:
        derived["guest_boot"] = max(port - began for began, port in ports)
        last_answer = max(ctx.lago.answered_at.values())
        derived["lago_overhead"] = last_answer - max(port for _, port in ports)
    ctx.result.steps["shell_count"] = shells
    return max(ctx.result.ssh_by_vm.values())


def _start_wait(ctx: Context) -> float:
    _start_probes(ctx)
    seconds = ctx.lago.timed("start_wait", ["start", "--wait-for-ssh"])
    returned = time.clock_gettime(time.CLOCK_BOOTTIME)
    ports = _port22_times(ctx)
    if ports and len(ports) == ctx.lago.vms:
        ctx.result.steps["wait_overhead"] = returned - max(p for _, p in ports)
    return seconds


def _shell_all(ctx: Context) -> float:
    return max(ctx.lago.until_all_answer("shell_all").values())


CUSTOM_STEPS: dict[str, Callable[[Context], float]] = {
    "init": _init,
    "start": _start,
    "until_ssh": _until_ssh,
    "start_wait": _start_wait,
    "shell_all": _shell_all,
}


def run_step(ctx: Context, step: Step) -> None:
    """Run ``step``; record its wall time and the CPU it cost."""
    cpu, guests = children_cpu(), ctx.sampler.total()
    if step.args:
        seconds = ctx.lago.timed(step.key, step.args)
    else:
        seconds = CUSTOM_STEPS[step.key](ctx)
    result = ctx.result
    result.lago_cpu[step.key] = children_cpu() - cpu
    result.guest_cpu[step.key] = ctx.sampler.total() - guests
    result.steps[step.key] = seconds
    print(f"  N={result.vms} {step.key}: {seconds:.1f} s, lago "
          f"{result.lago_cpu[step.key]:.1f} CPU-s, guests "
          f"{result.guest_cpu[step.key]:.1f} CPU-s", flush=True)  # fmt: skip


def derive(result: RunResult) -> None:
    """The figures computed from the steps."""
    steps = result.steps
    if "start" in steps and "until_ssh" in steps:
        steps["start_to_ssh"] = steps["start"] + steps["until_ssh"]
    shells = steps.pop("shell_count", 0)
    if shells and "until_ssh" in result.lago_cpu:
        steps["shell_cpu"] = result.lago_cpu["until_ssh"] / shells


def run_steps(ctx: Context, steps: Sequence[Step] = tuple(STEPS)) -> None:
    try:
        for step in steps:
            run_step(ctx, step)
    finally:
        derive(ctx.result)


def remote_steps(ctx: Context) -> None:
    run_steps(ctx, REMOTE_STEPS)


def warmup_steps(ctx: Context) -> None:
    run_steps(ctx, [STEPS[0], Step("destroy", "destroy -y", ("destroy", "-y"))])


def measure(
    vms: int,
    args: argparse.Namespace,
    repo: Path,
    store: Path,
    steps: Callable[[Context], None] = run_steps,
    *,
    remote: str | None = None,
) -> RunResult:
    result = RunResult(vms, loadavg_before=list(os.getloadavg()))
    result.qemus_before = count_qemus()
    cwd = Path(tempfile.mkdtemp(prefix=f"n{vms}-", dir=WORK_BASE))
    cwd.chmod(0o755)
    (cwd / "LagoInitFile").write_text(
        init_file_text(vms, args.memory, args.template, args.vcpu)
    )
    env = {**os.environ, "LAGO_LIBVIRT_URL": remote} if remote else None
    lago = Lago(cwd, vms, args.step_timeout, args.ssh_timeout, env=env)
    sampler = QemuSampler()
    try:
        with ThreadPoolExecutor(max_workers=vms + 1) as pool, sampling(sampler):
            ctx = Context(lago, result, repo, store, sampler, pool)
            ctx.probe_timeout = args.ssh_timeout
            ctx.remote = remote is not None
            try:
                steps(ctx)
            finally:
                lago.kill_all()
                for future in ctx.probes:
                    future.cancel()
    except StepFailed as err:
        result.error = str(err)
    finally:
        result.qemus_max = sampler.most
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


def warm_up(args: argparse.Namespace, repo: Path, store: Path) -> Warmup:
    before = _store_state(store)
    run = measure(1, args, repo, store, steps=warmup_steps)
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
    repo = args.template_repo_path
    if args.seedless:
        folder = Path(tempfile.mkdtemp(prefix="seedless-", dir=WORK_BASE))
        folder.chmod(0o755)
        repo = seedless_repo(repo, args.template, folder)
    started = datetime.now(UTC)
    runs: list[RunResult] = []
    remote_runs: list[RunResult] = []
    warmup: Warmup | None = None
    interrupted = False
    try:
        print(f"warm-up (1 VM); {count_qemus()} qemu processes already run", flush=True)
        warmup = warm_up(args, repo, store)
        for vms, attempt in [(n, i) for n in args.vms for i in range(args.repeat)]:
            print(f"measuring {vms} VM(s), run {attempt + 1}...", flush=True)
            runs.append(measure(vms, args, repo, store))
            if runs[-1].error and not args.keep_going:
                break
        for vms, attempt in [(n, i) for n in args.vms for i in range(args.repeat)]:
            failed = any(r.error for r in [*runs, *remote_runs])
            if not args.remote or (failed and not args.keep_going):
                break
            print(f"measuring {vms} VM(s) on {args.remote}, run {attempt + 1}...")
            remote_runs.append(
                measure(vms, args, repo, store, steps=remote_steps, remote=args.remote)
            )
    except StepFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        interrupted = True
    finally:
        if args.fresh_store:
            shutil.rmtree(store, ignore_errors=True)
        if args.seedless:
            shutil.rmtree(repo.parent, ignore_errors=True)
    report(args, started, warmup, runs, remote_runs)
    if interrupted:
        return 130
    return 1 if any(r.error for r in [*runs, *remote_runs]) else 0


def report(
    args: argparse.Namespace, started: datetime, warmup: Warmup | None,
    runs: list[RunResult], remote_runs: Sequence[RunResult] = (),
) -> None:  # fmt: skip
    summary = summarize(runs)
    print(format_table(summary, warmup))
    if remote_runs:
        title = f"wall seconds on the remote host {args.remote}"
        print()
        print(format_table(summarize(remote_runs), None, REMOTE_STEPS, title))
    data = {
        "started": started.isoformat(),
        "loadavg_after": list(os.getloadavg()),
        "nproc": os.cpu_count(),
        "args": json.loads(json.dumps(vars(args), default=str)),
        "warmup": asdict(warmup) if warmup else None,
        "runs": [asdict(r) for r in runs],
        "medians": [asdict(r) for r in summary],
        "remote_runs": [asdict(r) for r in remote_runs],
        "reference": asdict(ORIGINAL),
    }
    print(f"raw results: {write_results(args.results_dir, data, started)}")
    for run in [*runs, *remote_runs]:
        if run.error:
            print(f"error: {run.error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
