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
``permuted_mnist:3`` → ``permuted_mnist/0`` … ``permuted_mnist/2`` (at most
:data:`MAX_PERMUTED_TASKS`). Every stream also exists on the synthetic stand-ins
(``synthetic_split_cifar10`` … see :mod:`synapticnet.data.synthetic`), for tests and smoke
runs: their titles say they are not real data. A stream whose base dataset is missing
fails with exactly the :class:`~synapticnet.data.DataError` of loading that dataset.

**API.** :func:`expand_tasks` turns a task list into task names (and validates it);
:func:`stream_task` gives the facts of one task (title, classes, permutation seed);
:func:`base_dataset` names the dataset a task's images come from; :func:`task_arrays`
cuts a task out of its base dataset's arrays. Building a task's
:class:`~synapticnet.data.TaskDataset` is :func:`synapticnet.data.task_dataset`, its
provenance :func:`synapticnet.data.task_provenance`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .datasets import ARRAY_KEYS, CLASS_NAMES, DATASETS, get_spec

__all__ = [
    "MAX_PERMUTED_TASKS",
    "STREAMS",
    "StreamSpec",
    "StreamTask",
    "base_dataset",
    "expand_tasks",
    "permutation",
    "stream_task",
    "task_arrays",
]

DEFAULT_PERMUTED_TASKS = 5
# permuted_mnist:N builds N full copies of MNIST (about 70 MB each once padded): a bound checked
# before any work, instead of minutes of building followed by a MemoryError.
MAX_PERMUTED_TASKS = 100


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
        return get_spec(self.base).synthetic

    @property
    def title(self) -> str:
        """``"Split CIFAR-10"``, ``"Permuted MNIST"``; synthetic: ``"Synthetic Split CIFAR-10-like"``."""
        kind = "Split" if self.kind == "split" else "Permuted"
        if self.synthetic:
            return f"Synthetic {kind} {get_spec(self.base.removeprefix('synthetic_')).title}-like"
        return f"{kind} {get_spec(self.base).title}"

    @property
    def classes_per_task(self) -> int | None:
        """How many classes one task of a split stream has (``None`` for permuted streams)."""
        if self.kind != "split":
            return None
        return get_spec(self.base).num_classes // self.num_tasks

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
    """One task of a stream, e.g. ``split_cifar10/1`` (see :func:`stream_task`)."""

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
    return (f"known datasets: {', '.join(DATASETS)}; known streams: {streams} "
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
    if count > MAX_PERMUTED_TASKS:
        raise ValueError(f"{name!r} asks for {count} tasks, but a permuted stream has at most {MAX_PERMUTED_TASKS} "
                         f"(MAX_PERMUTED_TASKS): every task is a full copy of the dataset in memory")
    return stream, count


def _parse(name: str) -> StreamTask:
    """The :class:`StreamTask` called ``name`` (``"split_cifar10/3"``); ``ValueError`` saying why if there is none."""
    match = _TASK.match(name) if isinstance(name, str) else None
    stream = STREAMS.get(match["stream"]) if match else None
    if stream is None:
        raise ValueError(f"{name!r} is not a stream task; {_known()}")
    index = int(match["index"])
    if stream.kind == "split" and index >= stream.num_tasks:
        raise ValueError(f"{stream.name} has {stream.num_tasks} tasks, {stream.name}/0 … "
                         f"{stream.name}/{stream.num_tasks - 1}; got {name!r}")
    return StreamTask(stream, index)


def stream_task(name: str) -> StreamTask | None:
    """The :class:`StreamTask` called ``name`` (``"split_cifar10/3"``), or ``None`` if ``name`` is not
    a task of a stream (a dataset, a stream, anything else — :func:`expand_tasks` says what is wrong)."""
    try:
        return _parse(name)
    except ValueError:
        return None


class _UnknownName(ValueError):
    """A name that is neither a dataset nor a stream (as opposed to a malformed stream name)."""


def _expand(name: str) -> list[str]:
    """One entry of a task list as task names: a stream → its tasks; a dataset or one stream task → itself.

    :class:`_UnknownName` for anything else; a malformed stream name (``split_mnist/7``,
    ``split_mnist:3``, ``permuted_mnist:0``) is a ``ValueError`` saying what is wrong with it.
    """
    if not isinstance(name, str):
        raise _UnknownName(f"unknown task {name!r}; {_known()}")
    if name in DATASETS:
        return [name]
    found = _stream_and_count(name)
    if found is not None:
        stream, count = found
        return stream.task_names(count)
    task = _TASK.match(name)
    if task and task["stream"] in STREAMS:
        return [_parse(name).name]
    raise _UnknownName(f"unknown task {name!r}; {_known()}")


def expand_tasks(names: Sequence[str]) -> list[str]:
    """A task list with every stream replaced by its tasks, in order (``mnist,split_cifar10`` → 6 tasks).

    ``["split_mnist"]`` → ``["split_mnist/0", …, "split_mnist/4"]``; ``["permuted_mnist:3"]`` →
    ``["permuted_mnist/0", "permuted_mnist/1", "permuted_mnist/2"]``; a dataset or a single
    stream task stands for itself. Unknown names are reported together in one
    ``ValueError`` that lists the known datasets and streams; a malformed stream name is
    one saying what is wrong with it. Repeats are left to the caller
    (:func:`synapticnet.run.check_tasks`).
    """
    out, unknown = [], []
    for name in names:
        try:
            out.extend(_expand(name))
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
    task = stream_task(name)
    if task is not None:
        return task.base
    try:
        found = _stream_and_count(name) if isinstance(name, str) else None
    except ValueError:
        found = None
    return name if found is None else found[0].base


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
    task = _parse(name)
    arrays = {key: np.asarray(base_arrays[key]) for key in ARRAY_KEYS}
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
    return {key: out[key] for key in ARRAY_KEYS}
