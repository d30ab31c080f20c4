"""Shell completion, driven the way bash's argcomplete script drives ``lago``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lago import completion


def complete(line: str, cwd: Path, tmp_path: Path) -> list[str]:
    """What ``lago`` offers for the cursor at the end of ``line``."""
    out = tmp_path / "completions"
    env = dict(os.environ)
    env.update(
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "lago.cmd"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [word.strip() for word in out.read_text().split("\n") if word.strip()]


def make_prefix(workdir: Path, name: str, vms: dict[str, dict]) -> Path:
    """A prefix as ``lago init`` saves it: ``virt/env`` and one spec per VM."""
    prefix = workdir / name
    (prefix / "virt").mkdir(parents=True)
    (prefix / "uuid").write_text("0123456789abcdef0123456789abcdef")
    (prefix / "initialized").write_text("")
    (prefix / "virt/env").write_text(json.dumps({"vms": list(vms), "nets": []}))
    for vm, spec in vms.items():
        (prefix / f"virt/vm-{vm}").write_text(json.dumps({"name": vm, **spec}))
    if not (workdir / "current").exists():
        (workdir / "current").symlink_to(name)
    return prefix


@pytest.fixture
def project(tmp_path: Path) -> Path:
    workdir = tmp_path / "project/.lago"
    workdir.mkdir(parents=True)
    make_prefix(
        workdir,
        "default",
        {
            "web": {"snapshots": {"s1": [], "before-upgrade": []}},
            "db": {"snapshots": {"s1": []}},
        },
    )
    make_prefix(workdir, "second", {"other": {}})
    return tmp_path / "project"


def test_verbs_and_options(project: Path, tmp_path: Path) -> None:
    assert complete("lago st", project, tmp_path) == ["start", "status", "stop"]
    assert "--out-format" in complete("lago --out", project, tmp_path)
    offered = complete("lago --out-format ", project, tmp_path)
    assert {"default", "flat", "json", "yaml"} <= set(offered)
    assert "--vm-names" not in complete("lago start --", project, tmp_path)


def test_vm_names_from_the_current_prefix(project: Path, tmp_path: Path) -> None:
    for verb in completion.VM_NAME_VERBS:
        assert sorted(complete(f"lago {verb} ", project, tmp_path)) == ["db", "web"]
    assert complete("lago shell w", project, tmp_path) == ["web"]
    # another prefix, chosen on the command line, has other VMs
    assert complete("lago -P second console ", project, tmp_path) == ["other"]


def test_prefix_names(project: Path, tmp_path: Path) -> None:
    assert sorted(complete("lago set-current ", project, tmp_path)) == [
        "default",
        "second",
    ]
    assert complete("lago --prefix-name s", project, tmp_path) == ["second"]


def test_snapshot_names_from_the_vm_specs(project: Path, tmp_path: Path) -> None:
    prefix = project / ".lago/default"
    names = completion.snapshot_names(prefix)
    assert names == ["s1", "before-upgrade"]


def test_outside_a_workdir_nothing_is_offered(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert complete("lago shell ", empty, tmp_path) == []


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_shell_scripts(shell: str) -> None:
    code = completion.shell_code(shell)
    assert "_python_argcomplete" in code
    assert "lago" in code
    if shell == "zsh":
        assert code.startswith("#compdef lago")
    with pytest.raises(ValueError):
        completion.shell_code("fish")


@pytest.mark.skipif(not shutil.which("bash"), reason="bash is not installed")
def test_bash_script_registers_lago() -> None:
    code = completion.shell_code("bash")
    proc = subprocess.run(
        ["bash", "-c", f"{code}\ncomplete -p lago"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "_python_argcomplete" in proc.stdout


ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; PATH=$1:\$PATH; fpath=($2 \$fpath); cd $3; autoload -U compinit; compinit -u -D"
zpty -w -n z $'lago shell \t\t'
seen=""
for i in {1..120}; do
    while zpty -r -t z chunk; do seen+=$chunk; done
    [[ $seen == *db*web* ]] && break
    sleep 0.5
done
zpty -d z
print -r -- "$seen"
"""


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_completes_vm_names(project: Path, tmp_path: Path) -> None:
    """A real interactive zsh, with the installed ``_lago``, completing a VM name."""
    functions = tmp_path / "site-functions"
    functions.mkdir()
    (functions / "_lago").write_text(completion.shell_code("zsh"))
    driver = tmp_path / "drive.zsh"
    driver.write_text(ZSH_DRIVER)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "lago").exists()
    proc = subprocess.run(
        ["zsh", "-f", str(driver), str(bin_dir), str(functions), str(project)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    screen = proc.stdout.replace("\r", "")
    assert "db" in screen and "web" in screen, screen
