"""Fault injection: ``init``, ``start`` and ``destroy`` signalled at each step.

Each case sends SIGINT, SIGTERM or SIGKILL to the test's own ``lago`` at the
moment a named step runs, then checks that ``status`` and ``destroy -y``
handle what is left, that a fresh ``init`` + ``destroy`` works in the same
place, and that nothing of the environment survives: domains, networks,
leases, files, child processes, firewall rules.
"""

from __future__ import annotations

import signal

import pytest

from .conftest import LagoRunner
from .fault_env import assert_nothing_left, libvirt_objects, lines, new_env, signal_at
from .faults import wait_until_gone

CASES = [
    # init: the key (main thread), the disk and the seed (worker threads)
    ("init", "ssh-keygen", signal.SIGINT),
    ("init", "ssh-keygen", signal.SIGTERM),
    ("init", "ssh-keygen", signal.SIGKILL),
    ("init", "qemu-img", signal.SIGINT),
    ("init", "qemu-img", signal.SIGKILL),
    ("init", "genisoimage", signal.SIGTERM),
    ("init", "genisoimage", signal.SIGKILL),
    # start: once the first domain of the prefix is defined
    ("start", "domain", signal.SIGINT),
    ("start", "domain", signal.SIGTERM),
    ("start", "domain", signal.SIGKILL),
    # destroy: the VMs are gone, the network and prefix not yet
    ("destroy", "domain-gone", signal.SIGTERM),
    ("destroy", "domain-gone", signal.SIGKILL),
]


def _verb_ended(stderr: str) -> bool:
    """The verb's outermost task ended with success (its last line)."""
    shown = lines(stderr)
    return bool(shown) and shown[-1].startswith("@ ") and "Success" in shown[-1]


@pytest.mark.parametrize(
    ("verb", "step", "signum"),
    CASES,
    ids=[f"{v}-{s}-{signal.Signals(n).name}" for v, s, n in CASES],
)
def test_signal_at_step(lago: LagoRunner, verb: str, step: str, signum: int) -> None:
    env = new_env(lago)
    extra: list[str] = []
    if verb != "init":
        env.init()
    if verb == "destroy":
        env.run("start")
        extra = ["-y"]
    uuid = env.uuid() if verb != "init" else None
    code, stderr, children = signal_at(env, [verb, *extra], step, signum)
    uuid = uuid or next(iter(env.uuids))

    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
        # a killed lago cannot stop its children: they end on their own
        wait_until_gone(children)
    elif code == -signum and _verb_ended(stderr):
        # the short window (domain gone, network not yet) had passed: the
        # signal came while Python was exiting, after the verb's last task
        pass
    else:
        assert code == 128 + signum, stderr
        shown = lines(stderr)
        assert "Traceback" not in stderr, stderr
        expected = "Interrupted" if signum == signal.SIGINT else "Terminated by SIGTERM"
        assert shown[-1] == expected, shown
        # the children were killed and reaped before lago exited
        assert not [child for child in children if child.alive()]
        if verb == "init":
            # rolled back: nothing of the environment is left
            assert_nothing_left(env, uuid)
        if verb == "start":
            # no VM is left running without its network
            assert not libvirt_objects(uuid)

    status = env.run("status", check=False)
    assert "Traceback" not in status.stderr and "Error occured" not in status.stderr
    if status.returncode:
        assert len(lines(status.stderr)) == 1, status.stderr
    destroy = env.run("destroy", "-y", check=False)
    if env.workdir.exists() or destroy.returncode == 0:
        assert destroy.returncode == 0, destroy.stderr
    else:
        assert len(lines(destroy.stderr)) == 1, destroy.stderr
    assert "Traceback" not in destroy.stderr
    assert_nothing_left(env, uuid)

    env.init()
    fresh = env.uuid()
    env.run("destroy", "-y")
    assert_nothing_left(env, fresh)
