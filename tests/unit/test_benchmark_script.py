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
    assert args.memory == 256
    assert args.keep_going is False
    assert args.fresh_store is False
    assert args.template_store == Path("/var/lib/lago/store")


def test_options(bench, repo_file: Path) -> None:
    argv = ["--vms", "2", "5", "--memory", "512", "--keep-going"]
    args = bench.parse_args([*argv, "--template-repo-path", str(repo_file)])
    assert (args.vms, args.memory, args.keep_going) == ([2, 5], 512, True)


@pytest.mark.parametrize(
    "argv",
    [["--vms", "0"], ["--vms", "3", "-1"], ["--memory", "32"], ["--repeat", "0"]],
)
def test_bad_counts(bench, repo_file: Path, argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args([*argv, "--template-repo-path", str(repo_file)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.endswith(
        "error: --vms and --repeat must be >= 1, --memory >= 64\n"
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


def test_verdicts_use_the_three_vm_run(bench) -> None:
    runs = [
        _run(bench, 1, init=99.0, destroy=99.0),
        _run(bench, 3, init=15.75, start_to_ssh=16.7, start_wait=16.6, destroy=3.7),
    ]
    assert bench.evaluate(runs) == {
        "init": True,  # at most a quarter of 63 s: 15.75 is met
        "start_to_ssh": False,  # strictly faster than 16.7 s
        "start_wait": True,
        "destroy": False,  # more than 3.65 s
    }


def test_verdicts_without_three_vms(bench) -> None:
    verdicts = bench.evaluate([_run(bench, 1, init=1.0)])
    assert set(verdicts.values()) == {None}
    missing = bench.evaluate([_run(bench, 3, init=1.0)])
    assert missing == {
        "init": True,
        "start_to_ssh": None,
        "start_wait": None,
        "destroy": None,
    }


def test_table(bench) -> None:
    full = dict.fromkeys(
        ["start", "until_ssh", "stop", "shell_all", "status", "destroy"], 1.04
    )
    runs = [
        _run(bench, 1, init=0.84, **full),
        _run(bench, 3, init=1.26, start_to_ssh=17.0, start_wait=9.94, **full),
    ]
    runs[1].error = "step status failed with 3 VM(s): boom"
    warmup = bench.Warmup(12.34, copied=True)
    assert bench.format_table(runs, warmup).splitlines() == [
        "| step | N=1 | N=3 | original N=3 | target N=3 | met |",
        "| --- | --- | --- | --- | --- | --- |",
        "| init (with bootstrap) | 0.8 | 1.3 | 63.0 | <= 15.8 | yes |",
        "| start | 1.0 | 1.0 | 2.0 |  |  |",
        "| then until all answer `shell` | 1.0 | 1.0 | 14.7 |  |  |",
        "| start + until SSH | - | 17.0 | 16.7 | < 16.7 | NO |",
        "| stop (VMs up) | 1.0 | 1.0 | - |  |  |",
        "| start --wait-for-ssh | - | 9.9 | - | < 16.7 | yes |",
        "| shell hostname, SSH up | 1.0 | 1.0 | - |  |  |",
        "| status | 1.0 | 1.0 | crashes |  |  |",
        "| snapshot (VMs up) | - | - | - |  |  |",
        "| revert (VMs up, started again) | - | - | - |  |  |",
        "| revert + until SSH | - | - | - |  |  |",
        "| destroy -y (VMs up) | 1.0 | 1.0 | 7.3 | <= 3.6 | yes |",
        "",
        "warm-up init (1 VM, template copied into the store): 12.3 s"
        " (original, 3 VMs, with the template copy into store: 73 s)",
        "N=3: step status failed with 3 VM(s): boom",
    ]


def test_table_without_warmup(bench) -> None:
    text = bench.format_table([_run(bench, 10, init=2.0)], None)
    assert (
        text.splitlines()[2] == "| init (with bootstrap) | 2.0 | 63.0 | <= 15.8 | n/a |"
    )
    assert "warm-up" not in text


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
