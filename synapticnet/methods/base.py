"""The common base of every continual-learning method, and the registry that names them.

A method is a small class with a name, its hyper-parameters' defaults and a few
*hooks* that the one training loop (:func:`synapticnet.engine.train_task`) and the
runner (:func:`synapticnet.baselines.run_baseline`) call at fixed points::

    model = method.build(tasks, classes_of_task_0)        # before task 0
    for each task i:
        method.next_task(model, data_i)                    # i > 0: a new head (or growth)
        method.before_task(model, datasets, i)             # e.g. take a frozen teacher
        train_task(...):  for every batch
            loss = method.loss(model, logits, y, x, i)      # CE + a penalty, replayed examples, …
            loss.backward()
            method.after_backward(model, i)                 # e.g. project the gradient (GEM)
            optimizer.step()
        method.after_task(model, datasets, i)              # e.g. store a memory, a Fisher

Every hook has a default that does nothing special (plain cross-entropy), so a method
overrides only what makes it different — fine-tuning overrides nothing. One object
lives for one run: whatever a method remembers across tasks (memories, Fishers) is an
attribute of that object, never global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import data as data_lib
from ..engine import TaskReport, train_task
from ..profiles import Profile
from .networks import MultiHeadCNN, build_shared

REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method known by its ``name`` (to ``run_baseline``, the CLI, sweeps).

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


class Method:
    """Base class: plain cross-entropy on the newest head, one new head per task.

    Subclasses set ``name``, ``defaults`` (every hyper-parameter and its default; no
    other keyword is accepted) and ``swept`` (the one a validation sweep tunes), and
    override hooks. ``shared_network`` says the model is the shared
    :class:`~synapticnet.methods.networks.MultiHeadCNN` of SynapticNet's final width.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    swept: ClassVar[str | None] = None
    shared_network: ClassVar[bool] = True

    def __init__(self, profile: Profile, device: torch.device | str = "cpu", seed: int = 0, **hyper: Any) -> None:
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name} has no hyper-parameter(s) {sorted(unknown)}; "
                             f"it takes {sorted(self.defaults)}")
        self.profile, self.device, self.seed = profile, device, seed
        self.hyper: dict[str, Any] = {**self.defaults, **hyper}

    # ---- the hooks -------------------------------------------------------------------
    def build(self, tasks: Sequence[str], first_classes: int) -> nn.Module:
        """The network before task 0 (one head). Default: the shared multi-head CNN."""
        return build_shared(self.profile, tasks, first_classes)

    def next_task(self, model: nn.Module, data) -> None:
        """Make room for a new task. Default: one new output head."""
        model.add_head(data.num_classes)

    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        """Called once before task ``i`` trains (teachers, unfreezing, …)."""

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, i: int) -> Tensor:
        """The training loss of one batch of task ``i`` (``logits`` from its head)."""
        return self.ce(logits, y)

    def after_backward(self, model: nn.Module, i: int) -> None:
        """Called after ``loss.backward()``, before the optimiser step: edit ``p.grad`` here."""

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        """Called once task ``i`` is learned (store a memory, a Fisher, refreeze, …)."""

    # ---- helpers ---------------------------------------------------------------------
    def ce(self, logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        """Cross-entropy with the profile's label smoothing."""
        return F.cross_entropy(logits, y, label_smoothing=self.profile.label_smoothing, reduction=reduction)

    def trainee(self, model: nn.Module) -> nn.Module:
        """The module ``train_task`` trains (a wrapper can switch the gradient mask off)."""
        return model

    def fit(self, model: nn.Module, datasets: list, i: int, progress: bool = False) -> TaskReport:
        """``before_task`` then the engine's loop over task ``i`` with this method's hooks."""
        self.before_task(model, datasets, i)
        return train_task(self.trainee(model), datasets[i], self.profile, device=self.device, progress=progress,
                          loss_fn=lambda logits, y, x: self.loss(model, logits, y, x, i),
                          after_backward=lambda: self.after_backward(model, i))


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


@torch.no_grad()
def class_incremental_accuracy(model: nn.Module, datasets: Sequence, device: torch.device | str = "cpu",
                               split: str = "test", batch_size: int = 512) -> float:
    """Accuracy without the task identity: argmax over the concatenated heads of *all* tasks.

    An example of task ``t`` with label ``y`` counts as correct only when the winning
    output is class ``y`` of head ``t`` (task and class both right). Pooled over every
    task's ``split`` (each example weighs the same). Works for any ``model(x, task_id=k)``.
    """
    was_training = model.training
    model.eval()
    offsets = np.concatenate([[0], np.cumsum([d.num_classes for d in datasets])[:-1]])
    correct = total = 0
    for t, data in enumerate(datasets):
        for x, y in data.eval_batches(split, batch_size):
            x = x.to(device)
            logits = torch.cat([model(x, task_id=k) for k in range(len(datasets))], dim=1)
            correct += (logits.argmax(1).cpu() == y + int(offsets[t])).sum().item()
            total += y.numel()
    model.train(was_training)
    return correct / max(total, 1)
