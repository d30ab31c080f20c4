"""The SDK's ``start(wait_for_ssh=True, timeout=...)`` from a user's script."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO_ROOT, LagoRunner
from .initfiles import scratch_disk, tiny_vm, write_tiny_env

# the wait for vm-blank (a blank root disk: it never boots) can only end by
# the timeout; without it the VM's own default would be 600 s
SHORT = 20

SCRIPT = """\
import logging
import sys

from lago import sdk
from lago.ssh import LagoSSHTimeoutException

env = sdk.init(config=sys.argv[1], workdir=sys.argv[2], logfile=sys.argv[3],
               loglevel=logging.DEBUG)
try:
    env.start(["vm01"], wait_for_ssh=True, timeout=600)
    # no retry: SSH must answer as soon as start returns
    result = env.get_vms()["vm01"].ssh(["hostname"], show_output=False, tries=1)
    print("SSH", result.code, result.out.strip())
    try:
        env.start(wait_for_ssh=True, timeout={short})
    except LagoSSHTimeoutException as err:
        print("RAISED", type(err).__module__, type(err).__name__)
        print("MESSAGE", err)
    else:
        print("NOT RAISED")
finally:
    env.destroy()
"""


def test_sdk_start_waits_for_ssh_and_honours_its_timeout(lago: LagoRunner) -> None:
    blank = scratch_disk("16M", name="root", dev="vda")
    init = write_tiny_env(
        lago.cwd, {"vm01": tiny_vm(), "vm-blank": tiny_vm(disks=[blank])}
    )
    script = lago.cwd / "user_script.py"
    script.write_text(SCRIPT.replace("{short}", str(SHORT)))
    workdir, log = lago.cwd / "env", lago.cwd / "sdk.log"
    proc = subprocess.run(
        [sys.executable, str(script), str(init), str(workdir), str(log)],
        cwd=lago.cwd, env={**lago.env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    lago.remember()
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    assert "SSH 0 vm01" in lines, proc.stdout
    # the documented error (the original's SSH timeout class), naming only
    # the VM that was not ready
    assert "RAISED lago.readiness VMNotReadyError" in lines, proc.stdout
    [message] = [line for line in lines if line.startswith("MESSAGE ")]
    assert message.startswith("MESSAGE VMs not ready: vm-blank ("), message
    assert "vm01" not in message
    assert f"VM vm-blank is not ready: timed out after {SHORT} s" in log.read_text()
    assert not workdir.exists()
