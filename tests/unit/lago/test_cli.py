"""The ``lago`` executable, run in a subprocess as a user runs it.

Verbs other than ``generate-config`` come from the test plugin package
(``plugin_pkgs/lago_test_plugins``) that the ``plugin_site`` fixture installs
with pip; see ``tests/unit/conftest.py``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")

GLOBAL_OPTIONS = [
    "-l {info,debug,error,warning}, --loglevel {info,debug,error,warning}",
    "--logdepth LOGDEPTH",
    "--version",
    "--out-format {default,dot,flat,json,upper,yaml}, -f {default,dot,flat,json,upper,yaml}",
    "--prefix-path PREFIX_PATH, -p PREFIX_PATH",
    "--workdir-path WORKDIR_PATH, -w WORKDIR_PATH",
    "--prefix-name PREFIX_NAME, -P PREFIX_NAME",
    "--ssh-user SSH_USER",
    "--ssh-password SSH_PASSWORD",
    "--ssh-tries SSH_TRIES",
    "--ssh-timeout SSH_TIMEOUT",
    "--libvirt_url LIBVIRT_URL",
    "--libvirt-user LIBVIRT_USERNAME",
    "--libvirt-password LIBVIRT_PASSWORD",
    "--default_vm_type DEFAULT_VM_TYPE",
    "--default_vm_provider DEFAULT_VM_PROVIDER",
    "--default_root_password ROOT_PASSWORD",
    "--lease_dir LEASE_DIR",
    "--reposync-dir REPOSYNC_DIR",
    "--ignore-warnings",
]

LAGO_SECTION = """\
[lago]
# log level to use for the terminal output
loglevel = info
# depth of nested tasks to show; a negative number shows them all
logdepth = 3
# format of the output of verbs that print information
out_format = default
# name of the prefix to use inside the workdir
prefix_name = current
# user to log into the vms with
ssh_user = root
# password to log into the vms with
ssh_password = 123456
# attempts to make when connecting to a vm
ssh_tries = 100
# seconds to wait for each ssh attempt
ssh_timeout = 10
# uri of the libvirt daemon to use
libvirt_url = qemu:///system
# vm plugin for vms that name none
default_vm_type = default
# vm provider plugin for vms that name none
default_vm_provider = local-libvirt
# directory of the subnet leases
lease_dir = /var/lib/lago/subnets
# unused; kept for compatibility
reposync_dir = /var/lib/lago
# terminal log as coloured task tree (text) or json lines (json)
log_format = text

"""

TESTVERB_SECTION = """\
[testverb]
# some path
some_path = /default/path
# how many times
count = 1
# some names
names = ['a', 'b']

"""


def plain(text: str) -> str:
    return ANSI.sub("", text)


def ini_sections(text: str) -> dict[str, str]:
    """Section name -> its text (header line to the blank line after it)."""
    sections: dict[str, str] = {}
    for chunk in re.split(r"^(?=\[)", text, flags=re.MULTILINE)[1:]:
        sections[chunk[1 : chunk.index("]")]] = chunk
    return sections


def verb_args(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# -- help, version, no verb -------------------------------------------------


def test_help_lists_global_options_and_plugin_verbs(lago_cli):
    result = lago_cli.run("--help")
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.startswith("usage: lago ")
    for option in GLOBAL_OPTIONS:
        assert f"\n  {option}" in result.stdout, option
    assert re.search(
        r"\n    generate-config +Print the current configuration", result.stdout
    )
    assert re.search(r"\n    testverb +Decorated test verb\n", result.stdout)
    assert re.search(r"\n    classverb +Test verb made from a CLIPlugin", result.stdout)


def test_lagocli_is_the_same_program(lago_cli):
    assert (
        lago_cli.run("--help", program="lagocli").stdout
        == lago_cli.run("--help").stdout
    )


def test_version(lago_cli):
    result = lago_cli.run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, "lago 1.0.0\n", "")


def test_no_verb_prints_help_and_fails(lago_cli):
    result = lago_cli.run()
    assert result.returncode == 1
    assert result.stdout == lago_cli.run("--help").stdout
    assert result.stderr == ""


# -- generate-config ---------------------------------------------------------


def test_generate_config_prints_ini(lago_cli):
    result = lago_cli.run("generate-config")
    assert result.returncode == 0, result.stderr
    header, _, body = result.stdout.partition("\n")
    assert re.fullmatch(r"# Lago configuration file, generated: \S.*", header)
    assert body.startswith("[lago]\n")
    assert result.stdout.endswith("\n\n")
    sections = ini_sections(body)
    assert sections["lago"] == LAGO_SECTION
    assert sections["testverb"] == TESTVERB_SECTION
    # verbs whose options all lack a value get no section
    assert "classverb" not in sections
    assert "boom" not in sections


def test_generate_config_verbose_adds_unset_options(lago_cli):
    sections = ini_sections(lago_cli.run("generate-config", "--verbose").stdout)
    assert sections["testverb"] == (
        "[testverb]\n# first positional\n#first = None\n"
        "# second positional\n#second = None\n"
        + TESTVERB_SECTION[len("[testverb]\n") :]
    )
    assert (
        "# path of the prefix to use (deprecated: use --workdir-path and\n"
        "# --prefix-name)\n#prefix_path = None\n"
    ) in sections["lago"]
    for dest in (
        "workdir_path",
        "libvirt_username",
        "libvirt_password",
        "root_password",
    ):
        assert f"\n#{dest} = None\n" in sections["lago"]
    # a flag is never listed while unset
    assert "dummy_flag" not in sections["testverb"]


def test_generate_config_shows_verb_env_override(lago_cli):
    result = lago_cli.run("generate-config", env={"LAGO__TESTVERB__SOME_PATH": "/x"})
    sections = ini_sections(result.stdout)
    assert "# some path\nsome_path = /x\n" in sections["testverb"]
    assert sections["lago"] == LAGO_SECTION


def test_generate_config_shows_init_env_override(lago_cli):
    default = ini_sections(lago_cli.run("generate-config").stdout)["init"]
    assert "\ntemplate_store = /var/lib/lago/store\n" in default
    result = lago_cli.run("generate-config", env={"LAGO__INIT__TEMPLATE_STORE": "/x"})
    assert ini_sections(result.stdout)["init"] == default.replace(
        "\ntemplate_store = /var/lib/lago/store\n", "\ntemplate_store = /x\n"
    )


def test_generate_config_output_read_back_changes_nothing(lago_cli):
    lago_cli.write_conf(lago_cli.run("generate-config").stdout)
    again = lago_cli.run("generate-config")
    assert again.returncode == 0, again.stderr
    sections = ini_sections(again.stdout)
    assert (sections["lago"], sections["testverb"]) == (LAGO_SECTION, TESTVERB_SECTION)
    assert verb_args(lago_cli.run("testverb"))["names"] == ["a", "b"]


# -- precedence: defaults < files < environment < command line ----------------


USER_CONF = """\
[lago]
ssh_user = fileuser
[testverb]
some_path = /from/file
count = 7
dummy_flag = True
names = ['p', 'q']
"""


def test_user_config_file_overrides_defaults(lago_cli):
    lago_cli.write_conf(USER_CONF)
    assert verb_args(lago_cli.run("testverb")) == {
        "count": 7,
        "dummy_flag": True,
        "first": None,
        "names": ["p", "q"],
        "second": None,
        "some_path": "/from/file",
        "ssh_user": "fileuser",
        "verb": "testverb",
    }
    sections = ini_sections(lago_cli.run("generate-config").stdout)
    assert "\nssh_user = fileuser\n" in sections["lago"]
    assert "\ndummy_flag = True\n" in sections["testverb"]


def test_flag_set_false_in_file(lago_cli):
    lago_cli.write_conf("[testverb]\ndummy_flag = False\n")
    assert verb_args(lago_cli.run("testverb"))["dummy_flag"] is False
    assert verb_args(lago_cli.run("testverb", "--dummy-flag"))["dummy_flag"] is True


def test_environment_overrides_config_file(lago_cli):
    lago_cli.write_conf(USER_CONF)
    env = {"LAGO_SSH_USER": "envuser", "LAGO__TESTVERB__SOME_PATH": "/from/env"}
    args = verb_args(lago_cli.run("testverb", env=env))
    assert (args["ssh_user"], args["some_path"], args["count"]) == (
        "envuser",
        "/from/env",
        7,
    )
    generated = lago_cli.run("generate-config", env=env).stdout
    assert "\nssh_user = envuser\n" in ini_sections(generated)["lago"]


def test_command_line_overrides_environment(lago_cli):
    lago_cli.write_conf(USER_CONF)
    env = {"LAGO_SSH_USER": "envuser", "LAGO__TESTVERB__COUNT": "8"}
    result = lago_cli.run(
        "--ssh-user",
        "cliuser",
        "testverb",
        "--some-path",
        "/cli",
        "--count",
        "9",
        env=env,
    )
    args = verb_args(result)
    assert (args["ssh_user"], args["some_path"], args["count"]) == (
        "cliuser",
        "/cli",
        9,
    )
    generated = lago_cli.run("--ssh-user", "cliuser", "generate-config", env=env).stdout
    assert "\nssh_user = cliuser\n" in ini_sections(generated)["lago"]


def test_xdg_config_dirs_are_read_and_config_home_wins(lago_cli):
    low, high = lago_cli.xdg_dirs[1], lago_cli.xdg_dirs[0]
    lago_cli.write_conf("[lago]\nssh_user = low\nssh_password = lowpass\n", base=low)
    lago_cli.write_conf("[lago]\nssh_user = high\nssh_tries = 5\n", base=high)
    lago_cli.write_conf("[lago]\nssh_tries = 6\n")
    lago_section = ini_sections(lago_cli.run("generate-config").stdout)["lago"]
    assert "\nssh_user = high\n" in lago_section
    assert "\nssh_password = lowpass\n" in lago_section
    assert "\nssh_tries = 6\n" in lago_section


def test_empty_environment_variable_is_ignored_with_warning(lago_cli):
    result = lago_cli.run("testverb", env={"LAGO_SSH_USER": ""})
    assert verb_args(result)["ssh_user"] == "root"
    assert plain(result.stderr) == (
        "empty environment variable definition:LAGO_SSH_USER, ignoring.\n"
    )


# -- plugins -----------------------------------------------------------------


def test_class_plugin_verb_runs(lago_cli):
    assert lago_cli.run("classverb").stdout == "Dummy flag not passed to classverb!\n"
    assert lago_cli.run("classverb", "--dummy-flag").stdout == (
        "Dummy flag passed to classverb!\n"
    )


def test_decorated_verb_takes_positionals_in_declared_order(lago_cli):
    args = verb_args(lago_cli.run("testverb", "A", "B", "--names", "x", "y", "z"))
    assert (args["first"], args["second"], args["names"]) == ("A", "B", ["x", "y", "z"])


def test_output_plugin_adds_out_format(lago_cli):
    result = lago_cli.run("--out-format", "upper", "show")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "A=x\nB={'c': 1, 'd': [1, 2]}\n"
    assert lago_cli.run("-f", "flat", "show").stdout == "a: x\nb/c: 1\nb/d: 1\nb/d: 2\n"


def test_broken_plugin_is_one_warning_and_help_still_works(lago_cli):
    result = lago_cli.run("--help", plugins=("good", "broken"))
    assert result.returncode == 0
    assert plain(result.stderr).splitlines() == [
        "Failed to load plugin broken (lago-broken-plugin 0.1, "
        "lago_broken_plugin.verb:broken) from group lago.plugins.cli: "
        "ModuleNotFoundError: No module named 'lago_no_such_dependency'"
    ]
    assert "testverb" in result.stdout
    assert " broken " not in result.stdout


# -- errors ------------------------------------------------------------------


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], line: str, code: int
):
    assert result.returncode == code
    assert plain(result.stderr) == line + "\n"
    assert result.stdout == ""


def test_config_file_that_is_a_directory(lago_cli):
    lago_cli.user_conf.mkdir(parents=True)
    result = lago_cli.run("testverb")
    line = f"Cannot read config file {lago_cli.user_conf}: Is a directory"
    assert_one_line_error(result, line, 2)
    assert "\x1b[31m" in result.stderr


def test_config_file_that_is_not_utf8(lago_cli):
    path = lago_cli.write_conf(b"[lago]\nssh_user = \xff\xfe\n")
    result = lago_cli.run("generate-config")
    line = f"Cannot read config file {path}: line 2 is not UTF-8 text"
    assert_one_line_error(result, line, 2)


def test_config_file_without_section_header(lago_cli):
    path = lago_cli.write_conf("ssh_user = nobody\n")
    result = lago_cli.run("--help")
    line = (
        f"Malformed config file {path}: line 1: no [section] header before "
        "'ssh_user = nobody'"
    )
    assert_one_line_error(result, line, 2)


def test_config_file_with_bad_interpolation(lago_cli):
    path = lago_cli.write_conf("[lago]\nssh_password = 50%(\n")
    result = lago_cli.run("generate-config")
    line = (
        f"Malformed config file {path}: [lago] ssh_password: "
        "bad interpolation variable reference '%('"
    )
    assert_one_line_error(result, line, 2)


def test_config_value_that_is_not_a_choice(lago_cli):
    path = lago_cli.write_conf("[lago]\nout_format = fancy\n")
    line = (
        f"Invalid value 'fancy' for out_format in [lago] (from {path}): "
        "expected one of default, dot, flat, json, upper, yaml"
    )
    assert_one_line_error(lago_cli.run("show"), line, 2)


def test_environment_value_that_is_not_a_number(lago_cli):
    result = lago_cli.run("testverb", env={"LAGO__TESTVERB__COUNT": "many"})
    line = (
        "Invalid value 'many' for count in [testverb] "
        "(from environment variable LAGO__TESTVERB__COUNT): expected an integer"
    )
    assert_one_line_error(result, line, 2)


def test_unknown_out_format(lago_cli):
    result = lago_cli.run("--out-format", "nope", "show")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "lago: error: argument --out-format/-f: invalid choice: 'nope' (choose from "
    )


def test_unexpected_exception_in_verb(lago_cli):
    result = lago_cli.run("boom")
    assert_one_line_error(result, "Error occured, aborting: RuntimeError: kaboom", 1)


def test_unexpected_exception_with_debug_shows_traceback(lago_cli):
    result = lago_cli.run("--loglevel", "debug", "boom")
    assert result.returncode == 1
    stderr = plain(result.stderr)
    assert stderr.count("Traceback (most recent call last):") == 1
    assert 'raise RuntimeError("kaboom\\nsecond line")' in stderr
    assert stderr.endswith("\nError occured, aborting: RuntimeError: kaboom\n")


def test_lago_exception_in_verb(lago_cli):
    result = lago_cli.run("usererror")
    assert_one_line_error(result, "Cannot use /some/file: it is broken", 2)


def test_sigterm_runs_cleanup_and_exits_143(lago_cli, tmp_path: Path):
    markers = tmp_path / "markers"
    markers.mkdir()
    proc = subprocess.Popen(
        lago_cli.command(["sleeper", str(markers)]),
        env=lago_cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (markers / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the verb never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143
    assert (markers / "cleanup").read_text() == "cleaned up\n"
    assert re.fullmatch(
        r"@ Sleeping: \n@ Sleeping: ERROR \(in 0:00:0\d\)\nTerminated by SIGTERM\n",
        plain(stderr),
    )


# -- task output wiring --------------------------------------------------------


def test_task_headers_on_stderr(lago_cli):
    result = lago_cli.run("tasks")
    assert result.returncode == 0
    assert result.stdout == ""
    assert plain(result.stderr).splitlines() == [
        "@ Outer: ",
        "  # Inner: ",
        "  # Inner: Success (in 0:00:00)",
        "  # [worker-1] In thread: ",
        "  # [worker-1] In thread: Success (in 0:00:00)",
        "  # always shown",
        "@ Outer: Success (in 0:00:00)",
    ]
    assert (
        "\x1b[36m@ Outer: \x1b[32mSuccess\x1b[0m (in 0:00:00)\x1b[0m" in result.stderr
    )


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        ("1", ["@ Outer: ", "  # always shown", "@ Outer: Success (in 0:00:00)"]),
        ("0", ["  # always shown"]),
    ],
)
def test_logdepth_hides_deeper_tasks(lago_cli, depth, expected):
    result = lago_cli.run("--logdepth", depth, "tasks")
    assert plain(result.stderr).splitlines() == expected


def test_failed_task_shows_its_records(lago_cli):
    result = lago_cli.run("--logdepth", "1", "tasks", "--fail")
    assert result.returncode == 0
    assert plain(result.stderr).splitlines() == [
        "@ Outer: ",
        "  # Inner: ",
        "    * inner info",
        "    * inner failure",
        "  # Inner: ERROR (in 0:00:00)",
        "  # always shown",
        "@ Outer: ERROR (in 0:00:00)",
    ]


def test_bootstrap_method_that_is_not_a_choice(lago_cli):
    path = lago_cli.write_conf("[init]\nbootstrap_method = fastest\n")
    (lago_cli.home / "LagoInitFile").write_text("domains: {}\nnets: {}\n")
    before = sorted(p.name for p in lago_cli.home.iterdir())
    line = (
        f"Invalid value 'fastest' for bootstrap_method in [init] (from {path}): "
        "expected one of guestfs, virt-sysprep"
    )
    assert_one_line_error(lago_cli.run("init"), line, 2)
    assert sorted(p.name for p in lago_cli.home.iterdir()) == before
