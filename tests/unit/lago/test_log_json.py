"""The JSON-lines task log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from lago.errors import LagoUserException
from lago.log_json import JSONTaskHandler
from lago.log_utils import LogTask


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = JSONTaskHandler(stream=out, level=logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def events(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_tasks_and_records_are_json_lines(stream: io.StringIO) -> None:
    log = logging.getLogger("lago.test")
    with LogTask("Start Prefix"), LogTask("Starting vm01"):
        log.info("booting")
        log.debug("not shown at info")
    got = events(stream)
    assert [e["event"] for e in got] == [
        "task-start", "task-start", "log", "task-end", "task-end",
    ]  # fmt: skip
    assert got[1]["vm"] == "vm01" and got[2]["vm"] == "vm01"
    assert got[2]["message"] == "booting" and got[2]["level"] == "INFO"
    end = got[3]
    assert end["task"] == "Starting vm01" and end["result"] == "success"
    assert end["duration"] >= 0 and end["start"] <= end["end"]
    assert got[4]["task"] == "Start Prefix" and "vm" not in got[4]


def test_a_failed_task_and_its_parents_end_in_error(stream: io.StringIO) -> None:
    with pytest.raises(RuntimeError), LogTask("Outer"), LogTask("Inner"):
        raise RuntimeError("boom")
    ends = {e["task"]: e["result"] for e in events(stream) if e["event"] == "task-end"}
    assert ends == {"Inner": "error", "Outer": "error"}


def test_an_error_record_fails_the_task(stream: io.StringIO) -> None:
    with LogTask("Work"):
        logging.getLogger("x").error("went wrong")
    got = events(stream)
    assert got[1] == {
        **got[1],
        "event": "log",
        "level": "ERROR",
        "message": "went wrong",
    }
    assert got[2]["result"] == "error"


def test_hidden_tasks_and_errors(stream: io.StringIO) -> None:
    with LogTask("quiet", level="debug"):
        pass
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h, JSONTaskHandler)
    )
    handler.write_error(LagoUserException("bad thing", hint="do this"), 2)
    handler.write_error(ValueError("oops"), 1)
    got = events(stream)
    assert got[0]["task"] == "quiet" and got[1]["task"] == "quiet"
    assert got[2] == {
        "event": "error",
        "message": "bad thing",
        "hint": "do this",
        "exit_code": 2,
    }
    assert got[3] == {
        "event": "error",
        "message": "oops",
        "exit_code": 1,
        "type": "ValueError",
    }
