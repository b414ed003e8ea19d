"""The common base of every continual-learning method, and the registry that names them.

A method is a small class with a name, its hyper-parameters (defaults, types and ranges)
and a few *hooks* that the one runner (:func:`synapticnet.run.run`) and the one training
loop (:func:`synapticnet.engine.train_task`) call at fixed points::

    model = method.build(tasks, classes_of_task_0)          # before task 0
    for each task i:
        method.next_task(model, data_i)                      # i > 0: a new head (or growth)
        method.before_task(model, datasets, i)               # e.g. take a frozen teacher
        train_task(model, data_i, hooks=method):  for every batch
            loss = method.loss(model, logits, y, x, i)        # CE + a penalty, replayed examples, …
            loss.backward()
            method.after_backward(model, i)                   # e.g. a gradient mask, GEM's projection
            optimizer.step()
          after every epoch:  method.after_epoch(...)         # e.g. SynapticNet's growth trigger
          after the last one: method.after_training(...)      # e.g. SynapticNet's compaction
        method.after_task(model, datasets, i)                # e.g. store a memory, a Fisher
    method.final_metrics(model, datasets, split)             # e.g. accuracy without the task id

Every hook has a default that does nothing special (plain cross-entropy), so a method
overrides only what makes it different — fine-tuning overrides nothing. One object
lives for one run: whatever a method remembers across tasks (memories, Fishers) is an
attribute of that object, saved with the run's checkpoint through :meth:`Method.state_dict`
so that an interrupted run resumes exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from .. import data as data_lib
from ..checks import yes_no
from ..engine import PlainHooks, TaskReport, evaluating, task_seed, train_task
from ..profiles import Profile
from .networks import MultiHeadCNN, build_shared

REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method known by its ``name`` (to ``run``, the CLI, sweeps).

    Redefining the same class (re-running a notebook cell) replaces it; another class
    under a name already taken is an error.
    """
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a class attribute name = '...' to be registered")
    old = REGISTRY.get(cls.name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"method name {cls.name!r} is already taken by {old.__module__}.{old.__qualname__}")
    REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``; a one-line ``ValueError`` listing the known names if none is."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


MAX_INTEGER = 10**18  # larger integers are no hyper-parameter (and a 400-digit one overflows a float)


def parse_hyper(method: str, key: str, value: Any, default: Any, bounds: tuple[float, float] | None) -> Any:
    """Check one hyper-parameter against its default's type and its allowed range; return it parsed.

    A boolean accepts ``True``/``False`` or the words true/false/yes/no/1/0 (any case) and
    nothing else; an integer accepts whole numbers only (``2.5`` is refused, not rounded);
    a float any finite number. Anything else is a one-line ``ValueError`` naming the
    method, the parameter, the value and what is allowed.
    """
    where = f"{method}: hyper-parameter {key}={value!r}"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        parsed = yes_no(value) if isinstance(value, (str, int)) else None
        if parsed is not None:
            return parsed
        raise ValueError(f"{where} must be a boolean: true/false, yes/no or 1/0")
    kind = "a number" if isinstance(default, float) else "an integer"
    if isinstance(value, str):
        try:
            value = float(value) if isinstance(default, float) else int(value)
        except ValueError:
            raise ValueError(f"{where} must be {kind}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where} must be {kind}")
    if isinstance(value, (int, np.integer)) and abs(int(value)) > MAX_INTEGER:  # before float(): no OverflowError
        allowed = f"allowed {bounds[0]} … {bounds[1]}" if bounds is not None else f"at most {MAX_INTEGER:.0e} in size"
        raise ValueError(f"{where[:80]}{'…' if len(where) > 80 else ''} is out of range: {allowed}")
    if not math.isfinite(value):
        raise ValueError(f"{where} must be {'a finite number' if isinstance(default, float) else kind}")
    if isinstance(default, int):
        if float(value) != int(value):
            raise ValueError(f"{where} must be an integer")
        value = int(value)
    else:
        value = float(value)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{where} is out of range: allowed {bounds[0]} … {bounds[1]}")
    return value


class Method(PlainHooks):
    """Base class: plain cross-entropy on the newest head, one new head per task.

    Subclasses set ``name``, ``defaults`` (every hyper-parameter and its default; its type
    is the default's type, and no other keyword is accepted), ``ranges`` (allowed
    ``(low, high)`` per hyper-parameter) and ``swept`` (the one a validation sweep tunes),
    and override hooks. ``shared_network`` says the model is the shared
    :class:`~synapticnet.methods.networks.MultiHeadCNN` of SynapticNet's final width;
    ``joint`` that the method trains all tasks in one stage (see ``stages``).
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    ranges: ClassVar[dict[str, tuple[float, float]]] = {}
    swept: ClassVar[str | None] = None
    shared_network: ClassVar[bool] = True
    joint: ClassVar[bool] = False
    # True if training a task never changes what an earlier one computes: every saved accuracy of a finished
    # task must then equal the restored network's, which a resumed run checks.
    frozen_past: ClassVar[bool] = False
    # The hyper-parameters that scale a method's own loss term: named when training diverges.
    loss_weights: ClassVar[tuple[str, ...]] = ()
    # True if the method builds profile.whiten's per-task whitening layer (only SynapticNet's own columns do).
    whitens: ClassVar[bool] = False

    def __init__(self, profile: Profile, device: torch.device | str = "cpu", seed: int = 0, **hyper: Any) -> None:
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name} has no hyper-parameter(s) {sorted(unknown)}; "
                             f"it takes {sorted(self.defaults) or 'none'}")
        if profile.whiten and not self.whitens:
            raise ValueError(f"profile {profile.name!r} asks for a whitening first layer (whiten=True), which only "
                             f"SynapticNet's own columns have; {self.name} would train without it: use a profile "
                             "with whiten=False")
        super().__init__(profile)
        self.device, self.seed = device, seed
        self.hyper: dict[str, Any] = {k: parse_hyper(self.name, k, hyper.get(k, d), d, self.ranges.get(k))
                                      for k, d in self.defaults.items()}

    # ---- the network ---------------------------------------------------------------------
    def build(self, tasks: Sequence[str], first_classes: int) -> nn.Module:
        """The network before task 0 (one head). Default: the shared multi-head CNN."""
        return build_shared(self.profile, tasks, first_classes)

    def next_task(self, model: nn.Module, data) -> None:
        """Make room for a new task. Default: one new output head."""
        model.add_head(data.num_classes)

    def model_checkpoint(self, model: nn.Module) -> dict[str, Any]:
        """What the run's checkpoint keeps of the network (default: its weights)."""
        return {"state_dict": model.state_dict()}

    def restore(self, checkpoint: dict[str, Any], datasets: list, finished: int) -> nn.Module:
        """The network after ``finished`` tasks, from :meth:`model_checkpoint`: rebuilt the way the run
        built it (``build`` + ``next_task``), then its weights loaded."""
        model = self.build([d.name for d in datasets], datasets[0].num_classes)
        for data in datasets[1:finished]:
            self.next_task(model, data)
        model.load_state_dict(checkpoint["state_dict"])
        return model

    # ---- what the method remembers between tasks --------------------------------------------
    def divergence_hint(self) -> str:
        """Name the method's own loss weights (``loss_weights``) when they are in play, then the learning rate."""
        weights = [f"{k} = {self.hyper[k]:g}" for k in self.loss_weights if self.hyper.get(k)]
        if not weights:
            return super().divergence_hint()
        return (f"{self.name} trains with {', '.join(weights)}: try a smaller {' or '.join(self.loss_weights)} "
                f"(or a lower learning rate than {self.profile.lr}).")

    def state_dict(self) -> dict[str, Any]:
        """What this method remembers across tasks (memories, Fishers), for the run's checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned (when a run resumes)."""

    # ---- the hooks ---------------------------------------------------------------------------
    def stages(self, num_tasks: int) -> list[list[int]]:
        """How the runner groups tasks: one after another (default), or all at once (joint)."""
        return [list(range(num_tasks))] if self.joint else [[i] for i in range(num_tasks)]

    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        """Called once before task ``i`` trains (teachers, unfreezing, …)."""

    # loss, after_backward, after_epoch, after_training: the engine's PlainHooks (plain cross-entropy, no-ops)

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        """Called once task ``i`` is learned (store a memory, a Fisher, refreeze, …)."""

    def final_metrics(self, model: nn.Module, datasets: list, split: str) -> dict[str, Any]:
        """Extra results after the last task (default: none)."""
        return {}

    def fit(self, model: nn.Module, datasets: list, tasks: list[int], progress: bool = False) -> TaskReport:
        """Train the tasks of one stage: ``before_task`` then the engine's loop with this method's hooks."""
        (i,) = tasks
        self.before_task(model, datasets, i)
        return train_task(model, datasets[i], self.profile, device=self.device, progress=progress, hooks=self)


# --------------------------------------------------------------------------------------
# Pieces several methods share
# --------------------------------------------------------------------------------------
def stratified_memory(data, per_task: int, seed: int) -> tuple[Tensor, Tensor]:
    """``per_task`` training examples of one task, equal per class (as far as possible), normalised."""
    images, labels = data.raw("train")
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    counts = data_lib.balanced_counts(np.bincount(y, minlength=data.num_classes), min(per_task, len(y)), rng)
    index = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c, n in enumerate(counts)])
    index = torch.from_numpy(np.sort(index))
    return data._finish(images[index]), labels[index].clone()  # the task's own normalisation


class MemoryMixin:
    """An episodic memory of ``memory_per_task`` stratified examples per finished task (replay, GEM, A-GEM)."""

    memory: list[tuple[Tensor, Tensor]]

    def store_memory(self, datasets: list, i: int) -> None:
        if i + 1 < len(datasets):  # the last task's memory would never be used
            self.memory.append(stratified_memory(datasets[i], int(self.hyper["memory_per_task"]),
                                                 task_seed(self.seed, i)))

    def state_dict(self) -> dict[str, Any]:
        return {"memory": [(x.clone(), y.clone()) for x, y in self.memory]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory = [(x, y) for x, y in state["memory"]]


def class_offsets(model: nn.Module, tasks: int) -> list[int]:
    """Where each task's classes start in the concatenated output of heads ``0 … tasks-1``."""
    sizes = [model.heads[k].out_features for k in range(tasks)]
    return [int(s) for s in np.concatenate([[0], np.cumsum(sizes)[:-1]])] if sizes else []


def all_head_logits(model: MultiHeadCNN, features: Tensor, tasks: int) -> Tensor:
    """The logits of heads ``0 … tasks-1`` side by side: one output over every class seen so far.

    This is the *class-incremental* view: the network must tell tasks apart as well as
    classes, because nothing tells it at test time which head to read.
    """
    return torch.cat([model.heads[k](features) for k in range(tasks)], dim=1)


def head_loss(method: Method, model: MultiHeadCNN, features: Tensor, y: Tensor, task: int, seen: int,
              class_incremental: bool, reduction: str = "mean") -> Tensor:
    """Cross-entropy of examples of ``task``: through its own head (task-incremental) or over
    the concatenated heads of the ``seen`` tasks with labels shifted by the earlier tasks'
    classes (class-incremental)."""
    if not class_incremental:
        return method.ce(model.heads[task](features), y, reduction)
    return method.ce(all_head_logits(model, features, seen), y + class_offsets(model, seen)[task], reduction)


def class_incremental_accuracy(model: nn.Module, datasets: Sequence, device: torch.device | str = "cpu",
                               split: str = "test", batch_size: int = 512) -> float:
    """Accuracy without the task identity: argmax over the concatenated heads of *all* tasks.

    An example of task ``t`` with label ``y`` counts as correct only when the winning
    output is class ``y`` of head ``t`` (task and class both right). Pooled over every
    task's ``split`` (each example weighs the same). Works for any ``model(x, task_id=k)``; a
    shared-body :class:`MultiHeadCNN` computes its features once per batch and reads every head
    from them (the same logits as one forward pass per head, for a fraction of the work).
    """
    offsets = np.concatenate([[0], np.cumsum([d.num_classes for d in datasets])[:-1]])
    correct = total = 0
    with evaluating(model):
        for t, data in enumerate(datasets):
            for x, y in data.eval_batches(split, batch_size):
                x = x.to(device)
                if isinstance(model, MultiHeadCNN):
                    logits = all_head_logits(model, model.features(x), len(datasets))
                else:
                    logits = torch.cat([model(x, task_id=k) for k in range(len(datasets))], dim=1)
                correct += (logits.argmax(1).cpu() == y + int(offsets[t])).sum().item()
                total += y.numel()
    return correct / max(total, 1)


class ClassIncrementalMixin:
    """``class_incremental=True``: trained over the concatenated heads, and scored without the task id too."""

    def final_metrics(self, model: nn.Module, datasets: list, split: str) -> dict[str, Any]:
        if not self.hyper["class_incremental"]:
            return {}
        return {"class_incremental_accuracy": class_incremental_accuracy(model, datasets, self.device, split)}
