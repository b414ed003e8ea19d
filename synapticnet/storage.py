"""Writing files so that an interrupted or failed write never leaves a half-written one behind.

The trick is old and simple: write to a temporary file in the same directory, flush it
to the disk, then ``os.replace`` it onto the target name. A rename within one file
system is atomic, so a reader sees either the old complete file or the new complete
file, never a torn one.

What can go wrong, and what you see then:

* **The disk fills up, or the folder is made read-only, during a write.** The
  temporary file is removed and a :class:`StorageError` (an ``OSError``) names the
  file, the likely cause ("disk full?", "folder made read-only?") and says that the
  previous version of the file — for a run, the last checkpoint — is intact.
* **The process is killed** (``kill -9``, power loss) in the middle of a write. Nothing
  can clean up then, so a temporary file may stay behind. Its name says what it is:
  ``<target>.<pid>-<random>.tmp``, e.g. ``checkpoint.pt.4711-9f3a0c1e.tmp`` — a write of
  ``checkpoint.pt`` by process 4711 that never finished. Such a file is never read and is
  safe to delete by hand; the next successful write of the same target deletes it
  anyway, once its process is gone and it has not changed for a minute.

Written files get the permissions any newly created file gets (``0o666`` minus the
umask, usually ``0o644``), not the private ``0o600`` of :func:`tempfile.mkstemp`.

Symbolic links are never written through: every file this module creates (temporary
files, the lock, the writability probe) is opened with ``O_CREAT | O_EXCL`` (and
``O_NOFOLLOW``), which fails on any existing name, a planted link included; and the final
``os.replace`` onto a target that is a link replaces the link itself, not the file it
points to. :func:`synapticnet.folders.prepare_output_dir` refuses an output folder that is a link to
somewhere else.

Also here: :func:`load_torch` (a damaged checkpoint is a one-line error, never torch's advice to
load it unsafely). Output folders themselves — creating, probing, locking — are :mod:`synapticnet.folders`.
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import re
import secrets
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "StorageError", "atomic_write", "load_json", "load_torch", "remove_stale_temps",
           "save_json", "save_torch", "temp_path"]

TEMP_SUFFIX = ".tmp"
STALE_AFTER_SECONDS = 60.0  # a temp file of a dead process, unchanged this long, is a leftover
# Never follow a symbolic link at the last path component (0 where the OS has no such flag: Windows).
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE = os.O_CREAT | os.O_EXCL | os.O_WRONLY | O_NOFOLLOW
MAX_PID = 2**31 - 1  # larger numbers in a temp name are no pid of ours (and would overflow os.kill)
_FULL_DISK_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}
# torch.save's zip writer reports a short write (a full disk) as a RuntimeError with one of these.
_TORCH_SHORT_WRITE = ("unexpected pos", "file write failed")


class CheckpointError(ValueError):
    """A torch file could not be read: damaged, truncated, not a checkpoint, or unreadable.

    The message is one line naming the file; it never repeats torch's advice to retry
    with ``weights_only=False`` (that would run whatever code the file contains).
    """


class StorageError(OSError):
    """A file could not be written. The previous version of the file (if any) is intact.

    The message names the file, the likely cause and what happened to the old file;
    ``path`` is the target and ``__cause__`` the original error.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)  # one argument: str(error) is the message, no "[Errno …]" prefix
        self.path = path


# --------------------------------------------------------------------------------------
# Temporary files
# --------------------------------------------------------------------------------------


def temp_path(path: Path) -> Path:
    """A fresh temporary name next to ``path``: ``<name>.<pid>-<8 hex digits>.tmp``."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _create_temp(path: Path) -> Path:
    """Create an empty temporary file next to ``path`` and return its name.

    Opened with mode ``0o666``, so the kernel applies the umask exactly as for any new
    file (``tempfile.mkstemp`` would give ``0o600``); ``O_EXCL`` never reuses a name.
    """
    while True:
        tmp = temp_path(path)
        try:
            os.close(os.open(tmp, _NEW_FILE, 0o666))
            return tmp
        except FileExistsError:  # 32 random bits collided, or a planted link: never reuse, draw again
            continue


def _fsync(path: Path) -> None:
    """Push a file's data to the disk: a full disk shows up here, before the rename, on
    file systems that allocate late — not after the old file has been replaced."""
    fd = os.open(path, os.O_RDWR | O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> bool:
    """Delete ``path`` if it exists; ``False`` if it is still there afterwards."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        return False
    return True


# Exactly the names temp_path() gives: "<target>.<pid>-<8 lowercase hex digits>.tmp" (ASCII digits, no
# leading zero). Nothing else is ever deleted: "results.json.mybackup.tmp" or "….20241130.tmp" are a user's.
_OWN_TEMP = re.compile(r"\.([1-9][0-9]{0,9})-[0-9a-f]{8}\.tmp")


def _process_alive(pid: int) -> bool:
    """``True`` if ``pid`` is a running process on this machine (or we cannot tell).

    The one liveness check of the package (temporary files, :func:`run_lock`). On
    Windows ``os.kill(pid, 0)`` would *terminate* the process, so there the answer is
    always "alive": nothing is ever taken over or deleted on a guess.
    """
    if os.name != "posix":
        return True
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, it is someone else's
        return True
    return True


def _is_stale(tmp: Path, name: str, now: float) -> bool:
    """Is ``tmp`` a leftover of a killed write of ``name`` (not one still in progress, not a user's file)?"""
    own = _OWN_TEMP.fullmatch(tmp.name[len(name):])
    if own is None or int(own.group(1)) > MAX_PID:
        return False
    try:
        info = tmp.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):  # a link or a folder is never one of our temporary files
        return False
    return now - info.st_mtime >= STALE_AFTER_SECONDS and not _process_alive(int(own.group(1)))


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete leftover temporary files of ``path`` from killed writes; return what went.

    Only files named exactly as :func:`temp_path` names the temporaries of this very
    target (``<name>.<pid>-<8 hex digits>.tmp``, regular files, not links) are considered,
    and only when their process is gone and they have not changed for a while, so a write
    in progress (in this or another process) is never disturbed. Best effort: a file
    that cannot be deleted is left alone.
    """
    now = time.time()
    removed = []
    for tmp in path.parent.glob(f"{glob.escape(path.name)}.*{TEMP_SUFFIX}"):
        if _is_stale(tmp, path.name, now) and _remove(tmp):
            removed.append(tmp)
    return removed


# --------------------------------------------------------------------------------------
# Explaining a failed write
# --------------------------------------------------------------------------------------


def _gist(error: BaseException, limit: int = 200) -> str:
    """``"OSError: [Errno 28] No space left on device"``: one line, no traceback."""
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text[:limit]}{'…' if len(text) > limit else ''}"


def _cause(error: BaseException, folder: Path) -> str:
    """The likely reason of a failed write, in words, with the original error's gist."""
    code = getattr(error, "errno", None)
    if code in _FULL_DISK_ERRNOS or any(s in str(error) for s in _TORCH_SHORT_WRITE):
        return f"the write stopped short — disk full? ({_gist(error)})"
    if code in _PERMISSION_ERRNOS:
        return f"no permission to write in {folder} — was the folder made read-only? ({_gist(error)})"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system ({_gist(error)})"
    return _gist(error)


def _failure_message(path: Path, error: BaseException, leftover: Path | None) -> str:
    """One line: which file, why, and that the previous version is untouched."""
    if path.is_file():
        previous = f"the previous {path.name} is intact"
    else:
        previous = f"no {path.name} was written"
    tail = f"; could not remove the temporary file {leftover}: delete it by hand" if leftover else ""
    return f"could not write {path}: {_cause(error, path.parent)}; {previous}{tail}"


# --------------------------------------------------------------------------------------
# The writers
# --------------------------------------------------------------------------------------


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``.

    The rename is atomic, so a reader (or a resumed run) sees the old file or the new
    one, never half of one. The temporary file is removed whatever happens (an error,
    Ctrl-C); only ``kill -9`` can leave one, see the module docstring. After a successful
    write, stale temporaries of ``path`` from killed processes are deleted.

    Raises:
        StorageError: an ``OSError`` or ``RuntimeError`` (torch's writer) while creating
            the folder, writing, flushing or renaming — the message names ``path``, the
            likely cause, and says the previous file is intact. Other errors of
            ``write`` (e.g. an object that cannot be pickled) pass through unchanged.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(path)
        write(str(tmp))
        _fsync(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:
        leftover = tmp if tmp is not None and not _remove(tmp) else None
        tmp = None
        raise StorageError(_failure_message(path, error, leftover), path) from error
    finally:
        if tmp is not None:  # any other exception, KeyboardInterrupt included (after success: already renamed)
            _remove(tmp)
    remove_stale_temps(path)
    return path


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically (a :class:`StorageError` if the file cannot be written)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON (keys in insertion order) atomically."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`save_json`. Like it, refuse NaN and ±Infinity (``NaN``, ``1e999``):
    a ``ValueError`` naming the file instead of a number that is silently wrong."""
    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{path} holds the number {text[:40]}, which is not finite; save_json never writes "
                             "one: the file was edited or damaged")
        return value

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_float=finite, parse_constant=finite)


def load_torch(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with a one-line error.

    ``what`` names the file in the message (``"run checkpoint"``). Only tensors and plain
    containers are loaded (``weights_only=True``): a checkpoint is data, never code.

    Raises:
        CheckpointError: (a ``ValueError``) the file is missing, unreadable, damaged,
            truncated or holds something else than a checkpoint. The message names the
            file and says so in one line; torch's own text, which advises re-running with
            ``weights_only=False`` (running any code the file contains), is never shown,
            not even as the chained cause of a traceback.
    """
    path = Path(path)
    try:
        _check_inflated_size(path, what)
        return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except OSError as error:
        problem = f"cannot read {what} {path}: {error.strerror or _gist(error)}"
    except Exception as error:  # UnpicklingError, RuntimeError (not a zip), EOFError (empty), ...
        detail = _load_detail(error)
        problem = (f"{path} is not a readable {what}: it is damaged, truncated or was not written by synapticnet "
                   f"({detail}); restore it from a copy or start again without it")
    raise CheckpointError(problem) from None


# torch.save stores its zip entries uncompressed: a file's contents take about as much memory as the file.
INFLATE_SLACK = 1 << 20


def _check_inflated_size(path: Path, what: str) -> None:
    """Refuse a zip whose directory says its entries inflate to more than the file's own size (plus
    ``INFLATE_SLACK``): read before anything is decompressed, so memory stays bounded by the file size."""
    if not zipfile.is_zipfile(path):
        return  # not a zip: torch.load says what it is
    with zipfile.ZipFile(path) as archive:
        inflated = sum(info.file_size for info in archive.infolist())
    size = path.stat().st_size
    if inflated > size + INFLATE_SLACK:
        raise CheckpointError(f"{path} is not a {what} torch.save wrote: its entries would inflate from "
                              f"{size:,} to {inflated:,} bytes; refusing to decompress it")


def _load_detail(error: BaseException, limit: int = 120) -> str:
    """The useful part of torch's message (``"UnpicklingError: Unsupported operand 70"``), without its advice.

    torch's weights-only message starts with a paragraph recommending ``weights_only=False``;
    the actual finding follows ``"WeightsUnpickler error:"``. Only its first sentence is
    kept, and any text that mentions ``weights_only`` or how to allow-list globals is dropped.
    """
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = re.split(r"(?<=\w)\. | was not an allowed global", line)[0]
    if re.search(r"weights_only|safe_globals|allowlist", line, re.I):
        line = ""
    name = type(error).__name__
    return f"{name}: {line[:limit]}{'…' if len(line) > limit else ''}" if line else name
