"""Gradient Episodic Memory (Lopez-Paz & Ranzato, 2017): never step uphill on an old task.

Like replay, GEM keeps an episodic memory of ``memory_per_task`` examples per old task
(stratified by class). It does not *train* on them: at every step it computes, for each
old task ``k``, the gradient ``g_k`` of that task's loss on its whole memory (through its
own head), and checks the new task's gradient ``g`` against them. If a step along ``g``
would increase some old loss (``⟨g, g_k⟩ < 0``), ``g`` is replaced by the closest vector
``g̃`` that increases none of them::

    minimise ½‖g̃ − g‖²   subject to   G g̃ ≥ 0      (G: one row g_k per old task)

With thousands of weights and a handful of tasks this is solved in its *dual*, a QP in
one variable per old task: ``min_v ½ vᵀGGᵀv + gᵀGᵀv`` with ``v ≥ 0``, then ``g̃ = g + Gᵀv``
(``quadprog``). ``margin`` is the reference code's ``memory_strength`` (Avalanche's too):
it asks for ``v ≥ margin``, pushing ``g̃`` a little further into the safe cone.

The projection acts on the *shared* parameters (the backbone; in class-incremental
mode also every head seen so far, as they share one softmax). The new task's own head
keeps its gradient. Cost: one forward/backward pass over every old task's whole memory
per step — GEM is several times slower than replay (A-GEM is the cheap variant). The
memory passes run in training mode, as in the reference code, so BatchNorm's running
statistics also see the old tasks' examples.
``class_incremental`` is as in :mod:`synapticnet.methods.replay`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .base import ClassIncrementalMixin, MemoryMixin, Method, head_loss, register


def gem_project(g: Tensor, G: Tensor, margin: float = 0.0, eps: float = 1e-6) -> Tensor:
    """The GEM projection of gradient ``g`` (shape ``[p]``) against memory gradients ``G`` (``[k, p]``).

    Returns ``g`` itself when no constraint is violated (``G g ≥ 0``), else ``g + Gᵀv`` with
    ``v`` the solution of the dual QP (``v ≥ margin``). ``eps`` × the largest ``‖g_k‖²`` is
    added to ``GGᵀ``'s diagonal so that nearly parallel memory gradients stay solvable.
    """
    try:  # imported here: only GEM needs it
        import quadprog
    except ImportError:
        raise ImportError("GEM solves its projection with quadprog: pip install 'quadprog>=0.1.11'") from None

    if bool((G @ g >= 0).all()):
        return g
    Gd, gd = G.detach().double().cpu().numpy(), g.detach().double().cpu().numpy()
    P = Gd @ Gd.T
    P = 0.5 * (P + P.T) + np.eye(len(P)) * eps * max(float(np.diag(P).max()), 1e-12)
    # quadprog.solve_qp(P, a, C, b) minimises ½ vᵀPv − aᵀv subject to Cᵀv ≥ b
    v = quadprog.solve_qp(P, -(Gd @ gd), np.eye(len(P)), np.full(len(P), float(margin)))[0]
    return torch.from_numpy(gd + Gd.T @ v).to(g.dtype).to(g.device)


def shared_parameters(model: nn.Module, seen: int, class_incremental: bool) -> list[nn.Parameter]:
    """What GEM/A-GEM project: the backbone, plus the heads of the seen tasks in class-incremental mode."""
    params = model.backbone_parameters()
    if class_incremental:
        params += [p for k in range(seen) for p in model.heads[k].parameters()]
    return params


def flat_grad(params: list[nn.Parameter]) -> Tensor:
    """All ``p.grad`` as one vector (zeros where a parameter has none)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])


def write_grad(params: list[nn.Parameter], flat: Tensor) -> None:
    """Write one vector back into ``p.grad``, parameter by parameter."""
    start = 0
    for p in params:
        p.grad = flat[start:start + p.numel()].view_as(p).clone()
        start += p.numel()


@register
class GEM(ClassIncrementalMixin, MemoryMixin, Method):
    """Project every step's gradient so that no old task's memory loss increases."""

    name = "gem"
    defaults = {"memory_per_task": 200, "margin": 0.5, "class_incremental": False}
    ranges = {"memory_per_task": (1, 100_000), "margin": (0.0, 100.0)}
    swept = "memory_per_task"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.memory: list[tuple[Tensor, Tensor]] = []
        self.projections = 0  # steps whose gradient had to be projected (a diagnostic)

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, i: int) -> Tensor:
        if not self.hyper["class_incremental"]:
            return self.ce(logits, y)
        return head_loss(self, model, model.last_features, y, i, i + 1, True)

    def memory_gradients(self, model: nn.Module, params: list[nn.Parameter], i: int) -> Tensor:
        """One row per old task: the gradient of its loss on its whole memory."""
        ci, rows = self.hyper["class_incremental"], []
        for k, (mx, my) in enumerate(self.memory):
            feats = model.features(mx.to(self.device))
            loss = head_loss(self, model, feats, my.to(self.device), k, i + 1, ci)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                   for g, p in zip(grads, params)]))
        return torch.stack(rows)

    def after_backward(self, model: nn.Module, i: int) -> None:
        if not self.memory:
            return
        params = shared_parameters(model, i + 1, self.hyper["class_incremental"])
        g = flat_grad(params)
        G = self.memory_gradients(model, params, i)
        projected = gem_project(g, G, float(self.hyper["margin"]))
        if projected is not g:
            self.projections += 1
            write_grad(params, projected)

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.store_memory(datasets, i)
