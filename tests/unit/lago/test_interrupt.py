"""Interruptions: workers and their commands stop before the caller rolls back."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time

import pytest

from lago import interrupt
from lago._template_providers import TemplateDownloadError, download
from lago.parallel import invoke_in_parallel
from lago.process import run_command


def _interrupt_main_when(condition, timeout: float = 20) -> threading.Thread:
    """SIGINT this process (the main thread gets KeyboardInterrupt) once
    ``condition()`` holds."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_check_and_sleep_raise_only_while_cancelling() -> None:
    interrupt.check()
    interrupt.sleep(0)
    with interrupt.cancelling():
        with pytest.raises(interrupt.Interrupted):
            interrupt.check()
        with pytest.raises(interrupt.Interrupted):
            interrupt.sleep(30)
    interrupt.check()  # normal work resumes after the block


def test_no_command_starts_while_cancelling(tmp_path) -> None:
    marker = tmp_path / "ran"
    with interrupt.cancelling(), pytest.raises(interrupt.Interrupted):
        run_command(["touch", str(marker)])
    assert not marker.exists()
    assert run_command(["true"]).code == 0


def test_ctrl_c_kills_the_commands_of_workers_and_waits_for_them() -> None:
    finished: list[str] = []
    pids: list[int] = []

    def work(seconds: str) -> None:
        result = run_command(["sleep", seconds])
        finished.append(f"{seconds}: {result.code}")

    def both_running() -> bool:
        children = list(interrupt._CHILDREN)
        pids[:] = [proc.pid for proc in children]
        return len(children) == 2

    watcher = _interrupt_main_when(both_running)
    with pytest.raises(KeyboardInterrupt):
        invoke_in_parallel(work, ["60", "61"])
    watcher.join()
    # both workers ended (their sleeps killed) before the interruption got out
    assert sorted(finished) == ["60: -9", "61: -9"]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not interrupt._CHILDREN
    interrupt.check()


class _Stalling(http.server.BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        self.wfile.write(b"\0" * 4096)
        self.release.wait(30)

    def log_message(self, *args: object) -> None:
        pass


def test_an_interruption_wakes_a_stalled_download(tmp_path) -> None:
    _Stalling.release.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dest = tmp_path / "big.img"
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            download(f"http://127.0.0.1:{server.server_address[1]}/big", str(dest))
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=fetch)
    try:
        worker.start()
        deadline = time.monotonic() + 10
        while not (tmp_path / "big.img.tmp").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        with interrupt.cancelling():
            worker.join(10)  # without the wake-up: the server's 30 s stall
        assert not worker.is_alive()
    finally:
        _Stalling.release.set()
        worker.join()
        server.shutdown()
        server.server_close()
    # the read returns (cut short) and the worker stops, one way or the other
    assert len(errors) == 1
    assert isinstance(errors[0], (interrupt.Interrupted, TemplateDownloadError))
    assert not list(tmp_path.iterdir())
