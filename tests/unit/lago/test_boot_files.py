"""Direct kernel boot: the template's kernel and initrd read out of its image."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from lago.boot_files import direct_boot_metadata, parse_extents
from tests.unit.lago.kernel_images import PVH_ELF, bzimage

KERNEL = b"K" * 5000 + b"kernel-end"
INITRD = b"I" * 3000


def make_image(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A raw image with the kernel split in two pieces and the initrd in one."""
    image = bytearray(64 * 1024)
    image[4096 : 4096 + 4096] = KERNEL[:4096]
    image[20480 : 20480 + len(KERNEL) - 4096] = KERNEL[4096:]
    image[40960 : 40960 + len(INITRD)] = INITRD
    path = tmp_path / "lago-local:tiny:v1"
    path.write_bytes(bytes(image))
    meta = {
        "boot-kernel": f"4096+4096,20480+{len(KERNEL) - 4096}",
        "boot-kernel-sha256": hashlib.sha256(KERNEL).hexdigest(),
        "boot-initrd": f"40960+{len(INITRD)}",
        "boot-initrd-sha256": hashlib.sha256(INITRD).hexdigest(),
        "boot-cmdline": "root=UUID=x console=ttyS0",
    }
    return str(path), meta


def test_files_are_stored_once_next_to_the_image(tmp_path):
    image, meta = make_image(tmp_path)
    added = direct_boot_metadata(image, meta)
    kernel, initrd = Path(added["boot-kernel-file"]), Path(added["boot-initrd-file"])
    assert kernel.read_bytes() == KERNEL
    assert initrd.read_bytes() == INITRD
    assert kernel.parent == tmp_path
    # a second init finds them: the image is not read again
    Path(image).write_bytes(b"")
    assert direct_boot_metadata(image, meta) == added


def test_template_without_boot_files_boots_from_disk(tmp_path):
    image, meta = make_image(tmp_path)
    del meta["boot-initrd"]
    assert direct_boot_metadata(image, meta) == {}


@pytest.mark.parametrize("value", ["no", "No", "false", False])
def test_user_opts_out(tmp_path, value):
    image, meta = make_image(tmp_path)
    assert direct_boot_metadata(image, meta, {"direct-boot": value}) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(image).name]


def test_wrong_bytes_boot_from_disk(tmp_path, caplog):
    image, meta = make_image(tmp_path)
    meta["boot-kernel-sha256"] = "0" * 64
    assert direct_boot_metadata(image, meta) == {}
    assert "boots from its disk" in caplog.text
    assert not list(tmp_path.glob("*.kernel-*"))


@pytest.mark.parametrize("text", ["", "12", "1+0", "-1+5", "a+b", "1+2+3"])
def test_malformed_extents(text):
    with pytest.raises(ValueError):
        parse_extents(text)


def test_malformed_extents_boot_from_disk(tmp_path):
    image, meta = make_image(tmp_path)
    meta["boot-initrd"] = "nonsense"
    assert direct_boot_metadata(image, meta) == {}


def test_exports_name_no_store_file(tmp_path):
    from lago.boot_files import without_store_files

    image, meta = make_image(tmp_path)
    disk_meta = {**meta, **direct_boot_metadata(image, meta)}
    assert without_store_files(disk_meta) == meta


def test_a_pvh_capable_kernel_is_stored_as_its_vmlinux(tmp_path):
    image, meta = make_image(tmp_path)
    kernel = bzimage(gzip.compress(PVH_ELF))
    data = kernel + INITRD
    Path(image).write_bytes(data)
    meta["boot-kernel"] = f"0+{len(kernel)}"
    meta["boot-kernel-sha256"] = hashlib.sha256(kernel).hexdigest()
    meta["boot-initrd"] = f"{len(kernel)}+{len(INITRD)}"
    # what an earlier version stored: the bzImage under the role's name
    old = Path(f"{image}.kernel-{meta['boot-kernel-sha256'][:16]}")
    old.write_bytes(kernel)
    added = direct_boot_metadata(image, meta)
    assert Path(added["boot-kernel-file"]).read_bytes() == PVH_ELF
    assert Path(added["boot-initrd-file"]).read_bytes() == INITRD
    assert not old.exists()
