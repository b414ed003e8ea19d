"""Averaged GEM (Chaudhry et al., 2019): GEM's idea with one constraint instead of many.

GEM solves a QP against one gradient per old task, each over that task's whole memory.
A-GEM keeps the same episodic memory (``memory_per_task`` examples per old task,
stratified by class) but draws a random sample of ``sample_size`` examples from the
*union* of all memories at every step (each example through its own task's head) and
computes one reference gradient ``g_ref`` of their average loss. Only the average old
loss must not increase, and then the projection has a closed form::

    g̃ = g                                  if ⟨g, g_ref⟩ ≥ 0
    g̃ = g − (⟨g, g_ref⟩ / ⟨g_ref, g_ref⟩) g_ref   otherwise

(remove from ``g`` its component against ``g_ref``). One extra forward/backward pass of
``sample_size`` examples per step, whatever the number of tasks. The projection acts on
the backbone (see :func:`synapticnet.methods.gem.shared_parameters`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..engine import task_seed
from .base import MemoryMixin, Method, head_loss, register
from .gem import flat_grad, shared_parameters, write_grad


def agem_project(g: Tensor, g_ref: Tensor) -> Tensor:
    """``g`` if it does not conflict with ``g_ref``, else ``g`` minus its projection on ``g_ref``."""
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return g
    return g - dot / torch.dot(g_ref, g_ref).clamp_min(1e-12) * g_ref


@register
class AGEM(MemoryMixin, Method):
    """Project each step's gradient against one averaged gradient of a random memory sample."""

    name = "agem"
    defaults = {"memory_per_task": 500, "sample_size": 64}
    ranges = {"memory_per_task": (1, 100_000), "sample_size": (1, 100_000)}
    swept = "memory_per_task"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.memory: list[tuple[Tensor, Tensor]] = []
        self.generator = torch.Generator()

    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.generator.manual_seed(task_seed(self.seed, i) + 11)

    def reference_gradient(self, model: nn.Module, params: list[nn.Parameter]) -> Tensor:
        """The gradient of the mean loss of ``sample_size`` examples drawn from all memories."""
        sizes = torch.tensor([len(my) for _, my in self.memory])
        pick = torch.randperm(int(sizes.sum()), generator=self.generator)[: int(self.hyper["sample_size"])]
        starts = torch.cumsum(sizes, 0) - sizes
        loss, count = 0.0, 0
        for k, (mx, my) in enumerate(self.memory):
            mine = pick[(pick >= starts[k]) & (pick < starts[k] + sizes[k])] - starts[k]
            if len(mine):
                feats = model.features(mx[mine].to(self.device))
                loss = loss + head_loss(self, model, feats, my[mine].to(self.device), k, k + 1, False, "sum")
                count += len(mine)
        grads = torch.autograd.grad(loss / count, params, allow_unused=True)
        return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])

    def after_backward(self, model: nn.Module, i: int) -> None:
        if not self.memory:
            return
        params = shared_parameters(model, i + 1, False)
        g = flat_grad(params)
        projected = agem_project(g, self.reference_gradient(model, params))
        if projected is not g:
            write_grad(params, projected)

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.store_memory(datasets, i)
