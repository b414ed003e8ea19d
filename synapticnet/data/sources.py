"""Loading: a dataset as four NumPy arrays, from its cache file or from torchvision.

:func:`load_arrays` returns a dataset as ``x_train``, ``y_train``, ``x_test``, ``y_test``
(images uint8, labels int64). The first time, it reads the data through torchvision
(downloading it if allowed) and then keeps a copy in the data root as one compressed
file ``<root>/<name>.npz``. From then on only that file is read: no download, no
torchvision, a few seconds. Every array set — from the cache or from torchvision — is
validated (:func:`~synapticnet.data.checks.check_arrays`) before anyone uses it.

Synthetic stand-ins (``synthetic_mnist`` …, see :mod:`synapticnet.data.synthetic`) have the
same format and are available only under their own names: a real dataset that cannot
be found is an error (:class:`~synapticnet.data.datasets.DataError`, saying where it was
looked for and what to do), never silently replaced by synthetic data.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..storage import atomic_write
from .checks import check_arrays
from .datasets import ARRAY_KEYS, DATASETS, ENV_VAR, DataError, DatasetSpec, get_spec, resolve_root
from .synthetic import make_synthetic

__all__ = ["arrays_from_datasets", "load_arrays"]

# What torchvision downloads: archives it unpacks itself (only when download is allowed).
_ARCHIVES = {
    "mnist": "the same files with .gz added",
    "fashion_mnist": "the same files with .gz added",
    "cifar10": "the archive cifar-10-python.tar.gz in the root",
    "cifar100": "the archive cifar-100-python.tar.gz in the root",
}


# --------------------------------------------------------------------------------------
# The cache file
# --------------------------------------------------------------------------------------


def _read_cache(path: Path, spec: DatasetSpec) -> dict[str, np.ndarray]:
    """Load and validate ``<name>.npz``; any problem becomes a :class:`DataError` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ARRAY_KEYS}  # reading each array decompresses (and CRC-checks) it
    except Exception as error:  # BadZipFile, EOFError, zlib.error, KeyError, ValueError, OSError, ...
        raise DataError(
            f"the cache file {path} of {spec.title} is corrupt or truncated ({type(error).__name__}: {error}). "
            f"Delete it and load again: it is rebuilt from torchvision's files or downloaded."
        ) from error
    try:
        return check_arrays(arrays, spec)
    except ValueError as error:
        raise DataError(f"the cache file {path} does not hold valid {spec.title} data: {error}. "
                        f"Delete it and load again: it is rebuilt from torchvision's files or downloaded.") from error


def _write_npz(tmp: str, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez_compressed`` into an open file: given a *name*, NumPy would append ``.npz``."""
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **{key: arrays[key] for key in ARRAY_KEYS})


def _write_cache(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically with :func:`synapticnet.storage.atomic_write`.

    A temporary file in the same folder, flushed to disk, then renamed: an interrupted
    run leaves either no cache or the old one — never a half-written file that looks
    like a cache — and a failed write leaves no temporary file. The cache gets the
    permissions of any new file (``0o666`` minus the umask), readable by the other users
    of a shared data root. Raises :class:`~synapticnet.storage.StorageError` (an ``OSError``).
    """
    atomic_write(path, lambda tmp: _write_npz(tmp, arrays))


def _try_write_cache(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the cache, but a read-only or full data root only costs speed next time: warn, don't fail."""
    try:
        _write_cache(path, arrays)
    except OSError as error:  # StorageError names the file and the cause
        warnings.warn(f"{error}. The data is fine, but without the cache file the next load reads "
                      f"torchvision's files again", RuntimeWarning, stacklevel=3)


def _check_not_a_folder(path: Path) -> None:
    """A folder (or other non-file) where the cache file belongs is a mistake to report, not to
    step around: the cache could never be written and "not in the data root" would mislead."""
    if path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise DataError(f"{path} is {kind}, not a file: remove or rename it (that name is the cache "
                        f"file of the dataset, a compressed NumPy file with x_train, y_train, x_test, y_test)")


# --------------------------------------------------------------------------------------
# torchvision
# --------------------------------------------------------------------------------------


def _read_torchvision(spec: DatasetSpec, root: Path, download: bool) -> dict[str, np.ndarray]:
    """Read train and test split with torchvision (imported only here: a cache hit never needs it)."""
    from torchvision import datasets  # noqa: PLC0415 - lazy on purpose

    cls = getattr(datasets, spec.torchvision)
    folder = root / spec.torchvision_files[0].split("/")[0]  # e.g. MNIST/ (torchvision makes MNIST/raw/)
    new = [p for p in (folder, root) if not p.exists()]
    arrays: dict[str, np.ndarray] = {}
    try:
        for split, train in (("train", True), ("test", False)):
            ds = cls(root=str(root), train=train, download=download)
            data = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
            targets = ds.targets.numpy() if isinstance(ds.targets, torch.Tensor) else np.asarray(ds.targets)
            arrays[f"x_{split}"], arrays[f"y_{split}"] = data, targets.astype(np.int64)
    except BaseException:
        for path in new:  # a failed read or download leaves no empty folders behind
            _remove_empty_folders(path)
        raise
    return arrays


def _remove_empty_folders(top: Path) -> None:
    """Remove ``top`` and the folders below it that hold no file (files are never touched)."""
    if not top.is_dir():
        return
    for folder, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):  # deepest first
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # fails, harmlessly, where something is left


def _one_line(error: BaseException, limit: int = 300) -> str:
    """``"URLError: <urlopen error ...>"``: the gist of an exception, without its traceback."""
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text[:limit]}{'…' if len(text) > limit else ''}"


def _download_failure(error: BaseException) -> str:
    """Why a download failed, in words: no network is the common case and deserves a plain sentence.

    A failed name lookup or refused connection (``URLError``, ``socket.gaierror``,
    ``ConnectionError``, torchvision's "Error downloading" after trying its mirrors) means
    there is no internet access here; anything else is reported by its one-line gist.
    """
    import socket
    import urllib.error

    chain, seen = [], error
    while seen is not None and len(chain) < 5:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    offline = (urllib.error.URLError, socket.gaierror, socket.timeout, ConnectionError)
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, offline) for e in chain) or "Name or service not known" in text \
            or "Temporary failure in name resolution" in text:
        return "the download failed: no internet connection here"
    return f"the download failed ({_one_line(error)})"


def not_found_message(spec: DatasetSpec, root: Path, reason: str) -> str:
    files = "\n".join(f"      {root / f}" for f in spec.torchvision_files)
    return (
        f"cannot load dataset {spec.name!r} ({spec.title}): {reason}.\n"
        f"  Data root looked in: {root}\n"
        f"  Expected either\n"
        f"    - SynapticNet's cache file {root / (spec.name + '.npz')} "
        f"(compressed NumPy: x_train, y_train, x_test, y_test), or\n"
        f"    - torchvision's {spec.torchvision} files:\n{files}\n"
        f"      (or {_ARCHIVES[spec.name]}, which torchvision unpacks when download is allowed)\n"
        f"  To provide them: point the data root at a folder that has them (root=..., or set {ENV_VAR}=/path), "
        f"put {spec.name}.npz or torchvision's files there, or run once with internet access and download=True."
    )


# --------------------------------------------------------------------------------------
# The public loader
# --------------------------------------------------------------------------------------


def load_arrays(name: str, root: str | os.PathLike | None = None, download: bool = True) -> dict[str, np.ndarray]:
    """Load a dataset as ``{"x_train", "y_train", "x_test", "y_test"}`` NumPy arrays.

    Images are uint8, ``N×H×W`` (grey) or ``N×H×W×3`` (RGB); labels int64.

    Where the data comes from, in order:

    1. ``synthetic_*`` names are generated (deterministically) — no files involved;
    2. the cache ``<root>/<name>.npz`` if it exists (torchvision is not even imported);
    3. torchvision's files in ``root``, read with ``download=False``;
    4. only then, if ``download`` is true, torchvision downloads them into ``root``.

    After 3 or 4 the cache is written, so the next load is step 2. Every result is
    validated; a corrupt cache is rebuilt from torchvision's files if they are there,
    otherwise it is a :class:`DataError` telling you to delete it.

    Args:
        name: one of :data:`DATASETS` (``ValueError`` otherwise).
        root: data root; default: :func:`default_root` (``$SYNAPTICNET_DATA``, the repository's ``data/``, or ``./data``).
        download: allow downloading. ``False`` never touches the network.

    Raises:
        DataError: the data is not there and could not be downloaded, is corrupt, or
            ``<root>/<name>.npz`` is a folder.
    """
    spec = get_spec(name)
    if spec.synthetic:
        return make_synthetic(spec.num_classes, spec.image_size, spec.channels, spec.n_train, spec.n_test, spec.seed)
    root = resolve_root(root)
    path = root / f"{spec.name}.npz"
    _check_not_a_folder(path)
    if path.is_file():
        try:
            return _read_cache(path, spec)
        except DataError as corrupt:
            try:
                arrays = check_arrays(_read_torchvision(spec, root, download=False), spec)
            except Exception:  # no usable torchvision files either: the cache error is the one to report
                raise corrupt from corrupt.__cause__
            warnings.warn(f"{corrupt} Rebuilding it from torchvision's files in {root}.", RuntimeWarning, stacklevel=2)
            _try_write_cache(path, arrays)
            return arrays

    try:  # download=False first: use torchvision's files if they are already in the root
        arrays = _read_torchvision(spec, root, download=False)
    except Exception as offline_error:
        if not download:
            raise DataError(not_found_message(
                spec, root, f"it is not in the data root and download=False ({_one_line(offline_error)})"
            )) from offline_error
        try:
            arrays = _read_torchvision(spec, root, download=True)
        except Exception as error:  # URLError, HTTPError, torchvision's RuntimeError listing mirrors, ...
            raise DataError(not_found_message(
                spec, root, f"it is not in the data root and {_download_failure(error)}"
            )) from error
    try:
        arrays = check_arrays(arrays, spec)
    except ValueError as error:
        raise DataError(f"torchvision's {spec.title} files in {root} gave invalid arrays: {error}") from error
    _try_write_cache(path, arrays)
    return arrays


def arrays_from_datasets(train: Any, test: Any) -> dict[str, np.ndarray]:
    """The four arrays from two dataset objects exposing ``.data`` and ``.targets``.

    That is how torchvision's ``MNIST``, ``FashionMNIST``, ``CIFAR10`` and ``CIFAR100``
    keep their images (a uint8 tensor ``N×H×W`` or a NumPy array ``N×H×W×3``) and labels
    (a tensor or a list), so ``arrays_from_datasets(MNIST(root, train=True),
    MNIST(root, train=False))`` needs no loop over the images.
    """
    arrays: dict[str, np.ndarray] = {}
    for split, obj in (("train", train), ("test", test)):
        if not (hasattr(obj, "data") and hasattr(obj, "targets")):
            raise ValueError(f"the {split} source ({type(obj).__name__}) has no .data and .targets: pass a dataset "
                             "like torchvision's MNIST/CIFAR10, a dataset name, or a dict of arrays")
        data, targets = obj.data, obj.targets
        arrays[f"x_{split}"] = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        arrays[f"y_{split}"] = (targets.numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)).astype(np.int64)
    return arrays


def name_of(obj: Any) -> str | None:
    """The registered name of a torchvision dataset object (``MNIST`` → ``"mnist"``), if any."""
    cls = type(obj).__name__
    return next((spec.name for spec in DATASETS.values() if spec.torchvision == cls), None)
