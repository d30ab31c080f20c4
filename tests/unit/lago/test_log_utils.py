"""lago.log_utils: task headers, depth limit, buffering, threads, file log."""

from __future__ import annotations

import io
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from lago.log_utils import (
    ColorFormatter,
    LogTask,
    Task,
    TaskHandler,
    end_log_task,
    hide_paramiko_logs,
    hide_stevedore_logs,
    log_always,
    log_task,
    setup_prefix_logging,
    start_log_task,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CYAN, GREEN, RED, YELLOW, RESET = (
    "\x1b[36m",
    "\x1b[32m",
    "\x1b[31m",
    "\x1b[33m",
    "\x1b[0m",
)


@dataclass
class TaskLog:
    logger: logging.Logger
    handler: TaskHandler
    stream: io.StringIO

    def raw(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def lines(self) -> list[str]:
        return ANSI.sub("", self.stream.getvalue()).splitlines()

    def task(self, name: str, **kwargs) -> LogTask:
        return LogTask(name, logger=self.logger, **kwargs)


def make_log(depth: int = -1, level: int = logging.INFO, **kwargs) -> TaskLog:
    stream = io.StringIO()
    handler = TaskHandler(task_tree_depth=depth, level=level, stream=stream, **kwargs)
    logger = logging.getLogger(f"test.log_utils.{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    return TaskLog(logger, handler, stream)


@pytest.fixture
def log() -> TaskLog:
    return make_log()


def in_thread(name: str, target) -> None:
    worker = threading.Thread(target=target, name=name)
    worker.start()
    worker.join()


# -- headers -------------------------------------------------------------------


def test_nested_tasks_print_start_and_end_headers(log):
    with log.task("Outer"), log.task("Inner"):
        log.logger.info("hidden while all goes well")
    assert log.lines() == [
        "@ Outer: ",
        "  # Inner: ",
        "  # Inner: Success (in 0:00:00)",
        "@ Outer: Success (in 0:00:00)",
    ]
    assert log.raw()[0] == f"{CYAN}@ Outer: {RESET}"
    assert log.raw()[-1] == f"{CYAN}@ Outer: {GREEN}Success{RESET} (in 0:00:00){RESET}"


def test_indicators_cycle_with_depth(log):
    names = [f"T{depth}" for depth in range(1, 7)]

    def nest(remaining: list[str]) -> None:
        if remaining:
            with log.task(remaining[0]):
                nest(remaining[1:])

    nest(names)
    starts = [line for line in log.lines() if line.endswith(": ")]
    assert starts == [
        "@ T1: ",
        "  # T2: ",
        "    * T3: ",
        "      - T4: ",
        "        ~ T5: ",
        "          @ T6: ",
    ]


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (1, ["@ A: ", "@ A: Success (in 0:00:00)"]),
        (0, []),
        (-1, ["@ A: ", "  # B: ", "    * C: ", "    * C: Success (in 0:00:00)"]),
    ],
)
def test_logdepth_hides_deeper_headers(depth, expected):
    log = make_log(depth=depth)
    with log.task("A"), log.task("B"), log.task("C"):
        pass
    assert log.lines()[: len(expected)] == expected
    if depth == 1:
        assert log.lines() == expected


def test_elapsed_time_format():
    task = Task("t")
    task.start_time -= 3725.7
    assert task.elapsed_time() == "1:02:05"


def test_start_and_end_log_task_functions(log):
    start_log_task("Manual", logger=log.logger)
    end_log_task("Manual", logger=log.logger)
    assert log.lines() == ["@ Manual: ", "@ Manual: Success (in 0:00:00)"]


def test_log_task_decorator(log):
    @log_task("Decorated", logger=log.logger)
    def work(value):
        return value * 2

    assert work(21) == 42
    assert log.lines() == ["@ Decorated: ", "@ Decorated: Success (in 0:00:00)"]


# -- records -------------------------------------------------------------------


def test_info_records_are_dropped_outside_tasks_and_buffered_inside(log):
    log.logger.info("outside")
    with log.task("T"):
        log.logger.info("inside")
    assert log.lines() == ["@ T: ", "@ T: Success (in 0:00:00)"]


def test_error_inside_a_task_dumps_its_records(log):
    with log.task("Outer"):
        log.logger.info("outer record")
        with log.task("Inner"):
            log.logger.info("first %s", "record")
            log.logger.error("it broke")
            log.logger.debug("below the handler level")
        log.logger.info("after the failure")
    assert log.lines() == [
        "@ Outer: ",
        "  # Inner: ",
        "    * it broke",
        "    * first record",
        "  # Inner: ERROR (in 0:00:00)",
        "  # after the failure",
        "@ Outer: ERROR (in 0:00:00)",
    ]
    raw = log.raw()
    assert raw[2] == f"{RED}    * it broke{RESET}"
    assert raw[3] == f"{CYAN}    * first record{RESET}"
    assert raw[4] == f"{CYAN}  # Inner: {RED}ERROR{RESET} (in 0:00:00){RESET}"


def test_failure_below_logdepth_shows_hidden_headers():
    log = make_log(depth=1)
    with log.task("Outer"), log.task("Middle"), log.task("Deep"):
        log.logger.info("context")
        log.logger.error("deep failure")
    assert log.lines() == [
        "@ Outer: ",
        "  # Middle: ",
        "    * Deep: ",
        "      - context",
        "      - deep failure",
        "    * Deep: ERROR (in 0:00:00)",
        "  # Middle: ERROR (in 0:00:00)",
        "@ Outer: ERROR (in 0:00:00)",
    ]


def test_exception_leaving_a_task_ends_it_in_error(log):
    with pytest.raises(RuntimeError, match="boom"), log.task("Outer"):
        raise RuntimeError("boom")
    assert log.lines() == ["@ Outer: ", "@ Outer: ERROR (in 0:00:00)"]


def test_task_without_fail_propagation_ends_normally(log):
    with pytest.raises(RuntimeError), log.task("Quiet", propagate_fail=False):
        raise RuntimeError("boom")
    assert log.lines() == ["@ Quiet: ", "@ Quiet: Success (in 0:00:00)"]


def test_log_always_shows_at_any_depth():
    log = make_log(depth=0)
    log.logger.info(log_always("outside"))
    with log.task("Hidden"):
        log.logger.info(log_always("inside %s"), "hidden task")
    assert log.lines() == ["  @ outside", "  # inside hidden task"]


def test_warnings_show_at_once_in_yellow(log):
    with log.task("T"):
        log.logger.warning("careful")
    assert log.raw()[1] == f"{YELLOW}  # careful{RESET}"


def test_debug_level_shows_records_at_once_with_tracebacks():
    log = make_log(level=logging.DEBUG)
    with log.task("T"):
        log.logger.debug("detail")
        try:
            raise ValueError("bad value")
        except ValueError:
            log.logger.debug("caught", exc_info=True)
    lines = log.lines()
    assert lines[:3] == ["@ T: ", "  # detail", "  # caught"]
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: bad value", "@ T: Success (in 0:00:00)"]


def test_buffer_keeps_the_latest_records():
    log = make_log(buffer_size=2)
    with log.task("T"):
        for index in range(4):
            log.logger.info("record %d", index)
        log.logger.error("failed")
    assert log.lines() == [
        "@ T: ",
        "  # failed",
        "  # record 2",
        "  # record 3",
        "@ T: ERROR (in 0:00:00)",
    ]


def test_non_info_tasks_get_a_uuid_name():
    assert LogTask("Step", level="debug", uuid="1234").task == ":1234:Step:"
    named = LogTask("Step", level="debug").task
    assert re.fullmatch(r":[0-9a-f-]{36}:Step:", named)
    assert LogTask("Step").task == "Step"


def test_non_info_tasks_show_only_at_their_level(log):
    with log.task("Visible"), log.task("Detail", level="debug"):
        log.logger.error("failed deep")
    # below the handler's level, the debug task is not even counted as a level
    assert log.lines() == [
        "@ Visible: ",
        "  # failed deep",
        "@ Visible: ERROR (in 0:00:00)",
    ]
    debug_log = make_log(level=logging.DEBUG)
    with debug_log.task("Detail", level="debug", uuid="u1"):
        pass
    assert debug_log.lines() == [
        "@ :u1:Detail:: ",
        "@ :u1:Detail:: Success (in 0:00:00)",
    ]


# -- threads ---------------------------------------------------------------------


def test_worker_threads_are_marked_and_nested_under_main(log):
    def work():
        with log.task("In thread"):
            log.logger.info("worker record")

    with log.task("Main"):
        in_thread("worker-1", work)
    assert log.lines() == [
        "@ Main: ",
        "  # [worker-1] In thread: ",
        "  # [worker-1] In thread: Success (in 0:00:00)",
        "@ Main: Success (in 0:00:00)",
    ]


def test_worker_failure_fails_the_main_task(log):
    def work():
        with log.task("In thread"):
            log.logger.error("worker broke")

    with log.task("Main"):
        in_thread("worker-2", work)
    assert log.lines() == [
        "@ Main: ",
        "  # [worker-2] In thread: ",
        "    * [worker-2] worker broke",
        "  # [worker-2] In thread: ERROR (in 0:00:00)",
        "@ Main: ERROR (in 0:00:00)",
    ]
    # the next main-thread task starts with a clean slate
    with log.task("Later"):
        pass
    assert log.lines()[-1] == "@ Later: Success (in 0:00:00)"


# -- formatters and file log -----------------------------------------------------


def test_color_formatter():
    assert ColorFormatter.colored("green", "ok") == f"{GREEN}ok{RESET}"
    record = logging.makeLogRecord({"msg": "hi", "levelname": "WARNING"})
    assert ColorFormatter().format(record) == f"{YELLOW}hi{RESET}"
    debug = logging.makeLogRecord({"msg": "hi", "levelname": "DEBUG"})
    assert ColorFormatter().format(debug) == f"hi{RESET}"


@pytest.fixture
def root_handlers():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    root.setLevel(logging.DEBUG)  # as the CLI sets it
    yield root
    root.setLevel(level)
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def test_setup_prefix_logging_writes_the_file_format(tmp_path: Path, root_handlers):
    logdir = tmp_path / "logs"
    setup_prefix_logging(str(logdir))
    setup_prefix_logging(logdir)  # a second call adds no second handler
    logger = logging.getLogger("lago.some.module")
    logger.debug("debug %s", "message")
    for handler in root_handlers.handlers:
        handler.flush()
    lines = (logdir / "lago.log").read_text().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}::test_log_utils\.py::"
        r"test_setup_prefix_logging_writes_the_file_format::\d+::lago\.some\.module::"
        r"DEBUG::debug message",
        lines[0],
    )


def test_hide_noisy_libraries():
    hide_paramiko_logs()
    hide_stevedore_logs()
    assert logging.getLogger("paramiko").level == logging.WARNING
    stevedore = logging.getLogger("stevedore")
    assert stevedore.propagate is False
    assert any(isinstance(h, logging.NullHandler) for h in stevedore.handlers)
