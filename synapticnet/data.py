"""Data: the four datasets of the continual-learning sequence, and how a network sees them.

Two layers, one idea each:

1. **Arrays** — :func:`load_arrays` returns a dataset as four NumPy arrays
   (``x_train``, ``y_train``, ``x_test``, ``y_test``; images uint8, labels int64).
   The first time, it reads the data through torchvision (downloading it if allowed)
   and then keeps a copy in the data root as one compressed file ``<root>/<name>.npz``.
   From then on only that file is read: no download, no torchvision, a few seconds.
   Every array set — from the cache or from torchvision — is *validated* (dtypes,
   shapes, label range) before anyone uses it, because a truncated file that loads
   "fine" would silently poison every number computed from it.

2. **Tasks** — :class:`TaskDataset` turns one dataset into one *task* of the sequence.
   All tasks share one network input (by default 3×32×32, CIFAR's shape), so grey
   28×28 images are padded to 32×32 and repeated over three channels. Each task is
   normalised with its own training statistics, gets a stratified validation split
   held out from its training data, and serves shuffled, augmented training batches
   straight from uint8 tensors in memory — fast enough that the data never slows
   training down.

Synthetic stand-ins (``synthetic_mnist`` …, see :mod:`synapticnet.synthetic`) have the
same format and are available only under their own names: a real dataset that cannot
be found is an error, never silently replaced by synthetic data.

The data root is an argument everywhere; by default it is ``$SYNAPTICNET_DATA``, else
``data/`` in the repository (git-ignored), else — for an installed package — ``data/`` under
the working folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import operator
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .storage import atomic_write
from .synthetic import make_synthetic
from .workspace import is_checkout

__all__ = [
    "ARRAY_KEYS",
    "DATASETS",
    "DataError",
    "DatasetSpec",
    "TaskDataset",
    "TaskSplit",
    "arrays_from_datasets",
    "cache_path",
    "check_arrays",
    "dataset_provenance",
    "default_root",
    "describe",
    "get_spec",
    "is_synthetic",
    "load_arrays",
    "make_synthetic",
]

ARRAY_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")
ENV_VAR = "SYNAPTICNET_DATA"
SPLITS: tuple[str, ...] = ("train", "val", "test")


class DataError(RuntimeError):
    """A dataset could not be provided: not found, download failed, or a file is corrupt.

    The message always says which dataset, where it was looked for, and what to do.
    """


# --------------------------------------------------------------------------------------
# The dataset table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """What we know about a dataset before loading it — used to validate what we load.

    Attributes:
        name: the short name used everywhere (``"mnist"``, ``"synthetic_cifar10"``).
        title: the human name for tables and plots. Synthetic ones say so.
        num_classes: labels are ``0 … num_classes-1``.
        image_shape: the shape of one image as stored: ``(H, W)`` grey or ``(H, W, 3)`` RGB.
        torchvision: class name in ``torchvision.datasets`` (``None`` for synthetic data).
        torchvision_files: the files torchvision reads, relative to the data root.
        synthetic: ``True`` for procedural stand-ins (never real data).
        seed, n_train, n_test: how a synthetic dataset is generated.
    """

    name: str
    title: str
    num_classes: int
    image_shape: tuple[int, ...]
    torchvision: str | None = None
    torchvision_files: tuple[str, ...] = ()
    synthetic: bool = False
    seed: int | None = None
    n_train: int | None = None
    n_test: int | None = None

    @property
    def channels(self) -> int:
        """1 for grey images, 3 for RGB."""
        return 1 if len(self.image_shape) == 2 else self.image_shape[2]

    @property
    def image_size(self) -> int:
        """Side length of the (square) images."""
        return self.image_shape[0]


def _mnist_files(folder: str) -> tuple[str, ...]:
    return tuple(f"{folder}/raw/{stem}-ubyte" for stem in
                 ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"))


def _synthetic(name: str, like: str, num_classes: int, size: int, channels: int, seed: int,
               n_train: int, n_test: int) -> DatasetSpec:
    shape = (size, size) if channels == 1 else (size, size, channels)
    return DatasetSpec(name=name, title=f"Synthetic {like}-like (not real data)", num_classes=num_classes,
                       image_shape=shape, synthetic=True, seed=seed, n_train=n_train, n_test=n_test)


# Read-only (a MappingProxy): a table of facts, not state anyone should change at run time.
DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({
    "mnist": DatasetSpec("mnist", "MNIST", 10, (28, 28), "MNIST", _mnist_files("MNIST")),
    "fashion_mnist": DatasetSpec("fashion_mnist", "Fashion-MNIST", 10, (28, 28), "FashionMNIST",
                                 _mnist_files("FashionMNIST")),
    "cifar10": DatasetSpec("cifar10", "CIFAR-10", 10, (32, 32, 3), "CIFAR10", tuple(
        f"cifar-10-batches-py/{f}" for f in
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
         "batches.meta"))),
    "cifar100": DatasetSpec("cifar100", "CIFAR-100", 100, (32, 32, 3), "CIFAR100",
                            ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta")),
    # Synthetic stand-ins: fixed, distinct seeds; small enough to generate in well under a second.
    "synthetic_mnist": _synthetic("synthetic_mnist", "MNIST", 10, 28, 1, 1001, 3000, 600),
    "synthetic_fashion_mnist": _synthetic("synthetic_fashion_mnist", "Fashion-MNIST", 10, 28, 1, 1002, 3000, 600),
    "synthetic_cifar10": _synthetic("synthetic_cifar10", "CIFAR-10", 10, 32, 3, 1003, 3000, 600),
    "synthetic_cifar100": _synthetic("synthetic_cifar100", "CIFAR-100", 100, 32, 3, 1004, 5000, 1000),
})

# What torchvision downloads: archives it unpacks itself (only when download is allowed).
_ARCHIVES = {
    "mnist": "the same files with .gz added",
    "fashion_mnist": "the same files with .gz added",
    "cifar10": "the archive cifar-10-python.tar.gz in the root",
    "cifar100": "the archive cifar-100-python.tar.gz in the root",
}


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; a ``ValueError`` lists the known names."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def is_synthetic(name: str) -> bool:
    """``True`` if ``name`` is a procedural stand-in, ``False`` for a real dataset."""
    return get_spec(name).synthetic


# --------------------------------------------------------------------------------------
# Where the data lives
# --------------------------------------------------------------------------------------


def default_root() -> Path:
    """``$SYNAPTICNET_DATA`` if set; else ``data/`` in the repository when running from a
    source checkout; else ``data/`` under the current working folder (an installed package,
    e.g. on Colab: never inside ``site-packages``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    top = Path(__file__).resolve().parent.parent  # the repository, when the package runs from a source checkout
    return (top if is_checkout(top) else Path.cwd()) / "data"


def _resolve_root(root: str | os.PathLike | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def cache_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """The cache file of a real dataset: ``<root>/<name>.npz``."""
    return _resolve_root(root) / f"{get_spec(name).name}.npz"


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def check_arrays(arrays: Mapping[str, Any], spec: DatasetSpec | None = None,
                 num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Check a dataset's four arrays and return them with labels as int64.

    Checks: all four keys; ``x`` uint8 with one image shape shared by train and test
    (``N×H×W`` or ``N×H×W×C`` with ``C`` in 1, 3) — and equal to ``spec.image_shape`` if
    a spec is given; ``y`` a 1-D integer array with one label per image; labels in
    ``[0, num_classes)``; and the training labels *cover* the classes (see
    :func:`check_class_coverage`): a training split without some classes would train a
    classifier that can never predict them, and a one-class split scores 100 % on
    itself — a number that means nothing. Raises ``ValueError`` saying what was expected.

    ``num_classes`` (or ``spec.num_classes``) is the number of classes the labels must
    cover; without either, it is unknown (custom arrays) and only a training split with
    a single class is rejected.
    """
    if not isinstance(arrays, Mapping):
        raise ValueError(f"expected a dict with keys {', '.join(ARRAY_KEYS)}, got {type(arrays).__name__}")
    missing = [k for k in ARRAY_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"missing array(s) {', '.join(missing)}; expected keys {', '.join(ARRAY_KEYS)}")
    out = {k: np.asarray(arrays[k]) for k in ARRAY_KEYS}
    classes = num_classes if num_classes is not None else (spec.num_classes if spec else None)
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        if x.dtype != np.uint8:
            raise ValueError(f"x_{split} must be uint8 images (0…255), got dtype {x.dtype}")
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)):
            raise ValueError(f"x_{split} must be N×H×W (grey) or N×H×W×C with C in (1, 3), got shape {x.shape}")
        if spec is not None and x.shape[1:] != spec.image_shape:
            raise ValueError(f"x_{split} must hold {spec.title} images of shape N×{'×'.join(map(str, spec.image_shape))}, "
                             f"got {x.shape}")
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            raise ValueError(f"y_{split} must be a 1-D integer array of labels, got dtype {y.dtype}, shape {y.shape}")
        if len(y) != len(x):
            raise ValueError(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
        if len(y) and y.min() < 0:
            raise ValueError(f"y_{split} has negative labels (min {y.min()}); labels must be 0 … K-1")
        if classes is not None and len(y) and y.max() >= classes:
            raise ValueError(f"y_{split} has label {y.max()}, but the dataset has {classes} classes (labels 0…{classes - 1})")
        out[f"y_{split}"] = y.astype(np.int64, copy=False)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise ValueError(f"train and test images differ in shape: {out['x_train'].shape[1:]} vs {out['x_test'].shape[1:]}")
    if len(out["x_train"]) == 0:
        raise ValueError("x_train is empty")
    check_class_coverage(out["y_train"], classes, spec.title if spec else None)
    return out


def _list_classes(classes: np.ndarray, limit: int = 12) -> str:
    """``"3, 4, 5"``, or ``"0, 1, … (99 in all)"`` for long lists."""
    shown = ", ".join(str(int(c)) for c in classes[:limit])
    return shown if len(classes) <= limit else f"{shown}, … ({len(classes)} in all)"


def check_class_coverage(y_train: np.ndarray, num_classes: int | None, title: str | None = None) -> None:
    """Raise ``ValueError`` unless the training labels contain every class ``0 … num_classes-1``.

    With ``num_classes=None`` (custom arrays, the class count is inferred from the
    labels) only the degenerate case is rejected: a training split of one single class,
    which every model learns perfectly by always answering that class.
    """
    present = np.unique(y_train)
    what = f"the {title} training labels" if title else "y_train"
    if num_classes is None:
        if len(present) < 2:
            raise ValueError(f"{what} are all class {int(present[0])}: a classifier needs at least two classes "
                             f"(it would score 100 % by always answering {int(present[0])}); check the labels")
        return
    missing = np.setdiff1d(np.arange(num_classes), present)
    if len(missing):
        raise ValueError(f"{what} cover only {len(present)} of the {num_classes} classes: class(es) "
                         f"{_list_classes(missing)} have no training example, so they could never be learned "
                         f"and the accuracy would mean nothing; check that the labels are complete")


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


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (a 170 MB file never sits in memory at once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


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


def _not_found_message(spec: DatasetSpec, root: Path, reason: str) -> str:
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
    root = _resolve_root(root)
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
            raise DataError(_not_found_message(
                spec, root, f"it is not in the data root and download=False ({_one_line(offline_error)})"
            )) from offline_error
        try:
            arrays = _read_torchvision(spec, root, download=True)
        except Exception as error:  # URLError, HTTPError, torchvision's RuntimeError listing mirrors, ...
            raise DataError(_not_found_message(
                spec, root, f"it is not in the data root and {_download_failure(error)}"
            )) from error
    try:
        arrays = check_arrays(arrays, spec)
    except ValueError as error:
        raise DataError(f"torchvision's {spec.title} files in {root} gave invalid arrays: {error}") from error
    _try_write_cache(path, arrays)
    return arrays


def dataset_provenance(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where a dataset's arrays came from, for results files.

    Returns ``{"name", "title", "source", "file", "size_bytes", "sha256", "synthetic"}``:
    for a real dataset the cache file's name (relative to the data root), its size and its
    SHA-256 — enough to trace a result to the exact bytes without recording the folder of
    the machine that produced it; for a synthetic one ``source="synthetic"``, the
    generator seed and no hash. Call it after :func:`load_arrays` (which writes the cache).
    """
    spec = get_spec(name)
    if spec.synthetic:
        return dict(name=spec.name, title=spec.title, source="synthetic", file=None, sha256=None, synthetic=True,
                    generator="synapticnet.synthetic.make_synthetic", seed=spec.seed,
                    n_train=spec.n_train, n_test=spec.n_test)
    root = _resolve_root(root)
    path = root / f"{spec.name}.npz"
    if path.is_file():
        return dict(name=spec.name, title=spec.title, source="npz cache", file=path.name,
                    size_bytes=path.stat().st_size, sha256=sha256_file(path), synthetic=False)
    folder = root / spec.torchvision_files[0].split("/")[0]
    if folder.exists():  # loaded from torchvision's files but the cache could not be written
        return dict(name=spec.name, title=spec.title, source="torchvision files", file=folder.name + "/",
                    sha256=None, synthetic=False)
    raise DataError(_not_found_message(spec, root, "no data file to describe (call load_arrays first)"))


# --------------------------------------------------------------------------------------
# From arrays to a task: pure helpers
# --------------------------------------------------------------------------------------


def to_nchw(x: np.ndarray) -> Tensor:
    """uint8 images ``N×H×W`` or ``N×H×W×C`` → a uint8 tensor ``N×C×H×W`` (PyTorch's layout)."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def pad_to(images: Tensor, size: int) -> Tensor:
    """Zero-pad ``N×C×H×W`` images to ``size×size``, centred (an odd remainder goes bottom/right)."""
    _, _, h, w = images.shape
    if h > size or w > size:
        raise ValueError(f"images of {h}×{w} do not fit into image_size={size}; "
                         f"choose image_size ≥ {max(h, w)} (images are padded, never shrunk)")
    if h == size and w == size:
        return images.contiguous()
    top, left = (size - h) // 2, (size - w) // 2
    out = images.new_zeros(images.shape[0], images.shape[1], size, size)
    out[:, :, top:top + h, left:left + w] = images
    return out


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Exact per-channel mean and std (0…1 scale) of uint8 ``N×C×H×W`` images.

    A uint8 pixel has only 256 possible values, so a histogram per channel gives the
    exact mean and variance without ever making a float copy of the images.
    """
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / n
        means.append(mean / 255)
        stds.append(var.sqrt() / 255)
    return torch.stack(means).float(), torch.stack(stds).float()


def proportional_counts(available: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``available`` (largest remainders; exact sum)."""
    available = np.asarray(available, dtype=np.int64)
    if total == 0:
        return np.zeros_like(available)
    quota = available * total / available.sum()
    counts = np.floor(quota).astype(np.int64)
    leftover = total - counts.sum()
    order = np.argsort(-(quota - counts), kind="stable")  # biggest fractional parts first
    counts[order[:leftover]] += 1
    return counts


def balanced_counts(available: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` over classes as equally as possible, never more than ``available``.

    "Water filling": give every class an equal share; classes that run out are capped
    and the rest is shared among the others. An indivisible remainder goes to randomly
    chosen classes (seeded), so no class is favoured systematically.
    """
    available = np.asarray(available, dtype=np.int64)
    if total > available.sum():
        raise ValueError(f"cannot draw {total} examples, only {available.sum()} available")
    counts = np.zeros_like(available)
    remaining = total
    while remaining > 0:
        open_ = np.flatnonzero(counts < available)
        share = remaining // len(open_)
        if share == 0:
            counts[rng.choice(open_, size=remaining, replace=False)] += 1
            break
        give = np.minimum(share, available[open_] - counts[open_])
        counts[open_] += give
        remaining -= int(give.sum())
    return counts


def _val_count(val_size: float | int, n_pool: int, n_train: int | None) -> int:
    """How many validation examples ``val_size`` means (see :class:`TaskDataset`)."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise ValueError(f"val_size must be a fraction in [0, 1) or a count ≥ 0, got {val_size!r}")
    if isinstance(val_size, (int, np.integer)):
        if val_size < 0:
            raise ValueError(f"val_size must be ≥ 0, got {val_size}")
        return int(val_size)
    if not 0.0 <= val_size < 1.0:
        raise ValueError(f"val_size as a fraction must be in [0, 1), got {val_size} (give an int for a count)")
    if n_train is None:
        return int(round(val_size * n_pool))
    return int(round(val_size * n_train / (1.0 - val_size)))  # val is the fraction val_size of train + val


def split_indices(labels: np.ndarray, num_classes: int, n_train: int | None, val_size: float | int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded, disjoint ``(train_index, val_index)`` into a training split.

    The validation examples are drawn first, in proportion to the class frequencies;
    the training subset comes from what is left — all of it (``n_train=None``) or
    ``n_train`` examples with equal per-class counts as far as possible. Both index
    arrays are sorted; the test split is never touched.
    """
    labels = np.asarray(labels)
    n_pool = len(labels)
    if n_train is not None:
        if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 1:
            raise ValueError(f"n_train must be a positive integer or None, got {n_train!r}")
    n_val = _val_count(val_size, n_pool, n_train)
    n_fit = n_pool - n_val if n_train is None else int(n_train)
    if n_fit < 1 or n_fit + n_val > n_pool:
        raise ValueError(f"n_train={n_train} and val_size={val_size} need {max(n_fit, 1)} training + {n_val} validation "
                         f"examples, but the training split has only {n_pool}")
    rng = np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, 1])  # one stream for the split, seeded
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
    available = np.array([len(ix) for ix in by_class], dtype=np.int64)
    val_counts = proportional_counts(available, n_val)
    rest = available - val_counts
    fit_counts = rest if n_train is None else balanced_counts(rest, n_fit, rng)
    val = np.concatenate([ix[:v] for ix, v in zip(by_class, val_counts)])
    fit = np.concatenate([ix[v:v + f] for ix, v, f in zip(by_class, val_counts, fit_counts)])
    return np.sort(fit), np.sort(val)


def augment_batch(images: Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True) -> Tensor:
    """Random crop (after zero-padding by ``padding`` px) and random horizontal flip, per image.

    The classic CIFAR augmentation, done for a whole uint8 batch at once: pad the
    batch, draw one offset and one coin flip per image, and pick every output pixel
    with two ``gather`` calls (rows, then columns — a flip just reverses the column
    order). No Python loop over images, no PIL.
    """
    b, c, h, w = images.shape
    if padding:
        padded = images.new_zeros(b, c, h + 2 * padding, w + 2 * padding)
        padded[:, :, padding:padding + h, padding:padding + w] = images
    else:
        padded = images
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    cols = torch.arange(w).expand(b, w)
    if flip:
        flipped = torch.rand(b, generator=generator) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    rows = (oy[:, None] + torch.arange(h)).view(b, 1, h, 1).expand(b, c, h, padded.shape[3])
    cols = (ox[:, None] + cols).view(b, 1, 1, w).expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def _generator(seed: int, epoch: int) -> torch.Generator:
    """A torch generator seeded from ``(seed, epoch)``: every epoch its own, reproducible order."""
    state = np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, epoch & 0xFFFF_FFFF_FFFF_FFFF, 2])
    return torch.Generator().manual_seed(int(state.generate_state(1, np.uint64)[0]))


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


# --------------------------------------------------------------------------------------
# TaskDataset
# --------------------------------------------------------------------------------------


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
        arrays[f"x_{split}"] = data.numpy() if isinstance(data, Tensor) else np.asarray(data)
        arrays[f"y_{split}"] = (targets.numpy() if isinstance(targets, Tensor) else np.asarray(targets)).astype(np.int64)
    return arrays


def _name_of(obj: Any) -> str | None:
    """The registered name of a torchvision dataset object (``MNIST`` → ``"mnist"``), if any."""
    cls = type(obj).__name__
    return next((spec.name for spec in DATASETS.values() if spec.torchvision == cls), None)


class TaskDataset(Dataset):
    """One task of the continual sequence: a dataset harmonised to the network's input.

    **Harmonisation.** A continual network has one input layer for all tasks, so every
    task is brought to ``channels × image_size × image_size`` (default 3×32×32, CIFAR):

    * grey images are *repeated* over the three channels (a grey pixel is an RGB pixel
      with R = G = B) — only at batch time, so memory holds one channel;
    * 28×28 images are *zero-padded* by 2 px on every side to 32×32, not resized.
      Padding is exact: the digit or garment keeps its pixels, its stroke widths and
      its size, and MNIST's black background simply extends by 2 px. A bilinear resize
      would blur every stroke, change stroke widths, and invent grey values that the
      dataset never had. (An ``image_size`` smaller than the images is a ``ValueError``:
      we pad, never shrink.) ``channels=1`` with an RGB dataset is a ``ValueError``
      too — we do not silently throw colour away.

    **Normalisation.** Each task is normalised with the per-channel mean and std of its
    *own training subset* (of the harmonised images, padding included) — never of the
    validation or test data, which would leak them into training. ``mean``/``std`` are
    on the 0…1 scale, like ``torchvision.transforms.Normalize``.

    **Splits.** ``n_train`` picks a stratified training subset (equal per-class counts
    as far as possible; ``None`` = everything left after validation). The validation
    split is held out of the *training* data, stratified, disjoint from the training
    subset; the test split is never touched. ``val_size`` is a count (int) or the
    fraction of train + validation examples (float; 0 for none). ``train_index`` and
    ``val_index`` are the positions of the chosen examples in the source training split.

    **Speed.** Images stay uint8 tensors ``N×C×H×W`` in memory (already padded). A
    batch is one indexing operation; float conversion, normalisation, grey→RGB and
    augmentation happen on the whole batch. Augmentation (random 4-px-padded crop +
    horizontal flip) is on by default for RGB tasks, off for grey ones (``augment=None``;
    flipping a "2" is not a "2") and is used only by :meth:`train_batches`.

    Args:
        source: a dataset name (loaded with :func:`load_arrays`, using ``root`` and
            ``download``), a dict of arrays in that format, or a pair ``(train, test)`` of
            dataset objects with ``.data`` and ``.targets`` (e.g. torchvision's
            ``MNIST(root, train=True)`` and ``MNIST(root, train=False)``).
        task_id: position of the task in the sequence.
        image_size, channels: the network's input.
        n_train, val_size: see *Splits*.
        augment: ``None`` = auto (RGB yes, grey no), or ``True``/``False``.
        crop_padding: zero-padding of the random crop (default 4 px, the classic CIFAR
            recipe); 0 keeps only the random flips — better when there are only a few
            epochs to learn from (measured in ``synapticnet.profiles.CPU``).
        seed: seeds the splits and every epoch's shuffle/augmentation.
        name: the dataset's name (default: ``source`` if it is a name). Pass it with a
            dict of arrays so the task knows its title, class count and whether it is synthetic.
        title, synthetic: override the title and the synthetic flag (default: from the
            dataset table, else the name and ``False``) — for arrays derived from a known
            dataset, such as one task of a stream (:mod:`synapticnet.streams`).
    """

    def __init__(
        self,
        source: str | Mapping[str, np.ndarray],
        task_id: int,
        image_size: int = 32,
        channels: int = 3,
        n_train: int | None = None,
        val_size: float | int = 0.1,
        augment: bool | None = None,
        seed: int = 0,
        name: str | None = None,
        crop_padding: int = 4,
        *,
        root: str | os.PathLike | None = None,
        download: bool = True,
        title: str | None = None,
        synthetic: bool | None = None,
    ) -> None:
        if isinstance(task_id, bool) or not isinstance(task_id, (int, np.integer)) or task_id < 0:
            raise ValueError(f"task_id must be an integer ≥ 0, got {task_id!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        if isinstance(source, str):
            arrays, name = load_arrays(source, root=root, download=download), name or source
        elif isinstance(source, Mapping):
            arrays = source
        elif isinstance(source, (tuple, list)) and len(source) == 2:
            arrays, name = arrays_from_datasets(*source), name or _name_of(source[0])
        elif hasattr(source, "data") and hasattr(source, "targets"):
            raise ValueError(f"a task needs a training and a test split: pass ({type(source).__name__}(…, train=True), "
                             f"{type(source).__name__}(…, train=False)) as the source")
        else:
            raise ValueError(f"source must be a dataset name, a dict of arrays or a (train, test) pair of datasets, "
                             f"got {type(source).__name__}")
        key = source if isinstance(source, str) else name
        spec = DATASETS.get(key) if key is not None else None
        arrays = check_arrays(arrays, spec)
        num_classes = spec.num_classes if spec else int(max(arrays["y_train"].max(), arrays["y_test"].max(initial=0))) + 1

        x_shape = arrays["x_train"].shape
        src_channels = 1 if len(x_shape) == 3 else x_shape[3]
        if src_channels == 3 and channels == 1:
            raise ValueError(f"{name or 'the dataset'} has RGB images but channels=1 was requested; "
                             f"use channels=3 (grey images are expanded to RGB, colour is never dropped)")
        if max(x_shape[1], x_shape[2]) > image_size:
            raise ValueError(f"{name or 'the dataset'} has {x_shape[1]}×{x_shape[2]} images, larger than "
                             f"image_size={image_size}; images are padded, never shrunk")

        self.task_id = int(task_id)
        self.name = name or "arrays"
        if title is None:
            title = spec.title if spec else (name or "custom arrays (unknown provenance)")
        self.title = title
        self.synthetic = bool(synthetic) if synthetic is not None else (bool(spec.synthetic) if spec else False)
        self.num_classes = num_classes
        self.image_size, self.channels, self.seed = int(image_size), int(channels), int(seed)
        self.source_shape = tuple(x_shape[1:])
        self.augment = (src_channels == 3) if augment is None else bool(augment)
        if isinstance(crop_padding, bool) or not isinstance(crop_padding, (int, np.integer)) or crop_padding < 0:
            raise ValueError(f"crop_padding must be an integer ≥ 0, got {crop_padding!r}")
        self.crop_padding = int(crop_padding)

        self.train_index, self.val_index = split_indices(arrays["y_train"], num_classes, n_train, val_size, seed)
        x_tr, y_tr = arrays["x_train"], arrays["y_train"]
        self._x: dict[str, Tensor] = {
            "train": pad_to(to_nchw(x_tr[self.train_index]), image_size),
            "val": pad_to(to_nchw(x_tr[self.val_index]), image_size),
            "test": pad_to(to_nchw(arrays["x_test"]), image_size),
        }
        self._y: dict[str, Tensor] = {
            "train": torch.from_numpy(y_tr[self.train_index].copy()),
            "val": torch.from_numpy(y_tr[self.val_index].copy()),
            "test": torch.from_numpy(np.ascontiguousarray(arrays["y_test"])),
        }
        src_mean, src_std = channel_stats(self._x["train"])
        src_std = src_std.clamp_min(1e-6)  # a constant channel would divide by zero
        repeat = channels // src_channels  # 3 for grey→RGB, else 1
        self.mean, self.std = src_mean.repeat(repeat), src_std.repeat(repeat)
        # normalise as x * scale + shift on the 0…255 scale: one fused multiply-add per pixel
        self._scale = (1.0 / (255.0 * src_std)).view(1, -1, 1, 1)
        self._shift = (-src_mean / src_std).view(1, -1, 1, 1)

    # ---- sizes ---------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return len(self._y["train"])

    @property
    def n_val(self) -> int:
        return len(self._y["val"])

    @property
    def n_test(self) -> int:
        return len(self._y["test"])

    # ---- the PyTorch Dataset protocol ---------------------------------------------------
    def __len__(self) -> int:
        """Training examples: ``len(ds)``, as for any ``torch.utils.data.Dataset``."""
        return self.n_train

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        """Training example ``index``: ``(float32 C×H×W normalised image, int label)``, not augmented.

        This makes a task usable like any PyTorch dataset::

            loader = DataLoader(ds, batch_size=128, shuffle=True, num_workers=2)

        The engine does not use it: :meth:`train_batches` cuts whole batches straight
        from one uint8 tensor (one indexing operation per batch instead of one Python
        call per image) and augments them on the batch. Both give the same normalised
        tensors for the same images (tested).
        """
        return self._item("train", index)

    def split(self, name: str) -> "TaskSplit":
        """The ``"train"``, ``"val"`` or ``"test"`` split as a ``Dataset`` of the same kind."""
        return TaskSplit(self, self._check_split(name))

    def _item(self, split: str, index: int) -> tuple[Tensor, int]:
        n = len(self._y[split])
        i = operator.index(index)  # an int (or NumPy/torch integer), not a float or a slice
        if not -n <= i < n:
            raise IndexError(f"index {index} is out of range for the {split} split of {self.name!r} ({n} examples)")
        i %= n
        return self._finish(self._x[split][i:i + 1])[0], int(self._y[split][i])

    def num_train_batches(self, batch_size: int) -> int:
        """Batches per epoch of :meth:`train_batches` (the last one may be smaller)."""
        return math.ceil(self.n_train / _check_batch_size(batch_size))

    # ---- batches -------------------------------------------------------------------
    def _finish(self, images: Tensor) -> Tensor:
        """uint8 batch → normalised float32 ``B×channels×S×S``."""
        x = images.float().mul_(self._scale).add_(self._shift)
        if x.shape[1] != self.channels:  # grey → RGB: the same normalised values in all 3 channels
            x = x.expand(-1, self.channels, -1, -1).contiguous()
        return x

    def _check_split(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(map(repr, SPLITS))}")
        return split

    def train_batches(self, batch_size: int, epoch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled (and, if ``augment``, augmented) training batches.

        The order and the augmentation come from a generator seeded with
        ``(seed, epoch)``: epoch 3 of a resumed run is exactly epoch 3 of an
        uninterrupted one. The last batch may be smaller (``drop_last=False``).
        """
        batch_size = _check_batch_size(batch_size)
        return self._train_iter(batch_size, _generator(self.seed, int(epoch)))

    def _train_iter(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self._x["train"], self._y["train"]
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            images = x[idx]
            if self.augment:
                images = augment_batch(images, generator, padding=self.crop_padding)
            yield self._finish(images), y[idx]

    def eval_batches(self, split: str = "test", batch_size: int = 512) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of ``"val"``, ``"test"`` or ``"train"`` in order, never augmented."""
        split, batch_size = self._check_split(split), _check_batch_size(batch_size)
        return self._eval_iter(split, batch_size)

    def _eval_iter(self, split: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self._x[split], self._y[split]
        for start in range(0, len(y), batch_size):
            yield self._finish(x[start:start + batch_size]), y[start:start + batch_size]

    def tensors(self, split: str = "test") -> tuple[Tensor, Tensor]:
        """A whole split as ``(images, labels)``, normalised, not augmented (small sets, plots)."""
        split = self._check_split(split)
        return self._finish(self._x[split]), self._y[split].clone()

    def raw(self, split: str = "test") -> tuple[Tensor, Tensor]:
        """A split's harmonised uint8 images ``N×C_source×S×S`` (padded, not normalised) and labels."""
        split = self._check_split(split)
        return self._x[split], self._y[split]

    def __repr__(self) -> str:
        tag = " [SYNTHETIC — not real data]" if self.synthetic else ""
        return (f"TaskDataset(task {self.task_id}: {self.name!r} = {self.title}{tag}, {self.num_classes} classes, "
                f"train/val/test {self.n_train}/{self.n_val}/{self.n_test}, "
                f"{self.channels}×{self.image_size}×{self.image_size}, augment={self.augment})")


class TaskSplit(Dataset):
    """One split of a :class:`TaskDataset` as a map-style ``Dataset`` (see :meth:`TaskDataset.split`)."""

    def __init__(self, task: TaskDataset, split: str) -> None:
        self.task, self.name = task, split

    def __len__(self) -> int:
        return len(self.task._y[self.name])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.task._item(self.name, index)

    def __repr__(self) -> str:
        return f"TaskSplit({self.name!r} of task {self.task.task_id} {self.task.name!r}, {len(self)} examples)"


def describe(ds: TaskDataset) -> str:
    """A few lines about a task for notebooks and logs; synthetic data is labelled loudly."""
    src = "×".join(map(str, ds.source_shape))
    lines = [
        f"task {ds.task_id}: {ds.title} ({ds.name})" + ("  ** SYNTHETIC STAND-IN, NOT REAL DATA **" if ds.synthetic else ""),
        f"  {ds.num_classes} classes; train {ds.n_train}, val {ds.n_val}, test {ds.n_test}",
        f"  source images {src} uint8 → network input {ds.channels}×{ds.image_size}×{ds.image_size} float32",
        f"  normalised with train mean {[round(v, 4) for v in ds.mean.tolist()]}, "
        f"std {[round(v, 4) for v in ds.std.tolist()]}",
        "  augmentation on training batches: "
        + (("horizontal flip" + (f" + random crop (padding {ds.crop_padding} px)" if ds.crop_padding else ""))
           if ds.augment else "off"),
    ]
    return "\n".join(lines)
