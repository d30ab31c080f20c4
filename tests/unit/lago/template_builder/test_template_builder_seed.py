"""The NoCloud seed parser the guests run (files/common/lago-seed.awk)."""

import shutil
import subprocess
from pathlib import Path

import pytest

import lago.template_builder

AWK = Path(lago.template_builder.__file__).parent / "files/common/lago-seed.awk"
AWKS = [
    a
    for a in (["busybox", "awk"], ["mawk"], ["gawk"], ["original-awk"])
    if shutil.which(a[0])
]

META = """\
instance-id: iid-1234
local-hostname: "vm0"\t
"""

USER = """\
#cloud-config
# comment
ssh_authorized_keys:
  - ssh-rsa AAAAB3Nza key1@host
  - "ssh-ed25519 AAAAC3 key2"
chpasswd:
  expire: false
  list: |
    root:s3cr#et:x
    lago:pw2
  users:
    - name: alice
      password: apw
      type: text
    - name: bob
      password: $6$hash
      type: hash
password: toppw
runcmd:
  - - ssh-rsa NOT-A-KEY
"""


@pytest.fixture(params=AWKS, ids=lambda a: a[0])
def awk(request):
    return request.param


def parse(awk, tmp_path, meta=None, user=None):
    files = []
    if meta is not None:
        (tmp_path / "meta-data").write_text(meta)
        files.append(str(tmp_path / "meta-data"))
    if user is not None:
        (tmp_path / "user-data").write_text(user)
        files.append(str(tmp_path / "user-data"))
    out = subprocess.run(
        [*awk, "-f", str(AWK), *files], capture_output=True, text=True, check=True
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


def test_full_seed(awk, tmp_path):
    records = parse(awk, tmp_path, META, USER)
    assert ("instance-id", "iid-1234") in records
    assert ("hostname", "vm0") in records
    assert [r for r in records if r[0] == "key"] == [
        ("key", "ssh-rsa AAAAB3Nza key1@host"),
        ("key", "ssh-ed25519 AAAAC3 key2"),
    ]
    passwords = [r[1:] for r in records if r[0] == "password"]
    assert ("root", "s3cr#et:x") in passwords
    assert ("lago", "pw2") in passwords
    assert ("alice", "apw") in passwords
    assert ("root", "toppw") in passwords
    assert all(user != "bob" for user, _ in passwords)


def test_user_data_hostname_wins(awk, tmp_path):
    records = parse(awk, tmp_path, META, "#cloud-config\nhostname: other\n")
    hostnames = [r[1] for r in records if r[0] == "hostname"]
    assert hostnames[-1] == "other"


def test_chpasswd_list_as_items(awk, tmp_path):
    user = "#cloud-config\nchpasswd:\n  list:\n    - root:one\n    - 'x:two'\n"
    assert parse(awk, tmp_path, user=user) == [
        ("password", "root", "one"),
        ("password", "x", "two"),
    ]


def test_crlf_and_random_passwords(awk, tmp_path):
    user = "#cloud-config\r\nchpasswd:\r\n  list: |\r\n    root:RANDOM\r\n    u:p\r\n"
    assert parse(awk, tmp_path, user=user) == [("password", "u", "p")]


def test_non_cloud_config_user_data_is_ignored(awk, tmp_path):
    assert parse(awk, tmp_path, user="#!/bin/sh\npassword: x\n") == []


def test_meta_data_alone(awk, tmp_path):
    assert parse(awk, tmp_path, meta="local-hostname: vm1\n") == [("hostname", "vm1")]


def test_fqdn_follows_the_hostname(awk, tmp_path):
    user = '#cloud-config\nhostname: "vm01"\nfqdn: "vm01.lago.local"\n'
    records = parse(awk, tmp_path, "local-hostname: vm01\n", user)
    assert records[-2:] == [("hostname", "vm01"), ("fqdn", "vm01.lago.local")]


def test_the_seed_lago_writes(awk, tmp_path):
    from lago import nocloud

    user = nocloud._user_data(["ssh-rsa AAA k"], None, "vm01", "vm01.lago.local")
    meta = nocloud._meta_data("iid-vm01", "vm01")
    assert parse(awk, tmp_path, meta, user) == [
        ("instance-id", "iid-vm01"),
        ("hostname", "vm01"),
        ("key", "ssh-rsa AAA k"),
        ("hostname", "vm01"),
        ("fqdn", "vm01.lago.local"),
    ]
