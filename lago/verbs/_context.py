"""Finding the prefix and workdir a verb works on.

``--prefix-path`` (or a prefix in the current directory) wins; otherwise the
workdir found at or above the current directory and its ``--prefix-name``
(``current`` by default).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lago import env_host
from lago.log_utils import setup_prefix_logging
from lago.prefix import Prefix
from lago.workdir import Workdir


@dataclass
class VerbContext:
    prefix: Prefix
    workdir: Workdir | None


def locate(
    prefix_path: str | None = None,
    workdir_path: str | None = None,
    prefix_name: str = "current",
    prefix_class: type[Prefix] = Prefix,
    workdir_class: type[Workdir] = Workdir,
) -> VerbContext:
    if prefix_path or (Prefix.is_prefix(os.curdir) and not workdir_path):
        if prefix_path:
            warnings.warn(
                "--prefix-path is deprecated, use --workdir-path and --prefix-name",
                DeprecationWarning,
                stacklevel=2,
            )
        path = prefix_class.resolve_prefix_path(prefix_path or os.curdir)
        return VerbContext(prefix=prefix_class(path), workdir=None)
    path = workdir_class.resolve_workdir_path(workdir_path or os.curdir)
    workdir = workdir_class(path, prefix_class=prefix_class)
    workdir.load()
    return VerbContext(
        prefix=workdir.get_prefix(prefix_name or "current"), workdir=workdir
    )


def export_paths(ctx: VerbContext) -> None:
    # subprocesses of deploy scripts and plugins read these, as in the original
    os.environ["LAGO_PREFIX_PATH"] = os.path.realpath(ctx.prefix.paths.prefix)
    os.environ["LAGO_WORKDIR_PATH"] = ctx.workdir.path if ctx.workdir else ""


def in_prefix(
    prefix_class: type[Prefix] | None = None,
    workdir_class: type[Workdir] | None = None,
    logs: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a verb so that it receives ``prefix`` and ``workdir`` keywords
    (and ``parent_workdir``, the same workdir under the original's name).

    It also exports the paths for subprocesses and, unless ``logs`` is false,
    logs to the prefix's ``lago.log``: both are the command line's business.
    """
    prefix_cls = prefix_class or Prefix
    workdir_cls = workdir_class or Workdir

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = locate(
                prefix_path=kwargs.get("prefix_path"),
                workdir_path=kwargs.get("workdir_path"),
                prefix_name=kwargs.get("prefix_name") or "current",
                prefix_class=prefix_cls,
                workdir_class=workdir_cls,
            )
            export_paths(ctx)
            # the environment's own libvirt host, whatever the config says
            env_host.restore(ctx.prefix.paths.prefix_path())
            if logs:
                setup_prefix_logging(ctx.prefix.paths.logs())
            kwargs["prefix"] = ctx.prefix
            kwargs["workdir"] = ctx.workdir
            # the original's verbs receive the workdir under this name
            kwargs["parent_workdir"] = ctx.workdir
            return func(*args, **kwargs)

        return wrapper

    return decorator
