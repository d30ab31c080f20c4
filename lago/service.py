"""The built-in service plugins: systemd, SysV init, systemd inside a container."""

from __future__ import annotations

from lago.plugins.service import ServicePlugin, ServiceState


class SystemdService(ServicePlugin):
    BIN_PATH = "/usr/bin/systemctl"

    def _systemctl(self, *args: str) -> tuple[int, str]:
        result = self._vm.ssh(
            [self.BIN_PATH, *args], show_output=False, propagate_fail=False
        )
        return result.code, result.out

    def _request_start(self) -> bool:
        return self._systemctl("start", self._name)[0] == 0

    def _request_stop(self) -> bool:
        return self._systemctl("stop", self._name)[0] == 0

    def state(self) -> ServiceState:
        code, out = self._systemctl("status", "--lines=0", self._name)
        if code == 0:
            return ServiceState.ACTIVE
        if any(line.strip().startswith("Loaded: loaded") for line in out.splitlines()):
            return ServiceState.INACTIVE
        return ServiceState.MISSING


class SysVInitService(ServicePlugin):
    BIN_PATH = "/sbin/service"

    def _service(self, action: str) -> tuple[int, str]:
        result = self._vm.ssh(
            [self.BIN_PATH, self._name, action], show_output=False, propagate_fail=False
        )
        return result.code, result.out

    def _request_start(self) -> bool:
        return self._service("start")[0] == 0

    def _request_stop(self) -> bool:
        return self._service("stop")[0] == 0

    def state(self) -> ServiceState:
        code, out = self._service("status")
        if code == 0:
            return ServiceState.ACTIVE
        if out.strip().endswith("is stopped"):
            return ServiceState.INACTIVE
        return ServiceState.MISSING


class SystemdContainerService(ServicePlugin):
    """A service in the ``vdsmc`` container if it is there, else on the host."""

    BIN_PATH = "/usr/bin/docker"
    HOST_BIN_PATH = "/usr/bin/systemctl"

    def _in_container(self, *args: str) -> tuple[int, str]:
        result = self._vm.ssh(
            [self.BIN_PATH, "exec", "vdsmc", "/usr/bin/systemctl", *args],
            show_output=False,
            propagate_fail=False,
        )
        return result.code, result.out

    def _on_host(self, *args: str) -> tuple[int, str]:
        result = self._vm.ssh(
            [self.HOST_BIN_PATH, *args], show_output=False, propagate_fail=False
        )
        return result.code, result.out

    def _request_start(self) -> bool:
        if self._in_container("start", self._name)[0] == 0:
            return True
        return self._on_host("start", self._name)[0] == 0

    def _request_stop(self) -> bool:
        if self._in_container("stop", self._name)[0] == 0:
            return True
        return self._on_host("stop", self._name)[0] == 0

    def state(self) -> ServiceState:
        for query in (self._in_container, self._on_host):
            code, out = query("status", "--lines=0", self._name)
            if code == 0:
                return ServiceState.ACTIVE
            if any(
                line.strip().startswith("Loaded: loaded") for line in out.splitlines()
            ):
                return ServiceState.INACTIVE
        return ServiceState.MISSING
