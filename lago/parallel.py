"""Running the same step for many VMs or disks at once, in threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from lago import interrupt


class _Call(threading.Thread):
    def __init__(self, func: Callable[..., Any], args: Sequence[Any]) -> None:
        super().__init__(daemon=True)
        self.func = func
        self.args = tuple(args)
        self.result: Any = None
        self.error: BaseException | None = None
        # waited on instead of join(): a join() interrupted by Ctrl-C may
        # later return at once for a thread that still runs
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.result = self.func(*self.args)
        except BaseException as err:  # handed to the caller
            self.error = err
        finally:
            self.done.set()


class VectorThread:
    """A group of ``(func, args)`` calls run in parallel threads."""

    def __init__(self, targets: Sequence[Callable[[], Any]]) -> None:
        self.targets = list(targets)
        self.threads: list[_Call] = []

    def start_all(self) -> None:
        self.threads = [_Call(target, ()) for target in self.targets]
        launched: list[_Call] = []
        try:
            for thread in self.threads:
                # once start() is entered the thread exists: only the wait
                # for it to run can be interrupted
                launched.append(thread)
                thread.start()
        except BaseException:
            _stop_and_wait(launched)
            raise

    def join_all(self, raise_exceptions: bool = True) -> list[Any]:
        try:
            for thread in self.threads:
                thread.done.wait()
        except BaseException:
            _stop_and_wait(self.threads)
            raise
        if raise_exceptions:
            for thread in self.threads:
                if thread.error is not None:
                    raise thread.error
        return [thread.result for thread in self.threads]


def _stop_and_wait(threads: Sequence[_Call]) -> None:
    """Ctrl-C or SIGTERM: stop the workers and wait for them, so that the
    caller's rollback does not race what they are still making."""
    with interrupt.cancelling():
        for thread in threads:
            thread.done.wait()


def func_vector(
    target: Callable[..., Any], args_sequence: Sequence[Sequence[Any]]
) -> list[Callable[[], Any]]:
    """One argument-less callable per argument tuple."""
    return [_bind(target, args) for args in args_sequence]


def _bind(target: Callable[..., Any], args: Sequence[Any]) -> Callable[[], Any]:
    def call() -> Any:
        return target(*args)

    return call


def invoke_in_parallel(
    func: Callable[..., Any], *args_sequences: Sequence[Any]
) -> list[Any]:
    """Call ``func`` once per zipped argument, in parallel; results in order.

    The first failure (in argument order) is re-raised after all calls end.
    """
    vector = VectorThread(func_vector(func, list(zip(*args_sequences))))
    vector.start_all()
    return vector.join_all()


def invoke_different_funcs_in_parallel(*funcs: Callable[[], Any]) -> list[Any]:
    vector = VectorThread(funcs)
    vector.start_all()
    return vector.join_all()
