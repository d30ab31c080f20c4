"""Kernel module resolution from modules.dep and modules.builtin."""

import pytest

from lago.template_builder import TemplateBuildError, kmod

DEP = """\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko \
kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/fs/isofs/isofs.ko: kernel/drivers/cdrom/cdrom.ko
kernel/drivers/cdrom/cdrom.ko:
kernel/drivers/some-thing.ko.xz:
"""
BUILTIN = "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n"


def paths(names):
    return [kmod.module_name(p) for p in names]


def test_module_name():
    assert kmod.module_name("kernel/drivers/some-thing.ko.xz") == "some_thing"
    assert kmod.module_name("a/b/virtio_pci.ko") == "virtio_pci"


def test_dependencies_come_first():
    deps = kmod.parse_modules_dep(DEP)
    order = paths(
        kmod.resolve(
            ["virtio_net", "virtio_pci", "virtio_blk"],
            deps,
            kmod.parse_builtin(BUILTIN),
        )
    )
    assert order.index("failover") < order.index("net_failover")
    assert order.index("net_failover") < order.index("virtio_net")
    assert order.index("virtio") < order.index("virtio_pci")
    assert order.index("virtio_pci_modern_dev") < order.index("virtio_pci")
    assert len(order) == len(set(order))


def test_wanted_order_is_kept_when_possible():
    deps = kmod.parse_modules_dep(DEP)
    order = paths(
        kmod.resolve(
            [
                "virtio_ring",
                "virtio",
                "virtio_pci_legacy_dev",
                "virtio_pci_modern_dev",
                "virtio_pci",
                "virtio_blk",
            ],
            deps,
            set(),
        )
    )
    assert order == [
        "virtio_ring",
        "virtio",
        "virtio_pci_legacy_dev",
        "virtio_pci_modern_dev",
        "virtio_pci",
        "virtio_blk",
    ]


def test_builtin_and_absent_optional_modules_are_skipped():
    deps = kmod.parse_modules_dep(DEP)
    order = paths(
        kmod.resolve(
            ["ext4", "ahci", "isofs"],
            deps,
            kmod.parse_builtin(BUILTIN),
            required=["ext4"],
        )
    )
    assert order == ["cdrom", "isofs"]


def test_absent_required_module_is_an_error():
    deps = kmod.parse_modules_dep(DEP)
    with pytest.raises(TemplateBuildError, match="ahci"):
        kmod.resolve(["ahci"], deps, set(), required=["ahci"])


def test_dashes_and_underscores_are_the_same():
    deps = kmod.parse_modules_dep(DEP)
    assert paths(kmod.resolve(["some-thing"], deps, set())) == ["some_thing"]


def test_find_cloud_kernel_picks_the_newest(tmp_path):
    boot = tmp_path / "boot"
    mods = tmp_path / "modules"
    boot.mkdir()
    for rel in ("6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64", "6.1.0-11-amd64"):
        (boot / f"vmlinuz-{rel}").write_bytes(b"k")
        (mods / rel).mkdir(parents=True)
        (mods / rel / "modules.dep").write_text("")
    kernel = kmod.find_cloud_kernel(boot, mods)
    assert kernel.release == "6.1.0-10-cloud-amd64"
    assert kernel.package == "linux-image-6.1.0-10-cloud-amd64"


def test_no_cloud_kernel_is_one_clear_error(tmp_path):
    with pytest.raises(TemplateBuildError, match="linux-image-cloud-amd64"):
        kmod.find_cloud_kernel(tmp_path, tmp_path)
