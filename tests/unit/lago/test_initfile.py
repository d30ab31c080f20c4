"""The LagoInitFile loader, validator and per-VM expansion."""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lago.errors import InitFileError
from lago.initfile import (
    InitFile,
    expand_domain,
    expand_vars,
    load_init_file,
    validate,
)

HERE = Path(__file__).parent / "initfiles"

ROOT_DISK = {
    "template_name": "el7.3-base",
    "type": "template",
    "name": "root",
    "dev": "vda",
    "format": "qcow2",
}


# --- valid files -------------------------------------------------------------


def test_yaml_with_aliases_based_on_and_merge_key_loads_normalized() -> None:
    init = load_init_file(HERE / "basic.yaml")

    prototype = {
        "memory": 1024,
        "vcpu": 2,
        "nics": [{"net": "lago"}],
        "disks": [ROOT_DISK],
        "artifacts": ["/var/log"],
        "groups": ["web"],
    }
    assert init.domains == {
        "vm01": {"based-on": prototype, "memory": 2048},
        "vm02": {
            "memory": 1024,
            "vcpu": 2,
            "nics": [{"net": "lago", "ip": "192.168.200.10"}, {"net": "storage"}],
            "disks": [
                ROOT_DISK,
                {
                    "type": "empty",
                    "dev": "vdb",
                    "format": "raw",
                    "size": "10G",
                    "name": "vdb",
                },
                {
                    "type": "file",
                    "dev": "sda",
                    "format": "iso",
                    "path": "$LAGO_INITFILE_PATH/boot.iso",
                    "name": "sda",
                },
            ],
            "artifacts": ["/var/log"],
            "groups": ["web"],
            "bootstrap": False,
            "metadata": {"deploy-scripts": ["$LAGO_INITFILE_PATH/setup.sh"]},
        },
    }
    assert init.nets == {
        "lago": {
            "type": "nat",
            "dhcp": {"start": 100, "end": 254},
            "management": True,
            "dns_domain_name": "lago.local",
        },
        "storage": {"type": "nat", "mtu": 9000},
    }
    assert init.path == HERE / "basic.yaml"
    assert init.init_dir == str(HERE)
    # raw keeps what was written, and the prototypes section
    assert init.raw["nets"]["storage"] == {"type": "nat", "mtu": "9000"}
    assert init.raw["domains"]["vm02"]["groups"] == "web"
    assert set(init.raw) == {"prototypes", "domains", "nets"}


def test_yaml_aliases_become_independent_copies() -> None:
    init = load_init_file(HERE / "basic.yaml")
    vm01_root = init.domains["vm01"]["based-on"]["disks"][0]
    vm02_root = init.domains["vm02"]["disks"][0]
    assert vm01_root == vm02_root
    assert vm01_root is not vm02_root
    assert init.raw["domains"]["vm02"]["nics"] is not init.raw["prototypes"]["base"]
    # the normalized specs share nothing with the raw document
    init.domains["vm02"]["disks"][0]["format"] = "raw"
    assert init.raw["domains"]["vm02"]["disks"][0]["format"] == "qcow2"


def test_the_loaded_document_shares_no_aliased_part(tmp_path: Path) -> None:
    path = tmp_path / "LagoInitFile"
    path.write_text(
        "nets:\n  lago: {}\n"
        "domains:\n"
        "  vm0: &vm {nics: [{net: lago}], metadata: {k: [1]}}\n"
        "  vm1: *vm\n"
    )
    raw = load_init_file(path).raw["domains"]
    assert raw["vm0"] == raw["vm1"]
    assert raw["vm0"] is not raw["vm1"]
    assert raw["vm0"]["metadata"]["k"] is not raw["vm1"]["metadata"]["k"]


def test_a_relative_path_is_kept_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    init = load_init_file("basic.json")
    assert init.path == HERE / "basic.json"
    assert init.init_dir == str(HERE)


def test_json_init_file_loads_as_written() -> None:
    init = load_init_file(str(HERE / "basic.json"))
    written = json.loads((HERE / "basic.json").read_text())
    assert init.domains == written["domains"]
    assert init.nets == written["nets"]
    assert init.raw == written
    build = init.domains["vm-el73"]["disks"][0]["build"]
    assert build == [
        {
            "virt-customize": {
                "ssh-inject": "",
                "touch": ["/root/file1", "/root/file2"],
                "selinux-relabel": "",
            }
        }
    ]


def _saved_env() -> dict[str, Any]:
    return {
        "domains": {"vm01": json.loads((HERE / "saved-vm-vm01.json").read_text())},
        "nets": {
            name: json.loads((HERE / f"saved-net-{name}.json").read_text())
            for name in ("lago", "storage")
        },
    }


def test_saved_specs_of_the_original_validate_unchanged(tmp_path: Path) -> None:
    saved = _saved_env()
    assert list(saved["domains"]["vm01"]) == [
        "memory",
        "nics",
        "disks",
        "artifacts",
        "name",
        "mgmt_net",
        "vm-type",
        "snapshots",
        "metadata",
        "ssh-password",
        "ssh-user",
        "vm-provider",
        "service_provider",
    ]
    validate(saved, "virt/env")
    path = tmp_path / "env.json"
    path.write_text(json.dumps(saved, indent=4))
    init = load_init_file(path)
    # nothing to normalize in a saved spec: re-saving it would be a no-op
    assert init.domains == saved["domains"]
    assert list(init.domains["vm01"]) == list(saved["domains"]["vm01"])
    assert init.nets == saved["nets"]


def test_exported_init_file_validates() -> None:
    init = load_init_file(HERE / "exported.yaml")
    disks = init.domains["vm01"]["disks"]
    assert disks[0]["template_type"] == "qcow2"
    assert disks[1]["make_a_copy"] is True  # export writes the string 'True'
    assert init.domains["vm01"]["ssh-password"] == "123456"
    assert init.nets["lago"]["gw"] == "192.168.201.1"


def test_empty_domains_are_accepted() -> None:
    validate({"domains": {}, "nets": {"lago": {}}}, "LagoInitFile")


@pytest.mark.parametrize(
    ("written", "loaded"),
    [
        (
            {"groups": "web"},
            {"groups": ["web"]},
        ),  # the original split a scalar group into letters
        ({"memory": "2048", "vcpu": "4"}, {"memory": 2048, "vcpu": 4}),
        (
            {"bootstrap": "yes", "skip-export": "No"},
            {"bootstrap": True, "skip-export": False},
        ),
        ({"root-password": 123456}, {"root-password": "123456"}),
    ],
)
def test_values_are_normalized(
    tmp_path: Path, written: dict[str, Any], loaded: dict[str, Any]
) -> None:
    path = tmp_path / "LagoInitFile"
    spec = {"nics": [{"net": "lago"}], **written}
    path.write_text(json.dumps({"domains": {"vm": spec}, "nets": {"lago": {}}}))
    assert load_init_file(path).domains["vm"] == {"nics": [{"net": "lago"}], **loaded}


@pytest.mark.parametrize("off", [None, False])
def test_dhcp_null_or_false_is_accepted_as_no_dhcp(tmp_path: Path, off: Any) -> None:
    path = tmp_path / "LagoInitFile"
    path.write_text(
        "domains:\n  vm: {nics: [{net: lago}]}\n"
        f"nets:\n  lago: {{dhcp: {json.dumps(off)}}}\n"
    )
    assert load_init_file(path).nets["lago"] == {"dhcp": off}


def test_template_version_read_as_a_number_or_date_becomes_text(tmp_path: Path) -> None:
    path = tmp_path / "LagoInitFile"
    path.write_text(
        "domains:\n"
        "  vm:\n"
        "    nics: [{net: lago}]\n"
        "    disks:\n"
        "      - {type: template, template_name: t, template_version: 20170101,\n"
        "         dev: vda, format: qcow2}\n"
        "      - {type: template, template_name: t, template_version: 2017-01-02,\n"
        "         dev: vdb, format: qcow2}\n"
        "nets: {lago: {}}\n"
    )
    disks = load_init_file(path).domains["vm"]["disks"]
    assert [disk["template_version"] for disk in disks] == ["20170101", "2017-01-02"]


def test_unknown_top_level_keys_are_ignored_with_a_debug_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lago.initfile")
    validate({"domains": {}, "nets": {"lago": {}}, "extra": 1}, "LagoInitFile")
    assert caplog.messages == ["LagoInitFile: ignoring top-level key 'extra'"]


# --- no side effects ---------------------------------------------------------


def test_loading_and_expanding_have_no_side_effects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAGO_INITFILE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "LagoInitFile"
    path.write_text((HERE / "basic.yaml").read_text())
    environ_before = dict(os.environ)

    init = load_init_file(path)
    domains_before = copy.deepcopy(init.domains)
    expanded = init.expanded_domains({"LAGO_PREFIX_PATH": "/p"})

    assert dict(os.environ) == environ_before
    assert "LAGO_INITFILE_PATH" not in os.environ
    assert sorted(tmp_path.iterdir()) == [path]
    assert init.domains == domains_before
    assert expanded["vm02"]["disks"][2]["path"] == f"{tmp_path}/boot.iso"


def test_a_bad_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "LagoInitFile"
    path.write_text("domains: {vm: {nics: [{net: nope}]}}\nnets: {lago: {}}\n")
    with pytest.raises(InitFileError):
        load_init_file(path)
    assert sorted(tmp_path.iterdir()) == [path]


# --- expand_domain -----------------------------------------------------------


def test_expand_domain_merges_based_on_after_the_name() -> None:
    init = load_init_file(HERE / "basic.yaml")
    vm01 = expand_domain("vm01", init.domains["vm01"], "/init")
    assert vm01 == {
        "memory": 2048,
        "name": "vm01",
        "vcpu": 2,
        "nics": [{"net": "lago"}],
        "disks": [ROOT_DISK],
        "artifacts": ["/var/log"],
        "groups": ["web"],
    }
    assert list(vm01) == [
        "memory",
        "name",
        "vcpu",
        "nics",
        "disks",
        "artifacts",
        "groups",
    ]


def test_expand_domain_merges_nested_prototypes() -> None:
    spec = {"based-on": {"vcpu": 2, "based-on": {"vcpu": 1, "memory": 512}}}
    assert expand_domain("vm", spec, "/init") == {
        "name": "vm",
        "vcpu": 2,
        "memory": 512,
    }


def test_expand_domain_expands_variables_only_where_the_original_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", "/home/tester")
    monkeypatch.setenv("IMAGES", "/srv/images")
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    spec = {
        "nics": [{"net": "lago"}],
        "artifacts": ["$IMAGES/logs"],
        "disks": [
            {
                "type": "template",
                "template_name": "$IMAGES",
                "path": "$LAGO_PREFIX_PATH/images/vm_root.qcow2",
            },
            {"type": "template", "template_type": "qcow2", "path": "${IMAGES}/b.qcow2"},
            {"type": "file", "path": "~/disks/$NOPE_NOT_SET.raw"},
            {"type": "file", "url": "http://host/$LAGO_INITFILE_PATH/x.raw"},
        ],
        "metadata": {"deploy-scripts": ["$LAGO_INITFILE_PATH/setup.sh"]},
    }
    expanded = expand_domain("vm", spec, "/init/dir", {"LAGO_PREFIX_PATH": "/p"})
    assert expanded["artifacts"] == ["$IMAGES/logs"]
    assert expanded["disks"] == [
        {
            "type": "template",
            "template_name": "$IMAGES",
            "path": "$LAGO_PREFIX_PATH/images/vm_root.qcow2",
        },
        {"type": "template", "template_type": "qcow2", "path": "/srv/images/b.qcow2"},
        {"type": "file", "path": "/home/tester/disks/$NOPE_NOT_SET.raw"},
        {"type": "file", "url": "http://host//init/dir/x.raw"},
    ]
    assert expanded["metadata"] == {"deploy-scripts": ["/init/dir/setup.sh"]}
    assert spec["disks"][1]["path"] == "${IMAGES}/b.qcow2"  # input untouched


def test_expand_vars_uses_the_given_mapping_only() -> None:
    env = {"A": "1", "B_2": "two"}
    assert expand_vars("$A/${B_2}/$C/${A}x/$", env) == "1/two/$C/1x/$"


def test_expand_domain_renames_ovirt_scripts_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = {"metadata": {"ovirt-scripts": ["$LAGO_INITFILE_PATH/a.sh"], "x": 1}}
    expanded = expand_domain("vm01", spec, "/init")
    assert expanded["metadata"] == {"x": 1, "deploy-scripts": ["/init/a.sh"]}
    assert caplog.messages == [
        "vm01: metadata key 'ovirt-scripts' is deprecated, rename it to "
        "'deploy-scripts'"
    ]


def test_expand_domain_makes_a_single_group_a_list() -> None:
    assert expand_domain("vm", {"groups": "db"}, "/i") == {
        "groups": ["db"],
        "name": "vm",
    }


def test_init_file_is_a_plain_record() -> None:
    init = InitFile(path=Path("x"), domains={}, nets={}, raw={})
    assert init.expanded_domains() == {}


# --- bad files ---------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(InitFileError) as err:
        load_init_file(path)
    assert str(err.value) == f"Unable to find init file: {path}"
    assert err.value.exit_code == 2


def _load_error(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "LagoInitFile"
    path.write_bytes(content)
    with pytest.raises(InitFileError) as err:
        load_init_file(path)
    return str(err.value).replace(str(path), "LagoInitFile")


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    content = b"domains:\n  vm01:\n    memory: 1\n   nics: []\nnets: {}\n"
    assert _load_error(tmp_path, content) == (
        "LagoInitFile: malformed YAML at line 4, column 4: "
        "expected <block end>, but found '<block mapping start>'"
    )


def test_broken_json_is_reported_as_yaml(tmp_path: Path) -> None:
    assert _load_error(tmp_path, b'{"domains": {"vm": [}}') == (
        "LagoInitFile: malformed YAML at line 1, column 21: "
        "expected the node content, but found '}'"
    )


def test_empty_file(tmp_path: Path) -> None:
    assert _load_error(tmp_path, b"") == (
        "LagoInitFile: top level: expected a mapping with the keys 'domains' "
        "and 'nets', got an empty file"
    )


def test_not_utf8(tmp_path: Path) -> None:
    assert _load_error(tmp_path, b"domains: {}\nnets: \xff\n") == (
        "LagoInitFile: not UTF-8 text (bad byte at offset 18)"
    )


def test_self_referring_alias(tmp_path: Path) -> None:
    content = b"domains: &d {vm: {based-on: *d}}\nnets: {lago: {}}\n"
    assert _load_error(tmp_path, content) == (
        "LagoInitFile: a YAML alias refers to itself"
    )


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path: Path) -> None:
    content = (
        b"domains:\n  vm01: {memory: 256}\n  vm02: {}\n  vm01: {memory: 512}\n"
        b"nets: {lago: {}}\n"
    )
    assert _load_error(tmp_path, content) == (
        "LagoInitFile: line 4: duplicate key 'vm01' (first at line 2)"
    )
    flow = b"domains: {}\nnets: {lago: {type: nat, type: bridge}}\n"
    assert _load_error(tmp_path, flow) == (
        "LagoInitFile: line 2: duplicate key 'type' (first at line 2)"
    )


def test_merge_keys_may_override_without_being_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "LagoInitFile"
    path.write_bytes(
        b"base: &b {memory: 256, vcpu: 1}\n"
        b"domains:\n  vm01:\n    <<: *b\n    memory: 512\n    nics: [{net: n}]\n"
        b"nets: {n: {}}\n"
    )
    assert load_init_file(path).raw["domains"]["vm01"]["memory"] == 512


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    content = ("\n".join(lines) + "\ndomains: {}\nnets: {bomb: *a8}\n").encode()
    assert len(content) < 1000
    assert _load_error(tmp_path, content).startswith("LagoInitFile: line ")
    assert _load_error(tmp_path, content).endswith(
        "aliases expand to more than 200000 values"
    )


def test_python_tags_are_refused(tmp_path: Path) -> None:
    content = b"domains: !!python/object:os.system {}\nnets: {}\n"
    assert _load_error(tmp_path, content) == (
        "LagoInitFile: malformed YAML at line 1, column 10: could not determine "
        "a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InitFileError) as err:
        load_init_file(tmp_path)
    assert str(err.value) == f"Unable to read init file {tmp_path}: Is a directory"


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(InitFileError) as err:
        validate(["vm01"], "LagoInitFile")
    assert str(err.value) == (
        "LagoInitFile: top level: expected a mapping with the keys 'domains' and "
        "'nets', got ['vm01']"
    )


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    content = b"domains:\n  vm01:\n    memory: lots\n    nics: [{net: lago}]\n"
    content += b"nets: {lago: {}}\n"
    assert _load_error(tmp_path, content) == (
        "LagoInitFile: domains.vm01.memory: expected a positive integer (MiB), "
        "got 'lots'"
    )


# --- bad values: one case each -----------------------------------------------


def _good() -> dict[str, Any]:
    return {
        "domains": {
            "vm01": {
                "memory": 1024,
                "nics": [{"net": "lago"}],
                "disks": [dict(ROOT_DISK)],
            }
        },
        "nets": {"lago": {"type": "nat"}, "storage": {"type": "nat"}},
    }


Mutation = Callable[[dict[str, Any]], Any]


def _vm(data: dict[str, Any]) -> dict[str, Any]:
    return data["domains"]["vm01"]


def _disk(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return _vm(data)["disks"][index]


def _add_disk(data: dict[str, Any], **disk: Any) -> None:
    _vm(data)["disks"].append({"dev": "vdb", "format": "raw", **disk})


BAD: list[tuple[str, Mutation, str]] = [
    (
        "domains-missing",
        lambda d: d.pop("domains"),
        "domains: required top-level key is missing "
        "(a mapping of VM names to VM specs)",
    ),
    (
        "domains-not-mapping",
        lambda d: d.update(domains=["vm01"]),
        "domains: expected a mapping of VM names to VM specs, got ['vm01']",
    ),
    (
        "nets-missing",
        lambda d: d.pop("nets"),
        "nets: required top-level key is missing "
        "(a mapping of network names to network specs)",
    ),
    (
        "nets-empty",
        lambda d: d.update(nets={}),
        "nets: no networks configured; declare at least one, e.g. lago: {}",
    ),
    (
        "vm-name-empty",
        lambda d: d["domains"].update({"": d["domains"].pop("vm01")}),
        "domains: empty VM name; every VM needs a name",
    ),
    (
        "vm-name-slash",
        lambda d: d["domains"].update({"a/b": d["domains"].pop("vm01")}),
        "domains: invalid VM name 'a/b': '/' is not allowed, only letters, digits "
        "and '-' (it is the VM's hostname)",
    ),
    (
        "vm-name-underscore",
        lambda d: d["domains"].update({"vm_0": d["domains"].pop("vm01")}),
        "domains: invalid VM name 'vm_0': '_' is not allowed, only letters, digits "
        "and '-' (it is the VM's hostname)",
    ),
    (
        "vm-name-markup",
        lambda d: d["domains"].update({"a<b>&'": d["domains"].pop("vm01")}),
        "domains: invalid VM name \"a<b>&'\": '<' is not allowed, only letters, "
        "digits and '-' (it is the VM's hostname)",
    ),
    (
        "vm-name-unicode",
        lambda d: d["domains"].update({"vmé": d["domains"].pop("vm01")}),
        "domains: invalid VM name 'vmé': 'é' is not allowed, only letters, digits "
        "and '-' (it is the VM's hostname)",
    ),
    (
        "vm-name-hyphen-end",
        lambda d: d["domains"].update({"vm-": d["domains"].pop("vm01")}),
        "domains: invalid VM name 'vm-': it must start and end with a letter or digit",
    ),
    (
        "vm-name-too-long",
        lambda d: d["domains"].update({"v" * 64: d["domains"].pop("vm01")}),
        f"domains: invalid VM name '{'v' * 64}': 64 characters, at most 63",
    ),
    (
        "vm-name-number",
        lambda d: d["domains"].update({7: d["domains"].pop("vm01")}),
        "domains: expected a VM name (string), got 7",
    ),
    (
        "vm-spec-null",
        lambda d: d["domains"].update(vm01=None),
        "domains.vm01: expected a mapping of VM settings, got null",
    ),
    (
        "unknown-domain-key",
        lambda d: _vm(d).update(memroy=2048),
        "domains.vm01: unknown key 'memroy' (did you mean 'memory'?)",
    ),
    (
        "memory-not-a-number",
        lambda d: _vm(d).update(memory="lots"),
        "domains.vm01.memory: expected a positive integer (MiB), got 'lots'",
    ),
    (
        "memory-float",
        lambda d: _vm(d).update(memory=1.5),
        "domains.vm01.memory: expected a positive integer (MiB), got 1.5",
    ),
    (
        "vcpu-zero",
        lambda d: _vm(d).update(vcpu=0),
        "domains.vm01.vcpu: expected a positive integer, got 0",
    ),
    (
        "vcpu-bool",
        lambda d: _vm(d).update(vcpu=True),
        "domains.vm01.vcpu: expected a positive integer, got true",
    ),
    (
        "boot-time",
        lambda d: _vm(d).update(boot_time_sec="-5"),
        "domains.vm01.boot_time_sec: expected a positive integer (seconds), got '-5'",
    ),
    (
        "nics-missing",
        lambda d: _vm(d).pop("nics"),
        "domains.vm01: missing required key 'nics' "
        "(a list of network interfaces, e.g. [{net: lago}])",
    ),
    (
        "nics-empty",
        lambda d: _vm(d).update(nics=[]),
        "domains.vm01.nics: expected a non-empty list of network interfaces "
        "like [{net: lago}], got []",
    ),
    (
        "nic-not-mapping",
        lambda d: _vm(d).update(nics=["lago"]),
        "domains.vm01.nics[0]: expected a mapping like {net: <network name>}, "
        "got 'lago'",
    ),
    (
        "nic-without-net",
        lambda d: _vm(d).update(nics=[{"ip": "192.168.200.3"}]),
        "domains.vm01.nics[0]: missing required key 'net' "
        "(the name of a network declared under 'nets')",
    ),
    (
        "nic-undeclared-net",
        lambda d: _vm(d)["nics"].append({"net": "x"}),
        "domains.vm01.nics[1].net: unknown network 'x', "
        "declared networks: lago, storage",
    ),
    (
        "nic-bad-ip",
        lambda d: _vm(d)["nics"][0].update(ip="192.168.300.1"),
        "domains.vm01.nics[0].ip: expected an IPv4 address like 192.168.200.5, "
        "got '192.168.300.1'",
    ),
    (
        "nic-ip-as-number",
        lambda d: _vm(d)["nics"][0].update(ip=3232235777),
        "domains.vm01.nics[0].ip: expected an IPv4 address like 192.168.200.5, "
        "got 3232235777",
    ),
    (
        "nic-unknown-key",
        lambda d: _vm(d)["nics"][0].update(nett="lago"),
        "domains.vm01.nics[0]: unknown key 'nett' (did you mean 'net'?)",
    ),
    (
        "nic-unknown-key-no-suggestion",
        lambda d: _vm(d)["nics"][0].update(model="virtio"),
        "domains.vm01.nics[0]: unknown key 'model' (known keys: ip, mtu, net)",
    ),
    (
        "cpu-model-and-custom",
        lambda d: _vm(d).update(cpu_model="SandyBridge", cpu_custom={"mode": "x"}),
        "domains.vm01: Defining both cpu_model and cpu_custom is not supported.",
    ),
    (
        "cpu-custom-not-mapping",
        lambda d: _vm(d).update(cpu_custom="host"),
        "domains.vm01.cpu_custom: expected a mapping describing the libvirt <cpu> "
        "element, got 'host'",
    ),
    (
        "bootstrap-not-bool",
        lambda d: _vm(d).update(bootstrap="maybe"),
        "domains.vm01.bootstrap: expected true or false, got 'maybe'",
    ),
    (
        "artifacts-scalar",
        lambda d: _vm(d).update(artifacts="/var/log"),
        "domains.vm01.artifacts: expected a list of paths on the VM, got '/var/log'",
    ),
    (
        "artifacts-item",
        lambda d: _vm(d).update(artifacts=["/var/log", 5]),
        "domains.vm01.artifacts[1]: expected a path (string), got 5",
    ),
    (
        "groups-number",
        lambda d: _vm(d).update(groups=5),
        "domains.vm01.groups: expected a group name or a list of group names, got 5",
    ),
    (
        "vm-type-not-string",
        lambda d: _vm(d).update({"vm-type": 5}),
        "domains.vm01.vm-type: expected a VM type name (string), got 5",
    ),
    (
        "ssh-password-mapping",
        lambda d: _vm(d).update({"ssh-password": {"a": 1}}),
        "domains.vm01.ssh-password: expected a string, got {'a': 1}",
    ),
    (
        "domain-type",
        lambda d: _vm(d).update(type="qcow"),
        "domains.vm01.type: expected ova or template, got 'qcow'",
    ),
    (
        "ova-without-url",
        lambda d: _vm(d).update(type="ova"),
        "domains.vm01: missing required key 'url' "
        "(where to download the OVA of a 'type: ova' VM)",
    ),
    (
        "based-on-a-name",
        lambda d: _vm(d).update({"based-on": "base"}),
        "domains.vm01.based-on: expected a mapping of VM settings "
        "(a YAML alias such as *base), got 'base'",
    ),
    (
        "based-on-bad-value",
        lambda d: _vm(d).update({"based-on": {"memory": "x"}}),
        "domains.vm01.based-on.memory: expected a positive integer (MiB), got 'x'",
    ),
    (
        "deploy-scripts-scalar",
        lambda d: _vm(d).update(metadata={"deploy-scripts": "a.sh"}),
        "domains.vm01.metadata.deploy-scripts: expected a list of script paths, "
        "got 'a.sh'",
    ),
    (
        "disks-not-list",
        lambda d: _vm(d).update(disks=dict(ROOT_DISK)),
        "domains.vm01.disks: expected a list of disks, got {'template_name': "
        "'el7.3-base', 'type': 'template', 'name...",
    ),
    (
        "disk-not-mapping",
        lambda d: _vm(d).update(disks=["root"]),
        "domains.vm01.disks[0]: expected a mapping of disk settings, got 'root'",
    ),
    (
        "disk-unknown-key",
        lambda d: _disk(d).update(templat_name="x"),
        "domains.vm01.disks[0]: unknown key 'templat_name' "
        "(did you mean 'template_name'?)",
    ),
    (
        "disk-type-missing",
        lambda d: _disk(d).pop("type"),
        "domains.vm01.disks[0]: missing required key 'type' "
        "(one of: template, empty, file)",
    ),
    (
        "disk-type-unknown",
        lambda d: _disk(d).update(type="tmplate"),
        "domains.vm01.disks[0].type: Unknown drive spec 'tmplate'; "
        "expected one of: template, empty, file",
    ),
    (
        "disk-format-missing",
        lambda d: _disk(d).pop("format"),
        "domains.vm01.disks[0]: missing required key 'format' (e.g. qcow2, raw or iso)",
    ),
    (
        "disk-dev-missing",
        lambda d: _disk(d).pop("dev"),
        "domains.vm01.disks[0]: missing required key 'dev' "
        "(the guest device, e.g. vda or sdb)",
    ),
    (
        "disk-dev-bad",
        lambda d: _disk(d).update(dev="xvda"),
        "domains.vm01.disks[0].dev: expected a device name like vda, sdb or hdc, "
        "got 'xvda'",
    ),
    (
        "disk-dev-twice",
        lambda d: _add_disk(d, type="empty", size="1G", dev="vda", name="data"),
        "domains.vm01.disks[1].dev: 'vda' is already used by disks[0]",
    ),
    (
        "disk-name-twice",
        lambda d: _add_disk(d, type="empty", size="1G", name="root"),
        "domains.vm01.disks[1].name: 'root' is already used by disks[0]",
    ),
    (
        "template-without-name",
        lambda d: _disk(d).pop("template_name"),
        "domains.vm01.disks[0]: missing required key 'template_name' "
        "(the template to create the disk from, e.g. el7.3-base)",
    ),
    (
        "template-type-unknown",
        lambda d: _disk(d).update(template_type="raw"),
        "domains.vm01.disks[0].template_type: expected lago or qcow2, got 'raw'",
    ),
    (
        "qcow2-template-without-path",
        lambda d: _disk(d).update(template_type="qcow2"),
        "domains.vm01.disks[0]: missing required key 'path' "
        "(the qcow2 image a 'template_type: qcow2' disk is layered on)",
    ),
    (
        "empty-disk-without-size",
        lambda d: _add_disk(d, type="empty"),
        "domains.vm01.disks[1]: missing required key 'size' "
        "(the size of an empty disk, e.g. 10G)",
    ),
    (
        "empty-disk-bad-size",
        lambda d: _add_disk(d, type="empty", size="10 gigs"),
        "domains.vm01.disks[1].size: expected a size like 10G, 512M or a number "
        "of bytes, got '10 gigs'",
    ),
    (
        "empty-disk-zero-size-text",
        lambda d: _add_disk(d, type="empty", size="0"),
        "domains.vm01.disks[1].size: expected a size like 10G, 512M or a number "
        "of bytes, got '0'",
    ),
    (
        "empty-disk-zero-size-with-unit",
        lambda d: _add_disk(d, type="empty", size="0.0G"),
        "domains.vm01.disks[1].size: expected a size like 10G, 512M or a number "
        "of bytes, got '0.0G'",
    ),
    (
        "file-disk-without-source",
        lambda d: _add_disk(d, type="file"),
        "domains.vm01.disks[1]: Partial drive spec, no url nor path provided "
        "for disk of type file",
    ),
    (
        "make-a-copy-not-bool",
        lambda d: _add_disk(d, type="file", path="/x", make_a_copy="sure"),
        "domains.vm01.disks[1].make_a_copy: expected true or false, got 'sure'",
    ),
    (
        "build-not-list",
        lambda d: _disk(d).update(build={"virt-customize": {}}),
        "domains.vm01.disks[0].build: expected a list of builders like "
        "[{virt-customize: {...}}], got {'virt-customize': {}}",
    ),
    (
        "build-unknown-builder",
        lambda d: _disk(d).update(build=[{"virt-builder": {"x": ""}}]),
        "domains.vm01.disks[0].build[0]: Command virt-builder is not supported as "
        "a build command (the only builder is 'virt-customize')",
    ),
    (
        "build-options-not-indented",
        lambda d: _disk(d).update(build=[{"virt-customize": None, "ssh-inject": ""}]),
        "domains.vm01.disks[0].build[0]: expected a mapping with one builder "
        "name (options indented under it), got {'virt-customize': None, "
        "'ssh-inject': ''}",
    ),
    (
        "build-options-null",
        lambda d: _disk(d).update(build=[{"virt-customize": None}]),
        "domains.vm01.disks[0].build[0].virt-customize: expected a mapping of "
        "virt-customize options, got null",
    ),
    (
        "build-option-nested",
        lambda d: _disk(d).update(build=[{"virt-customize": {"run": {"a": 1}}}]),
        "domains.vm01.disks[0].build[0].virt-customize.run: expected a string, "
        "a list of strings or '', got {'a': 1}",
    ),
    (
        "net-spec-null",
        lambda d: d["nets"].update(lago=None),
        "nets.lago: expected a mapping of network settings "
        "(use {} for the defaults), got null",
    ),
    (
        "net-name-space",
        lambda d: d["nets"].update({"my net": {}}),
        "nets: invalid network name 'my net': ' ' is not allowed, only letters, "
        "digits, '-', '_' and '.'",
    ),
    (
        "net-name-colon",
        lambda d: d["nets"].update({"a:b": {}}),
        "nets: invalid network name 'a:b': ':' is not allowed, only letters, "
        "digits, '-', '_' and '.'",
    ),
    (
        "net-unknown-key",
        lambda d: d["nets"]["lago"].update(dns_domain="lago.local"),
        "nets.lago: unknown key 'dns_domain' (did you mean 'dns_domain_name'?)",
    ),
    (
        "net-type",
        lambda d: d["nets"]["lago"].update(type="natt"),
        "nets.lago.type: expected nat or bridge, got 'natt'",
    ),
    (
        "net-gw",
        lambda d: d["nets"]["lago"].update(gw="192.168.200"),
        "nets.lago.gw: expected an IPv4 address like 192.168.200.5, got '192.168.200'",
    ),
    (
        "net-management",
        lambda d: d["nets"]["lago"].update(management="maybe"),
        "nets.lago.management: expected true or false, got 'maybe'",
    ),
    (
        "net-mtu",
        lambda d: d["nets"]["storage"].update(mtu=10),
        "nets.storage.mtu: expected an integer between 68 and 65535, got 10",
    ),
    (
        "dns-records",
        lambda d: d["nets"]["lago"].update(dns_records={"host": "x"}),
        "nets.lago.dns_records.host: expected an IPv4 address like 192.168.200.5, "
        "got 'x'",
    ),
    (
        "dhcp-not-mapping",
        lambda d: d["nets"]["lago"].update(dhcp="100-254"),
        "nets.lago.dhcp: expected a mapping like {start: 100, end: 254}, "
        "or null for no DHCP, got '100-254'",
    ),
    (
        "dhcp-true",
        lambda d: d["nets"]["lago"].update(dhcp=True),
        "nets.lago.dhcp: expected a mapping like {start: 100, end: 254}, "
        "or null for no DHCP, got true",
    ),
    (
        "dhcp-missing-end",
        lambda d: d["nets"]["lago"].update(dhcp={"start": 100}),
        "nets.lago.dhcp: missing required key 'end' "
        "(the last octet of the DHCP range, 2..254)",
    ),
    (
        "dhcp-start-out-of-range",
        lambda d: d["nets"]["lago"].update(dhcp={"start": 300, "end": 254}),
        "nets.lago.dhcp.start: expected an integer between 2 and 254 "
        "(the last octet), got 300",
    ),
    (
        "dhcp-start-after-end",
        lambda d: d["nets"]["lago"].update(dhcp={"start": 200, "end": "100"}),
        "nets.lago.dhcp: start 200 is greater than end 100",
    ),
    (
        "ready-number",
        lambda d: d["domains"]["vm01"].update(ready=5),
        "domains.vm01.ready: expected a command (string) or a list of commands, got 5",
    ),
    (
        "ready-empty",
        lambda d: d["domains"]["vm01"].update(ready=" "),
        "domains.vm01.ready: expected a command (string) or a list of commands, "
        "got ' '",
    ),
    (
        "ready-list-item",
        lambda d: d["domains"]["vm01"].update(ready=["true", 7]),
        "domains.vm01.ready[1]: expected a command (string), got 7",
    ),
    (
        "dhcp-unknown-key",
        lambda d: d["nets"]["lago"].update(dhcp={"start": 2, "end": 9, "stop": 9}),
        "nets.lago.dhcp: unknown key 'stop' (known keys: end, start)",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [pytest.param(mutate, message, id=name) for name, mutate, message in BAD],
)
def test_bad_input_is_one_clear_line(mutate: Mutation, message: str) -> None:
    data: Any = _good()
    validate(data, "LagoInitFile")  # the base case is valid
    mutate(data)
    with pytest.raises(InitFileError) as err:
        validate(data, "LagoInitFile")
    assert str(err.value) == f"LagoInitFile: {message}"
    assert "\n" not in str(err.value)
