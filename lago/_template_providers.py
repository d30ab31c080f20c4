"""Template providers: where a repository's images, hashes and metadata live.

A repository source of type ``file`` reads ``<root>/<handle>`` and its
``.hash``/``.metadata`` companions; type ``http`` fetches the same names under a
base URL, trying the ``.xz`` form of each first. Public names are re-exported
by :mod:`lago.templates`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import posixpath
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lago import interrupt
from lago.errors import LagoUserException
from lago.log_utils import LogTask
from lago.process import run_command

LOGGER = logging.getLogger(__name__)

#: Seconds a connection or a read may stall before the download fails.
URL_TIMEOUT = 60
XZ_MAGIC = b"\xfd7zXZ\x00"
_CHUNK = 1 << 20


class TemplateError(LagoUserException, RuntimeError):
    """A template repository, provider or store cannot give what was asked.

    Also a :class:`RuntimeError`, which the original raised for these cases.
    """


class TemplateDownloadError(TemplateError):
    """``url`` could not be retrieved; ``code`` is the HTTP status if one came."""

    def __init__(self, url: str, reason: str, code: int | None = None) -> None:
        super().__init__(f"Failed to retrieve URL {url}: {reason}")
        self.url = url
        self.reason = reason
        self.code = code


class TemplateHashError(TemplateError):
    """A downloaded image does not have the repository's hash."""


def _reason(err: BaseException) -> str:
    """The human part of a urllib/socket error: ``Connection refused``."""
    reason: Any = getattr(err, "reason", err)
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def urlopen(url: str) -> http.client.HTTPResponse:
    """Open ``url``; any failure or a status >= 300 is a one-line error."""
    try:
        response = urllib.request.urlopen(url, timeout=URL_TIMEOUT)
    except urllib.error.HTTPError as err:
        err.close()
        reason = f"HTTP {err.code} {err.reason}"
        raise TemplateDownloadError(url, reason, code=err.code) from err
    except (OSError, ValueError, http.client.HTTPException) as err:
        raise TemplateDownloadError(url, _reason(err)) from err
    # a file:// response has no status
    if response.status is not None and response.status >= 300:
        response.close()
        reason = f"HTTP {response.status} {response.reason}"
        raise TemplateDownloadError(url, reason, code=response.status)
    return response


def content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced body size, or ``None`` if missing or not a number."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_body(response: http.client.HTTPResponse, url: str) -> bytes:
    """The whole body; a connection lost half way is a one-line error."""
    try:
        return response.read()
    except (OSError, http.client.HTTPException) as err:
        raise TemplateDownloadError(url, _reason(err)) from err


def _save(response: http.client.HTTPResponse, url: str, dest: str) -> None:
    total = content_length(response)
    if total:
        LOGGER.info("Downloading %d Kilobytes from %s", total // 1024, url)
    done = 0
    step = 10
    try:
        with open(dest, "wb") as out:
            while chunk := response.read(_CHUNK):
                interrupt.check()
                out.write(chunk)
                done += len(chunk)
                if total and done * 100 >= step * total:
                    LOGGER.debug(
                        "%.1f%% complete (%d Kilobytes)",
                        done * 100 / total,
                        done // 1024,
                    )
                    step = done * 100 // total + 10
    except (OSError, http.client.HTTPException) as err:
        raise TemplateDownloadError(url, _reason(err)) from err
    if total is not None and done != total:
        raise TemplateDownloadError(url, f"got {done} of {total} bytes")


def _wake(response: http.client.HTTPResponse) -> None:
    """Make a read blocked on ``response`` return: shut its socket down.

    ``HTTPResponse`` keeps its socket only inside its buffered reader (a
    ``socket.SocketIO``); a ``file://`` response has none and never blocks.
    """
    sock = getattr(getattr(response.fp, "raw", None), "_sock", None)
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)


def download(url: str, dest: str) -> None:
    """Save the body of ``url`` at ``dest``; nothing is left there on failure.

    Lago's one HTTP download: templates and ``type: file`` disks with a
    ``url`` both come through here. Raises :class:`TemplateDownloadError`.
    """
    partial = dest + ".tmp"
    try:
        with urlopen(url) as response, interrupt.on_cancel(lambda: _wake(response)):
            _save(response, url, partial)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    os.replace(partial, dest)


def is_xz(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as stream:
        return stream.read(len(XZ_MAGIC)) == XZ_MAGIC


class FileSystemTemplateProvider:
    """Templates in a directory of the host (repository source type ``file``)."""

    def __init__(self, root: str) -> None:
        self._root = str(Path(os.path.expandvars(root)).expanduser())

    def _prefixed(self, *path: str) -> str:
        return os.path.join(self._root, *path)

    def download_image(self, handle: str, dest: str) -> None:
        """Copy ``<root>/<handle>`` to ``dest``, keeping holes."""
        source = self._prefixed(handle)
        if not os.path.isfile(source):
            raise TemplateError(f"Template image {source} does not exist")
        result = run_command(["cp", "--sparse=always", source, dest])
        if result.code:
            reason = result.err.strip()
            msg = f"Failed to copy template image {source} to {dest}: {reason}"
            raise TemplateError(msg)

    def _read(self, handle: str, suffix: str, what: str) -> str:
        path = self._prefixed(handle + suffix)
        try:
            return Path(path).read_text()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else str(err)
            raise TemplateError(
                f"Unable to read {what} of template {handle}: {path}: {reason}"
            ) from err

    def get_hash(self, handle: str) -> str:
        """The text of ``<root>/<handle>.hash``, stripped."""
        return self._read(handle, ".hash", "hash").strip()

    def get_metadata(self, handle: str) -> dict[str, Any]:
        """The JSON object in ``<root>/<handle>.metadata``."""
        text = self._read(handle, ".metadata", "metadata")
        return _metadata_of(text, self._prefixed(handle + ".metadata"))


def _metadata_of(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise TemplateError(
            f"Template metadata {where} is not valid JSON: {err}"
        ) from err
    if not isinstance(data, dict):
        raise TemplateError(f"Template metadata {where} is not a JSON object")
    return data


class HttpTemplateProvider:
    """Templates under a base URL (repository source type ``http``)."""

    def __init__(self, baseurl: str) -> None:
        self.baseurl = baseurl

    def open_url(
        self, url: str, suffix: str = "", dest: str | None = None
    ) -> http.client.HTTPResponse:
        """Open ``<baseurl>/<url><suffix>``, trying ``<url>.xz<suffix>`` first.

        With ``dest`` the body is saved there and the (closed) response is
        returned; without, the open response is returned for the caller to
        read and close. Raises :class:`TemplateDownloadError` naming the URL.
        """
        if not url.endswith(".xz"):
            try:
                return self.open_url(url + ".xz", suffix=suffix, dest=dest)
            except TemplateDownloadError as err:
                if err.code is None:  # unreachable: the plain form would be too
                    raise
                LOGGER.debug("no compressed form, trying the plain one: %s", err)
        full_url = posixpath.join(self.baseurl, url) + suffix
        response = urlopen(full_url)
        if dest is not None:
            with response:
                _save(response, full_url, dest)
        return response

    def download_image(self, handle: str, dest: str) -> None:
        """Download the image to ``dest``, decompressing it if it is xz."""
        with LogTask(f"Download image {handle}", logger=LOGGER):
            self.open_url(url=handle, dest=dest)
        if is_xz(dest):
            self.extract_image_xz(dest)

    @staticmethod
    def extract_image_xz(path: str) -> None:
        """Decompress ``path`` in place with ``xz`` (via ``<path>.xz``)."""
        if not path.endswith(".xz"):
            os.rename(path, path + ".xz")
            path = path + ".xz"
        with LogTask("Decompress local image", logger=LOGGER):
            result = run_command(["xz", "--threads=0", "--decompress", path])
        if result.code:
            raise TemplateError(f"Failed to decompress {path}: {result.err.strip()}")

    def _fetch(self, handle: str, suffix: str) -> tuple[bytes, str]:
        response = self.open_url(url=handle, suffix=suffix)
        with response:
            return read_body(response, response.geturl()), response.geturl()

    def get_hash(self, handle: str) -> str:
        """The text of ``<handle>[.xz].hash``, stripped."""
        body, url = self._fetch(handle, ".hash")
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError as err:
            raise TemplateError(f"Template hash {url} is not a hex digest") from err

    def get_metadata(self, handle: str) -> dict[str, Any]:
        """The JSON object in ``<handle>[.xz].metadata``."""
        body, url = self._fetch(handle, ".metadata")
        return _metadata_of(body, url)


#: Repository source types and the classes that serve them.
PROVIDERS: dict[str, type[Any]] = {
    "file": FileSystemTemplateProvider,
    "http": HttpTemplateProvider,
}
