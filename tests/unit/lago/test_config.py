"""lago.config: look-up order, environment mapping, argparse merge, INI output."""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path

import pytest

from lago import config as config_mod
from lago import constants
from lago.config import ConfigLoad, argparse_to_ini, get_env_dict
from lago.errors import ConfigError


@pytest.fixture
def conf_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A private /etc, XDG_CONFIG_DIRS (two entries) and XDG_CONFIG_HOME."""
    for var in list(os.environ):
        if var.startswith("LAGO_"):
            monkeypatch.delenv(var)
    dirs = {name: tmp_path / name for name in ("etc", "xdg_high", "xdg_low", "home")}
    monkeypatch.setattr(constants, "CONFS_PATH", [str(dirs["etc"] / "lago.conf")])
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"{dirs['xdg_high']}:{dirs['xdg_low']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(dirs["home"]))
    monkeypatch.setenv("HOME", str(tmp_path))
    return dirs


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def conf_in(base: Path) -> Path:
    return base / "lago" / "lago.conf"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lago")
    parser.add_argument("--loglevel", default="info", choices=["info", "debug"])
    parser.add_argument("--ssh-user", default="root", help="User to log in as")
    parser.add_argument("--ssh-tries", type=int, default=100, help="Attempts")
    parser.add_argument("--prefix-path", default=None, help="Prefix path")
    parser.add_argument("--version", action="version", version="lago 1.0.0")
    verbs = parser.add_subparsers(dest="verb")
    init = verbs.add_parser("init")
    init.add_argument("--template-store", default="/var/lib/lago/store", help="Store")
    init.add_argument("--skip-build", action="store_true", help="Skip build")
    init.add_argument("virt_config", nargs="?", default=None, help="Init file")
    hosts = verbs.add_parser("ansible_hosts")
    hosts.add_argument("--keys", nargs="*", default=["vm-type", "groups"], help="Keys")
    verbs.add_parser("status")
    return parser


# -- look-up order -------------------------------------------------------------


def test_configs_path_order(conf_dirs):
    for name in ("etc", "xdg_high", "xdg_low", "home"):
        target = conf_dirs[name] if name == "etc" else conf_in(conf_dirs[name])
        write(target if name != "etc" else target / "lago.conf", "[lago]\n")
    assert config_mod._get_configs_path() == [
        str(conf_dirs["etc"] / "lago.conf"),
        str(conf_in(conf_dirs["xdg_low"])),
        str(conf_in(conf_dirs["xdg_high"])),
        str(conf_in(conf_dirs["home"])),
    ]


def test_configs_path_skips_missing_and_uses_xdg_defaults(conf_dirs, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.delenv("XDG_CONFIG_DIRS")
    home_conf = write(conf_in(Path(os.environ["HOME"]) / ".config"), "[lago]\n")
    assert config_mod._get_configs_path()[-1] == str(home_conf)
    assert str(conf_in(conf_dirs["xdg_low"])) not in config_mod._get_configs_path()


def test_files_override_each_other_in_order(conf_dirs):
    write(
        conf_dirs["etc"] / "lago.conf", "[lago]\na = etc\nb = etc\nc = etc\nd = etc\n"
    )
    write(conf_in(conf_dirs["xdg_low"]), "[lago]\nb = low\nc = low\nd = low\n")
    write(conf_in(conf_dirs["xdg_high"]), "[lago]\nc = high\nd = high\n")
    write(conf_in(conf_dirs["home"]), "[lago]\nd = home\n[init]\nx = 1\n")
    loaded = ConfigLoad(defaults={"lago": {"a": "default", "e": "default"}}).load()
    assert loaded == {
        "lago": {"a": "etc", "b": "low", "c": "high", "d": "home", "e": "default"},
        "init": {"x": "1"},
    }


def test_environment_overrides_files(conf_dirs, monkeypatch):
    write(conf_in(conf_dirs["home"]), "[lago]\nssh_user = file\n[init]\nstore = /f\n")
    monkeypatch.setenv("LAGO_SSH_USER", "env")
    monkeypatch.setenv("LAGO__INIT__STORE", "/e")
    conf = ConfigLoad()
    assert conf.get("ssh_user") == "env"
    assert conf["ssh_user"] == "env"
    assert conf.get_section("init") == {"store": "/e"}


def test_keys_are_case_insensitive_and_interpolated(conf_dirs):
    write(conf_in(conf_dirs["home"]), "[lago]\nBase = /srv\nSSH_User = %(base)s/u\n")
    conf = ConfigLoad()
    assert conf.get("ssh_user") == "/srv/u"
    assert conf.get("missing", "fallback") == "fallback"
    with pytest.raises(KeyError):
        conf["missing"]


# -- environment -----------------------------------------------------------------


def test_get_env_dict(conf_dirs, monkeypatch):
    monkeypatch.setenv("LAGO_GLOBAL_VAR", "global")
    monkeypatch.setenv("LAGO__INIT__REPO_PATH", "/tmp/store")
    monkeypatch.setenv("LAGO__LONG_SECTION_NAME__VAR__X", "v")
    monkeypatch.setenv("LAGO___BROKEN", "ignored")
    monkeypatch.setenv("LAGO__NOKEY", "ignored")
    monkeypatch.setenv("LAGOS_OTHER", "ignored")
    assert get_env_dict("lago") == {
        "lago": {"global_var": "global"},
        "init": {"repo_path": "/tmp/store"},
        "long_section_name": {"var__x": "v"},
    }


def test_empty_environment_variable_is_ignored_with_warning(
    conf_dirs, monkeypatch, caplog
):
    monkeypatch.setenv("LAGO_SSH_USER", "")
    with caplog.at_level(logging.WARNING, logger="lago.config"):
        assert get_env_dict("lago") == {}
    assert caplog.messages == [
        "empty environment variable definition:LAGO_SSH_USER, ignoring."
    ]


# -- argparse merge --------------------------------------------------------------


def test_update_parser_makes_config_values_defaults(conf_dirs, monkeypatch):
    write(
        conf_in(conf_dirs["home"]),
        "[lago]\nssh_tries = 5\n[init]\ntemplate_store = /file\nskip_build = yes\n"
        "[ansible_hosts]\nkeys = ['a', 'b c']\n",
    )
    monkeypatch.setenv("LAGO__INIT__TEMPLATE_STORE", "/env")
    conf = ConfigLoad()
    parser = make_parser()
    conf.update_parser(parser)
    args = parser.parse_args(["init"])
    assert (args.ssh_tries, args.template_store, args.skip_build) == (5, "/env", True)
    assert parser.parse_args(["ansible_hosts"]).keys == ["a", "b c"]
    # options not in any file are recorded with their defaults
    assert conf.get("ssh_user") == "root"
    assert conf.get_section("status") == {}
    assert conf.get_section("init")["virt_config"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("True", True), ("false", False), ("0", False), ("on", True), ("No", False)],
)
def test_flag_from_file(conf_dirs, value, expected):
    write(conf_in(conf_dirs["home"]), f"[init]\nskip_build = {value}\n")
    parser = make_parser()
    ConfigLoad().update_parser(parser)
    assert parser.parse_args(["init"]).skip_build is expected
    assert parser.parse_args(["init", "--skip-build"]).skip_build is True


def test_list_option_from_words(conf_dirs):
    write(conf_in(conf_dirs["home"]), "[ansible_hosts]\nkeys = vm-type  groups\n")
    parser = make_parser()
    ConfigLoad().update_parser(parser)
    assert parser.parse_args(["ansible_hosts"]).keys == ["vm-type", "groups"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[init]\nskip_build = maybe\n", "expected true/false, yes/no, on/off or 1/0"),
        ("[lago]\nssh_tries = many\n", "expected an integer"),
        ("[lago]\nloglevel = loud\n", "expected one of info, debug"),
        ("[ansible_hosts]\nkeys = ['a'\n", "expected a list such as ['a', 'b']"),
        ("[ansible_hosts]\nkeys = [1] + [2]\n", "expected a list such as ['a', 'b']"),
    ],
)
def test_bad_values_name_file_key_and_expectation(conf_dirs, text, reason):
    path = write(conf_in(conf_dirs["home"]), text)
    section, key, value = re.match(r"\[(\w+)\]\n(\w+) = (.*)", text, re.DOTALL).groups()
    with pytest.raises(ConfigError) as err:
        ConfigLoad().update_parser(make_parser())
    assert str(err.value) == (
        f"Invalid value {value.rstrip(chr(10))!r} for {key} in [{section}] "
        f"(from {path}): {reason}"
    )


def test_bad_environment_value_names_the_variable(conf_dirs, monkeypatch):
    monkeypatch.setenv("LAGO_LOGLEVEL", "loud")
    with pytest.raises(
        ConfigError, match=r"\(from environment variable LAGO_LOGLEVEL\)"
    ):
        ConfigLoad().update_parser(make_parser())


def test_update_args_overrides_only_set_root_values(conf_dirs):
    conf = ConfigLoad()
    parser = make_parser()
    conf.update_parser(parser)
    conf.update_args(
        parser.parse_args(["--ssh-user", "cli", "--prefix-path", "/p", "status"])
    )
    assert conf.get("ssh_user") == "cli"
    # prefix_path held no value, so the argument does not land in [lago]
    assert conf.get("prefix_path") is None


def test_set_overrides_a_value(conf_dirs):
    conf = ConfigLoad(defaults={"lago": {"ssh_user": "root"}})
    conf.set("ssh_user", "sdk")
    conf.set("template_store", "/s", section="init")
    assert (conf.get("ssh_user"), conf.get_section("init")) == (
        "sdk",
        {"template_store": "/s"},
    )


# -- INI output --------------------------------------------------------------------


def test_get_ini_with_parser(conf_dirs, monkeypatch):
    monkeypatch.setenv("LAGO__INIT__TEMPLATE_STORE", "/x")
    monkeypatch.setenv("LAGO_SSH_USER", "alice")
    conf = ConfigLoad()
    parser = make_parser()
    conf.update_parser(parser)
    header, _, body = conf.get_ini().partition("\n")
    assert re.fullmatch(r"# Lago configuration file, generated: .+", header)
    assert body == (
        "[lago]\n"
        "loglevel = info\n"
        "# user to log in as\n"
        "ssh_user = alice\n"
        "# attempts\n"
        "ssh_tries = 100\n"
        "\n"
        "[init]\n"
        "# store\n"
        "template_store = /x\n"
        "\n"
        "[ansible_hosts]\n"
        "# keys\n"
        "keys = ['vm-type', 'groups']\n"
        "\n"
    )


def test_get_ini_verbose_lists_unset_options(conf_dirs):
    conf = ConfigLoad()
    conf.update_parser(make_parser())
    body = conf.get_ini(incl_unset=True).partition("\n")[2]
    assert "# attempts\nssh_tries = 100\n# prefix path\n#prefix_path = None\n\n" in body
    assert (
        "template_store = /var/lib/lago/store\n# init file\n#virt_config = None\n"
        in body
    )
    assert "skip_build" not in body


def test_get_ini_wraps_and_lowercases_help():
    parser = argparse.ArgumentParser()
    help_text = "A Long Help Text " * 6 + "with %(default)s"
    parser.add_argument("--thing", default="Value", help=help_text)
    text = argparse_to_ini(parser)
    assert text.partition("\n")[2] == (
        "[lago]\n"
        "# a long help text a long help text a long help text a long help text a\n"
        "# long help text a long help text with value\n"
        "thing = Value\n"
        "\n"
    )


def test_get_ini_without_parser_dumps_every_section(conf_dirs):
    conf = ConfigLoad(
        defaults={"lago": {"ssh_user": "root", "none": None}, "init": {"a": "50%"}}
    )
    assert conf.get_ini() == "[lago]\nssh_user = root\nnone\n\n[init]\na = 50%\n\n"


def test_default_config_has_the_original_values():
    defaults = config_mod._default_config()
    assert defaults["lago"] == {
        "logdepth": 3,
        "loglevel": "info",
        "ssh_user": "root",
        "ssh_password": "123456",
        "ssh_tries": 100,
        "ssh_timeout": 10,
        "libvirt_url": "qemu:///system",
        "default_vm_type": "default",
        "default_vm_provider": "local-libvirt",
        "lease_dir": "/var/lib/lago/subnets",
        "prefix_name": "current",
        "reposync_dir": "/var/lib/lago",
    }
    assert defaults["init"]["template_store"] == "/var/lib/lago/store"
    assert defaults["init"]["template_repos"] == "/var/lib/lago/repos"


def test_default_template_repo_path_prefers_the_local_repo(tmp_path):
    assert config_mod.default_template_repo_path(str(tmp_path)) == (
        "http://templates.ovirt.org/repo/repo.metadata"
    )
    local = write(tmp_path / constants.LOCAL_REPO_NAME / "repo.metadata", "{}")
    assert config_mod.default_template_repo_path(str(tmp_path)) == str(local)


# -- unreadable and malformed files ------------------------------------------------


def test_config_file_that_is_a_directory(conf_dirs):
    path = conf_in(conf_dirs["home"])
    path.mkdir(parents=True)
    with pytest.raises(ConfigError) as err:
        ConfigLoad().load()
    assert str(err.value) == f"Cannot read config file {path}: Is a directory"


def test_config_file_that_is_not_utf8(conf_dirs):
    path = write(conf_in(conf_dirs["home"]), b"[lago]\n\n# caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        ConfigLoad().load()
    assert str(err.value) == f"Cannot read config file {path}: line 3 is not UTF-8 text"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ssh_user = x\n", "line 1: no [section] header before 'ssh_user = x'"),
        ("[lago]\nssh_user\n", "line 2: cannot parse 'ssh_user'"),
        ("[lago]\na = 1\na = 2\n", "line 3: [lago] a given twice"),
        ("[lago]\n[lago]\n", "line 2: section [lago] repeated"),
        ("[lago]\na = %(\n", "[lago] a: bad interpolation variable reference '%('"),
        (
            "[init]\nb = %(nope)s\n",
            "[init] b: Bad value substitution: option 'b' in section 'init' contains "
            "an interpolation key 'nope' which is not a valid option name. "
            "Raw value: '%(nope)s'",
        ),
    ],
)
def test_malformed_config_file(conf_dirs, text, reason):
    path = write(conf_in(conf_dirs["home"]), text)
    with pytest.raises(ConfigError) as err:
        ConfigLoad().load()
    assert str(err.value) == f"Malformed config file {path}: {reason}"
    assert "\n" not in str(err.value)
