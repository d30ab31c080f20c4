"""The original's ``lago.utils`` names, for plugins and scripts written for it.

A compatibility face only: nothing is defined here, and Lago's own modules
never import it (a lint rule and a unit test keep it so). Each name lives in
its real home: commands in :mod:`lago.process`, threads in
:mod:`lago.parallel`, locks and timers in :mod:`lago.locks`, disk images in
:mod:`lago.qemu_img`, files in :mod:`lago.fileio`, init-file data in
:mod:`lago.spec_data`, MACs and versions in :mod:`lago.naming`, rollback in
:mod:`lago.rollback`, exceptions in :mod:`lago.errors`, the ``in_prefix``
decorator of CLI verbs in :mod:`lago.verbs._context`.
"""

from __future__ import annotations

import logging

from lago.config import argparse_to_ini
from lago.errors import (
    LagoException,
    LagoInitException,
    LagoUserException,
    TimerException,
)
from lago.fileio import (
    TemporaryDirectory,
    add_timestamp_suffix,
    atomic_write,
    get_hash,
    json_dump,
    rotate_dir,
)
from lago.locks import EggTimer, ExceptionTimer, Flock, LockFile
from lago.log_utils import with_logging
from lago.naming import ipv4_to_mac, ver_cmp
from lago.parallel import (
    VectorThread,
    func_vector,
    invoke_different_funcs_in_parallel,
    invoke_in_parallel,
)
from lago.process import (
    CommandStatus,
    _run_command,
    read_nonblocking,
    run_command,
    run_command_with_validation,
    run_interactive_command,
    service_is_enabled,
)
from lago.qemu_img import compress, cp, get_qemu_info, qemu_rebase, sparse
from lago.rollback import RollbackContext
from lago.spec_data import deepcopy, filter_spec, load_virt_stream
from lago.verbs._context import in_prefix

LOGGER = logging.getLogger(__name__)

__all__ = [
    "LOGGER",
    "CommandStatus",
    "EggTimer",
    "ExceptionTimer",
    "Flock",
    "LagoException",
    "LagoInitException",
    "LagoUserException",
    "LockFile",
    "RollbackContext",
    "TemporaryDirectory",
    "TimerException",
    "VectorThread",
    "_run_command",
    "add_timestamp_suffix",
    "argparse_to_ini",
    "atomic_write",
    "compress",
    "cp",
    "deepcopy",
    "filter_spec",
    "func_vector",
    "get_hash",
    "get_qemu_info",
    "in_prefix",
    "invoke_different_funcs_in_parallel",
    "invoke_in_parallel",
    "ipv4_to_mac",
    "json_dump",
    "load_virt_stream",
    "qemu_rebase",
    "read_nonblocking",
    "rotate_dir",
    "run_command",
    "run_command_with_validation",
    "run_interactive_command",
    "service_is_enabled",
    "sparse",
    "ver_cmp",
    "with_logging",
]
