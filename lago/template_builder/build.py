"""Build templates into a repository, with caching and atomic publication."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import cache, repo, tiny, workspace
from .errors import TemplateBuildError

LOGGER = logging.getLogger(__name__)

BuildFn = Callable[[Path], tuple[Path, dict[str, str]]]
InputsFn = Callable[[], tuple[list[str], dict[str, str]]]


@dataclass(frozen=True)
class Template:
    """How to build one template version."""

    name: str
    version: str
    handle: str
    inputs: InputsFn
    build: BuildFn
    exclude: tuple[str, ...] = ()
    default: bool = True


@dataclass
class Result:
    """What happened to one template."""

    name: str
    handle: str
    built: bool
    timestamp: int
    seconds: float
    extra: dict[str, str] = field(default_factory=dict)


def _debian_template() -> Template:
    from . import debian

    return Template(
        debian.NAME,
        debian.VERSION,
        debian.HANDLE,
        debian.cache_inputs,
        debian.build,
        debian.EXCLUDE_FROM_KEY,
        default=False,
    )


DEFAULT_TEMPLATES = (tiny.NAME,)


def known_templates() -> dict[str, Callable[[], Template]]:
    """Template name -> factory."""
    return {
        tiny.NAME: lambda: Template(
            tiny.NAME,
            tiny.VERSION,
            tiny.HANDLE,
            tiny.cache_inputs,
            tiny.build,
            tiny.EXCLUDE_FROM_KEY,
        ),
        "debian12": _debian_template,
    }


def template_key(tpl: Template) -> str:
    """The current cache key of a template."""
    packages, params = tpl.inputs()
    params = {**params, "version": tpl.version, "handle": tpl.handle}
    return cache.compute_key(tpl.name, packages, params, exclude=tpl.exclude)


def version_name(tpl: Template, timestamp: int) -> str:
    """Each build is a new version, so template stores never keep a stale copy.

    (A store caches ``<repo>:<template>:<version>`` forever; reusing "v1" for
    a rebuilt image would leave the old bytes in every store.)
    """
    return f"{tpl.version}-{timestamp}"


def register(repo_dir: Path, tpl: Template, timestamp: int) -> None:
    """Make sure repo.metadata lists the template version with this timestamp."""
    meta = repo.load_metadata(repo_dir)
    meta = repo.with_template(
        meta,
        repo_dir,
        tpl.name,
        version_name(tpl, timestamp),
        tpl.handle,
        timestamp=timestamp,
    )
    repo.save_metadata(repo_dir, meta)


def build_one(repo_dir: Path, tpl: Template, force: bool = False) -> Result:
    """Build one template unless its cached image is current (caller holds the lock)."""
    started = time.monotonic()
    image_path = repo_dir / tpl.handle
    key = template_key(tpl)
    state = None if force else cache.fresh_state(image_path, key)
    if state is not None:
        register(repo_dir, tpl, state.timestamp)
        LOGGER.info("%s: up to date (%s)", tpl.name, image_path)
        return Result(
            tpl.name, tpl.handle, False, state.timestamp, time.monotonic() - started
        )
    LOGGER.info("%s: building %s", tpl.name, image_path)
    with workspace.build_dir(repo_dir, tpl.name) as workdir:
        built, metadata = tpl.build(workdir)
        cache.forget(image_path)
        timestamp = int(time.time())
        metadata = {
            **metadata,
            "template": tpl.name,
            "version": version_name(tpl, timestamp),
        }
        repo.publish_image(repo_dir, built, tpl.handle, metadata)
        cache.write_state(image_path, cache.BuildState(key, timestamp))
    register(repo_dir, tpl, timestamp)
    seconds = time.monotonic() - started
    LOGGER.info(
        "%s: built %s in %.1f s (%.1f MB)",
        tpl.name,
        image_path,
        seconds,
        image_path.stat().st_size / 1e6,
    )
    return Result(tpl.name, tpl.handle, True, timestamp, seconds)


def select(only: Sequence[str] | None, build_all: bool) -> list[Template]:
    """The templates asked for: --only names, --all, or the default ones."""
    known = known_templates()
    if only:
        unknown = [n for n in only if n not in known]
        if unknown:
            raise TemplateBuildError(
                f"unknown template {unknown[0]!r}; known: {', '.join(known)}"
            )
        names = list(dict.fromkeys(only))
    elif build_all:
        names = list(known)
    else:
        names = list(DEFAULT_TEMPLATES)
    return [known[n]() for n in names]


def build_templates(
    repo_dir: Path,
    only: Sequence[str] | None = None,
    build_all: bool = False,
    force: bool = False,
) -> list[Result]:
    """Build (or reuse) the selected templates in repo_dir."""
    repo_dir = repo_dir.expanduser().resolve()
    templates = select(only, build_all)
    results = []
    with repo.repo_lock(repo_dir):
        workspace.remove_stale(repo_dir)
        for tpl in templates:
            results.append(build_one(repo_dir, tpl, force))
    return results
