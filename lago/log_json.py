"""Task log as JSON lines, for machines (``lago --log-format json``).

One object per line on the stream: ``task-start`` and ``task-end`` events
(the latter with ``start``, ``end``, ``duration`` in seconds and ``result``
``success`` or ``error``), and ``log`` events for plain records at or above
the chosen level. ``vm`` names the VM a task is about, when its name says so.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
from typing import IO, Any

from lago.errors import LagoException
from lago.log_utils import ALWAYS_SHOW_REG, END_TASK_REG, START_TASK_REG

# tasks whose name ends with the VM they work on
_VM_TASK = re.compile(
    r"^(?:Create disks for VM|Starting|Wait for ssh on|Bootstrapping|Deploy VM|"
    r"Building|Create snapshot of|Revert snapshot of|Collect artifacts of) "
    r"(?P<vm>[^\s]+)"
)
# non-info tasks are named ':<uuid4>:<name>:'
_HIDDEN_TASK = re.compile(r"^:[0-9a-f-]{36}:(?P<name>.*):$")


def _iso(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat(
        timespec="milliseconds"
    )


def _clean(task: str) -> str:
    hidden = _HIDDEN_TASK.match(task)
    return hidden.group("name") if hidden else task


class JSONTaskHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes task boundaries and records as JSON lines."""

    def __init__(
        self, stream: IO[str] | None = None, level: int = logging.INFO
    ) -> None:
        super().__init__(stream)
        self.setLevel(logging.DEBUG)
        self.record_level = level
        self._lock = threading.Lock()
        # (thread, task) -> [start time, failed]
        self._open: dict[tuple[str, str], list[Any]] = {}
        self._stack: dict[str, list[str]] = {}

    def _write(self, event: dict[str, Any]) -> None:
        self.stream.write(json.dumps(event, sort_keys=True) + "\n")
        self.flush()

    def write_error(self, err: BaseException, exit_code: int) -> None:
        """The verb's failure, as the last line."""
        message = str(err).strip() or type(err).__name__
        hint = getattr(err, "hint", None)
        event = {"event": "error", "message": message, "exit_code": exit_code}
        if hint:
            event["hint"] = hint
        if not isinstance(err, LagoException):
            event["type"] = type(err).__name__
        with self._lock:
            self._write(event)

    def _base(self, record: logging.LogRecord, kind: str, task: str) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event": kind,
            "task": _clean(task) if task else None,
            "thread": record.threadName,
            "time": _iso(record.created),
        }
        match = _VM_TASK.match(event["task"] or "")
        if match:
            event["vm"] = match.group("vm")
        return event

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with self._lock:
                self._emit(record)
        except Exception:
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        thread = record.threadName or ""
        stack = self._stack.setdefault(thread, [])
        start = START_TASK_REG.match(message)
        if start:
            task = start.group("task_name")
            stack.append(task)
            self._open[(thread, task)] = [record.created, False]
            self._write(self._base(record, "task-start", task))
            return
        end = END_TASK_REG.match(message)
        if end:
            task = end.group("task_name")
            began, failed = self._open.pop((thread, task), [record.created, False])
            if task in stack:
                del stack[stack.index(task) :]
            failed = failed or record.levelno >= logging.ERROR
            if failed:
                for parent in stack:
                    if (thread, parent) in self._open:
                        self._open[(thread, parent)][1] = True
            event = self._base(record, "task-end", task)
            event.update(
                start=_iso(began),
                end=_iso(record.created),
                duration=round(record.created - began, 3),
                result="error" if failed else "success",
            )
            self._write(event)
            return
        forced = ALWAYS_SHOW_REG.match(message)
        text = forced.group("message") if forced else record.getMessage()
        if (
            record.levelno >= logging.ERROR
            and (thread, stack[-1] if stack else "") in self._open
        ):
            self._open[(thread, stack[-1])][1] = True
        if record.levelno < self.record_level and not forced:
            return
        event = self._base(record, "log", stack[-1] if stack else "")
        event.update(level=record.levelname, message=text, logger=record.name)
        self._write(event)
