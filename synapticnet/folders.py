"""Output folders: create one safely, prove it is writable, take it back on failure, and lock it.

A run owns its output folder (:mod:`synapticnet.run`):

* :func:`prepare_output_dir` creates it (and missing parents), proves it is writable with a
  probe file that can never be a planted link (``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random
  name), and refuses a folder that is a file or a link leading elsewhere;
* :func:`remove_created` takes back the folders a failed run created, if they are still empty;
* :func:`run_lock` holds ``.lock`` while a run writes there, so a second run is refused instead
  of overwriting the first one's files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from . import storage  # storage._process_alive: the one process check (Windows-safe)
from .storage import _NEW_FILE, O_NOFOLLOW, StorageError, _cause, _gist, _remove

LOCK = ".lock"  # held in an output folder while a run writes there (run_lock)
CHECKPOINT, RESULTS = "checkpoint.pt", "results.json"  # what a run keeps in its folder (synapticnet.run)


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, outermost first."""
    missing = []
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    return missing[::-1]


def _check_folder_target(path: Path) -> None:
    """Refuse an output folder that is a file, or a link to somewhere outside its parent folder."""
    if path.is_symlink():
        try:
            target = path.resolve()
        except (OSError, RuntimeError):  # a loop of links
            raise ValueError(f"output directory {path} is a symbolic link that leads nowhere (a loop)") from None
        if not target.is_relative_to(path.parent.resolve()):
            raise ValueError(f"output directory {path} is a symbolic link to {target}, outside {path.parent}: "
                             f"pass the real folder (--out {target}) or remove the link")
        if not target.is_dir():
            raise ValueError(f"output directory {path} is a symbolic link to {target}, which is not a folder")
    elif os.path.lexists(path) and not path.is_dir():
        raise ValueError(f"output directory {path} is a file, not a folder: choose another output directory")


def probe_writable(folder: Path) -> None:
    """Prove that a new file can be created in ``folder``: create one and remove it again.

    The probe gets a fresh random name (``.write-test-<16 hex digits>``) and is opened with
    ``O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW``: an existing file or a link planted under
    that name makes the open fail, so nothing is ever written through a link.

    Raises:
        OSError: the folder is not writable (read-only, no permission, full, missing).
    """
    while True:
        probe = folder / f".write-test-{secrets.token_hex(8)}"
        try:
            fd = os.open(probe, _NEW_FILE, 0o600)
        except FileExistsError:  # a name that is taken (or planted): draw another
            continue
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            _remove(probe)
        return


def prepare_output_dir(path: str | os.PathLike) -> tuple[Path, list[Path]]:
    """Create the output folder ``path`` (with missing parents) and prove it is writable.

    Returns ``(path, created)``: ``created`` lists the folders this call created,
    outermost first and ``path`` itself (if new) last — hand it to
    :func:`remove_created` when the run fails, so no empty folders stay behind.

    Raises:
        ValueError: one line, when ``path`` is a file, a link to a folder outside its
            parent folder (a planted ``runs/S5 -> ~`` would otherwise receive the run),
            or cannot be created or written to; folders created before the failure are
            removed again.
    """
    path = Path(path)
    _check_folder_target(path)
    created: list[Path] = []
    try:
        for folder in _missing_folders(path):
            try:
                folder.mkdir()
            except FileExistsError:  # created meanwhile by someone else: not ours to remove
                if not folder.is_dir():
                    raise
                continue
            created.append(folder)
        probe_writable(path)
    except OSError as error:
        remove_created(created)
        raise ValueError(f"output directory {path} is not writable: {error.strerror or _gist(error)}") from None
    return path, created


def remove_created(dirs: list[Path]) -> list[Path]:
    """Remove the folders :func:`prepare_output_dir` created, deepest first, if (and only if) empty.

    Best effort: a folder that holds anything (or cannot be removed) stays, and so do its
    parents. Returns the folders that were removed.
    """
    removed = []
    for folder in reversed(dirs):
        try:
            folder.rmdir()  # fails on a non-empty folder: never deletes a file
        except OSError:
            break  # its parents are not empty either
        removed.append(folder)
    return removed


# --------------------------------------------------------------------------------------
# One run per output folder
# --------------------------------------------------------------------------------------


def _lock_owner(path: Path) -> str | None:
    """The text of the lock file (``"<pid> <host>"``), or ``None`` if it cannot be read.

    Read without following a link and at most 256 bytes: a planted link to ``/dev/zero``
    or a huge file cannot hang or flood the check.
    """
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW)
    except OSError:
        return None
    try:
        return os.read(fd, 256).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _acquire(path: Path, me: str) -> None:
    """Create the lock file ``path`` holding ``me``; take over a stale one; refuse a live one."""
    for _ in range(2):
        try:
            fd = os.open(path, _NEW_FILE, 0o644)
        except FileExistsError:
            if path.is_dir() and not path.is_symlink():  # no run makes a folder there: nothing to wait for
                raise ValueError(f"{path} is a folder, not a run's lock file; remove it (rmdir {path}, or rm -r if "
                                 "it holds files) and start again") from None
            owner = (_lock_owner(path) or "").split()
            pid, host = (int(owner[0]), owner[1]) if len(owner) == 2 and owner[0].isdigit() else (None, None)
            if pid is not None and host == socket.gethostname() and not storage._process_alive(pid):
                path.unlink(missing_ok=True)  # stale: its run died without removing it
                continue
            raise ValueError(f"{path.parent} is in use by another run (process {pid or '?'} on {host or '?'}); "
                             f"wait for it to finish or choose another output folder. If no run is active, "
                             f"delete {path}") from None
        except OSError as error:  # read-only, no permission, folder missing
            raise ValueError(f"cannot lock output directory {path.parent}: {error.strerror or _gist(error)} "
                             f"(creating {path.name})") from None
        try:
            with os.fdopen(fd, "w") as f:
                f.write(me)
        except BaseException:  # disk full while writing 20 bytes: leave no empty lock behind
            _remove(path)
            raise
        return
    raise ValueError(f"could not take over the stale lock {path}: another run took it first; try again")


def _release(path: Path, me: str) -> None:
    """Delete the lock file if it is still ours (a lock taken over by another run is left alone)."""
    if _lock_owner(path) == me:
        path.unlink()


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` while a run writes there: two runs into one folder would overwrite each
    other's checkpoint and results.

    The lock is created with ``O_CREAT | O_EXCL`` and holds ``"<pid> <host>"``. A lock left
    by a run of this machine whose process is gone is stale and taken over; a lock of a
    live process (or of another machine, or one that cannot be read) is a one-line
    ``ValueError`` naming process and host and what to do.

    Releasing never hides the real error: when the block raised (say a
    :class:`StorageError` because the folder was made read-only), a failure to delete the
    lock is only reported — one line on stderr and a note on the exception — and the
    original exception propagates. Only after a block that succeeded does a failure to
    delete the lock raise (a :class:`StorageError` naming the lock file).
    """
    path = Path(out) / LOCK
    me = f"{os.getpid()} {socket.gethostname()}"
    _acquire(path, me)
    try:
        yield
    except BaseException as error:
        try:
            _release(path, me)
        except OSError as problem:
            note = f"could not remove the lock {path} ({_gist(problem)}); delete it by hand if no run is active"
            if hasattr(error, "add_note"):  # Python ≥ 3.11
                error.add_note(note)
            print(f"warning: {note}", file=sys.stderr)
        raise
    try:
        _release(path, me)
    except OSError as problem:
        raise StorageError(f"could not remove the lock {path}: {_cause(problem, path.parent)}; "
                           f"delete it by hand if no run is active", path) from problem
