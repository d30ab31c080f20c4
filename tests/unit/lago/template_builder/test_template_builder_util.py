from __future__ import annotations

from pathlib import Path

import pytest

from lago.template_builder.errors import TemplateBuildError
from lago.template_builder.util import run


def test_run_returns_stdout() -> None:
    assert run(["sh", "-c", "echo out; echo err >&2"]) == "out\n"


def test_run_writes_stdout_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    assert run(["printf", "a\\0b"], stdout_path=target) == ""
    assert target.read_bytes() == b"a\0b"


def test_run_passes_input_env_and_cwd(tmp_path: Path) -> None:
    out = run(["sh", "-c", 'cat; echo "$GREETING"; pwd'], cwd=tmp_path,
              env={"GREETING": "hi"}, input_bytes=b"in\n")  # fmt: skip
    assert out == f"in\nhi\n{tmp_path}\n"


@pytest.mark.parametrize("to_file", [False, True])
def test_a_failure_names_the_tool_and_its_last_error_line(
    tmp_path: Path, to_file: bool
) -> None:
    target = tmp_path / "out" if to_file else None
    with pytest.raises(TemplateBuildError) as err:
        run(["sh", "-c", "echo first >&2; echo last >&2; exit 3"], stdout_path=target)
    assert str(err.value) == "sh failed (exit 3): last"


def test_a_missing_command_is_one_line() -> None:
    with pytest.raises(TemplateBuildError, match="command not found: no-such-tool-x"):
        run(["no-such-tool-x"])
