"""Output a CI can read: the JSON-lines task log of init, start and destroy."""

from __future__ import annotations

import json

from .conftest import LagoRunner
from .initfiles import scratch_disk, tiny_vm, write_tiny_env


def _events(stderr: str) -> list[dict]:
    # every line parses: nothing else is written to stderr
    return [json.loads(line) for line in stderr.splitlines()]


def _ends(events: list[dict]) -> dict[str, dict]:
    return {e["task"]: e for e in events if e["event"] == "task-end"}


def test_json_task_log_of_init_start_destroy(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd)
    init = _ends(_events(lago("--log-format", "json", "init").stderr))
    assert init["Initialize and populate prefix"]["result"] == "success"
    assert init["Create disks for VM vm01"]["vm"] == "vm01"
    start = _ends(_events(lago("--log-format", "json", "start").stderr))
    assert start["Start Prefix"]["result"] == "success"
    assert start["Start Prefix"]["duration"] > 0
    destroy = _ends(_events(lago("--log-format", "json", "destroy", "-y").stderr))
    (name,) = [task for task in destroy if task.startswith("Destroy prefix")]
    assert destroy[name]["result"] == "success"
    for ends in (init, start, destroy):
        assert all(e["duration"] >= 0 and e["start"] <= e["end"] for e in ends.values())


def test_json_task_log_reports_the_failure_as_json(lago: LagoRunner) -> None:
    proc = lago("--log-format", "json", "status", check=False)
    assert proc.returncode == 2
    (event,) = _events(proc.stderr)
    assert event["event"] == "error" and event["exit_code"] == 2
    assert event["message"].startswith("Unable to find workdir in")


def test_start_collects_logs_when_it_fails(lago: LagoRunner) -> None:
    # a blank root disk: the VM never boots
    blank = scratch_disk("16M", name="root", dev="vda")
    extra = {"boot_time_sec": 15, "artifacts": ["/var/log"]}
    write_tiny_env(lago.cwd, {"vm01": tiny_vm(disks=[blank], extra=extra)})
    lago("init")
    out = lago.cwd / "evidence"
    proc = lago(
        "start", "--wait-for-ssh", "--collect-on-failure", str(out), check=False
    )
    assert proc.returncode != 0
    assert (out / "logs" / "lago.log").is_file()
    assert (out / "logs" / "vm01.serial.log").is_file()
    # the VM never booted: its artifacts could not be read, which is said, not fatal
    assert "Could not collect the artifacts of vm01" in proc.stderr
