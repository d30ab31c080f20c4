"""Guest access on a running VM: shell, copies, the SDK and ansible_hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import REPO_ROOT, LagoRunner
from .initfiles import MANAGEMENT_NET, tiny_vm, write_tiny_env

VMS = {"vm01": tiny_vm(extra={"groups": ["web", "db"]})}


def test_shell_and_copies(lago: LagoRunner) -> None:
    write_tiny_env(lago.cwd, VMS, MANAGEMENT_NET)
    lago("init")
    lago("start", "--wait-for-ssh", timeout=900)

    proc = lago("shell", "vm01", "echo out; echo err >&2; exit 7", check=False)
    assert proc.returncode == 7
    assert proc.stdout == "out\n"
    assert "err\n" in proc.stderr
    # the end of a VM name is enough, as in the original
    assert lago("shell", "01", "hostname").stdout == "vm01\n"
    script = lago.cwd / "script.sh"
    script.write_text("echo from-script $((6 * 7))\n")
    assert lago("shell", "vm01", str(script)).stdout == "from-script 42\n"

    tree = lago.cwd / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.txt").write_text("beta\n")
    lago("copy-to-vm", "vm01", str(tree), "/root/tree")
    assert lago("shell", "vm01", "cat /root/tree/sub/b.txt").stdout == "beta\n"
    back = lago.cwd / "back"
    lago("copy-from-vm", "vm01", "/root/tree", str(back))
    assert (back / "a.txt").read_text() == "alpha\n"
    assert (back / "sub" / "b.txt").read_text() == "beta\n"
    missing = lago(
        "copy-from-vm", "vm01", "/nonexistent", str(lago.cwd / "x"), check=False
    )
    assert missing.returncode == 2
    assert "Failed to extract files" in missing.stderr

    inventory = lago("ansible_hosts").stdout.splitlines()
    key = lago.cwd / ".lago/default/id_rsa"
    ip = (
        lago("shell", "vm01", "ip -4 -o addr show eth0").stdout.split()[3].split("/")[0]
    )
    entry = f"vm01 ansible_host={ip} ansible_ssh_private_key_file={key}"
    assert inventory == [
        "[vm-type=default]", entry,
        "[groups=web]", entry,
        "[groups=db]", entry,
        "[vm-provider=local-libvirt]", entry,
        "[web]", entry,
        "[db]", entry,
    ]  # fmt: skip
    # other output formats carry the same inventory as data
    as_json = json.loads(lago("-f", "json", "ansible_hosts").stdout)
    assert as_json == {
        group: [entry]
        for group in ("vm-type=default", "groups=web", "groups=db",
                      "vm-provider=local-libvirt", "web", "db")
    }  # fmt: skip


def test_sdk_lifecycle(lago: LagoRunner) -> None:
    init = write_tiny_env(lago.cwd, VMS, MANAGEMENT_NET)
    program = textwrap.dedent(
        f"""
        import logging
        from lago import sdk

        env = sdk.init(config={str(init)!r}, workdir={str(lago.cwd / "env")!r},
                       logfile={str(lago.cwd / "sdk.log")!r}, loglevel=logging.DEBUG)
        try:
            env.start()
            vm = env.get_vms()["vm01"]
            vm.wait_for_ssh()
            result = vm.ssh(["hostname"], show_output=False)
            print("RESULT", result.code, result.out.strip())
            print("NETS", sorted(env.get_nets()))
            try:
                env.initialize
            except AttributeError:
                print("HIDDEN")
        finally:
            env.destroy()
        """
    )
    env = {**lago.env, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", program], cwd=lago.cwd, env=env,
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 0 vm01" in proc.stdout
    assert "NETS ['lago']" in proc.stdout
    assert "HIDDEN" in proc.stdout
    assert not (lago.cwd / "env").exists()
    assert "DEBUG" in (lago.cwd / "sdk.log").read_text()
    assert os.path.getsize(lago.cwd / "sdk.log") > 0
    assert not list(Path(lago.cwd).glob("env*"))
