"""synapticnet.storage: output folders, links, temp-file clean-up, the run lock, reading checkpoints.

Each test reproduces one finding of the fault audit (links written through, users' files
deleted, a lock error hiding the real one, torch's unsafe advice) on a temporary folder.
"""

from __future__ import annotations

import errno
import os
import socket
import time
import traceback
from pathlib import Path

import pytest
import torch

from synapticnet import folders, storage
from synapticnet.folders import LOCK, prepare_output_dir, remove_created, run_lock
from synapticnet.storage import CheckpointError, StorageError, load_torch, save_json, save_torch

DEAD_PID = 2**30  # beyond any pid_max: no such process


@pytest.fixture()
def precious(tmp_path: Path) -> Path:
    """A file of the user's, outside every output folder; links get planted pointing at it."""
    path = tmp_path / "home" / "precious.txt"
    path.parent.mkdir()
    path.write_text("my thesis")
    return path


def fixed_tokens(monkeypatch, *tokens: str) -> None:
    """Make ``secrets.token_hex`` return ``tokens`` in order (then random again): names become predictable."""
    queue, real = list(tokens), storage.secrets.token_hex
    monkeypatch.setattr(storage.secrets, "token_hex", lambda n=None: queue.pop(0) if queue else real(n))


# --- item 1: output folders and links ------------------------------------------------------------


def test_prepare_output_dir_never_writes_through_a_link_planted_at_the_probe_name(tmp_path, precious, monkeypatch):
    out = tmp_path / "runs" / "S5"
    out.mkdir(parents=True)
    (out / ".write-test").symlink_to(precious)  # the fixed probe name of run.check_writable
    (out / f".write-test-{'a' * 16}").symlink_to(precious)  # and the name the next probe will draw
    fixed_tokens(monkeypatch, "a" * 16)
    assert prepare_output_dir(out) == (out, [])
    assert precious.read_text() == "my thesis"
    assert sorted(p.name for p in out.iterdir()) == [".write-test", f".write-test-{'a' * 16}"]  # probe removed


def test_prepare_output_dir_creates_nested_folders_and_remove_created_takes_back_only_empty_ones(tmp_path):
    out = tmp_path / "a" / "b" / "c"
    path, created = prepare_output_dir(out)
    assert path == out and created == [tmp_path / "a", tmp_path / "a" / "b", out] and out.is_dir()
    assert remove_created(created) == [out, tmp_path / "a" / "b", tmp_path / "a"]
    assert list(tmp_path.iterdir()) == []

    _, created = prepare_output_dir(out)
    (tmp_path / "a" / "b" / "notes.txt").write_text("mine")  # written meanwhile: a/b and a stay
    assert remove_created(created) == [out]
    assert (tmp_path / "a" / "b" / "notes.txt").read_text() == "mine"
    assert prepare_output_dir(out)[1] == [out]  # a and a/b exist now: only c is created (and reported)


def test_prepare_output_dir_refuses_a_link_leading_outside_and_a_file(tmp_path, precious):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "S5").symlink_to(precious.parent, target_is_directory=True)
    with pytest.raises(ValueError, match="symbolic link to .*outside") as info:
        prepare_output_dir(runs / "S5")
    assert "\n" not in str(info.value)
    (runs / "S6").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        prepare_output_dir(runs / "S6")
    (runs / "real").mkdir()
    (runs / "latest").symlink_to("real")  # a link within the folder is fine
    assert prepare_output_dir(runs / "latest") == (runs / "latest", [])
    assert precious.parent.iterdir() and sorted(p.name for p in precious.parent.iterdir()) == ["precious.txt"]


def test_prepare_output_dir_that_cannot_write_says_so_and_leaves_no_empty_folders(tmp_path, monkeypatch):
    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system", str(folder))

    monkeypatch.setattr(folders, "probe_writable", read_only)
    with pytest.raises(ValueError, match=r"output directory .*c is not writable: Read-only file system$"):
        prepare_output_dir(tmp_path / "a" / "b" / "c")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_never_follow_a_link_planted_at_the_temp_name(tmp_path, precious, monkeypatch):
    target = tmp_path / "results.json"
    planted = tmp_path / f"results.json.{os.getpid()}-deadbeef.tmp"
    planted.symlink_to(precious)
    fixed_tokens(monkeypatch, "deadbeef")  # the first temp name drawn is the planted one
    save_json({"a": 1}, target)
    assert precious.read_text() == "my thesis" and planted.is_symlink()
    assert storage.load_json(target) == {"a": 1}


def test_the_final_rename_replaces_a_link_at_the_target_not_the_file_it_points_to(tmp_path, precious):
    for name, save in (("results.json", lambda p: save_json({"a": 1}, p)),
                       ("checkpoint.pt", lambda p: save_torch({"w": torch.ones(2)}, p))):
        target = tmp_path / name
        target.symlink_to(precious)
        save(target)
        assert not target.is_symlink() and target.is_file()
        assert precious.read_text() == "my thesis"


# --- item 2: only our own temporary files are cleaned up ---------------------------------------------


def test_clean_up_removes_only_names_of_our_own_scheme(tmp_path, precious):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    old = time.time() - 7200  # two hours: old enough for any clean-up rule
    mine = f"results.json.{DEAD_PID}-0badf00d.tmp"  # a genuine leftover of a killed write
    users = ["results.json.mybackup.tmp", "results.json.20241130.tmp", "results.json.0123-deadbeef.tmp",
             f"results.json.{DEAD_PID}-DEADBEEF.tmp", "results.json.99999999999-deadbeef.tmp",
             f"results.json.{DEAD_PID}-deadbeef.tmp.tmp", "results.json.ab12cd_x.tmp"]
    for name in [mine, *users]:
        (tmp_path / name).write_text("keep me")
        os.utime(tmp_path / name, (old, old))
    link = tmp_path / f"results.json.{DEAD_PID}-1badf00d.tmp"  # named like ours, but a link: not ours
    link.symlink_to(precious)
    os.utime(link, (old, old), follow_symlinks=False)
    save_json({"a": 1}, tmp_path / "results.json")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert mine not in left
    assert set(users) | {link.name, "results.json"} == set(left)
    assert precious.read_text() == "my thesis"


# --- item 3: the run lock ----------------------------------------------------------------------------


def test_a_lock_that_cannot_be_released_never_hides_the_real_error(tmp_path, monkeypatch, capsys):
    def read_only(path, me):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(folders, "_release", read_only)
    real = StorageError("could not write results.json: folder made read-only?")
    with pytest.raises(StorageError) as info:
        with run_lock(tmp_path):
            raise real
    assert info.value is real
    assert "could not remove the lock" in capsys.readouterr().err
    notes = getattr(real, "__notes__", ["could not remove the lock"])  # (notes: Python ≥ 3.11)
    assert any("could not remove the lock" in note for note in notes)
    (tmp_path / LOCK).unlink()  # it stayed, as reported
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C stays Ctrl-C
        with run_lock(tmp_path):
            raise KeyboardInterrupt
    (tmp_path / LOCK).unlink()
    with pytest.raises(StorageError, match=r"could not remove the lock .*\.lock.*read-only"):
        with run_lock(tmp_path):  # nothing else went wrong: then the lock's own error is the error
            pass


def test_the_lock_is_exclusive_and_a_stale_one_is_taken_over(tmp_path):
    host = socket.gethostname()
    with run_lock(tmp_path):
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()} {host}"
        with pytest.raises(ValueError, match=rf"in use by another run \(process {os.getpid()} on {host}\).*delete"):
            with run_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK).exists()
    (tmp_path / LOCK).write_text(f"{DEAD_PID} {host}")  # its run died: taken over
    with run_lock(tmp_path):
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()} {host}"
    (tmp_path / LOCK).write_text(f"{DEAD_PID} another-machine")  # cannot tell from here: refused
    with pytest.raises(ValueError, match="process 1073741824 on another-machine"):
        with run_lock(tmp_path):
            pass


def test_the_lock_uses_the_one_process_check_of_storage(tmp_path, monkeypatch):
    """On Windows ``_process_alive`` always says "alive": a lock is then never taken over on a guess."""
    monkeypatch.setattr(storage, "_process_alive", lambda pid: True)
    (tmp_path / LOCK).write_text(f"{DEAD_PID} {socket.gethostname()}")
    with pytest.raises(ValueError, match="in use by another run"):
        with run_lock(tmp_path):
            pass


def test_the_lock_never_follows_a_link_and_leaves_a_lock_taken_over_by_another_run(tmp_path, precious):
    (tmp_path / LOCK).symlink_to(precious)
    with pytest.raises(ValueError, match="in use by another run"):
        with run_lock(tmp_path):
            pass
    assert precious.read_text() == "my thesis" and (tmp_path / LOCK).is_symlink()
    (tmp_path / LOCK).unlink()
    with run_lock(tmp_path):
        (tmp_path / LOCK).write_text(f"1 {socket.gethostname()}")  # another run took it over meanwhile
    assert (tmp_path / LOCK).read_text() == f"1 {socket.gethostname()}"


# --- item 4: reading checkpoints ---------------------------------------------------------------------


class NotAllowed:
    """A class torch's weights-only loader refuses (an "Unsupported global")."""


@pytest.mark.parametrize("content", [os.urandom(256), b"", b"PK\x03\x04not really a zip", "custom class"],
                         ids=["random bytes", "empty", "broken zip", "custom class"])
def test_an_unreadable_checkpoint_is_one_line_without_torchs_unsafe_advice(tmp_path, content):
    path = tmp_path / "checkpoint.pt"
    if content == "custom class":
        torch.save({"x": NotAllowed()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a readable run checkpoint") as info:
        load_torch(path, "run checkpoint")
    shown = "".join(traceback.format_exception(info.value))  # what a notebook or an uncaught error prints
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert "weights_only" not in shown and "safe_globals" not in shown
    assert isinstance(info.value, ValueError)


def test_load_torch_reads_a_checkpoint_and_names_a_missing_one(tmp_path):
    save_torch({"w": torch.arange(3)}, tmp_path / "checkpoint.pt")
    assert torch.equal(load_torch(tmp_path / "checkpoint.pt", "run checkpoint")["w"], torch.arange(3))
    with pytest.raises(CheckpointError, match="cannot read run checkpoint .*missing.pt: No such file"):
        load_torch(tmp_path / "missing.pt", "run checkpoint")
