"""Shell completion of the ``lago`` command line, through :mod:`argcomplete`.

Verbs, options and ``choices`` come from the parser itself; the values that
only the current environment knows (VM names, snapshot names, prefix names)
come from completers that read the prefix's saved specs, so completing never
talks to libvirt. The shell side is argcomplete's own script, which runs
``lago`` with ``_ARGCOMPLETE`` set: :func:`autocomplete` then answers and
exits before any verb runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger(__name__)

#: Verbs whose ``host`` argument is a VM name of the current prefix.
VM_NAME_VERBS = ("shell", "console", "copy-to-vm", "copy-from-vm")
#: Verbs whose first positional argument is a snapshot name.
SNAPSHOT_VERBS = ("revert",)
#: Verbs whose first positional argument is a prefix name of the workdir.
PREFIX_NAME_VERBS = ("set-current",)

Completer = Callable[..., list[str]]


def _prefix_dir(parsed_args: argparse.Namespace) -> Path | None:
    """The prefix the verb would work on, as the verb itself finds it."""
    from lago.verbs._context import locate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = locate(
            prefix_path=getattr(parsed_args, "prefix_path", None),
            workdir_path=getattr(parsed_args, "workdir_path", None),
            prefix_name=getattr(parsed_args, "prefix_name", None) or "current",
        )
    return Path(ctx.prefix.paths.prefix)


def _read_json(path: Path) -> Any:
    with path.open() as stream:
        return json.load(stream)


def saved_vm_specs(prefix_dir: Path) -> dict[str, dict[str, Any]]:
    """The VM specs an initialized prefix saved under ``virt/``, by VM name."""
    virt = prefix_dir / "virt"
    names = _read_json(virt / "env").get("vms", [])
    return {name: _read_json(virt / f"vm-{name}") for name in names}


def vm_names(prefix_dir: Path) -> list[str]:
    return list(saved_vm_specs(prefix_dir))


def snapshot_names(prefix_dir: Path) -> list[str]:
    """Every snapshot name any VM of the prefix has, in first-seen order."""
    names: dict[str, None] = {}
    for spec in saved_vm_specs(prefix_dir).values():
        names.update(dict.fromkeys(spec.get("snapshots") or {}))
    return list(names)


def prefix_names(parsed_args: argparse.Namespace) -> list[str]:
    from lago.workdir import Workdir

    path = Workdir.resolve_workdir_path(
        getattr(parsed_args, "workdir_path", None) or os.curdir
    )
    workdir = Workdir(path)
    workdir.load()
    return list(workdir.prefixes)


def _quiet(find: Callable[[argparse.Namespace], Iterable[str]]) -> Completer:
    """A completer that offers nothing, rather than failing, outside a prefix."""

    def complete(
        prefix: str, parsed_args: argparse.Namespace, **kwargs: Any
    ) -> list[str]:
        try:
            with (
                open(os.devnull, "w") as devnull,
                contextlib.redirect_stderr(devnull),
            ):
                found = list(find(parsed_args))
        except Exception as err:  # completion must never break the shell
            LOGGER.debug("no completion: %s", err)
            return []
        return [name for name in found if name.startswith(prefix)]

    return complete


def _of_prefix(names: Callable[[Path], list[str]]) -> Callable[[argparse.Namespace], list[str]]:  # fmt: skip
    def find(args: argparse.Namespace) -> list[str]:
        prefix = _prefix_dir(args)
        return names(prefix) if prefix is not None else []

    return find


complete_vm_names = _quiet(_of_prefix(vm_names))
complete_snapshot_names = _quiet(_of_prefix(snapshot_names))
complete_prefix_names = _quiet(prefix_names)


def _verb_parsers(
    parser: argparse.ArgumentParser,
) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _first_positional(parser: argparse.ArgumentParser) -> argparse.Action | None:
    for action in parser._actions:
        if not action.option_strings and not isinstance(
            action, argparse._SubParsersAction
        ):
            return action
    return None


def install_completers(parser: argparse.ArgumentParser) -> None:
    """Attach the environment-aware completers to the verbs that take names."""
    for action in parser._actions:
        if "--prefix-name" in action.option_strings:
            action.completer = complete_prefix_names  # type: ignore[attr-defined]
    tables = (
        (VM_NAME_VERBS, complete_vm_names),
        (SNAPSHOT_VERBS, complete_snapshot_names),
        (PREFIX_NAME_VERBS, complete_prefix_names),
    )
    verbs = _verb_parsers(parser)
    for names, completer in tables:
        for name in names:
            positional = _first_positional(verbs[name]) if name in verbs else None
            if positional is not None:
                positional.completer = completer  # type: ignore[attr-defined]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell and exit when run for completion; else return at once."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    install_completers(parser)
    # options are offered once the word starts with "-", as bash users expect
    argcomplete.autocomplete(parser, always_complete_options=False)


def shell_code(shell: str) -> str:
    """The script that registers ``lago``'s completion in ``shell``."""
    import argcomplete

    # "shell" names the target shell's dialect here; nothing is run
    bash = argcomplete.shellcode(["lago", "lagocli"], shell="bash")  # noqa: S604
    if shell == "bash":
        return bash
    if shell == "zsh":
        # an autoloaded #compdef function: its first run registers argcomplete's
        # bash function through zsh's bashcompinit and answers that first call
        return (
            "#compdef lago lagocli\n"
            "autoload -U +X bashcompinit && bashcompinit\n"
            f"{bash}\n"
            "_bash_complete -o nospace -o default -o bashdefault "
            '-F _python_argcomplete "$@"\n'
        )
    raise ValueError(f"unsupported shell: {shell} (bash or zsh)")


def main(argv: list[str] | None = None) -> int:
    """``python -m lago.completion bash|zsh`` prints the shell's script."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("bash", "zsh"):
        sys.stderr.write("usage: python -m lago.completion bash|zsh\n")
        return 2
    sys.stdout.write(shell_code(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
