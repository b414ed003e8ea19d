"""Experience replay: keep a few examples of every old task and keep training on them.

After each task, ``memory_per_task`` training examples (stratified by class) go into
an episodic memory. Every later training step adds one replayed batch — ``batch_size``
examples spread evenly over the old tasks — to the new task's batch, and every example,
new or replayed, weighs the same in the loss.

**Task- or class-incremental.** By default (``class_incremental=False``) each example is
classified by its own task's head: the task identity is given, as everywhere in this
project. With ``class_incremental=True`` every example is classified over the
*concatenated* heads of all tasks seen so far, its label shifted by the number of
classes of the earlier tasks — the harder setting where the network must also tell the
tasks apart (scored by :func:`synapticnet.methods.class_incremental_accuracy`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..engine import task_seed
from .base import ClassIncrementalMixin, MemoryMixin, Method, head_loss, register


@register
class Replay(ClassIncrementalMixin, MemoryMixin, Method):
    """Mix one replayed batch from a stratified per-task memory into every step."""

    name = "replay"
    defaults = {"memory_per_task": 200, "class_incremental": False}
    ranges = {"memory_per_task": (1, 100_000)}
    swept = "memory_per_task"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.memory: list[tuple[Tensor, Tensor]] = []  # (images, labels) of tasks 0 … i-1
        self.generator = torch.Generator()

    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.generator.manual_seed(task_seed(self.seed, i) + 7)

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, i: int) -> Tensor:
        ci = self.hyper["class_incremental"]
        seen = i + 1
        if not self.memory and not ci:
            return self.ce(logits, y)  # task 0: nothing to replay yet
        if ci:
            loss = head_loss(self, model, model.last_features, y, i, seen, True, "sum")
        else:  # the engine's logits come from head i
            loss = self.ce(logits, y) * y.numel()
        count = y.numel()
        per_task = max(1, self.profile.batch_size // max(len(self.memory), 1))
        for k, (mx, my) in enumerate(self.memory):
            pick = torch.randint(len(my), (min(per_task, len(my)),), generator=self.generator)
            yk = my[pick].to(self.device)
            loss = loss + head_loss(self, model, model.features(mx[pick].to(self.device)), yk, k, seen, ci, "sum")
            count += yk.numel()
        return loss / count  # every example, new or replayed, weighs the same

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.store_memory(datasets, i)
