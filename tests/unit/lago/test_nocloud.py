"""The NoCloud seed that ``init`` writes for the embedded templates."""

import shutil
import subprocess

import pytest
import yaml

from lago import nocloud

KEY = "ssh-rsa AAAAB3Nza lago@host"


def _iso_file(iso, name):
    return subprocess.run(
        ["isoinfo", "-R", "-i", str(iso), "-x", f"/{name}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_user_data_with_fqdn_is_cloud_config():
    text = nocloud._user_data([KEY], "123456", "vm01", "vm01.lago.local")
    assert text.splitlines()[0] == "#cloud-config"
    data = yaml.safe_load(text)
    assert data["hostname"] == "vm01"
    assert data["fqdn"] == "vm01.lago.local"
    assert data["manage_etc_hosts"] is True
    assert data["ssh_authorized_keys"] == [KEY]
    assert data["chpasswd"]["list"] == "root:123456\n"


def test_user_data_without_fqdn_names_nothing():
    data = yaml.safe_load(nocloud._user_data([KEY], None, "vm01", None))
    assert data == {"ssh_authorized_keys": [KEY]}


@pytest.mark.skipif(
    not (shutil.which("genisoimage") and shutil.which("isoinfo")),
    reason="genisoimage and isoinfo are needed to write and read the ISO",
)
def test_seed_iso_carries_the_fqdn(tmp_path):
    iso = tmp_path / "vm01_seed.iso"
    nocloud.make_seed(
        iso, "vm01", [KEY], instance_id="uuid-vm01", fqdn="vm01.lago.local"
    )
    volume = subprocess.run(
        ["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True, check=True
    ).stdout
    assert "Volume id: cidata" in volume
    assert yaml.safe_load(_iso_file(iso, "meta-data")) == {
        "instance-id": "uuid-vm01",
        "local-hostname": "vm01",
    }
    user = yaml.safe_load(_iso_file(iso, "user-data"))
    assert (user["hostname"], user["fqdn"]) == ("vm01", "vm01.lago.local")
