"""Task-structured logging for the CLI.

A *task* is opened and closed by two log records (``start task<NAME>`` and
``end task<NAME>``), normally through :class:`LogTask`. :class:`TaskHandler`
prints task headers up to a nesting depth, shows errors at once, keeps the
quieter records of each task in a buffer and prints them only if the task
fails::

    @ Initialize and populate prefix: Success (in 0:00:05)
      # Create disks for VM vm01: Success (in 0:00:01)
"""

from __future__ import annotations

import collections
import datetime
import functools
import logging
import os
import re
import threading
import time
import uuid as uuid_mod
from collections.abc import Callable
from typing import Any, Literal

START_TASK_TRIGGER_MSG = "start task%s"
END_TASK_TRIGGER_MSG = "end task%s"
ALWAYS_SHOW_TRIGGER_MSG = "force-show:%s"
START_TASK_REG = re.compile(r"^start task(?P<task_name>.*)$", re.DOTALL)
END_TASK_REG = re.compile(r"^end task(?P<task_name>.*)$", re.DOTALL)
ALWAYS_SHOW_REG = re.compile(r"^force-show:(?P<message>.*)$", re.DOTALL)
START_TASK_MSG = ""
END_TASK_MSG = "Success"
END_TASK_ON_ERROR_MSG = "ERROR"

FILE_LOG_FORMAT = (
    "%(asctime)s::%(filename)s::%(funcName)s::%(lineno)s::"
    "%(name)s::%(levelname)s::%(message)s"
)


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    return logging.getLevelName(level.upper())


class ColorFormatter(logging.Formatter):
    """Colours a record by its level."""

    CRITICAL = "\x1b[31m"
    CYAN = "\x1b[36m"
    DEBUG = ""
    DEFAULT = "\x1b[0m"
    ERROR = "\x1b[31m"
    GREEN = "\x1b[32m"
    INFO = "\x1b[36m"
    NONE = ""
    RED = "\x1b[31m"
    WARNING = "\x1b[33m"
    WHITE = "\x1b[37m"
    YELLOW = "\x1b[33m"

    @classmethod
    def colored(cls, color: str, message: str) -> str:
        return getattr(cls, color.upper()) + message + cls.DEFAULT

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname if hasattr(self, record.levelname) else "NONE"
        return self.colored(level, super().format(record))


class ContextLock:
    """A lock usable as a context manager (kept for API compatibility)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> ContextLock:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class Task(collections.deque):
    """The buffered records of one open task, with its name and state."""

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name
        self.failed = False
        self.force_show = False
        self.header_shown = False
        self.quiet = False
        self.start_time = time.monotonic()

    def elapsed_time(self) -> str:
        return str(datetime.timedelta(seconds=int(time.monotonic() - self.start_time)))


class TaskHandler(logging.StreamHandler):
    """Stream handler that understands tasks (see the module docstring)."""

    TASK_INDICATORS = ["@", "#", "*", "-", "~"]

    def __init__(  # noqa: PLR0917 - the seeds' signature
        self,
        initial_depth: int = 0,
        task_tree_depth: int = -1,
        buffer_size: int = 2000,
        dump_level: int = logging.ERROR,
        level: int = logging.NOTSET,
        formatter: type[logging.Formatter] = ColorFormatter,
        stream: Any = None,
    ) -> None:
        super().__init__(stream)
        self.setLevel(level)
        self.formatter = formatter()
        self.initial_depth = initial_depth
        self.task_tree_depth = task_tree_depth
        self.buffer_size = buffer_size
        self.dump_level = dump_level
        self.tasks_by_thread: dict[str, collections.OrderedDict[str, Task]] = {}
        self.main_failed = False
        self._tasks_lock = ContextLock()
        self._main_thread_lock = ContextLock()

    # -- where we are -------------------------------------------------
    @property
    def am_i_main_thread(self) -> bool:
        return threading.current_thread() is threading.main_thread()

    @property
    def cur_thread(self) -> str:
        return threading.current_thread().name

    def get_tasks(self, thread_name: str) -> collections.OrderedDict[str, Task]:
        with self._tasks_lock:
            return self.tasks_by_thread.setdefault(
                thread_name, collections.OrderedDict()
            )

    @property
    def tasks(self) -> collections.OrderedDict[str, Task]:
        return self.get_tasks(self.cur_thread)

    @property
    def cur_task(self) -> str | None:
        return next(reversed(self.tasks), None) if self.tasks else None

    @property
    def cur_depth_level(self) -> int:
        depth = self.initial_depth + len(self.tasks)
        if not self.am_i_main_thread:
            depth += len(self.get_tasks(threading.main_thread().name))
        return depth

    def get_task_indicator(self, task_level: int | None = None) -> str:
        if task_level is None:
            task_level = self.cur_depth_level
        return self.TASK_INDICATORS[task_level % len(self.TASK_INDICATORS)]

    def should_show_by_depth(self, cur_level: int | None = None) -> bool:
        if cur_level is None:
            cur_level = self.cur_depth_level
        return self.task_tree_depth < 0 or cur_level <= self.task_tree_depth

    def should_show_by_level(
        self, record: logging.LogRecord | int, base_level: int | None = None
    ) -> bool:
        """Whether ``record`` (or a level number) is at ``base_level`` or above."""
        if base_level is None:
            base_level = self.dump_level
        level = record if isinstance(record, int) else record.levelno
        return level >= base_level

    # -- output ------------------------------------------------------
    def pretty_emit(
        self,
        record: logging.LogRecord,
        is_header: bool = False,
        task_level: int | None = None,
    ) -> None:
        level = self.cur_depth_level if task_level is None else task_level
        thread = "" if self.am_i_main_thread else f"[{self.cur_thread}] "
        if is_header:
            indent = "  " * max(level - 1, 0)
            indicator = self.get_task_indicator(max(level - 1, 0))
            text = ColorFormatter.colored(
                "cyan", f"{indent}{indicator} {thread}{record.getMessage()}"
            )
        else:
            indent = "  " * max(level - 1, 0) + "  "
            text = self.format_plain(
                record, f"{indent}{self.get_task_indicator(level)} {thread}"
            )
        self.acquire()
        try:
            self.stream.write(text + "\n")
            self.flush()
        finally:
            self.release()

    def format_plain(self, record: logging.LogRecord, lead: str) -> str:
        message = record.getMessage()
        if record.exc_info and self.level <= logging.DEBUG:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        color = (
            record.levelname if hasattr(ColorFormatter, record.levelname) else "NONE"
        )
        return ColorFormatter.colored(color, lead + message)

    # -- task bookkeeping --------------------------------------------
    def handle_new_task(self, task_name: str, record: logging.LogRecord) -> None:
        task = Task(task_name, maxlen=self.buffer_size)
        task.quiet = record.levelno < self.level
        self.tasks[task_name] = task
        if self.should_show_by_depth() and not task.quiet:
            header = _header_record(
                record, f"{_display_name(task_name)}: {START_TASK_MSG}"
            )
            self.pretty_emit(header, is_header=True)
            task.header_shown = True

    def handle_closed_task(self, task_name: str, record: logging.LogRecord) -> None:
        if task_name not in self.tasks:
            return
        self.close_children_tasks(task_name)
        depth = self.cur_depth_level
        task = self.tasks.pop(task_name)
        if self.main_failed and self.am_i_main_thread:
            task.failed = True
        if record.levelno >= self.dump_level:
            task.failed = True
        if task.failed:
            # the task is the last one left open, so these are its ancestors
            self.mark_parent_tasks_as_failed(task_name, flush_logs=True)
            self._show_hidden_headers(record, [*self.tasks.values(), task], depth)
            self._dump(task, depth)
            status = ColorFormatter.colored("red", END_TASK_ON_ERROR_MSG)
        else:
            status = ColorFormatter.colored("green", END_TASK_MSG)
        if task.failed or (self.should_show_by_depth(depth) and not task.quiet):
            header = _header_record(
                record,
                f"{_display_name(task_name)}: {status} (in {task.elapsed_time()})",
            )
            self.pretty_emit(header, is_header=True, task_level=depth)
        if self.am_i_main_thread and not self.tasks:
            with self._main_thread_lock:
                self.main_failed = False

    def _show_hidden_headers(
        self, record: logging.LogRecord, tasks: list[Task], last_depth: int
    ) -> None:
        """Print the start lines ``--logdepth`` hid: a failure's context."""
        first_depth = last_depth - len(tasks) + 1
        for depth, task in enumerate(tasks, start=first_depth):
            if not task.header_shown and not task.quiet:
                header = _header_record(
                    record, f"{_display_name(task.name)}: {START_TASK_MSG}"
                )
                self.pretty_emit(header, is_header=True, task_level=depth)
                task.header_shown = True

    def _dump(self, task: Task, depth: int) -> None:
        while task:
            buffered = task.popleft()
            if buffered.levelno >= self.level:
                self.pretty_emit(buffered, task_level=depth)

    def close_children_tasks(self, parent_task_name: str) -> None:
        names = list(self.tasks)
        for name in reversed(names[names.index(parent_task_name) + 1 :]):
            self.tasks.pop(name, None)

    def mark_parent_tasks_as_failed(
        self, task_name: str, flush_logs: bool = False
    ) -> None:
        for name, task in self.tasks.items():
            if name == task_name:
                break
            task.failed = True
            if flush_logs:
                task.clear()
        if not self.am_i_main_thread:
            self.mark_main_tasks_as_failed()

    def mark_main_tasks_as_failed(self) -> None:
        with self._main_thread_lock:
            self.main_failed = True
            for task in self.get_tasks(threading.main_thread().name).values():
                task.failed = True

    def handle_error(self) -> None:
        if self.cur_task:
            self.tasks[self.cur_task].failed = True
        self.mark_parent_tasks_as_failed(self.cur_task or "")

    # -- logging entry point -----------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        start = START_TASK_REG.match(message)
        if start:
            self.handle_new_task(start.group("task_name"), record)
            return
        end = END_TASK_REG.match(message)
        if end:
            self.handle_closed_task(end.group("task_name"), record)
            return
        forced = ALWAYS_SHOW_REG.match(message)
        if forced:
            shown = logging.makeLogRecord(record.__dict__)
            shown.msg = forced.group("message")
            self.pretty_emit(shown)
            return
        if record.levelno >= self.dump_level:
            self.handle_error()
            if self.should_show_by_depth():
                self.pretty_emit(record)
            elif self.cur_task:
                # too deep to show now: shown when the failed task ends
                self.tasks[self.cur_task].append(record)
            return
        if record.levelno < self.level:
            return
        if self.level <= logging.DEBUG or record.levelno >= logging.WARNING:
            # debug mode shows everything; warnings are never hidden
            if self.should_show_by_depth():
                self.pretty_emit(record)
            return
        if self.cur_task:
            self.tasks[self.cur_task].append(record)


def _display_name(task_name: str) -> str:
    return task_name


def _header_record(record: logging.LogRecord, message: str) -> logging.LogRecord:
    header = logging.makeLogRecord(record.__dict__)
    header.msg = message
    header.args = None
    return header


def log_always(message: str) -> str:
    """Tag ``message`` so that the task handler always shows it."""
    return ALWAYS_SHOW_TRIGGER_MSG % message


def _task_name(task: str, level: str, uuid: Any) -> str:
    if _level_number(level) == logging.INFO:
        return task
    return f":{uuid or uuid_mod.uuid4()}:{task}:"


def start_log_task(task: str, logger: Any = logging, level: str = "info") -> None:
    getattr(logger, level)(START_TASK_TRIGGER_MSG % task)


def end_log_task(task: str, logger: Any = logging, level: str = "info") -> None:
    getattr(logger, level)(END_TASK_TRIGGER_MSG % task)


class LogTask:
    """Context manager for a log task.

    For example::

        with LogTask('Create disks'):
            ...
    """

    def __init__(
        self,
        task: str,
        logger: Any = logging,
        level: str = "info",
        propagate_fail: bool = True,
        uuid: Any = None,
    ) -> None:
        self.task = _task_name(task, level, uuid)
        self.logger = logger
        self.level = level
        self.propagate = propagate_fail

    def __enter__(self) -> LogTask:
        start_log_task(self.task, logger=self.logger, level=self.level)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> Literal[False]:
        if exc_type is not None and self.propagate:
            self.logger.debug(
                "task %s failed", self.task, exc_info=(exc_type, exc_value, traceback)
            )
            end_log_task(self.task, logger=self.logger, level="error")
        else:
            end_log_task(self.task, logger=self.logger, level=self.level)
        return False


def log_task(
    task: str,
    logger: Any = logging,
    level: str = "info",
    propagate_fail: bool = True,
    uuid: Any = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator running the function inside a :class:`LogTask`."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with LogTask(
                task,
                logger=logger,
                level=level,
                propagate_fail=propagate_fail,
                uuid=uuid,
            ):
                return func(*args, **kwargs)

        return wrapper

    return decorator


def get_default_log_formatter() -> logging.Formatter:
    return logging.Formatter(fmt=FILE_LOG_FORMAT)


def setup_prefix_logging(logdir: str | os.PathLike[str]) -> None:
    """Append every record (DEBUG) to ``<logdir>/lago.log``."""
    os.makedirs(logdir, exist_ok=True)
    path = os.path.abspath(os.path.join(logdir, "lago.log"))
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == path:
            return
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(get_default_log_formatter())
    root.addHandler(handler)


def with_logging(func: Callable[..., Any]) -> Callable[..., Any]:
    """Log the call of ``func`` at debug level."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        logging.getLogger(func.__module__).debug("calling %s", func.__name__)
        return func(*args, **kwargs)

    return wrapper


def hide_paramiko_logs() -> None:
    logging.getLogger("paramiko").setLevel(logging.WARNING)


def hide_stevedore_logs() -> None:
    stevedore = logging.getLogger("stevedore")
    stevedore.propagate = False
    stevedore.addHandler(logging.NullHandler())
