"""The choice between one libguestfs appliance and virt-sysprep, and its plumbing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lago import bootstrap
from lago.bootstrap import GuestBatch, bootstrap_method, bootstrap_vms
from lago.config import config
from lago.errors import ConfigError
from lago.guest_prep import GuestSpec, distro_steps
from lago.providers.libvirt.vm import LocalLibvirtVMProvider

from .fake_guestfs import FakeDisk, FakeGuestFS
from .test_guestfs_bootstrap import tiny_root


@pytest.fixture
def init_section(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    section = dict(config.get_section("init") or {})
    monkeypatch.setattr(config, "get_section", lambda *args: section)
    return section


def test_the_default_method_is_one_appliance(init_section: dict[str, Any]) -> None:
    init_section.pop("bootstrap_method", None)
    assert bootstrap_method() == "guestfs"


def test_virt_sysprep_can_be_chosen(init_section: dict[str, Any]) -> None:
    init_section["bootstrap_method"] = "Virt-Sysprep"
    assert bootstrap_method() == "virt-sysprep"


def test_an_unknown_method_names_the_key_and_the_value(
    init_section: dict[str, Any],
) -> None:
    init_section["bootstrap_method"] = "magic"
    with pytest.raises(ConfigError) as err:
        bootstrap_method()
    assert str(err.value) == (
        "Invalid value for bootstrap_method in [init]: 'magic' "
        "(allowed: guestfs, virt-sysprep)"
    )


class RecordingVM:
    def __init__(self, name: str, seedless: bool = True) -> None:
        self._name = name
        self.seedless = seedless
        self.calls: list[dict[str, Any]] = []

    def name(self) -> str:
        return self._name

    def bootstrap(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        batch = kwargs.get("guest_batch")
        if batch is not None and self.seedless:
            batch.add(
                GuestSpec(self._name, f"/img/{self._name}", "tiny", self._name, "k")
            )


def test_guestfs_collects_every_seedless_vm_into_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[tuple[list[str], bool]] = []
    monkeypatch.setattr(
        bootstrap, "bootstrap_guests",
        lambda guests, force_tcg, factory: runs.append(([g.vm for g in guests], force_tcg)),
    )  # fmt: skip
    vms = [
        RecordingVM("vm03"),
        RecordingVM("seeded", seedless=False),
        RecordingVM("vm01"),
    ]
    bootstrap_vms(vms, method="guestfs")
    assert runs == [(["vm01", "vm03"], False)]
    assert all(isinstance(vm.calls[0]["guest_batch"], GuestBatch) for vm in vms)


def test_no_appliance_when_every_vm_has_a_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        bootstrap, "bootstrap_guests", lambda *a: pytest.fail("launched")
    )
    bootstrap_vms([RecordingVM("vm01", seedless=False)], method="guestfs")


def test_virt_sysprep_leaves_each_vm_to_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        bootstrap, "bootstrap_guests", lambda *a: pytest.fail("launched")
    )
    vms = [RecordingVM("vm01"), RecordingVM("vm02")]
    bootstrap_vms(vms, method="virt-sysprep")
    assert [vm.calls for vm in vms] == [[{}], [{}]]


def test_force_tcg_is_kept_when_any_vm_needs_it() -> None:
    batch = GuestBatch()
    batch.add(GuestSpec("a", "/a", "tiny", "a", "k"), force_tcg=True)
    batch.add(GuestSpec("b", "/b", "tiny", "b", "k"), force_tcg=False)
    assert batch.force_tcg


def test_the_batch_runs_on_the_given_handle() -> None:
    root = tiny_root()
    batch = GuestBatch()
    batch.add(GuestSpec("vm01", "/img/a", "tiny", "vm01", "ssh-rsa AAAA k"))
    batch.run(factory=lambda: FakeGuestFS({"/img/a": FakeDisk(partitions=[root])}))
    assert root.text("/etc/hostname") == "vm01\n"


def _provider(tmp_path: Path, metadata: dict[str, Any]) -> LocalLibvirtVMProvider:
    (tmp_path / "id_rsa.pub").write_text("ssh-rsa AAAA lago\n")
    paths = SimpleNamespace(
        prefix=str(tmp_path), ssh_id_rsa_pub=lambda: str(tmp_path / "id_rsa.pub")
    )
    env = SimpleNamespace(prefix=SimpleNamespace(paths=paths), uuid="u")
    spec = {
        "name": "vm01",
        "disks": [{"path": "$LAGO_PREFIX_PATH/images/vm01_root.qcow2", "format": "qcow2",
                   "metadata": metadata}],
        "nics": [{"net": "lago", "ip": "192.168.200.3"}, {"net": "other"}],
    }  # fmt: skip
    vm = SimpleNamespace(
        virt_env=env, spec=spec, name=lambda: "vm01", distro=lambda: metadata.get("distro"),
        root_password=lambda: "pw", iscsi_name=lambda: "iqn.2014-07.org.lago:vm01",
        nics=lambda: spec["nics"],
    )  # fmt: skip
    provider = LocalLibvirtVMProvider(vm)
    provider.host_facts = lambda: SimpleNamespace(domain_type="qemu")  # type: ignore[method-assign]
    return provider


def test_the_libvirt_provider_adds_its_seedless_disk_to_the_batch(
    tmp_path: Path,
) -> None:
    batch = GuestBatch()
    _provider(tmp_path, {"distro": "el7"}).bootstrap(guest_batch=batch)
    assert batch.force_tcg
    assert batch.guests == [
        GuestSpec(
            vm="vm01", disk=f"{tmp_path}/images/vm01_root.qcow2", distro="el7",
            hostname="vm01", ssh_key="ssh-rsa AAAA lago\n", root_password="pw",
            iscsi_name="iqn.2014-07.org.lago:vm01", macs={"eth0": "54:52:c0:a8:c8:03"},
            disk_format="qcow2",
        )
    ]  # fmt: skip


def test_the_libvirt_provider_seeds_rather_than_batching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded: list[bool] = []
    provider = _provider(tmp_path, {"distro": "tiny", "seed": "nocloud"})
    monkeypatch.setattr(provider, "_bootstrap_seed", lambda: seeded.append(True))
    batch = GuestBatch()
    provider.bootstrap(guest_batch=batch)
    assert seeded == [True] and batch.guests == []


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        ("el6", (True, True, False, False)),
        ("el7", (True, True, True, False)),
        ("fc25", (False, True, True, False)),
        ("debian", (False, False, True, True)),
        ("tiny", (False, False, False, False)),
        ("base", (False, False, False, False)),
    ],
)
def test_distro_steps(distro: str, expected: tuple[bool, ...]) -> None:
    steps = distro_steps(distro)
    assert (steps.ifcfg, steps.iscsi, steps.grub, steps.debian_interfaces) == expected
