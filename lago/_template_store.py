"""The local template store: a directory cache of downloaded templates.

Each template version ``<repo>:<template>:<version>`` is a raw image of that
name, with ``.hash`` (sha1 hex of the downloaded image, no newline),
``.metadata`` (JSON), ``.lock`` (flock taken while downloading) and ``.tmp``
(the download in progress) beside it: the original's layout, so either
implementation can use a store the other filled. Lago adds ``.check`` (size,
mtime and sha1 of the stored image, see :mod:`lago._store_check`). Public names are re-exported
by :mod:`lago.templates`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lago import _store_check, qemu_img
from lago._template_providers import TemplateError, TemplateHashError
from lago.errors import why
from lago.fileio import atomic_write, get_hash, json_dump
from lago.locks import LockFile
from lago.log_utils import LogTask

if TYPE_CHECKING:
    from lago.templates import TemplateVersion

LOGGER = logging.getLogger(__name__)


class TemplateStore:
    """Local cache of templates under ``path`` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._root = os.fspath(path)
        try:
            os.makedirs(self._root, exist_ok=True)
        except OSError as err:
            msg = f"Unable to create template store {self._root}: {err.strerror}"
            raise TemplateError(msg) from err

    def _prefixed(self, *path: str) -> str:
        return os.path.join(self._root, *path)

    def __contains__(self, temp_ver: TemplateVersion) -> bool:
        return Path(self._prefixed(temp_ver.name)).exists()

    def get_path(self, temp_ver: TemplateVersion) -> str:
        """The stored image of ``temp_ver``; an error if it is not stored."""
        if temp_ver not in self:
            raise TemplateError(
                f"Template {temp_ver.name} is not in the store {self._root}"
            )
        return self._prefixed(temp_ver.name)

    def verify(self, temp_ver: TemplateVersion) -> None:
        """Refuse ``temp_ver``'s entry if it is not what was stored (see
        :mod:`lago._store_check`), under its lock."""
        dest = self.get_path(temp_ver)
        with LockFile(dest + ".lock"):
            _store_check.verify(temp_ver.name, dest)

    def get_stored_hash(self, temp_ver: TemplateVersion) -> str:
        return self._read(temp_ver, ".hash", "hash")

    def get_stored_metadata(self, temp_ver: TemplateVersion) -> dict[str, Any]:
        path = self._prefixed(temp_ver.name + ".metadata")
        try:
            return json.loads(self._read(temp_ver, ".metadata", "metadata"))
        except ValueError as err:
            raise TemplateError(
                f"Stored metadata {path} is not valid JSON: {err}"
            ) from err

    def _read(self, temp_ver: TemplateVersion, suffix: str, what: str) -> str:
        path = self._prefixed(temp_ver.name + suffix)
        try:
            return Path(path).read_text()
        except OSError as err:
            name = temp_ver.name
            msg = f"Unable to read the stored {what} of {name}: {path}: {err.strerror}"
            raise TemplateError(msg) from err

    def download(self, temp_ver: TemplateVersion, store_metadata: bool = True) -> None:
        """Fetch ``temp_ver`` into the store unless it is there already.

        Runs under the entry's lock, so concurrent callers download it once;
        a download that fails, or whose sha1 differs from the repository's,
        leaves nothing behind but the lock file.
        """
        dest = self._prefixed(temp_ver.name)
        with LockFile(dest + ".lock"):
            if Path(dest).exists():
                LOGGER.debug(
                    "%s was stored while we waited for its lock", temp_ver.name
                )
                return
            try:
                self._fetch(temp_ver, dest, store_metadata)
            except BaseException:
                # orphans: the entry does not exist and we hold its lock
                for suffix in (".hash", ".metadata", _store_check.CHECK_SUFFIX):
                    _unlink(dest + suffix)
                raise

    def _fetch(
        self, temp_ver: TemplateVersion, dest: str, store_metadata: bool
    ) -> None:
        tmp = dest + ".tmp"
        converted = dest + ".tmp2"
        try:
            expected = temp_ver.get_hash().strip()
            metadata = temp_ver.get_metadata() if store_metadata else None
            temp_ver.download(tmp)
            actual = get_hash(tmp)
            if actual != expected:
                msg = (
                    f"Image {temp_ver.name} does not match the expected hash {expected}"
                    f" (the downloaded image has sha1 {actual})"
                )
                raise TemplateHashError(msg)
            _convert_to_raw(temp_ver.name, tmp, converted)
            _store_check.record(converted)
            if metadata is not None:
                with open(dest + ".metadata", "w") as stream:
                    json_dump(metadata, stream)
            atomic_write(dest + ".hash", actual)
            check = _store_check.CHECK_SUFFIX
            os.replace(converted + check, dest + check)
            # the entry appears last, so whoever sees it sees its companions
            os.replace(converted, dest)
        finally:
            for leftover in (
                tmp,
                tmp + ".xz",
                converted,
                converted + _store_check.CHECK_SUFFIX,
            ):
                _unlink(leftover)


def _probe_format(name: str, path: str) -> str:
    """The image's format; one with a backing file is refused, as flattening
    it would copy a file of this host into the store."""
    result = qemu_img.run_info(path, force_share=False)
    try:
        info = json.loads(result.out) if result.code == 0 else None
    except ValueError:
        info = None
    if not isinstance(info, dict):
        reason = why(result.err, "qemu-img")
        raise TemplateError(f"Image {name} is not a disk image: qemu-img: {reason}")
    if info.get("backing-filename"):
        backing = info["backing-filename"]
        msg = (
            f"Image {name} has a backing file ({backing}); templates must be standalone"
        )
        raise TemplateError(msg)
    return str(info.get("format", "raw"))


def _convert_to_raw(name: str, source: str, dest: str) -> None:
    source_format = _probe_format(name, source)
    with LogTask("Convert image", logger=LOGGER):
        result = qemu_img.convert(source, dest, source_format, "raw")
    if result.code:
        raise TemplateError(
            f"Failed to convert image {name} to raw: "
            f"qemu-img: {why(result.err, 'qemu-img')}"
        )


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
