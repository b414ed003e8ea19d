"""SynapticNet with distillation: old units unfrozen, kept in place by LwF's loss instead.

The option studied in notebook 05 (:mod:`synapticnet.experiments.studies`): SynapticNet grows as
usual, but while task ``t`` trains the weights of every old block and head are
trainable again, and LwF's distillation loss (see :mod:`synapticnet.methods.lwf`) pulls
the old heads' outputs towards a frozen copy's. This gives up the guarantee (old
outputs may now change) in exchange for possible backward transfer. After the task,
everything old is frozen again.

**Old units learn slowly** (``old_lr_factor``, default 0.1: their gradients are scaled by it, so
with SGD they move at a tenth of the learning rate; weight decay still acts at the full rate).
Their BatchNorm layers keep normalising with the *old* task's statistics, so nothing rescales
their outputs while their weights change. In one early run at the full learning rate
(notebook 05's budget) the old units of MNIST → Fashion-MNIST → CIFAR-10 blew up during the
CIFAR-10 task and the earlier tasks fell to about chance; with the factor 0.1 they did not. That
run was not kept as a result, and 0.1 is the only factor tried: treat it as a safe default, not a
tuned one.
"""

from __future__ import annotations

from torch import nn

from ..guarded import MultiTaskConvSynapticNet
from .base import register
from .lwf import LwF
from .synapticnet import SynapticNet


def unfreeze_synapticnet(model: MultiTaskConvSynapticNet) -> None:
    """Make the weights of every old block and head trainable again.

    This gives up SynapticNet's guarantee: old tasks' outputs may now change. The old
    blocks' BatchNorm *statistics* stay frozen (their ``frozen`` flag is kept): they
    describe the old task's data, and an old task is always evaluated with them.
    """
    for layer in model.task_layers:
        for block in layer.blocks:
            block.requires_grad_(True)
    for head in model.heads:
        head.requires_grad_(True)


def old_blocks(model: MultiTaskConvSynapticNet) -> list[nn.Module]:
    """Every block of every task but the newest, in every layer."""
    newest = model.trainable_task
    return [block for layer in model.task_layers for k, block in enumerate(layer.blocks) if k < newest]


def refreeze_synapticnet(model: MultiTaskConvSynapticNet) -> None:
    """Freeze every task but the newest again: the state ``grow()`` leaves behind."""
    for block in old_blocks(model):
        block.freeze()
    for k in range(model.trainable_task):
        model.heads[k].requires_grad_(False)
        model.heads[k].weight.grad = model.heads[k].bias.grad = None
        if hasattr(model.head_adapters[k], "frozen"):
            model.head_adapters[k].frozen = True


def slow_down_old_units(model: MultiTaskConvSynapticNet, factor: float) -> None:
    """Scale the gradients of every old block and head by ``factor`` (the newest task's are left alone)."""
    for module in old_blocks(model) + list(model.heads)[:model.trainable_task]:
        for p in module.parameters():
            if p.grad is not None:
                p.grad.mul_(factor)


@register
class SynapticNetDistill(SynapticNet):
    """Grow like SynapticNet; train old units too, under LwF's distillation loss."""

    name = "synapticnet_distill"
    defaults = {**LwF.defaults, "old_lr_factor": 0.1}
    ranges = {**LwF.ranges, "old_lr_factor": (0.0, 1.0)}
    swept = "lwf_lambda"
    loss_weights = ("lwf_lambda",)
    frozen_past = False  # old units train again under distillation
    fits_task_statistics = False  # see after_task
    loss = LwF.loss

    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        super().before_task(model, datasets, i)
        LwF.before_task(self, model, datasets, i)
        if i > 0:
            unfreeze_synapticnet(model)

    # While a teacher distils (tasks after the first), old units train too: no gradient mask, and
    # neither growth trigger nor compaction (they assume old units are frozen). Task 0 trains as SynapticNet.
    def after_backward(self, model: nn.Module, i: int) -> None:
        if self.teacher is None:
            super().after_backward(model, i)
        else:
            slow_down_old_units(model, float(self.hyper["old_lr_factor"]))

    def after_epoch(self, model, data, epoch, epochs, report, log) -> bool:
        return self.teacher is None and super().after_epoch(model, data, epoch, epochs, report, log)

    def after_training(self, model, data, report, progress) -> None:
        if self.teacher is None:
            super().after_training(model, data, report, progress)

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        self.teacher = None
        refreeze_synapticnet(model)  # no task statistics: old units move while later tasks train

    def final_metrics(self, model: nn.Module, datasets: list, split: str) -> dict:
        return {}
