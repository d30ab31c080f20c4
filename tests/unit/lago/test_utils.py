"""lago.utils (with lago.process and lago.parallel behind it)."""

from __future__ import annotations

import io
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lago import utils
from lago.errors import LagoException, LagoUserException, TimerException
from lago.utils import (
    CommandStatus,
    LockFile,
    RollbackContext,
    filter_spec,
    get_qemu_info,
    invoke_different_funcs_in_parallel,
    invoke_in_parallel,
    ipv4_to_mac,
    load_virt_stream,
    qemu_rebase,
    run_command,
    run_command_with_validation,
    ver_cmp,
)

# -- RollbackContext -------------------------------------------------------------


def test_rollback_runs_steps_in_order_and_reraises():
    done = []
    with (
        pytest.raises(ValueError, match="step 3 failed"),
        RollbackContext() as rollback,
    ):
        rollback.prependDefer(done.append, "undo 1")
        rollback.prependDefer(done.append, "undo 2")
        rollback.defer(done.append, "last")
        raise ValueError("step 3 failed")
    assert done == ["undo 2", "undo 1", "last"]


def test_rollback_logs_failing_undo_steps_and_runs_the_rest(caplog):
    done = []

    def broken_undo():
        raise OSError("cannot undo")

    with pytest.raises(KeyError), RollbackContext() as rollback:
        rollback.prependDefer(done.append, "second")
        rollback.prependDefer(broken_undo)
        raise KeyError("original")
    assert done == ["second"]
    assert "rollback step broken_undo failed" in caplog.messages


def test_rollback_does_nothing_on_success_or_after_clear():
    done = []
    with RollbackContext() as rollback:
        rollback.prependDefer(done.append, "undo")
    with pytest.raises(RuntimeError), RollbackContext() as rollback:
        rollback.prependDefer(done.append, "undo")
        rollback.clear()
        raise RuntimeError
    assert done == []


def test_rollback_runs_on_system_exit():
    done = []
    with pytest.raises(SystemExit), RollbackContext() as rollback:
        rollback.prependDefer(done.append, "undo")
        raise SystemExit(143)
    assert done == ["undo"]


# -- LockFile --------------------------------------------------------------------

HOLDER = """
import sys
from lago.utils import LockFile
with LockFile(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def lock_holder(tmp_path):
    """Start a process holding the lock on a path; closing stdin releases it."""
    procs = []

    def hold(path: Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline() == "locked\n"
        return proc

    yield hold
    for proc in procs:
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_lock_times_out_while_another_process_holds_it(tmp_path, lock_holder):
    path = tmp_path / "store.lock"
    holder = lock_holder(path)
    start = time.monotonic()
    with pytest.raises(TimerException) as err, LockFile(path, timeout=0.3):
        pass
    assert 0.3 <= time.monotonic() - start < 3
    assert str(err.value) == f"Timed out after 0.3 s waiting for lock {path}"
    holder.stdin.close()  # release
    holder.wait(timeout=10)
    with LockFile(path, timeout=5) as lock:
        assert lock._fd is not None
    assert stat.S_IMODE(path.stat().st_mode) & 0o777 == 0o660 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_lock_waits_for_release(tmp_path, lock_holder):
    path = tmp_path / "wait.lock"
    holder = lock_holder(path)
    threading.Timer(0.3, holder.stdin.close).start()
    start = time.monotonic()
    with LockFile(path, timeout=10):
        assert time.monotonic() - start >= 0.25


def test_lock_on_a_directory(tmp_path, lock_holder):
    lock_holder(tmp_path)
    with pytest.raises(TimerException), LockFile(tmp_path, timeout=0.1):
        pass


# -- parallel --------------------------------------------------------------------


def test_invoke_in_parallel_keeps_argument_order():
    def slow_square(value, delay):
        time.sleep(delay)
        return value * value

    start = time.monotonic()
    assert invoke_in_parallel(slow_square, [1, 2, 3], [0.3, 0.2, 0.1]) == [1, 4, 9]
    assert time.monotonic() - start < 0.55
    assert invoke_in_parallel(slow_square, [], []) == []


def test_invoke_in_parallel_reraises_after_all_calls_end():
    finished = []

    def work(name):
        if name == "bad":
            raise ValueError(f"{name} failed")
        time.sleep(0.2)
        finished.append(name)
        return name

    with pytest.raises(ValueError, match="bad failed"):
        invoke_in_parallel(work, ["a", "bad", "c"])
    assert sorted(finished) == ["a", "c"]


def test_invoke_different_funcs_in_parallel():
    assert invoke_different_funcs_in_parallel(lambda: 1, lambda: "two") == [1, "two"]


# -- spec helpers ----------------------------------------------------------------


def spec() -> dict:
    return {
        "domains": {
            "vm1": {
                "disks": [{"path": "a", "metadata": {"x": 1}}],
                "metadata": {"k": 1},
            },
            "vm2": {"disks": [{"path": "b", "metadata": {}}, {"path": "c"}]},
        },
        "nets": {"n1": {"type": "nat"}},
    }


def test_filter_spec_with_wildcards():
    data = spec()
    filter_spec(data, ["domains/*/disks/*/metadata", "domains/vm1/metadata", "nope/x"])
    assert data["domains"] == {
        "vm1": {"disks": [{"path": "a"}]},
        "vm2": {"disks": [{"path": "b"}, {"path": "c"}]},
    }


def test_filter_spec_final_wildcard_and_list_index():
    data = spec()
    filter_spec(data, ["nets/*", "domains/vm2/disks/0", "domains/vm1/disks/7"])
    assert data["nets"] == {}
    assert data["domains"]["vm2"]["disks"] == [{"path": "c"}]
    filter_spec(data, ["domains/*/disks/*/path", "domains/vm1/disks/0/path/deeper"])
    assert data["domains"]["vm2"]["disks"] == [{}]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("domains//disks", 'Malformed path "domains//disks": empty key'),
        (
            "domains/vm1/disks/first",
            'Malformed path "domains/vm1/disks/first": "first" is not a list index',
        ),
    ],
)
def test_filter_spec_malformed_paths(path, message):
    with pytest.raises(LagoUserException) as err:
        filter_spec(spec(), [path])
    assert str(err.value) == message


YAML_WITH_ALIASES = """\
defaults: &disk
  type: template
  metadata: {owner: a}
domains:
  vm1:
    disks:
      - *disk
  vm2:
    disks:
      - *disk
"""


def test_load_virt_stream_copies_yaml_aliases():
    loaded = load_virt_stream(io.StringIO(YAML_WITH_ALIASES))
    first = loaded["domains"]["vm1"]["disks"][0]
    second = loaded["domains"]["vm2"]["disks"][0]
    assert first == second == {"type": "template", "metadata": {"owner": "a"}}
    first["metadata"]["owner"] = "changed"
    assert second["metadata"]["owner"] == "a"
    assert loaded["defaults"]["metadata"]["owner"] == "a"


def test_load_virt_stream_json_then_yaml():
    assert load_virt_stream(io.StringIO('{"a": [1, {"b": null}]}')) == {
        "a": [1, {"b": None}]
    }
    assert load_virt_stream(io.BytesIO(b"a: 1\nb: [x, 'y']\n")) == {
        "a": 1,
        "b": ["x", "y"],
    }
    # valid YAML too, but JSON decides: "1e3" stays a number
    assert load_virt_stream(io.StringIO('{"n": 1e3}')) == {"n": 1000.0}


def test_deepcopy_unshares_nested_containers():
    shared = {"k": [1, 2]}
    original = {"a": shared, "b": shared, "c": [shared]}
    copied = utils.deepcopy(original)
    copied["a"]["k"].append(3)
    assert copied["b"]["k"] == [1, 2]
    assert copied["c"][0] is not copied["b"]


@pytest.mark.parametrize(
    ("ver1", "ver2", "sign"),
    [
        ("0.9", "0.10", -1),
        ("1.0", "1.0", 0),
        ("1.0", "1.0.0", -1),
        ("0.40.1", "0.40.0", 1),
        ("1.2-3", "1.2.3", 0),
        ("1.0rc1", "1.0", 1),
        ("1.0a", "1.0.1", -1),
    ],
)
def test_ver_cmp(ver1, ver2, sign):
    result = ver_cmp(ver1, ver2)
    assert (result > 0) - (result < 0) == sign


def test_ipv4_to_mac():
    assert ipv4_to_mac("192.168.200.2") == "54:52:c0:a8:c8:02"
    assert ipv4_to_mac("10.0.0.255") == "54:52:0a:00:00:ff"


def test_json_dump_keeps_key_order(tmp_path):
    with open(tmp_path / "out.json", "w") as stream:
        utils.json_dump({"b": 1, "a": [1]}, stream)
    assert (
        tmp_path / "out.json"
    ).read_text() == '{\n    "b": 1,\n    "a": [\n        1\n    ]\n}'


def test_get_hash(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert utils.get_hash(path) == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert utils.get_hash(path, "sha256").startswith("ba7816bf")


def test_rotate_dir(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    utils.rotate_dir(str(target))
    assert not target.exists()
    (moved,) = tmp_path.iterdir()
    assert moved.name.startswith("out.20")
    utils.rotate_dir(str(target))  # nothing to move
    assert list(tmp_path.iterdir()) == [moved]


# -- commands --------------------------------------------------------------------


def test_run_command_returns_text():
    script = 'cat; echo "$EXTRA" >&2; exit 3'
    result = run_command(
        ["sh", "-c", script], input_data="in\n", env={"EXTRA": "extra"}
    )
    assert isinstance(result, CommandStatus)
    assert result == (3, "in\n", "extra\n")
    assert (result.code, result.out, result.err) == (3, "in\n", "extra\n")


def test_run_command_of_a_missing_program():
    result = run_command(["/nonexistent/program", "x"])
    assert result.code == 127
    assert result.err == "/nonexistent/program: No such file or directory"


def test_run_command_logs_at_debug(caplog):
    with caplog.at_level(logging.DEBUG, logger="lago.process"):
        run_command(["true"])
    assert any("['true']" in message for message in caplog.messages)


def test_run_command_with_validation():
    assert run_command_with_validation(["true"]).code == 0
    with pytest.raises(LagoException) as err:
        run_command_with_validation(
            ["sh", "-c", "echo oops >&2; false"], msg="It failed"
        )
    assert str(err.value) == "It failed\noops"
    assert run_command_with_validation(["false"], fail_on_error=False).code == 1


# -- qemu-img --------------------------------------------------------------------


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture
def images(tmp_path):
    base, other, top = (
        tmp_path / "base.raw",
        tmp_path / "other.qcow2",
        tmp_path / "top.qcow2",
    )
    qemu_img("create", "-f", "raw", str(base), "1M")
    qemu_img("create", "-f", "qcow2", str(other), "1M")
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(base), str(top))
    return base, other, top


def test_get_qemu_info(images):
    base, _, top = images
    info = get_qemu_info(str(top))
    assert (info["format"], info["backing-filename"]) == ("qcow2", str(base))
    assert info["backing-filename-format"] == "raw"
    chain = get_qemu_info(str(top), backing_chain=True)
    assert [(item["filename"], item["format"]) for item in chain] == [
        (str(top), "qcow2"),
        (str(base), "raw"),
    ]


def test_get_qemu_info_of_a_missing_image(tmp_path):
    missing = tmp_path / "missing.qcow2"
    with pytest.raises(
        LagoException, match=rf"^qemu-img info failed on {missing}: Could not open"
    ):
        get_qemu_info(str(missing))
    assert get_qemu_info(str(missing), fail_on_error=False) == {}
    assert get_qemu_info(str(missing), backing_chain=True, fail_on_error=False) == []


def test_qemu_rebase_probes_the_backing_format(images):
    _, other, top = images
    assert qemu_rebase(str(top), str(other)).code == 0
    info = get_qemu_info(str(top))
    assert (info["backing-filename"], info["backing-filename-format"]) == (
        str(other),
        "qcow2",
    )
    # relative backing files are resolved against the image's directory
    assert qemu_rebase(str(top), "base.raw", safe=False).code == 0
    info = get_qemu_info(str(top))
    assert (info["backing-filename"], info["backing-filename-format"]) == (
        "base.raw",
        "raw",
    )


def test_qemu_rebase_to_standalone(images):
    _, _, top = images
    qemu_rebase(str(top), "")
    assert "backing-filename" not in get_qemu_info(str(top))


def test_qemu_rebase_failure(images, tmp_path):
    _, other, _ = images
    missing = tmp_path / "missing.qcow2"
    with pytest.raises(
        LagoException, match=rf"^qemu-img rebase failed on {missing}: Could not open"
    ):
        qemu_rebase(str(missing), str(other))
    assert qemu_rebase(str(missing), str(other), fail_on_error=False).code != 0
