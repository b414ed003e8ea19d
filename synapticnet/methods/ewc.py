"""Elastic Weight Consolidation (Kirkpatrick et al., 2017): remember which weights mattered.

After each task ``k`` the method stores an anchor ``θ*_k`` (the backbone's weights) and
a diagonal Fisher ``F_k`` (how much the loss of task ``k`` cares about each weight).
Later tasks train with a quadratic penalty that makes important weights stiff::

    loss = CE + λ/2 · Σ_k Σ_i F_k,i (θ_i − θ*_k,i)²

summed over *all* previous tasks (one Fisher and one anchor per task, not the online
variant). ``F_k`` is the *empirical* Fisher on ``fisher_samples`` training examples: the
mean squared per-example gradient of the cross-entropy with the true labels.

**Setting λ from other code.** Conventions differ by large factors. Avalanche's
``EWCPlugin`` penalty has no ½ and its importance (squared *batch* gradients) measured
0.0162× this per-example Fisher on notebook 04's stream: Avalanche ``ewc_lambda ≈ 3,100``
matches λ = 100 here (3,100 × 0.0162 ≈ 50 = 100 / 2). Always convert through the
penalty's actual formula, not the name λ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine import evaluating
from .base import Method, register
from .networks import MultiHeadCNN


def empirical_fisher(model: MultiHeadCNN, data, task_id: int, device, samples: int = 512,
                     batch_size: int = 8) -> list[Tensor]:
    """Diagonal empirical Fisher of the backbone on ``samples`` training examples of a task.

    The mean over examples of the squared per-example gradient of the cross-entropy
    with the *true* label (eval mode: no dropout, BatchNorm with running statistics).
    Per-example gradients come from ``torch.func`` (``vmap`` over ``batch_size``
    examples at a time). Squaring a *batch* gradient instead would be much cheaper but
    wrong: at convergence the batch-mean gradient is close to zero, so that "Fisher"
    vanishes exactly where the penalty is needed.
    """
    from torch.func import functional_call, grad, vmap

    body_params = {n: p.detach() for n, p in model.body.named_parameters()}
    body_buffers = dict(model.body.named_buffers())
    head = model.heads[task_id]
    head_params = {n: p.detach() for n, p in head.named_parameters()}

    def example_loss(params, x, y):
        feats = functional_call(model.body, (params, body_buffers), (x[None],))
        return F.cross_entropy(functional_call(head, head_params, (feats,)), y[None])

    per_example = vmap(grad(example_loss), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(p) for n, p in body_params.items()}
    with evaluating(model, no_grad=False):  # per-example gradients: no dropout, running BatchNorm statistics
        seen = 0
        for x, y in data.eval_batches("train", batch_size):
            x, y = x[: samples - seen].to(device), y[: samples - seen].to(device)
            for n, g in per_example(body_params, x, y).items():
                fisher[n] += (g**2).sum(0)
            seen += y.numel()
            if seen >= samples:
                break
    return [fisher[n] / max(seen, 1) for n, _ in model.body.named_parameters()]


@register
class EWC(Method):
    """Quadratic penalty towards every old task's weights, weighted by its Fisher."""

    name = "ewc"
    defaults = {"ewc_lambda": 100.0, "fisher_samples": 512, "fisher_batch": 8}
    ranges = {"ewc_lambda": (0.0, 1e12), "fisher_samples": (1, 1_000_000), "fisher_batch": (1, 4096)}
    loss_weights = ("ewc_lambda",)
    swept = "ewc_lambda"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.anchors: list[tuple[list[Tensor], list[Tensor]]] = []  # (Fisher, weights) per old task

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, i: int) -> Tensor:
        params = model.backbone_parameters()
        penalty = sum((f * (p - a) ** 2).sum() for fisher, anchor in self.anchors
                      for f, p, a in zip(fisher, params, anchor))
        return self.ce(logits, y) + 0.5 * float(self.hyper["ewc_lambda"]) * penalty

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        fisher = empirical_fisher(model, datasets[i], i, self.device, int(self.hyper["fisher_samples"]),
                                  int(self.hyper["fisher_batch"]))
        self.anchors.append((fisher, [p.detach().clone() for p in model.backbone_parameters()]))

    def state_dict(self) -> dict:
        return {"anchors": self.anchors}

    def load_state_dict(self, state: dict) -> None:
        self.anchors = [(list(fisher), list(anchor)) for fisher, anchor in state["anchors"]]
