"""lago.plugins.output: the four built-in ``--out-format`` renderers."""

from __future__ import annotations

import pytest

from lago.plugins.output import (
    DefaultOutFormatPlugin,
    FlatOutFormatPlugin,
    JSONOutFormatPlugin,
    OutFormatPlugin,
    YAMLOutFormatPlugin,
)


def status_info(distro: str | None = "el7") -> dict:
    """What ``lago status`` reports for one VM on one network."""
    return {
        "Prefix": {
            "Base directory": "/w/.lago/default",
            "UUID": "b338c730e60b11f1befe02fc00000001",
            "Networks": {
                "mgmt": {
                    "gateway": "192.168.200.1",
                    "status": "down",
                    "management": True,
                }
            },
            "VMs": {
                "vm01": {
                    "distro": distro,
                    "root password": "123456",
                    "status": "down",
                    "snapshots": "",
                    "metadata": {},
                    "NICs": {"eth0": {"network": "mgmt", "ip": "192.168.200.2"}},
                }
            },
        }
    }


STATUS_DEFAULT = """\
[Prefix]:
    Base directory: /w/.lago/default
    [Networks]:
        [mgmt]:
            gateway: 192.168.200.1
            management: True
            status: down
    UUID: b338c730e60b11f1befe02fc00000001
    [VMs]:
        [vm01]:
            [NICs]:
                [eth0]:
                    ip: 192.168.200.2
                    network: mgmt
            distro: el7
            root password: 123456
            status: down"""

NESTED = {"b": {"c": [{"x": 1}, "y"], "e": {}}, "a": [1, 2], "z": None, "f": False}


# -- default -------------------------------------------------------------------


def test_default_renders_status_as_upstream():
    assert DefaultOutFormatPlugin().format(status_info()) == STATUS_DEFAULT


def test_default_leaves_out_none_empty_strings_and_empty_mappings():
    text = DefaultOutFormatPlugin().format(status_info(distro=None))
    assert text == STATUS_DEFAULT.replace("            distro: el7\n", "")


def test_default_nested_lists_and_scalars():
    assert DefaultOutFormatPlugin().format(NESTED) == (
        "a: \n    1\n    2\n[b]:\n    c: \n        x: 1\n        y\nf: False"
    )


def test_default_top_level_list_and_scalar():
    plugin = DefaultOutFormatPlugin()
    assert plugin.format(["default", "other"]) == "default\nother"
    assert plugin.format([]) == ""
    assert plugin.format("text") == "text"
    assert plugin.format({"a": 0, "b": ""}, indent="  ") == "  a: 0"


# -- flat ----------------------------------------------------------------------


def test_flat_walks_prefix_and_prints_one_leaf_per_line():
    assert FlatOutFormatPlugin().format(status_info(distro=None)) == (
        "Base directory: /w/.lago/default\n"
        "Networks/mgmt/gateway: 192.168.200.1\n"
        "Networks/mgmt/management: True\n"
        "Networks/mgmt/status: down\n"
        "UUID: b338c730e60b11f1befe02fc00000001\n"
        "VMs/vm01/NICs/eth0/ip: 192.168.200.2\n"
        "VMs/vm01/NICs/eth0/network: mgmt\n"
        "VMs/vm01/distro: None\n"
        "VMs/vm01/root password: 123456\n"
        "VMs/vm01/snapshots: \n"
        "VMs/vm01/status: down"
    )


def test_flat_lists_reuse_the_path_and_delimiter_is_configurable():
    assert FlatOutFormatPlugin().format(NESTED) == (
        "a: 1\na: 2\nb/c/x: 1\nb/c: y\nf: False\nz: None"
    )
    info = {"vm0": {"net": "lago", "memory": 1024}}
    assert FlatOutFormatPlugin().format(info, delimiter=".") == (
        "vm0.memory: 1024\nvm0.net: lago"
    )


def test_flat_on_a_list_prints_one_item_per_line():
    assert FlatOutFormatPlugin().format(["default", "other"]) == "default\nother"
    assert FlatOutFormatPlugin().format([{"a": 1}, {"b": 2}]) == "a: 1\nb: 2"
    assert FlatOutFormatPlugin().format({}) == ""


# -- json and yaml ---------------------------------------------------------------


def test_json_sorted_with_four_spaces():
    assert JSONOutFormatPlugin().format({"b": {"d": None, "c": ""}, "a": [1, {}]}) == (
        '{\n    "a": [\n        1,\n        {}\n    ],\n'
        '    "b": {\n        "c": "",\n        "d": null\n    }\n}'
    )


def test_yaml_block_style_and_quoted_numeric_strings():
    info = status_info(distro=None)["Prefix"]["VMs"]
    assert YAMLOutFormatPlugin().format(info) == (
        "vm01:\n"
        "  NICs:\n"
        "    eth0:\n"
        "      ip: 192.168.200.2\n"
        "      network: mgmt\n"
        "  distro: null\n"
        "  metadata: {}\n"
        "  root password: '123456'\n"
        "  snapshots: ''\n"
        "  status: down\n"
    )
    assert YAMLOutFormatPlugin().format(["a", "é"]) == "- a\n- é\n"


def test_out_format_plugin_is_abstract():
    with pytest.raises(TypeError, match="format"):
        OutFormatPlugin()
