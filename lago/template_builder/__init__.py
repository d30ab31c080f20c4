"""Lago's embedded template builder.

Builds, from Debian packages only, a local template repository in the original
Lago's format (``repo.metadata`` with a ``file`` source, and for each image
``<handle>``, ``<handle>.hash`` and ``<handle>.metadata``)::

    python3 -m lago.template_builder [--repo-dir DIR] [--only tiny|debian12 ...]
                                     [--all] [--force]

Templates:

``tiny`` (default)
    Debian's cloud kernel, a small initramfs, busybox, dropbear and OpenSSH's
    ``scp``; builds in seconds with no libguestfs (root is needed for a loop
    mount). See :mod:`lago.template_builder.tiny`.
``debian12`` (only with ``--only debian12`` or ``--all``)
    A real Debian 12 made with debootstrap (systemd, OpenSSH, python3).
    Takes minutes and needs the Debian mirror. See
    :mod:`lago.template_builder.debian`.

Both images use root password ``123456`` and apply a cloud-init **NoCloud**
seed at boot, before sshd starts: a block device labelled ``cidata``
(``genisoimage -volid cidata -joliet -rock`` iso9660, or vfat) holding
``meta-data`` and ``user-data``. The subset honoured (block-style YAML only):

* ``meta-data``: ``instance-id`` (a seed is applied once per instance id) and
  ``local-hostname`` (written to /etc/hostname and set);
* ``user-data`` starting with ``#cloud-config``: ``hostname``, ``fqdn``
  (the first name of 127.0.1.1 in /etc/hosts, before the host name, so
  that ``hostname -f`` prints it), ``ssh_authorized_keys`` (a list of root's keys, added to
  /root/.ssh/authorized_keys, 0600 in a 0700 directory), ``password``
  (root's, plain text) and ``chpasswd`` with ``list`` (a ``|`` block of
  ``user:password`` lines, or ``- user:password`` items) or ``users``
  (``- name:``/``password:`` items, plain text only).

Everything else is ignored. The parsing is done in the guest by
``files/common/lago-seed.awk``.

Results are cached: each image has a ``<handle>.cache-key`` (a hash of this
package's files and the versions of the Debian packages used); a run with
nothing changed returns in about a second and leaves timestamps alone.
"""

from lago.constants import LOCAL_REPO_NAME
from lago.defaults import TEMPLATE_REPOS

from .errors import TemplateBuildError

DEFAULT_REPO_DIR = f"{TEMPLATE_REPOS}/{LOCAL_REPO_NAME}"

__all__ = ["DEFAULT_REPO_DIR", "TemplateBuildError", "build_templates"]


def build_templates(*args, **kwargs):
    """See :func:`lago.template_builder.build.build_templates`."""
    from .build import build_templates as _build

    return _build(*args, **kwargs)
