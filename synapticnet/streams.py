"""Related-task streams: one dataset cut into a sequence of tasks.

The default sequence (MNIST → Fashion-MNIST → CIFAR-10 → CIFAR-100) is a sequence of
*different* datasets: grey digits, grey garments, colour photos. What one task learned
says little about the next, so a new task gains almost nothing from reading the frozen
units of old ones (the ``cpu`` profile measured it: reusing MNIST features did not
help CIFAR-10). A **stream** is the opposite experiment: a sequence of *related* tasks
made from one dataset.

**Split streams** cut a dataset's classes into disjoint groups, one task per group:

* ``split_mnist`` — 5 tasks of 2 digits: 0/1, 2/3, 4/5, 6/7, 8/9;
* ``split_cifar10`` — 5 tasks of 2 classes: airplane/automobile, bird/cat, deer/dog,
  frog/horse, ship/truck;
* ``split_cifar100`` — 10 tasks of 10 classes in label order (0–9, 10–19, …).

Each task is its own little classification problem: its labels are renumbered
``0 … k-1`` in class order (digits 2/3 become labels 0/1), it gets its own output head
(the task id is known at test time — *task-incremental* learning), and it is tested
only on its own classes, taken from the base dataset's test split.

**Why related tasks.** All tasks of a split stream share one kind of image: the same
strokes, the same camera statistics, the same textures. Edges and shapes learned for
"bird vs cat" are useful for "deer vs dog". That is where *transfer* can pay off: a
new task that reads the frozen units of old tasks (SynapticNet's ``mode="reuse"``)
starts from features that already fit its images and may need fewer new units, fewer
epochs or fewer examples than a task that starts from scratch. Whether it actually
does is a measurement, not a promise — split streams are where to make it.

**Permuted MNIST** (``permuted_mnist``; ``permuted_mnist:10`` for 10 tasks, default 5)
keeps the ten digits and the labels of every task, but shuffles the 28×28 pixels of
every image with one fixed permutation per task. Task 0 is the original MNIST; task
``k > 0`` uses ``numpy.random.default_rng(k).permutation(784)`` (:func:`permutation`),
so anyone can rebuild it exactly. The labels mean the same in every task, but the
*input* is completely different: a pixel's neighbours are no longer its neighbours.
It is the classic test of whether a method can keep adding new input → label
mappings without forgetting old ones. For a convolutional network it is a hard case:
the locality that convolutions rely on is gone, so old features transfer poorly and
each task must be learned mostly by its own units.

**Names.** A stream name expands to its task names, and a single task name is valid
on its own in a task list: ``split_cifar10`` → ``split_cifar10/0`` … ``split_cifar10/4``;
``permuted_mnist:3`` → ``permuted_mnist/0`` … ``permuted_mnist/2``. Every stream
also exists on the synthetic stand-ins (``synthetic_split_cifar10`` … see
:mod:`synapticnet.synthetic`), for tests and smoke runs: their titles say they are not
real data. A stream whose base dataset is missing fails with exactly the
:class:`~synapticnet.data.DataError` of loading that dataset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from . import data as data_lib

__all__ = [
    "CLASS_NAMES",
    "STREAMS",
    "StreamSpec",
    "StreamTask",
    "base_dataset",
    "expand",
    "expand_tasks",
    "is_stream",
    "is_stream_task",
    "load_task_arrays",
    "parse_task",
    "permutation",
    "stream_tasks",
    "task_arrays",
    "task_dataset",
    "task_provenance",
]

# Class names in label order, for titles (the real datasets' own label order).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_CLASSES: tuple[str, ...] = (  # the 100 "fine" labels, alphabetical = label order
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
CLASS_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mnist": tuple(str(d) for d in range(10)),
    "cifar10": CIFAR10_CLASSES,
    "cifar100": CIFAR100_CLASSES,
})

DEFAULT_PERMUTED_TASKS = 5


# --------------------------------------------------------------------------------------
# The stream table
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamSpec:
    """A stream: which dataset it is cut from, and how.

    Attributes:
        name: ``"split_cifar10"``, ``"permuted_mnist"``, ``"synthetic_split_mnist"`` …
        base: the dataset in :data:`synapticnet.data.DATASETS` the tasks are made from.
        kind: ``"split"`` (disjoint class groups) or ``"permuted"`` (pixel permutations).
        num_tasks: a split stream's number of tasks; a permuted stream's default
            (``permuted_mnist:N`` asks for ``N``).
    """

    name: str
    base: str
    kind: str
    num_tasks: int

    @property
    def synthetic(self) -> bool:
        """``True`` if the base dataset is a synthetic stand-in (never real data)."""
        return data_lib.get_spec(self.base).synthetic

    @property
    def title(self) -> str:
        """``"Split CIFAR-10"``, ``"Permuted MNIST"``; synthetic: ``"Synthetic Split CIFAR-10-like"``."""
        kind = "Split" if self.kind == "split" else "Permuted"
        if self.synthetic:
            return f"Synthetic {kind} {data_lib.get_spec(self.base.removeprefix('synthetic_')).title}-like"
        return f"{kind} {data_lib.get_spec(self.base).title}"

    @property
    def classes_per_task(self) -> int | None:
        """How many classes one task of a split stream has (``None`` for permuted streams)."""
        if self.kind != "split":
            return None
        return data_lib.get_spec(self.base).num_classes // self.num_tasks

    def task_classes(self, index: int) -> tuple[int, ...] | None:
        """The original labels of task ``index`` of a split stream, ascending (``None``: permuted)."""
        k = self.classes_per_task
        return None if k is None else tuple(range(index * k, (index + 1) * k))

    def task_names(self, count: int | None = None) -> list[str]:
        """``["<name>/0", …]``: all tasks of a split stream, the first ``count`` of a permuted one."""
        return [f"{self.name}/{i}" for i in range(self.num_tasks if count is None else count)]


def _streams() -> dict[str, StreamSpec]:
    table = {}
    for prefix in ("", "synthetic_"):
        for kind, base, n in (("split", "mnist", 5), ("split", "cifar10", 5), ("split", "cifar100", 10),
                              ("permuted", "mnist", DEFAULT_PERMUTED_TASKS)):
            name = f"{prefix}{kind}_{base}"
            table[name] = StreamSpec(name=name, base=f"{prefix}{base}", kind=kind, num_tasks=n)
    return table


# Read-only, like synapticnet.data.DATASETS.
STREAMS: Mapping[str, StreamSpec] = MappingProxyType(_streams())


@dataclass(frozen=True)
class StreamTask:
    """One task of a stream, e.g. ``split_cifar10/1`` (see :func:`parse_task`)."""

    stream: StreamSpec
    index: int

    @property
    def name(self) -> str:
        """``"split_cifar10/1"``: the name it has in task lists and results."""
        return f"{self.stream.name}/{self.index}"

    @property
    def base(self) -> str:
        """The dataset its images come from (``"cifar10"``)."""
        return self.stream.base

    @property
    def synthetic(self) -> bool:
        return self.stream.synthetic

    @property
    def classes(self) -> tuple[int, ...] | None:
        """Split task: its original labels, ascending (``classes[i]`` becomes label ``i``)."""
        return self.stream.task_classes(self.index)

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """Split task of a real dataset: the names of its classes (``None`` otherwise)."""
        names = CLASS_NAMES.get(self.base)
        return None if self.classes is None or names is None else tuple(names[c] for c in self.classes)

    @property
    def permutation_seed(self) -> int | None:
        """Permuted task ``k > 0``: the seed ``k`` of its pixel permutation (task 0 and split tasks: ``None``)."""
        return self.index if self.stream.kind == "permuted" and self.index > 0 else None

    @property
    def title(self) -> str:
        """``"Split CIFAR-10 task 1: bird/cat"``, ``"Permuted MNIST task 2 (pixel permutation seed 2)"``."""
        head = f"{self.stream.title} task {self.index}"
        tail = "; not real data" if self.synthetic else ""
        if self.stream.kind == "split":
            if self.class_names is not None:
                return f"{head}: {'/'.join(self.class_names)}"
            return f"{head}: classes {'/'.join(map(str, self.classes))} (not real data)"
        if self.permutation_seed is None:
            return f"{head} (original images, no permutation{tail})"
        return f"{head} (pixel permutation seed {self.permutation_seed}{tail})"


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------

_TASK = re.compile(r"^(?P<stream>[a-z0-9_]+)/(?P<index>0|[1-9][0-9]*)$")
_COUNT = re.compile(r"^(?P<stream>[a-z0-9_]+):(?P<count>[0-9]+)$")


def _known() -> str:
    """The known names, for error messages."""
    streams = ", ".join(
        f"{s.name} ({s.num_tasks} tasks" + ("; :N for N tasks)" if s.kind == "permuted" else ")")
        for s in STREAMS.values()
    )
    return (f"known datasets: {', '.join(data_lib.DATASETS)}; known streams: {streams} "
            f"(a single task of a stream is <stream>/<i>, e.g. split_cifar10/3)")


def _stream_and_count(name: str) -> tuple[StreamSpec, int] | None:
    """``"permuted_mnist:10"`` → (spec, 10); ``"split_mnist"`` → (spec, 5); not a stream → ``None``."""
    match = _COUNT.match(name)
    stream = STREAMS.get(match["stream"] if match else name)
    if stream is None:
        return None
    if not match:
        return stream, stream.num_tasks
    if stream.kind != "permuted":
        raise ValueError(f"only permuted streams take a task count (':N'); {stream.name} always has "
                         f"{stream.num_tasks} tasks, got {name!r}")
    count = int(match["count"])
    if count < 1:
        raise ValueError(f"a stream needs at least one task, got {name!r}")
    return stream, count


def is_stream(name: Any) -> bool:
    """``True`` for a stream name: ``"split_cifar10"``, ``"permuted_mnist"``, ``"permuted_mnist:10"``."""
    try:
        return isinstance(name, str) and _stream_and_count(name) is not None
    except ValueError:
        return False


def parse_task(name: str) -> StreamTask:
    """The :class:`StreamTask` called ``name`` (``"split_cifar10/3"``); ``ValueError`` if there is none."""
    match = _TASK.match(name) if isinstance(name, str) else None
    stream = STREAMS.get(match["stream"]) if match else None
    if stream is None:
        raise ValueError(f"{name!r} is not a stream task; {_known()}")
    index = int(match["index"])
    if stream.kind == "split" and index >= stream.num_tasks:
        raise ValueError(f"{stream.name} has {stream.num_tasks} tasks, {stream.name}/0 … "
                         f"{stream.name}/{stream.num_tasks - 1}; got {name!r}")
    return StreamTask(stream, index)


def is_stream_task(name: Any) -> bool:
    """``True`` for the name of one task of a stream (``"split_cifar10/3"``, ``"permuted_mnist/7"``)."""
    try:
        parse_task(name)
    except ValueError:
        return False
    return True


def stream_tasks(name: str) -> list[str]:
    """The task names a stream stands for: ``"split_mnist"`` → ``["split_mnist/0", …, "split_mnist/4"]``.

    ``"permuted_mnist:3"`` → ``["permuted_mnist/0", "permuted_mnist/1", "permuted_mnist/2"]``.
    ``ValueError`` if ``name`` is not a stream.
    """
    found = _stream_and_count(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"unknown stream {name!r}; {_known()}")
    stream, count = found
    return stream.task_names(count)


class _UnknownName(ValueError):
    """A name that is neither a dataset nor a stream (as opposed to a malformed stream name)."""


def expand(name: str) -> list[str]:
    """One entry of a task list as task names: a stream → its tasks; a dataset or one stream task → itself.

    ``ValueError`` (listing the known datasets and streams) for anything else; a
    malformed stream name (``split_mnist/7``, ``split_mnist:3``) says what is wrong with it.
    """
    if not isinstance(name, str):
        raise _UnknownName(f"unknown task {name!r}; {_known()}")
    if name in data_lib.DATASETS:
        return [name]
    count = _COUNT.match(name)
    if name in STREAMS or (count and count["stream"] in STREAMS):
        return stream_tasks(name)
    task = _TASK.match(name)
    if task and task["stream"] in STREAMS:
        return [parse_task(name).name]
    raise _UnknownName(f"unknown task {name!r}; {_known()}")


def expand_tasks(names: Sequence[str]) -> list[str]:
    """A task list with every stream replaced by its tasks, in order (``mnist,split_cifar10`` → 6 tasks).

    Unknown names are reported together in one ``ValueError`` that lists the known
    datasets and streams. Repeats are left to the caller (:func:`synapticnet.run.check_tasks`).
    """
    out, unknown = [], []
    for name in names:
        try:
            out.extend(expand(name))
        except _UnknownName:
            unknown.append(name)
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(map(repr, unknown))}; {_known()}")
    return out


def base_dataset(name: str) -> str:
    """The dataset a task's images come from: ``"split_cifar10/3"`` → ``"cifar10"``.

    A stream name gives its base too (``"permuted_mnist:10"`` → ``"mnist"``); any other
    name is returned unchanged (``"mnist"`` → ``"mnist"``).
    """
    if is_stream_task(name):
        return parse_task(name).base
    if is_stream(name):
        return _stream_and_count(name)[0].base
    return name


# --------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------


def permutation(seed: int, num_pixels: int = 28 * 28) -> np.ndarray:
    """The fixed pixel permutation of permuted task ``seed``: ``default_rng(seed).permutation(num_pixels)``.

    Pixel ``p`` of a permuted image (row-major order) is pixel ``permutation(seed)[p]``
    of the original. The same seed gives the same permutation on every machine.
    """
    return np.random.default_rng(seed).permutation(num_pixels)


def _permute(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Shuffle the pixel positions of images ``N×H×W[×C]`` by ``order`` (channels stay together)."""
    n, h, w = x.shape[:3]
    return np.ascontiguousarray(x.reshape(n, h * w, *x.shape[3:])[:, order].reshape(x.shape))


def task_arrays(name: str, base_arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The four arrays of stream task ``name``, made from its base dataset's arrays.

    Split task: only the examples of its classes (train and test; order kept), labels
    renumbered ``0 … k-1`` in class order. Permuted task: every image with its pixels
    permuted (task 0 unchanged), labels unchanged. ``base_arrays`` is not modified.
    """
    task = parse_task(name)
    arrays = {key: np.asarray(base_arrays[key]) for key in data_lib.ARRAY_KEYS}
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if task.classes is not None:
            lookup = np.full(int(max(y.max(initial=0), max(task.classes))) + 1, -1, dtype=np.int64)
            lookup[list(task.classes)] = np.arange(len(task.classes))
            keep = np.flatnonzero(np.isin(y, task.classes))
            out[f"x_{split}"], out[f"y_{split}"] = x[keep], lookup[y[keep]]
        else:
            order = permutation(task.index, x.shape[1] * x.shape[2]) if task.index else None
            out[f"x_{split}"] = x.copy() if order is None else _permute(x, order)
            out[f"y_{split}"] = y.astype(np.int64, copy=True)
    return {key: out[key] for key in data_lib.ARRAY_KEYS}


def load_task_arrays(name: str, root: str | os.PathLike | None = None, download: bool = True,
                     cache: MutableMapping[str, dict[str, np.ndarray]] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a dataset or a stream task, loading each base dataset at most once per ``cache``.

    ``cache`` maps dataset names to arrays already loaded (pass one dict for a whole
    task list: five Split CIFAR-10 tasks read CIFAR-10 once). A missing base dataset
    raises the :class:`~synapticnet.data.DataError` of :func:`~synapticnet.data.load_arrays`.
    """
    base = base_dataset(name)
    cache = {} if cache is None else cache
    if base not in cache:
        cache[base] = data_lib.load_arrays(base, root=root, download=download)
    return cache[base] if base == name else task_arrays(name, cache[base])


def task_dataset(name: str, task_id: int, *, root: str | os.PathLike | None = None, download: bool = True,
                 cache: MutableMapping[str, dict[str, np.ndarray]] | None = None,
                 **options: Any) -> data_lib.TaskDataset:
    """A :class:`~synapticnet.data.TaskDataset` for a dataset or a stream task, named ``name``.

    ``options`` go to ``TaskDataset`` (``image_size``, ``n_train``, ``seed`` …). A stream
    task gets its title (which names its classes) and is marked synthetic if its base is.
    """
    arrays = load_task_arrays(name, root=root, download=download, cache=cache)
    if is_stream_task(name):
        task = parse_task(name)
        options = {**options, "title": task.title, "synthetic": task.synthetic}
    return data_lib.TaskDataset(arrays, task_id, name=name, **options)


def task_provenance(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where a task's data came from, for ``results.json`` (call it after loading the data).

    A dataset: :func:`synapticnet.data.dataset_provenance`. A stream task: its base
    dataset's provenance (file, SHA-256 or generator seed), with ``name``/``title`` of
    the task, the base under ``dataset``/``dataset_title``, and ``stream``, ``task``
    plus ``classes`` (the original labels; ``classes[i]`` is label ``i`` of the task)
    or ``permutation_seed`` (``None`` for task 0, the original images).
    """
    if not is_stream_task(name):
        return data_lib.dataset_provenance(name, root=root)
    task = parse_task(name)
    base = data_lib.dataset_provenance(task.base, root=root)
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
