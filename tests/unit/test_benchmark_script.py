"""The benchmark script's pure parts: options, init file, verdicts, report."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("lago_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve annotations through sys.modules
    sys.modules["lago_benchmark"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["lago_benchmark"]


@pytest.fixture
def repo_file(tmp_path: Path) -> Path:
    path = tmp_path / "repo.metadata"
    path.write_text("{}")
    return path


def test_defaults(bench, repo_file: Path) -> None:
    args = bench.parse_args(["--template-repo-path", str(repo_file)])
    assert args.vms == [1, 3, 10]
    assert (args.memory, args.vcpu) == (256, 1)
    assert args.keep_going is False
    assert args.fresh_store is False
    assert args.template_store == Path("/var/lib/lago/store")
    assert (args.template, args.seedless) == ("tiny", False)


def test_options(bench, repo_file: Path) -> None:
    argv = ["--vms", "2", "5", "--memory", "512", "--keep-going"]
    args = bench.parse_args([*argv, "--template-repo-path", str(repo_file)])
    assert (args.vms, args.memory, args.keep_going) == ([2, 5], 512, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["--vms", "0"],
        ["--vms", "3", "-1"],
        ["--memory", "32"],
        ["--repeat", "0"],
        ["--vcpu", "0"],
    ],
)
def test_bad_counts(bench, repo_file: Path, argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args([*argv, "--template-repo-path", str(repo_file)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.endswith(
        "error: --vms, --repeat and --vcpu must be >= 1, --memory >= 64\n"
    )


def test_missing_repo(bench, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.metadata"
    with pytest.raises(SystemExit):
        bench.parse_args(["--template-repo-path", str(missing)])
    assert capsys.readouterr().err.endswith(
        f"error: template repo {missing} is missing: "
        "run bash scripts/build-templates.sh\n"
    )


def test_vm_names(bench) -> None:
    assert bench.vm_names(3) == ["vm01", "vm02", "vm03"]
    assert bench.vm_names(10)[-1] == "vm10"


def test_init_file(bench) -> None:
    spec = yaml.safe_load(bench.init_file_text(3, 256))
    assert list(spec["domains"]) == ["vm01", "vm02", "vm03"]
    for domain in spec["domains"].values():
        assert domain["memory"] == 256
        assert domain["vcpu"] == 1
        assert domain["nics"] == [{"net": "lago"}]
        assert domain["disks"] == [
            {
                "template_name": "tiny",
                "type": "template",
                "name": "root",
                "dev": "vda",
                "format": "qcow2",
            }
        ]
    assert spec["nets"] == {
        "lago": {"type": "nat", "management": True, "dhcp": {"start": 100, "end": 254}}
    }


def test_init_file_loads_in_lago(bench, tmp_path: Path) -> None:
    from lago.initfile import load_init_file

    path = tmp_path / "LagoInitFile"
    path.write_text(bench.init_file_text(10, 300))
    loaded = load_init_file(str(path))
    assert list(loaded.domains) == bench.vm_names(10)
    assert {spec["memory"] for spec in loaded.domains.values()} == {300}
    assert loaded.nets["lago"]["management"] is True


def test_check_hostname(bench) -> None:
    assert bench.check_hostname("vm02", "vm02\n") is None
    assert bench.check_hostname("vm02", "vm01\n") == "vm02 answered hostname 'vm01'"
    assert bench.check_hostname("vm02", "") == "vm02 answered hostname ''"


def _run(bench, vms: int, **steps: float):
    return bench.RunResult(vms, steps=dict(steps))


def test_no_verdicts_against_figures_of_another_run(bench) -> None:
    assert not hasattr(bench, "evaluate")
    assert not hasattr(bench, "TARGETS")
    assert "met" not in bench.format_table([_run(bench, 3, init=1.0)], None)


def test_table(bench) -> None:
    full = dict.fromkeys(
        ["start", "until_ssh", "stop", "shell_all", "status", "destroy"], 1.04
    )
    runs = [
        _run(bench, 1, init=0.84, **full),
        _run(bench, 3, init=1.26, start_to_ssh=17.0, start_wait=9.94, **full),
    ]
    runs[1].steps.update(guest_boot=7.5, lago_overhead=0.31, shell_cpu=0.42)
    runs[1].lago_cpu = {"init": 0.5, "until_ssh": 1.26}
    runs[1].guest_cpu = {"until_ssh": 24.0}
    runs[1].error = "step status failed with 3 VM(s): boom"
    warmup = bench.Warmup(12.34, copied=True)
    lines = bench.format_table(runs, warmup).splitlines()
    steps = (
        "| run | init | start | then until all answer | stop | export -d exported"
        " | start --wait-for-ssh | shell, SSH up | status | snapshot (VMs up)"
        " | revert (VMs up, started again) | destroy -y"
    )
    assert lines[:7] == [
        "wall seconds",
        "",
        steps + " | start -> all answer"
        " | guest boot (qemu -> port 22) | lago overhead (port 22 -> answered)"
        " | CPU-s per waiting shell |",
        "|" + " --- |" * 16,
        "| N=1 | 0.8 | 1.0 | 1.0 | 1.0 | - | - | 1.0 | 1.0 | - | - | 1.0 | - | - | - | - |",
        "| N=3 | 1.3 | 1.0 | 1.0 | 1.0 | - | 9.9 | 1.0 | 1.0 | - | - | 1.0 | 17.0 | 7.5"
        " | 0.3 | 0.4 |",
        "| original Lago N=3, measured 2026-12-01 (reference, not this run)"
        " | 64-86 |  |  |  |  |  |  |  |  |  | 7.1-7.4 | 14.4-17.5 |  |  |  |",
    ]
    assert lines[7:14] == [
        "",
        "CPU-seconds (lago processes; the environment's qemus)",
        "",
        steps + " |",
        "|" + " --- |" * 12,
        "| N=1 lago |" + " - |" * 11,
        "| N=1 guests |" + " - |" * 11,
    ]
    assert lines[14:16] == [
        "| N=3 lago | 0.5 | - | 1.3 |" + " - |" * 8,
        "| N=3 guests | - | - | 24.0 |" + " - |" * 8,
    ]
    assert lines[16:] == [
        "",
        "warm-up init (1 VM, template copied into the store): 12.3 s",
        "N=3: step status failed with 3 VM(s): boom",
    ]


def test_table_without_warmup(bench) -> None:
    text = bench.format_table([_run(bench, 10, init=2.0)], None)
    assert text.splitlines()[4].startswith("| N=10 | 2.0 | - |")
    assert "warm-up" not in text


def test_derived_figures(bench) -> None:
    run = _run(bench, 3, start=2.0, until_ssh=8.5, shell_count=4)
    run.lago_cpu["until_ssh"] = 2.0
    bench.derive(run)
    assert run.steps == {
        "start": 2.0, "until_ssh": 8.5, "start_to_ssh": 10.5, "shell_cpu": 0.5,
    }  # fmt: skip


def test_seedless_copy_of_a_template(bench, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "tiny-v1.qcow2").write_bytes(b"image")
    (root / "tiny-v1.qcow2.hash").write_text("abc")
    meta = {"distro": "tiny", "seed": "nocloud", "root-password": "123456"}
    (root / "tiny-v1.qcow2.metadata").write_text(json.dumps(meta))
    repo = {
        "name": "lago-local",
        "sources": {"local": {"type": "file", "args": {"root": str(root)}}},
        "templates": {
            "tiny": {
                "versions": {"v1": {"source": "local", "handle": "tiny-v1.qcow2"}}
            },
            "debian12": {"versions": {}},
        },
    }
    (root / "repo.metadata").write_text(json.dumps(repo))
    out_dir = tmp_path / "seedless"
    out_dir.mkdir()
    out = bench.seedless_repo(root / "repo.metadata", "tiny", out_dir)
    copied = json.loads(out.read_text())
    assert copied["name"] == "bench-seedless"
    assert copied["sources"]["local"]["args"]["root"] == str(out_dir)
    assert list(copied["templates"]) == ["tiny"]
    assert (out_dir / "tiny-v1.qcow2").read_bytes() == b"image"
    assert json.loads((out_dir / "tiny-v1.qcow2.metadata").read_text()) == {
        "distro": "tiny", "root-password": "123456",
    }  # fmt: skip
    # the original repository is untouched
    assert json.loads((root / "tiny-v1.qcow2.metadata").read_text()) == meta


def test_step_failed_message(bench) -> None:
    err = bench.StepFailed("start", 10, "lago start exited 2\nno memory")
    assert str(err) == "step start failed with 10 VM(s): lago start exited 2\nno memory"
    assert err.step == "start"


def test_write_results(bench, tmp_path: Path) -> None:
    now = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    data = {"runs": [{"vms": 3, "steps": {"init": 1.5}}]}
    path = bench.write_results(tmp_path / "bench-results", data, now)
    assert path == tmp_path / "bench-results" / "20261122T010203Z.json"
    assert json.loads(path.read_text()) == data


def test_refuses_outside_the_sandbox(bench, repo_file: Path, monkeypatch, capsys):
    monkeypatch.setenv("LAGO_NETNS", "no-such-namespace-for-tests")
    monkeypatch.delenv("LAGO_USE_HOST_LIBVIRT", raising=False)
    assert bench.main(["--vms", "1", "--template-repo-path", str(repo_file)]) == 2
    assert capsys.readouterr().err == (
        "error: not inside the sandbox namespace; "
        "run through bash scripts/sandbox.sh exec\n"
    )


def test_summary_takes_medians_per_count(bench) -> None:
    runs = [
        _run(bench, 3, init=1.0, start=5.0),
        _run(bench, 1, init=0.5),
        _run(bench, 3, init=3.0, start=1.0),
        _run(bench, 3, init=2.0),
    ]
    runs[3].error = "step start failed with 3 VM(s): boom"
    runs[2].qemus_max = 5
    summary = bench.summarize(runs)
    assert [r.vms for r in summary] == [1, 3]
    assert summary[0].steps == {"init": 0.5}
    assert summary[1].steps == {"init": 2.0, "start": 3.0}
    assert summary[1].error == "step start failed with 3 VM(s): boom"
    assert summary[1].qemus_max == 5
    assert summary[0].error is None


def test_foreign_qemus(bench) -> None:
    run = bench.RunResult(3, qemus_before=0, qemus_max=3)
    assert run.foreign_qemus == 0
    run.qemus_max = 5
    assert run.foreign_qemus == 2
    run.qemus_before = 4
    assert run.foreign_qemus == 4


def test_table_flags_disturbed_runs(bench) -> None:
    run = bench.RunResult(10, steps={"init": 1.0}, qemus_before=1, qemus_max=11)
    lines = bench.format_table([run], None).splitlines()
    assert lines[-1] == "N=10: disturbed: up to 1 qemu process(es) of others ran"


FAKE_LAGO = """
import sys
args = sys.argv[1:]
if args[0] == "shell":
    vm = args[1]
    if vm == "vm02":
        sys.stderr.write('Host vm02 is not "running", but "shut off"\\n')
        sys.exit(1)
    if vm == "vm04":
        sys.stderr.write("Failed to connect remote shell to vm04\\n")
        sys.exit(2)
    print("vm01" if vm == "vm03" else vm)
    sys.exit(0)
if args[0] == "start":
    sys.stderr.write("Error occured, aborting: no memory\\n")
    sys.exit(2)
sys.exit(0)
"""


@pytest.fixture
def fake_lago(bench, tmp_path: Path):
    script = tmp_path / "fake_lago.py"
    script.write_text(FAKE_LAGO)

    def make(vms: int, ssh_timeout: float = 30):
        lago = bench.Lago(tmp_path, vms, timeout=30, ssh_timeout=ssh_timeout)
        lago.command = lambda args: [sys.executable, str(script), *args]
        return lago

    return make


def test_timed_step_failure_carries_stderr(bench, fake_lago) -> None:
    lago = fake_lago(3)
    assert lago.timed("stop", ["stop"]) < 30
    with pytest.raises(bench.StepFailed) as exc:
        lago.timed("start", ["start", "--wait-for-ssh"])
    assert str(exc.value) == (
        "step start failed with 3 VM(s): lago start --wait-for-ssh exited 2\n"
        "Error occured, aborting: no memory\n"
    )


def test_answer_time_checks_the_hostname(bench, fake_lago) -> None:
    lago = fake_lago(1)
    assert 0 < lago.answer_time("until_ssh", "vm01", bench.time.monotonic()) < 30
    with pytest.raises(bench.StepFailed) as exc:
        lago.answer_time("until_ssh", "vm03", bench.time.monotonic())
    assert str(exc.value) == (
        "step until_ssh failed with 1 VM(s): vm03 answered hostname 'vm01'"
    )


def test_a_vm_that_is_down_fails_at_once(bench, fake_lago) -> None:
    lago = fake_lago(2)
    begin = bench.time.monotonic()
    with pytest.raises(bench.StepFailed) as exc:
        lago.until_all_answer("until_ssh")
    assert bench.time.monotonic() - begin < 20
    assert str(exc.value) == (
        "step until_ssh failed with 2 VM(s): exit 1: "
        'Host vm02 is not "running", but "shut off"\n'
    )


def test_answer_time_gives_up_after_the_ssh_timeout(bench, fake_lago) -> None:
    lago = fake_lago(4, ssh_timeout=1.5)
    begin = bench.time.monotonic()
    with pytest.raises(bench.StepFailed) as exc:
        lago.answer_time("until_ssh", "vm04", begin)
    assert 1.5 <= bench.time.monotonic() - begin < 10
    assert str(exc.value) == (
        "step until_ssh failed with 4 VM(s): vm04 did not answer in 2 s:\n"
        "exit 2: Failed to connect remote shell to vm04\n"
    )


def test_a_new_cli_step_is_timed_with_its_cpu(bench, fake_lago) -> None:
    lago = fake_lago(1)
    result = bench.RunResult(1)
    with bench.ThreadPoolExecutor(max_workers=1) as pool:
        ctx = bench.Context(
            lago, result, Path("r"), Path("s"), bench.QemuSampler(), pool
        )
        bench.run_steps(ctx, [bench.Step("snapshot", "snapshot", ("snapshot", "s1"))])
    assert set(result.steps) == {"snapshot"}
    assert result.lago_cpu["snapshot"] > 0  # one python process ran
    assert result.guest_cpu == {"snapshot": 0}  # no qemu of this environment


def test_remote_is_off_by_default(bench, repo_file: Path) -> None:
    assert bench.parse_args(["--template-repo-path", str(repo_file)]).remote is None


def test_remote_url_given(bench, repo_file: Path) -> None:
    argv = ["--remote", "qemu+tcp://h/system", "--template-repo-path", str(repo_file)]
    assert bench.parse_args(argv).remote == "qemu+tcp://h/system"


def test_remote_url_of_the_sandbox(bench, tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text(
        "LAGO_REMOTE_TCP_URL='qemu+tcp://h/system'\n"
        "LAGO_REMOTE_SSH_URL='qemu+ssh://root@h/system?keyfile=/k&no_verify=1'\n"
    )
    assert bench.remote_url(env) == "qemu+ssh://root@h/system?keyfile=/k&no_verify=1"
    assert bench.remote_url(tmp_path / "missing") is None


def test_remote_without_a_remote_host(bench, repo_file: Path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "remote_url", lambda: None)
    with pytest.raises(SystemExit):
        bench.parse_args(["--remote", "--template-repo-path", str(repo_file)])
    assert "--remote: no remote host runs" in capsys.readouterr().err


def test_remote_table(bench) -> None:
    run = _run(bench, 2, init=3.0, start=1.0, until_ssh=2.0, destroy=1.5)
    bench.derive(run)
    table = bench.format_table([run], None, bench.REMOTE_STEPS, "on the remote host h")
    lines = table.splitlines()
    assert lines[0] == "on the remote host h"
    assert lines[2].startswith(
        "| run | init | start | then until all answer | destroy -y |"
    )
    assert lines[4].startswith("| N=2 | 3.0 | 1.0 | 2.0 | 1.5 | 3.0 |")


def test_init_file_vcpus(bench) -> None:
    spec = yaml.safe_load(bench.init_file_text(2, 512, "debian12", vcpu=2))
    assert {d["vcpu"] for d in spec["domains"].values()} == {2}
    assert spec["domains"]["vm01"]["disks"][0]["template_name"] == "debian12"
