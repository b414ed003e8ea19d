"""SynapticNet with distillation: old units unfrozen, kept in place by LwF's loss instead.

The option studied in notebook 05 (:mod:`synapticnet.experiments.studies`): SynapticNet grows as
usual, but while task ``t`` trains the weights of every old block and head are
trainable again, and LwF's distillation loss (see :mod:`synapticnet.methods.lwf`) pulls
the old heads' outputs towards a frozen copy's. This gives up the guarantee (old
outputs may now change) in exchange for possible backward transfer. After the task,
everything old is frozen again.
"""

from __future__ import annotations

from torch import nn

from ..model import MultiTaskConvSynapticNet
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


def refreeze_synapticnet(model: MultiTaskConvSynapticNet) -> None:
    """Freeze every task but the newest again: the state ``grow()`` leaves behind."""
    newest = model.trainable_task
    for layer in model.task_layers:
        for k, block in enumerate(layer.blocks):
            if k < newest:
                block.freeze()
    for k in range(newest):
        model.heads[k].requires_grad_(False)
        model.heads[k].weight.grad = model.heads[k].bias.grad = None
        if hasattr(model.head_adapters[k], "frozen"):
            model.head_adapters[k].frozen = True


@register
class SynapticNetDistill(SynapticNet):
    """Grow like SynapticNet; train old units too, under LwF's distillation loss."""

    name = "synapticnet_distill"
    defaults = LwF.defaults
    ranges = LwF.ranges
    swept = "lwf_lambda"
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
