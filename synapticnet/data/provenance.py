"""Provenance: which bytes a result was computed from, as SHA-256 content hashes.

Every data source a run reads gets a hash, so a result can be traced to its data and a
resumed run can prove it still sees the same data:

* a dataset's cache file ``<name>.npz`` — :func:`sha256_file` of the file;
* torchvision's raw files (when no cache could be written) — one hash over all of them;
* arrays and tensors, e.g. arrays passed in by you — :func:`sha256_arrays`;
* a task (:class:`~synapticnet.data.TaskDataset`) — ``task.fingerprint``, the hash of the
  images and labels of its train, validation and test splits exactly as the network sees
  them (after subset selection and padding).

:func:`data_record` is what a results file stores about one task: where its data came
from (:func:`dataset_provenance`, :func:`task_provenance`) and, always, ``"sha256"`` — the
task's fingerprint. Records hold file names relative to the data root, never the
folders of the machine that made them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .datasets import DATASETS, DataError, get_spec, resolve_root
from .sources import not_found_message
from .streams import stream_task

__all__ = ["data_record", "dataset_provenance", "sha256_arrays", "sha256_file", "task_provenance"]


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (a 170 MB file never sits in memory at once)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_arrays(arrays: Mapping[str, Any]) -> str:
    """SHA-256 of named arrays or tensors: for each, in order, its name, dtype and shape, then its bytes.

    Equal hashes mean the same values in the same order with the same dtypes and shapes;
    one changed pixel or label changes the hash. Tensors are hashed without a copy (a
    contiguous uint8 CIFAR-10 training split, 150 MB, takes well under a second).
    """
    digest = hashlib.sha256()
    for key, value in arrays.items():
        a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        a = np.ascontiguousarray(a)
        digest.update(f"{key}:{a.dtype.str}:{a.shape}\n".encode())
        digest.update(a.reshape(-1).view(np.uint8) if a.size else b"")
    return digest.hexdigest()


def _files_sha256(root, files: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """One hash over the files that exist: SHA-256 of their ``sha256sum`` listing (``"<hash>  <path>\\n"``)."""
    present = [f for f in files if (root / f).is_file()]
    listing = "".join(f"{sha256_file(root / f)}  {f}\n" for f in present)
    return (hashlib.sha256(listing.encode()).hexdigest() if present else None), present


def dataset_provenance(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where a dataset's arrays came from, for results files.

    Returns ``{"name", "title", "source", "file", "size_bytes", "sha256", "synthetic"}``:
    for a real dataset the cache file's name (relative to the data root), its size and its
    SHA-256 — enough to trace a result to the exact bytes without recording the folder of
    the machine that produced it. Read from torchvision's files (the cache could not be
    written): their folder, the list of ``files`` and one ``sha256`` over them (what
    ``cd <root> && sha256sum <files> | sha256sum`` prints). A synthetic one:
    ``source="synthetic"``, the generator seed and no file hash (its arrays are hashed
    per task, see :func:`data_record`). Call it after :func:`~synapticnet.data.load_arrays`.
    """
    spec = get_spec(name)
    if spec.synthetic:
        return dict(name=spec.name, title=spec.title, source="synthetic", file=None, sha256=None, synthetic=True,
                    generator="synapticnet.data.make_synthetic", seed=spec.seed,
                    n_train=spec.n_train, n_test=spec.n_test)
    root = resolve_root(root)
    path = root / f"{spec.name}.npz"
    if path.is_file():
        return dict(name=spec.name, title=spec.title, source="npz cache", file=path.name,
                    size_bytes=path.stat().st_size, sha256=sha256_file(path), synthetic=False)
    folder = root / spec.torchvision_files[0].split("/")[0]
    if folder.exists():  # loaded from torchvision's files but the cache could not be written
        sha256, files = _files_sha256(root, spec.torchvision_files)
        return dict(name=spec.name, title=spec.title, source="torchvision files", file=folder.name + "/",
                    files=files, sha256=sha256, synthetic=False)
    raise DataError(not_found_message(spec, root, "no data file to describe (call load_arrays first)"))


def task_provenance(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where a task's data came from, for ``results.json`` (call it after loading the data).

    A dataset: :func:`dataset_provenance`. A stream task: its base dataset's provenance
    (file, SHA-256 or generator seed), with ``name``/``title`` of the task, the base under
    ``dataset``/``dataset_title``, and ``stream``, ``task`` plus ``classes`` (the original
    labels; ``classes[i]`` is label ``i`` of the task) or ``permutation_seed`` (``None``
    for task 0, the original images).
    """
    task = stream_task(name)
    if task is None:
        return dataset_provenance(name, root=root)
    base = dataset_provenance(task.base, root=root)
    out = dict(name=task.name, title=task.title, stream=task.stream.name, task=task.index,
               dataset=base.pop("name"), dataset_title=base.pop("title"), **base)
    if task.classes is not None:
        out.update(classes=list(task.classes), class_names=None if task.class_names is None else list(task.class_names),
                   labels="original label classes[i] is label i of this task")
    else:
        seed = task.permutation_seed
        out.update(permutation_seed=seed,
                   permutation="none (original images)" if seed is None else
                   f"numpy.random.default_rng({seed}).permutation(H*W) of the row-major pixels")
    return out


def data_record(dataset: Any, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """What a results file records about one task's data; it always holds ``"sha256"``.

    ``dataset`` is a :class:`~synapticnet.data.TaskDataset`. A registered dataset or a
    stream task: :func:`task_provenance` (its file's hash moves to ``"file_sha256"``);
    your own arrays: name, title and ``source="TaskDataset passed in"``. Then the counts
    ``n_train``/``n_val``/``n_test`` and ``"sha256"``: the task's fingerprint, the hash of
    the images and labels the task actually uses — so different data (one changed pixel,
    another subset) always gives a different record, whatever file it came from.
    """
    if dataset.name in DATASETS or stream_task(dataset.name) is not None:
        record = task_provenance(dataset.name, root=root)
        record["file_sha256"] = record.pop("sha256")
    else:
        record = {"name": dataset.name, "title": dataset.title, "source": "TaskDataset passed in",
                  "synthetic": dataset.synthetic}
    counts = {"n_train": dataset.n_train, "n_val": dataset.n_val, "n_test": dataset.n_test}
    return record | counts | {"sha256": dataset.fingerprint}
