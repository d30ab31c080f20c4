"""The SDK walk-through of the documentation, run as written on a real VM."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import REPO_ROOT, LagoRunner

SDK_PAGE = REPO_ROOT / "docs/sdk.md"
QUICKSTART = REPO_ROOT / "docs/quickstart.md"


def _blocks(page, language: str) -> list[str]:
    pattern = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return [
        body for lang, body in pattern.findall(page.read_text()) if lang == language
    ]


def test_sdk_walkthrough_runs(lago: LagoRunner) -> None:
    # the walk-through runs beside the quick start's init file
    (init_file,) = _blocks(QUICKSTART, "yaml")
    (lago.cwd / "LagoInitFile").write_text(init_file)
    script = "\n".join(_blocks(SDK_PAGE, "python"))
    assert "sdk.init(" in script and "env.destroy()" in script
    (lago.cwd / "walkthrough.py").write_text(script)
    proc = subprocess.run(
        [sys.executable, "walkthrough.py"],
        cwd=lago.cwd, env=lago.env, capture_output=True, text=True, timeout=1500,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    out = proc.stdout
    assert "hostname: vm01" in out
    assert "hello from the host" in out
    assert "vm01 running" in out
    assert "lago " in out and "management" in out
    assert (lago.cwd / "guest-hostname").read_text().strip() == "vm01"
    assert (lago.cwd / "sdk.log").stat().st_size > 0
    assert not (lago.cwd / "sdk-workdir").exists()
