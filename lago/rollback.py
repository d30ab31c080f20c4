"""Undo steps that run when a block of work fails halfway."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lago.log_utils import end_log_task, start_log_task

LOGGER = logging.getLogger(__name__)

_Step = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class RollbackContext:
    """Records undo steps and plays them if the block raises.

    Steps run in list order: :meth:`prependDefer` puts a step first (so
    prepending each undo right after its step undoes the newest step
    first), :meth:`defer` puts it last. The block's exception is re-raised
    after the rollback; errors of undo steps are logged, not raised, so every
    step gets its chance. ``clear()`` drops the steps once the guarded work
    succeeded. Unlike the original (which also ran the steps on success),
    nothing runs when the block succeeds.
    """

    def __init__(self, *args: Any) -> None:
        self._finally: list[_Step] = []
        self._on_success_too = False

    def __enter__(self) -> RollbackContext:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        # never swallows the block's exception
        if exc_type is not None or self._on_success_too:
            self.run_undo()

    def run_undo(self) -> None:
        while self._finally:
            func, args, kwargs = self._finally.pop(0)
            try:
                func(*args, **kwargs)
            except Exception:
                LOGGER.exception(
                    "rollback step %s failed", getattr(func, "__name__", func)
                )

    def defer(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._finally.append((func, args, kwargs))

    def prependDefer(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._finally.insert(0, (func, args, kwargs))

    def clear(self) -> None:
        self._finally = []


@contextmanager
def rollback_task(what: str) -> Iterator[None]:
    """Log the undoing of ``what`` as its own task, ended with "Rolled back"
    when every step worked: a rollback that did its job is no error (the
    error that caused it is reported by the caller)."""
    task = f"Roll back: {what}"
    start_log_task(task)
    try:
        yield
    except BaseException:
        end_log_task(task, level="error")
        raise
    end_log_task(task)
