"""Command line of the template builder (see the package docstring)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import DEFAULT_REPO_DIR
from .errors import TemplateBuildError

LOGGER = logging.getLogger("lago.template_builder")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m lago.template_builder",
        description="Build Lago's local template repository from Debian packages.",
    )
    parser.add_argument(
        "--repo-dir",
        type=Path,
        default=Path(DEFAULT_REPO_DIR),
        help=f"repository directory (default {DEFAULT_REPO_DIR})",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEMPLATE",
        help="build only this template (tiny, debian12); repeatable",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        dest="build_all",
        help="build every template, debian12 included",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even if the cached image is current",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv: debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return parser.parse_args(argv)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    level = logging.INFO
    if args.quiet:
        level = logging.ERROR
    elif args.verbose > 1:
        level = logging.DEBUG
    logging.basicConfig(
        level=level, format="[template-builder] %(message)s", stream=sys.stderr
    )
    # let SIGTERM unwind like Ctrl-C, so that build directories are cleaned
    previous = signal.signal(signal.SIGTERM, _terminate)
    from .build import build_templates

    started = time.monotonic()
    try:
        results = build_templates(args.repo_dir, args.only, args.build_all, args.force)
    except TemplateBuildError as err:
        print(f"template builder: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("template builder: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    for res in results:
        state = "built" if res.built else "cached"
        LOGGER.info(
            "%s: %s, %s (%.1f s)",
            res.name,
            state,
            args.repo_dir / res.handle,
            res.seconds,
        )
    LOGGER.info(
        "repository %s ready in %.1f s",
        args.repo_dir.expanduser().resolve(),
        time.monotonic() - started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
