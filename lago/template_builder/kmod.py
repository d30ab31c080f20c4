"""The host's Debian cloud kernel and the modules an initramfs must load."""

from __future__ import annotations

import logging
import lzma
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import TemplateBuildError

LOGGER = logging.getLogger(__name__)

KO_SUFFIXES = (".ko", ".ko.xz")


@dataclass(frozen=True)
class Kernel:
    """A kernel image with its modules directory."""

    release: str
    vmlinuz: Path
    modules_dir: Path

    @property
    def package(self) -> str:
        """The Debian package that ships this kernel."""
        return f"linux-image-{self.release}"


def version_key(release: str) -> tuple[int, ...]:
    """Sort key of a kernel release such as 6.1.0-56-cloud-amd64."""
    return tuple(int(n) for n in re.findall(r"\d+", release))


def find_cloud_kernel(
    boot: Path = Path("/boot"), modules_root: Path = Path("/lib/modules")
) -> Kernel:
    """The newest Debian cloud kernel installed on the host."""
    candidates = []
    for vmlinuz in boot.glob("vmlinuz-*-cloud-amd64"):
        release = vmlinuz.name.removeprefix("vmlinuz-")
        if (modules_root / release / "modules.dep").is_file():
            candidates.append(Kernel(release, vmlinuz, modules_root / release))
    if not candidates:
        raise TemplateBuildError(
            f"no Debian cloud kernel in {boot} (install linux-image-cloud-amd64)"
        )
    return max(candidates, key=lambda k: version_key(k.release))


def module_name(path: str) -> str:
    """The module name of a modules.dep path (dashes become underscores)."""
    name = path.rsplit("/", 1)[-1]
    for suffix in (*KO_SUFFIXES, ".ko.zst", ".ko.gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (path, dependency paths) from the text of modules.dep."""
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, _, rest = line.partition(":")
        table[module_name(path.strip())] = (path.strip(), tuple(rest.split()))
    return table


def parse_builtin(text: str) -> set[str]:
    """Names of the modules built into the kernel (modules.builtin)."""
    return {module_name(line.strip()) for line in text.splitlines() if line.strip()}


def resolve(
    wanted: Sequence[str],
    deps: dict[str, tuple[str, tuple[str, ...]]],
    builtin: Iterable[str],
    required: Iterable[str] = (),
) -> list[str]:
    """Module paths to load, dependencies first, in the order wanted.

    Built-in modules are skipped; a wanted module that is neither built in nor
    in modules.dep is skipped unless it is required.
    """
    builtin_set = set(builtin)
    required_set = {n.replace("-", "_") for n in required}
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in seen or name in builtin_set:
            return
        if name in chain:
            raise TemplateBuildError(f"module dependency loop: {' -> '.join(chain)}")
        if name not in deps:
            if name in required_set:
                raise TemplateBuildError(f"kernel module {name} not found")
            LOGGER.debug("module %s not available, skipped", name)
            return
        path, dep_paths = deps[name]
        for dep in dep_paths:
            visit(module_name(dep), (*chain, name))
        seen.add(name)
        order.append(path)

    for want in wanted:
        visit(want.replace("-", "_"), ())
    missing = [n for n in required_set if n not in seen and n not in builtin_set]
    if missing:
        names = ", ".join(sorted(missing))
        raise TemplateBuildError(f"kernel modules not found: {names}")
    return order


def load_module_plan(
    kernel: Kernel, wanted: Sequence[str], required: Iterable[str] = ()
) -> list[str]:
    """Resolve wanted modules against a kernel's modules.dep/modules.builtin."""
    deps = parse_modules_dep((kernel.modules_dir / "modules.dep").read_text())
    builtin_file = kernel.modules_dir / "modules.builtin"
    builtin = set()
    if builtin_file.exists():
        builtin = parse_builtin(builtin_file.read_text())
    return resolve(wanted, deps, builtin, required)


def copy_module(kernel: Kernel, rel_path: str, dest_dir: Path) -> str:
    """Copy one module (decompressed) into dest_dir; return its file name."""
    src = kernel.modules_dir / rel_path
    data = src.read_bytes()
    if rel_path.endswith(".xz"):
        data = lzma.decompress(data)
    elif not rel_path.endswith(".ko"):
        raise TemplateBuildError(f"unsupported module compression: {rel_path}")
    name = module_name(rel_path) + ".ko"
    (dest_dir / name).write_bytes(data)
    return name
