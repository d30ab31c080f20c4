"""Service plugins against a scripted guest."""

from __future__ import annotations

import pytest

from lago.plugins import load_plugins
from lago.plugins.service import ServiceError, ServiceState
from lago.service import SystemdContainerService, SystemdService, SysVInitService
from lago.utils import CommandStatus


class FakeVM:
    """Answers ``ssh`` from a table of command -> (code, out); records calls."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def ssh(self, command, show_output=True, propagate_fail=True, **_):
        self.calls.append(tuple(command))
        code, out = self.answers.get(tuple(command), (1, ""))
        return CommandStatus(code, out, "")


def test_builtin_service_plugins_are_registered() -> None:
    plugins = load_plugins("lago.plugins.vm_service", instantiate=False)
    assert plugins["systemd"] is SystemdService
    assert plugins["sysvinit"] is SysVInitService
    assert plugins["systemdcontainer"] is SystemdContainerService


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        (
            (0, "● sshd.service\n   Loaded: loaded\n   Active: active"),
            ServiceState.ACTIVE,
        ),
        (
            (
                3,
                "● sshd.service\n   Loaded: loaded (/lib/systemd)\n   Active: inactive",
            ),
            ServiceState.INACTIVE,
        ),
        ((4, "Unit sshd.service could not be found."), ServiceState.MISSING),
    ],
)
def test_systemd_state(answer: tuple[int, str], state: ServiceState) -> None:
    vm = FakeVM({("/usr/bin/systemctl", "status", "--lines=0", "sshd"): answer})
    assert SystemdService(vm, "sshd").state() == state


def test_systemd_start_only_when_inactive() -> None:
    status = ("/usr/bin/systemctl", "status", "--lines=0", "sshd")
    vm = FakeVM(
        {
            status: (3, "   Loaded: loaded"),
            ("/usr/bin/systemctl", "start", "sshd"): (0, ""),
        }
    )
    SystemdService(vm, "sshd").start()
    assert vm.calls == [status, ("/usr/bin/systemctl", "start", "sshd")]
    vm = FakeVM({status: (0, "")})
    SystemdService(vm, "sshd").start()
    assert vm.calls == [status]


def test_start_errors() -> None:
    with pytest.raises(ServiceError, match=r"^Service nope not present$"):
        SystemdService(FakeVM({}), "nope").start()
    status = ("/usr/bin/systemctl", "status", "--lines=0", "sshd")
    vm = FakeVM({status: (3, "Loaded: loaded")})
    with pytest.raises(ServiceError, match=r"^Failed to start service sshd$"):
        SystemdService(vm, "sshd").start()


def test_sysvinit_state() -> None:
    vm = FakeVM({("/sbin/service", "ntpd", "status"): (3, "ntpd is stopped")})
    assert SysVInitService(vm, "ntpd").state() == ServiceState.INACTIVE
    vm = FakeVM({("/sbin/service", "ntpd", "status"): (0, "running")})
    assert SysVInitService(vm, "ntpd").state() == ServiceState.ACTIVE
    assert SysVInitService(FakeVM({}), "ntpd").state() == ServiceState.MISSING


def test_container_falls_back_to_host() -> None:
    vm = FakeVM({("/usr/bin/systemctl", "status", "--lines=0", "vdsmd"): (0, "")})
    assert SystemdContainerService(vm, "vdsmd").state() == ServiceState.ACTIVE
    assert vm.calls[0][:3] == ("/usr/bin/docker", "exec", "vdsmc")


def test_is_supported_probes_the_binary() -> None:
    vm = FakeVM({("test", "-e", "/usr/bin/systemctl"): (0, "")})
    assert SystemdService.is_supported(vm)
    assert not SysVInitService.is_supported(vm)
