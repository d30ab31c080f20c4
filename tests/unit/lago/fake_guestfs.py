"""An in-memory stand-in for a libguestfs handle: disks, file systems, files.

Only the calls Lago's bootstrap makes exist; a missing one fails the test.
Paths inside a file system are absolute (``/etc/hostname``); a mounted
file system is reached through the longest matching mount point.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field


@dataclass
class FakeFS:
    vfs_type: str = "ext4"
    uuid: str = "0000-root"
    label: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/"})
    modes: dict[str, int] = field(default_factory=dict)
    owners: dict[str, tuple[int, int]] = field(default_factory=dict)

    def put(self, path: str, text: str | bytes, mode: int = 0o644) -> FakeFS:
        data = text.encode() if isinstance(text, str) else text
        self.files[path] = data
        self.modes[path] = mode
        parent = posixpath.dirname(path)
        while parent not in self.dirs:
            self.dirs.add(parent)
            parent = posixpath.dirname(parent)
        return self

    def text(self, path: str) -> str:
        return self.files[path].decode()


@dataclass
class FakeDisk:
    """A disk: partitions (``/dev/sdX1``...) or one file system on the device."""

    partitions: list[FakeFS] = field(default_factory=list)
    whole: FakeFS | None = None
    lvs: dict[str, FakeFS] = field(default_factory=dict)


class FakeGuestFS:
    """Records settings and calls; ``disks`` maps an image path to its content."""

    def __init__(
        self, disks: dict[str, FakeDisk], fail_on: dict[str, str] | None = None
    ):
        self.disks = disks
        self.fail_on = fail_on or {}
        self.settings: dict[str, object] = {}
        self.drives: list[tuple[str, dict]] = []
        self.devices: dict[str, FakeFS] = {}
        self.mounts: dict[str, tuple[FakeFS, bool]] = {}
        self.launched = False
        self.shut_down = False
        self.closed = False
        self.calls: list[str] = []

    def __getattribute__(self, name: str):
        if not name.startswith("_") and name in object.__getattribute__(
            self, "fail_on"
        ):
            raise RuntimeError(object.__getattribute__(self, "fail_on")[name])
        return object.__getattribute__(self, name)

    # -- settings and launch ----------------------------------------------
    def set_backend(self, value: str) -> None:
        self.settings["backend"] = value

    def set_backend_settings(self, value: list[str]) -> None:
        self.settings["backend_settings"] = value

    def get_backend_settings(self) -> list[str]:
        return list(self.settings.get("backend_settings", []))

    def set_memsize(self, value: int) -> None:
        self.settings["memsize"] = value

    def set_trace(self, value: bool) -> None:
        self.settings["trace"] = value

    def set_event_callback(self, callback: object, events: int) -> int:
        return 0

    def add_drive_opts(self, path: str, **options: object) -> None:
        assert not self.launched
        self.drives.append((path, options))

    def launch(self) -> None:
        self.launched = True
        for index, (path, _) in enumerate(self.drives):
            disk = self.disks[path]
            device = f"/dev/sd{'abcdefghijklmnopqrstuvwxyz'[index]}"
            if disk.whole is not None:
                self.devices[device] = disk.whole
            for number, fs in enumerate(disk.partitions, start=1):
                self.devices[f"{device}{number}"] = fs
            for name, fs in disk.lvs.items():
                self.devices[name] = fs

    def shutdown(self) -> None:
        self.shut_down = True

    def close(self) -> None:
        self.closed = True

    # -- devices ------------------------------------------------------------
    def list_devices(self) -> list[str]:
        return [
            f"/dev/sd{'abcdefghijklmnopqrstuvwxyz'[i]}" for i in range(len(self.drives))
        ]

    def list_partitions(self) -> list[str]:
        return sorted(d for d in self.devices if d[-1].isdigit() and "/sd" in d)

    def part_to_dev(self, part: str) -> str:
        return part.rstrip("0123456789")

    def part_to_partnum(self, part: str) -> int:
        return int(part[len(self.part_to_dev(part)) :])

    def lvs(self) -> list[str]:
        return sorted(d for d in self.devices if not d.startswith("/dev/sd"))

    def vfs_type(self, device: str) -> str:
        return self.devices[device].vfs_type

    def vfs_uuid(self, device: str) -> str:
        return self.devices[device].uuid

    def vfs_label(self, device: str) -> str:
        return self.devices[device].label

    # -- mounts ---------------------------------------------------------------
    def mount(self, device: str, mountpoint: str) -> None:
        self._mount(device, mountpoint, readonly=False)

    def mount_ro(self, device: str, mountpoint: str) -> None:
        self._mount(device, mountpoint, readonly=True)

    def _mount(self, device: str, mountpoint: str, readonly: bool) -> None:
        self.calls.append(f"mount {device} {mountpoint}")
        if device not in self.devices:
            raise RuntimeError(f"mount: {device}: No such device")
        if mountpoint != "/" and "/" not in self.mounts:
            raise RuntimeError("mount: nothing mounted at /")
        self.mounts[mountpoint] = (self.devices[device], readonly)

    def umount_all(self) -> None:
        self.mounts.clear()

    def _resolve(self, path: str, write: bool = False) -> tuple[FakeFS, str]:
        for mountpoint in sorted(self.mounts, key=len, reverse=True):
            if path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/"):
                fs, readonly = self.mounts[mountpoint]
                if write and readonly:
                    raise RuntimeError(f"{path}: Read-only file system")
                inner = "/" + path[len(mountpoint) :].lstrip("/")
                return fs, posixpath.normpath(inner)
        raise RuntimeError(f"{path}: nothing mounted")

    # -- files ------------------------------------------------------------------
    def is_dir(self, path: str) -> bool:
        fs, inner = self._resolve(path)
        return inner in fs.dirs

    def is_file(self, path: str) -> bool:
        fs, inner = self._resolve(path)
        return inner in fs.files

    def exists(self, path: str) -> bool:
        return self.is_dir(path) or self.is_file(path)

    def read_file(self, path: str) -> bytes:
        fs, inner = self._resolve(path)
        if inner not in fs.files:
            raise RuntimeError(f"read_file: {path}: No such file or directory")
        return fs.files[inner]

    def pread(self, path: str, count: int, offset: int) -> bytes:
        return self.read_file(path)[offset : offset + count]

    def write(self, path: str, content: bytes) -> None:
        fs, inner = self._resolve(path, write=True)
        if posixpath.dirname(inner) not in fs.dirs:
            raise RuntimeError(f"write: {path}: No such file or directory")
        fs.files[inner] = bytes(content)
        fs.modes.setdefault(inner, 0o644)

    def touch(self, path: str) -> None:
        fs, inner = self._resolve(path, write=True)
        if inner not in fs.files:
            self.write(path, b"")

    def truncate(self, path: str) -> None:
        self.write(path, b"")

    def mkdir_p(self, path: str) -> None:
        fs, inner = self._resolve(path, write=True)
        while inner not in fs.dirs:
            fs.dirs.add(inner)
            fs.modes.setdefault(inner, 0o755)
            inner = posixpath.dirname(inner)

    def chmod(self, mode: int, path: str) -> None:
        fs, inner = self._resolve(path, write=True)
        fs.modes[inner] = mode

    def chown(self, uid: int, gid: int, path: str) -> None:
        fs, inner = self._resolve(path, write=True)
        fs.owners[inner] = (uid, gid)

    def rm_f(self, path: str) -> None:
        fs, inner = self._resolve(path, write=True)
        fs.files.pop(inner, None)

    def glob_expand(self, pattern: str) -> list[str]:
        fs, inner = self._resolve(posixpath.dirname(pattern))
        base = posixpath.dirname(pattern)
        names = [p for p in fs.files if posixpath.dirname(p) == inner]
        return sorted(
            posixpath.join(base, posixpath.basename(p))
            for p in names
            if fnmatch.fnmatch(posixpath.basename(p), posixpath.basename(pattern))
        )
