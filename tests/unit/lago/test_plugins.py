"""lago.plugins and lago.plugins.cli: loading plugins and declaring verbs.

Installing a real third-party plugin package is covered by test_cli.py.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
from types import SimpleNamespace

import pytest

from lago import plugins
from lago.plugins import PLUGIN_ENTRY_POINTS, Plugin, PluginError, load_plugins
from lago.plugins.cli import (
    CLIPlugin,
    CLIPluginFuncWrapper,
    cli_plugin,
    cli_plugin_add_argument,
    cli_plugin_add_help,
)
from lago.plugins.output import DefaultOutFormatPlugin, OutFormatPlugin

# -- the CLI plugin decorators -------------------------------------------------


def test_cli_plugin_bare_and_called():
    @cli_plugin
    def bare(**kwargs):
        return "bare"

    @cli_plugin()
    def called(**kwargs):
        return "called"

    @cli_plugin(help="dummy help")
    def helped(**kwargs):
        return "helped"

    for plugin in (bare, called, helped):
        assert isinstance(plugin, CLIPluginFuncWrapper)
        assert isinstance(plugin, CLIPlugin)
        assert isinstance(plugin, Plugin)
    assert (bare(), called(), helped()) == ("bare", "called", "helped")
    assert helped.init_args["help"] == "dummy help"
    assert helped.help == "dummy help"
    assert bare.init_args == {}
    assert bare.__name__ == "bare"


def test_cli_plugin_passes_other_parser_arguments():
    @cli_plugin(help="h", prefix_chars="+")
    def verb(**kwargs):
        pass

    assert verb.init_args == {"help": "h", "prefix_chars": "+"}


def test_add_argument_records_in_decorating_order():
    @cli_plugin_add_argument("-m", "--mogambo", action="store_true")
    @cli_plugin_add_argument("-b", "--bogabmo", action="store_false")
    @cli_plugin
    def verb(**kwargs):
        pass

    assert isinstance(verb, CLIPluginFuncWrapper)
    assert verb._parser_args == [
        (("-b", "--bogabmo"), {"action": "store_false"}),
        (("-m", "--mogambo"), {"action": "store_true"}),
    ]


def test_populate_parser_adds_arguments_top_down():
    @cli_plugin_add_argument("host")
    @cli_plugin_add_argument("local")
    @cli_plugin_add_argument("remote")
    def copy(**kwargs):
        pass

    parser = argparse.ArgumentParser()
    copy.populate_parser(parser)
    args = parser.parse_args(["vm0", "/here", "/there"])
    assert (args.host, args.local, args.remote) == ("vm0", "/here", "/there")


def test_docstring_is_the_default_help():
    @cli_plugin_add_argument("--dummy-flag", action="store_true")
    def documented(dummy_flag, **kwargs):
        """dummy help string"""

    assert documented.init_args == {"help": "dummy help string"}


@pytest.mark.parametrize("with_cli_plugin", [False, True])
def test_cli_plugin_add_help(with_cli_plugin):
    def verb(**kwargs):
        pass

    if with_cli_plugin:
        verb = cli_plugin()(verb)
    verb = cli_plugin_add_help("my help string")(verb)
    assert isinstance(verb, CLIPluginFuncWrapper)
    assert verb.help == "my help string"


def test_do_run_passes_every_argument_as_keyword():
    seen = {}

    @cli_plugin_add_argument("--dummy-flag", action="store_true")
    @cli_plugin(help="dummy help string")
    def noop(dummy_flag, **kwargs):
        seen.update(dummy_flag=dummy_flag, **kwargs)
        return "done"

    parser = argparse.ArgumentParser()
    parser.add_argument("--global-option", default="g")
    noop.populate_parser(parser)
    assert noop.do_run(parser.parse_args(["--dummy-flag"])) == "done"
    assert seen == {"dummy_flag": True, "global_option": "g"}


def test_wrapper_setters():
    wrapper = CLIPluginFuncWrapper()
    wrapper.set_init_args({"help": "a"})
    wrapper.set_help("b")
    assert wrapper.init_args == {"help": "b"}
    with pytest.raises(TypeError, match="wraps no function"):
        wrapper()


def test_cli_plugin_subclass_contract():
    class NoopCLIPlugin(CLIPlugin):
        init_args = {"help": "dummy help string"}

        def populate_parser(self, parser):
            parser.add_argument("--dummy-flag", action="store_true")

        def do_run(self, args):
            return args.dummy_flag

    class Incomplete(CLIPlugin):
        init_args = {}

        def populate_parser(self, parser):
            pass

    plugin = NoopCLIPlugin()
    parser = argparse.ArgumentParser()
    plugin.populate_parser(parser)
    assert plugin.do_run(parser.parse_args(["--dummy-flag"])) is True
    with pytest.raises(TypeError, match="do_run"):
        Incomplete()


# -- loading -------------------------------------------------------------------


def test_entry_point_groups():
    assert PLUGIN_ENTRY_POINTS == {
        "cli": "lago.plugins.cli",
        "out": "lago.plugins.output",
        "vm": "lago.plugins.vm",
        "vm-provider": "lago.plugins.vm_provider",
        "vm-service": "lago.plugins.vm_service",
    }


def test_load_builtin_output_plugins():
    loaded = load_plugins(PLUGIN_ENTRY_POINTS["out"])
    assert {"default", "flat", "json", "yaml"} <= set(loaded)
    assert isinstance(loaded["default"], DefaultOutFormatPlugin)
    assert all(isinstance(plugin, OutFormatPlugin) for plugin in loaded.values())
    classes = load_plugins(PLUGIN_ENTRY_POINTS["out"], instantiate=False)
    assert classes["default"] is DefaultOutFormatPlugin


def test_load_builtin_verbs():
    verbs = load_plugins(PLUGIN_ENTRY_POINTS["cli"])
    assert isinstance(verbs["generate-config"], CLIPlugin)


def test_unknown_namespace_loads_nothing():
    assert load_plugins("lago.plugins.no_such_group") == {}


def test_plugin_of_the_wrong_kind_is_refused():
    with pytest.raises(PluginError) as err:
        plugins._check_kind("lago.plugins.cli", len)
    assert str(err.value) == "builtins.builtin_function_or_method is not a CLIPlugin"
    with pytest.raises(PluginError, match="is not a OutFormatPlugin"):
        plugins._check_kind("lago.plugins.output", CLIPluginFuncWrapper)
    plugins._check_kind("lago.plugins.output", DefaultOutFormatPlugin)
    plugins._check_kind("lago.plugins.unknown-kind", object())


def ours(group: str, name: str) -> importlib.metadata.EntryPoint:
    return next(
        ep for ep in importlib.metadata.entry_points(group=group) if ep.name == name
    )


def test_load_failure_is_one_warning_naming_the_distribution(caplog):
    real = ours("lago.plugins.cli", "generate-config")
    # as stevedore's cache gives it: no distribution attached
    bare = importlib.metadata.EntryPoint(real.name, real.value, real.group)
    manager = SimpleNamespace(namespace="lago.plugins.cli")
    with caplog.at_level(logging.WARNING, logger="lago.plugins"):
        plugins._on_load_failure(manager, bare, ImportError("no module x\nmore detail"))
    version = importlib.metadata.version("lago")
    assert caplog.messages == [
        f"Failed to load plugin generate-config (lago {version}, "
        "lago.verbs.generate_config:do_generate) from group lago.plugins.cli: "
        "ImportError: no module x"
    ]


def test_load_failure_of_an_unknown_distribution(caplog):
    entry = importlib.metadata.EntryPoint(
        "ghost", "ghost.mod:thing", "lago.plugins.cli"
    )
    manager = SimpleNamespace(namespace="lago.plugins.cli")
    with caplog.at_level(logging.WARNING, logger="lago.plugins"):
        plugins._on_load_failure(manager, entry, ValueError(""))
    assert caplog.messages == [
        "Failed to load plugin ghost (unknown distribution, ghost.mod:thing) "
        "from group lago.plugins.cli: ValueError: "
    ]


def test_verb_whose_parser_fails_is_left_out(caplog):
    from lago.cmd import create_parser

    @cli_plugin_add_argument("-h", help="clashes with --help")
    @cli_plugin(help="Broken verb")
    def clashing(**kwargs):
        pass

    @cli_plugin(help="Working verb")
    def working(**kwargs):
        return "worked"

    with caplog.at_level(logging.WARNING, logger="lago.cmd"):
        parser = create_parser(
            {"clashing": clashing, "working": working},
            {"default": DefaultOutFormatPlugin()},
        )
    assert caplog.messages == [
        "Failed to add verb clashing: ArgumentError: argument -h: "
        "conflicting option string: -h"
    ]
    help_text = parser.format_help()
    assert "Working verb" in help_text
    assert "clashing" not in help_text
    args = parser.parse_args(["working"])
    assert args.func(args) == "worked"
    with pytest.raises(SystemExit):
        parser.parse_args(["clashing"])


@pytest.mark.parametrize(
    ("group", "good", "base"),
    [
        ("lago.plugins.vm", "lago.vm:DefaultVM", "VMPlugin"),
        (
            "lago.plugins.vm_provider",
            "lago.vm:SSHVMProvider",
            "VMProviderPlugin",
        ),
        (
            "lago.plugins.vm_service",
            "lago.service:SystemdService",
            "ServicePlugin",
        ),
    ],
)
def test_every_kind_is_checked_at_load(group: str, good: str, base: str) -> None:
    module, _, name = good.partition(":")
    plugin = getattr(importlib.import_module(module), name)
    plugins._check_kind(group, plugin)
    with pytest.raises(PluginError) as err:
        plugins._check_kind(group, DefaultOutFormatPlugin)
    assert str(err.value) == (
        f"lago.plugins.output.DefaultOutFormatPlugin is not a {base}"
    )


def test_a_plugin_of_the_wrong_kind_is_skipped_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = ours("lago.plugins.vm_provider", "ssh")

    class FakeManager:
        namespace = "lago.plugins.vm_provider"

        def __init__(self, **kwargs: object) -> None:
            pass

        def __iter__(self):  # one extension whose class is of the wrong kind
            yield SimpleNamespace(
                name="ssh", plugin=DefaultOutFormatPlugin, entry_point=real
            )

    import stevedore

    monkeypatch.setattr(stevedore, "ExtensionManager", FakeManager)
    with caplog.at_level(logging.WARNING, logger="lago.plugins"):
        loaded = load_plugins("lago.plugins.vm_provider", instantiate=False)
    assert loaded == {}
    version = importlib.metadata.version("lago")
    assert caplog.messages == [
        f"Failed to load plugin ssh (lago {version}, lago.vm:SSHVMProvider) from "
        "group lago.plugins.vm_provider: PluginError: "
        "lago.plugins.output.DefaultOutFormatPlugin is not a VMProviderPlugin"
    ]
