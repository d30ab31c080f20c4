"""VM names under the management network's DNS domain."""

import pytest

from lago.dns_names import fqdn, is_dns_name


@pytest.mark.parametrize(
    "name", ["vm01", "lago.local", "a-b.c-d.example", "x" * 63, "9lives"]
)
def test_dns_names(name):
    assert is_dns_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "vm_01", "-vm", "vm-", "a..b", ".lago", "lago.", "x" * 64, "a b", "a,b"],
)
def test_not_dns_names(name):
    assert not is_dns_name(name)


def test_fqdn():
    assert fqdn("vm01", "lago.local") == "vm01.lago.local"
    assert fqdn("web", "corp.example") == "web.corp.example"


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("vm01", None),
        ("vm01", ""),
        ("vm_01", "lago.local"),
        ("vm01", "bad domain"),
        ("vm01", ".".join(["d" * 63] * 4)),
    ],
)
def test_no_fqdn(host, domain):
    assert fqdn(host, domain) is None
