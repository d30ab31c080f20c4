"""Names, states and the connection helper of the libvirt provider."""

from __future__ import annotations

import hashlib
import threading

import libvirt
import pytest

from lago.errors import LagoUserException
from lago.providers.libvirt import utils
from lago.providers.libvirt.utils import (
    DOMAIN_STATES,
    LibvirtConnectionError,
    LibvirtNameError,
    domain_state_name,
    get_libvirt_connection,
    libvirt_error_code,
    nat_bridge_name,
    net_libvirt_name,
    prefixed_name,
    unless_gone,
)

UUID = "0123456789abcdef0123456789abcdef"
LONG = "a-rather-long-network-name"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def test_unlimited_name_keeps_long_names():
    assert prefixed_name(UUID, "vm01") == "01234567-vm01"
    assert prefixed_name(UUID, LONG) == f"01234567-{LONG}"


def test_limit_15_uses_4_uuid_chars_and_sha1_for_long_names():
    assert prefixed_name(UUID, "lago", 15) == "0123-lago"
    assert prefixed_name(UUID, "abcdefghij", 15) == "0123-abcdefghij"
    assert prefixed_name(UUID, "abcdefghijk", 15) == "0123-" + sha1("abcdefghijk")[:10]
    assert prefixed_name(UUID, LONG, 15) == "0123-" + sha1(LONG)[:10]
    assert len(prefixed_name(UUID, LONG, 15)) == 15


def test_limit_16_and_more_uses_8_uuid_chars():
    assert prefixed_name(UUID, "abcdefg", 16) == "01234567-abcdefg"
    assert prefixed_name(UUID, "abcdefgh", 16) == "01234567-" + sha1("abcdefgh")[:7]


def test_limit_6_is_the_smallest():
    assert prefixed_name(UUID, "xy", 6) == "0123-" + sha1("xy")[:1]


def test_limit_below_6_is_an_error():
    with pytest.raises(LibvirtNameError) as err:
        prefixed_name(UUID, "lago", 5)
    assert str(err.value) == (
        "Cannot make a libvirt name of at most 5 characters (minimum 6)"
    )


def test_network_and_bridge_names():
    assert net_libvirt_name(UUID, "lago") == "0123-lago"
    assert net_libvirt_name(UUID, LONG) == "0123-" + sha1(LONG)[:10]
    assert nat_bridge_name("0123-lago") == "0123-lago-ni"
    assert nat_bridge_name("0123-a") == "0123-a-nic"
    assert nat_bridge_name(net_libvirt_name(UUID, LONG)) == "0123-" + sha1(LONG)[:7]


def test_domain_states():
    assert [domain_state_name(code) for code in range(8)] == [
        "no state",
        "running",
        "blocked",
        "paused",
        "begin shut down",
        "shut off",
        "crashed",
        "suspended",
    ]
    assert domain_state_name(8) == "unknown"
    assert len(DOMAIN_STATES) == 8


def test_libvirt_error_code():
    conn = libvirt.open("test:///default")
    with pytest.raises(libvirt.libvirtError) as err:
        conn.lookupByName("no-such-domain")
    assert libvirt_error_code(err.value) == libvirt.VIR_ERR_NO_DOMAIN
    assert libvirt_error_code(ValueError("x")) == -1


def test_unless_gone_is_none_only_for_the_given_codes():
    conn = libvirt.open("test:///default")
    lookup = conn.lookupByName
    assert (
        unless_gone(lambda: lookup("test"), libvirt.VIR_ERR_NO_DOMAIN).name() == "test"
    )
    assert unless_gone(lambda: lookup("no-such"), libvirt.VIR_ERR_NO_DOMAIN) is None
    with pytest.raises(libvirt.libvirtError):
        unless_gone(lambda: lookup("no-such"), libvirt.VIR_ERR_NO_NETWORK)
    with pytest.raises(ValueError):
        unless_gone(lambda: int("x"), libvirt.VIR_ERR_NO_DOMAIN)


def test_connection_is_cached_per_thread():
    first = get_libvirt_connection("vm01", "test:///default")
    assert get_libvirt_connection("vm02", "test:///default") is first
    other = []
    thread = threading.Thread(
        target=lambda: other.append(get_libvirt_connection("net", "test:///default"))
    )
    thread.start()
    thread.join()
    assert other[0] is not first
    assert other[0].getURI() == "test:///default"


def test_dead_connection_is_replaced():
    first = get_libvirt_connection("vm01", "test:///default", username="dead")
    first.close()
    second = get_libvirt_connection("vm01", "test:///default", username="dead")
    assert second is not first
    assert second.isAlive() == 1


def test_connection_failure_is_one_line_with_a_hint(capfd):
    url = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    with pytest.raises(LibvirtConnectionError) as err:
        get_libvirt_connection("vm01", url)
    message = str(err.value)
    assert isinstance(err.value, LagoUserException)
    assert message.startswith(f"Cannot connect to libvirt at {url}: ")
    assert "/nonexistent/libvirt-sock" in message
    assert "\n" not in message
    assert err.value.hint == (
        "check that libvirtd runs at that address and that you may use it "
        "(member of the libvirt group, or root)"
    )
    # libvirt's default handler would have printed the error on stderr
    assert capfd.readouterr().err == ""


def test_credentials_come_from_the_arguments(monkeypatch):
    answers = {}

    def fake_open_auth(url, auth, flags):
        creds = [
            [libvirt.VIR_CRED_AUTHNAME, "user", "", None, None],
            [libvirt.VIR_CRED_PASSPHRASE, "pass", "", None, None],
        ]
        assert auth[0] == [libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE]
        assert auth[1](creds, auth[2]) == 0
        answers.update(url=url, user=creds[0][4], password=creds[1][4])
        return libvirt.open("test:///default")

    monkeypatch.setattr(libvirt, "openAuth", fake_open_auth)
    monkeypatch.setattr(utils, "_CONNECTIONS", {})
    get_libvirt_connection("vm01", "qemu+ssh://h/system", "alice", "secret")
    assert answers == {
        "url": "qemu+ssh://h/system",
        "user": "alice",
        "password": "secret",
    }
