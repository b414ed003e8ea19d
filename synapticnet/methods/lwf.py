"""Learning without Forgetting (Li & Hoiem, 2016): the old network teaches the new one.

Before task ``t`` a frozen copy of the network is taken. While ``t`` trains, the copy's
old heads give soft outputs on the *new* task's images, and the student is asked to
keep producing them (knowledge distillation, Hinton et al.)::

    loss = CE + λ · Σ_old T² · KL(softmax(teacher/T) ‖ softmax(student/T))

No old data is kept: only a copy of the network, during training.

**Setting λ from other code.** The ``T²`` factor (which keeps the distillation
gradients' scale independent of ``T``) is inside this loss. Avalanche's ``LwF`` plugin
computes CE + α·KL *without* ``T²``, so its ``alpha = λ · T²``: λ = 0.3 at T = 2 here
is Avalanche ``alpha = 1.2``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Method, register
from .networks import MultiHeadCNN


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``, averaged over the batch (Hinton et al.)."""
    T = float(temperature)
    return T * T * F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                            reduction="batchmean", log_target=True)


def frozen_teacher(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` that computes what the student computes, minus the noise.

    It stays in train mode (BatchNorm normalises with the batch's statistics, exactly as
    the student does while it trains) with dropout switched off. An eval-mode teacher
    would normalise the *new* task's images with the *old* task's running statistics —
    targets the student could only match by moving far away from the old solution.
    """
    teacher = copy.deepcopy(model).train()
    teacher.requires_grad_(False)
    for module in teacher.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    return teacher


def old_logits(model: nn.Module, x: Tensor, old_tasks: range, features: Tensor | None = None) -> list[Tensor]:
    """Logits of every old head on ``x``: one backbone pass for a MultiHeadCNN (or the
    ``features`` it just computed), one pass per task for a SynapticNet."""
    if isinstance(model, MultiHeadCNN):
        feats = model.features(x) if features is None else features
        return [model.heads[k](feats) for k in old_tasks]
    return [model(x, task_id=k) for k in old_tasks]


@register
class LwF(Method):
    """Distil the old heads' outputs (from a frozen copy) on the new task's images."""

    name = "lwf"
    defaults = {"lwf_lambda": 0.3, "temperature": 2.0}
    ranges = {"lwf_lambda": (0.0, 1e6), "temperature": (0.05, 100.0)}
    loss_weights = ("lwf_lambda",)
    swept = "lwf_lambda"

    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.teacher = frozen_teacher(model) if i > 0 else None

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, i: int) -> Tensor:
        if self.teacher is None:
            return self.ce(logits, y)
        with torch.no_grad():
            targets = old_logits(self.teacher, x, range(i))
        outputs = old_logits(model, x, range(i), getattr(model, "last_features", None))
        lam, T = float(self.hyper["lwf_lambda"]), float(self.hyper["temperature"])
        return self.ce(logits, y) + lam * sum(kd_loss(s, t, T) for s, t in zip(outputs, targets))

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.teacher = None  # the copy is needed only while a task trains
