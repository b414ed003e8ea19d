"""Synaptic pruning: which of the newest task's units matter, and how many of them to keep.

``MultiTaskConvSynapticNet.compact(conv_channels, hidden)`` cuts the newest task down to
the given number of units per layer; this module decides *which* units stay:

0. :func:`scale_penalty` (optional, while the task trains) makes those scores informative;
1. :func:`unit_importance` scores every unit of the newest task (higher = more important) from its
   weights; :func:`ablation_importance` measures it instead: the rise in validation loss when the
   unit alone is silenced (one validation pass per unit: slower, but it sees what the unit does);
2. :func:`units_to_keep` checks the sizes asked for and picks, per layer, the
   highest-scoring units (kept in their original order);
3. :func:`compaction_sizes` turns "keep a fraction of every layer" into those sizes.

Everything here reads the model through its public API (``task_blocks``, ``heads``, …)
and changes nothing; the surgery itself is the model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_count

# In type hints: the model (a MultiTaskConvSynapticNet). synapticnet.guarded asks this module inside compact().
MultiTaskConvSynapticNet = nn.Module

Scores = tuple[Sequence[Tensor], Sequence[Tensor]]  # (one tensor per conv layer, one per dense layer)


def unit_importance(model: "MultiTaskConvSynapticNet") -> tuple[list[Tensor], list[Tensor]]:
    """How much each unit of the newest task matters: ``(per conv layer, per dense layer)``, float32 on the CPU.

    * A **filter** is as important as the scale its BatchNorm gives it, ``|γ|``
      (network slimming, Liu et al. 2017): BatchNorm standardises the filter's
      output, so ``γ`` alone decides how loudly the filter speaks to the next layer.
      (Without BatchNorm: the L2 norm of the filter's weights.)
    * A **neuron** of a dense layer has no BatchNorm; its importance is the product of
      the L2 norms of its incoming and its outgoing weights (into the task's next dense
      layer, or into its head) — a neuron that hears little or says little matters little.
    """
    task = model.trainable_task
    convs, denses = model.task_blocks(task)
    conv = []
    for block in convs:
        norm = block.norm.weight if block.norm is not None else block.unit.weight.flatten(1).norm(dim=1)
        conv.append(norm.detach().abs().float().cpu())
    dense = []
    readers = [block.unit.weight for block in denses[1:]] + [model.heads[task].weight]
    for block, reader in zip(denses, readers):
        incoming = block.unit.weight.detach().norm(dim=1)
        first = reader.shape[1] - block.out_units  # a reader's inputs: [reused older tasks' units, this task's own]
        outgoing = reader.detach()[:, first:first + block.out_units].norm(dim=0)
        dense.append((incoming * outgoing).float().cpu())
    return conv, dense


@torch.no_grad()
def ablation_importance(model: "MultiTaskConvSynapticNet", data, split: str = "val", max_images: int | None = 512,
                        batch_size: int = 512) -> tuple[list[Tensor], list[Tensor]]:
    """How much each unit of the newest task matters, *measured*: ``(per conv layer, per dense layer)``.

    A unit's score is how much the task's mean cross-entropy on ``split`` (the first
    ``max_images`` images; ``None``: all) rises when that unit alone is silenced — its output
    set to zero after its BatchNorm, so after the ReLU it sends nothing on. Unlike
    :func:`unit_importance`, which reads the weights and trusts them to say what a unit does,
    this asks the network. The price is one forward pass over the images per unit (a task of
    176 units: 177 passes). Use it as ``model.compact(*sizes, scores=ablation_importance(model, data))``.
    The model is left as it was (in eval mode during the passes, then in its former mode).
    """
    task = model.trainable_task
    x, y = data.tensors(split)
    if max_images is not None:
        x, y = x[:max_images], y[:max_images]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def loss() -> float:
        total = sum(F.cross_entropy(model(x[i:i + batch_size].to(device), task_id=task).float(),
                                    y[i:i + batch_size].to(device), reduction="sum").item()
                    for i in range(0, len(y), batch_size))
        return total / max(len(y), 1)

    convs, denses = model.task_blocks(task)
    try:
        base = loss()
        scores = []
        for block in [*convs, *denses]:
            rise = torch.zeros(block.out_units)
            for j in range(block.out_units):
                handle = block.register_forward_hook(lambda _m, _i, out, j=j: out.index_fill(1, torch.tensor([j],
                                                                                 device=out.device), 0.0))
                try:
                    rise[j] = loss() - base
                finally:
                    handle.remove()  # even if a pass fails: the model must not keep a silenced unit
            scores.append(rise)
    finally:
        model.train(was_training)
    return scores[:len(convs)], scores[len(convs):]


def scale_penalty(model: "MultiTaskConvSynapticNet", task: int) -> Tensor:
    """``Σ |γ|`` over the BatchNorm scales of the filters ``task`` created: network slimming's L1 penalty.

    Added to the loss (× λ) while ``task`` trains, it drives the scales of filters the task can
    do without towards zero, so that :func:`unit_importance` ranks filters by something the
    training decided rather than by their initial value. It reads only ``task``'s own blocks:
    older tasks' scales get no gradient from it (and are frozen anyway). Filters without
    BatchNorm contribute nothing.
    """
    convs, _ = model.task_blocks(task)
    scales = [block.norm.weight for block in convs if block.norm is not None and block.norm.weight is not None]
    if not scales:
        return model.heads[task].weight.new_zeros(())
    return torch.cat([s.abs().flatten() for s in scales]).float().sum()


def units_to_keep(model: "MultiTaskConvSynapticNet", conv_channels: Sequence[int], hidden: Sequence[int] = (),
                  scores: Scores | None = None) -> list[Tensor]:
    """Per task-gated layer, the indices (ascending) of the newest task's units that ``compact`` keeps.

    ``conv_channels[i]`` / ``hidden[i]`` units of layer ``i``, the highest ``scores`` first
    (default: :func:`unit_importance`; ties keep the earlier unit). Every argument is
    checked and a clear error raised before anything is chosen: sizes are integers from 1
    (0 in reuse mode after task 0, as in ``grow``) up to the units the task has now.
    """
    task = model.trainable_task
    blocks = model.task_blocks(task)
    sizes = []
    for have, wanted, what, mode in ((blocks[0], conv_channels, "conv_channels", model.config["mode"]),
                                     (blocks[1], hidden, "hidden", model.dense_mode)):
        if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Sequence):
            raise TypeError(f"{what} must be a sequence of {len(have)} integers, got {wanted!r}")
        if len(wanted) != len(have):
            raise ValueError(f"{what} must have one entry per layer ({len(have)}), got {len(wanted)}: {list(wanted)}")
        for i, (block, k) in enumerate(zip(have, wanted)):
            k = check_count(k, f"{what}[{i}]", 0 if (mode == "reuse" and task > 0) else 1)
            if k > block.out_units:
                raise ValueError(f"{what}[{i}] = {k}, but task {task} has only {block.out_units} units in that "
                                 "layer; compact() can only remove units (use widen() to add some)")
            sizes.append(k)
    if blocks[0] and blocks[1] and model.dense_mode == "isolate" and sizes[len(blocks[0]) - 1] == 0:
        raise ValueError("the last conv layer must keep at least one unit: this task's dense layers read "
                         "only its own conv units (dense_mode='isolate')")
    if scores is not None:
        expected, given = [b.out_units for b in blocks[0] + blocks[1]], [len(s) for part in scores for s in part]
        if given != expected:
            raise ValueError(f"scores must hold one value per unit of task {task} in each layer: "
                             f"expected lengths {expected}, got {given}")
    conv_scores, dense_scores = unit_importance(model) if scores is None else scores
    return [torch.as_tensor(s, dtype=torch.float32).cpu().argsort(descending=True, stable=True)[:k].sort().values
            for s, k in zip([*conv_scores, *dense_scores], sizes)]


def compaction_sizes(model: "MultiTaskConvSynapticNet", fraction: float) -> tuple[list[int], list[int]]:
    """Units per layer that keep ``fraction`` of the newest task's own units (rounded up, at least one):
    ``model.compact(*compaction_sizes(model, 0.5))`` halves the newest task."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    convs, denses = model.task_blocks(model.trainable_task)
    keep = lambda block: max(1, math.ceil(fraction * block.out_units))  # noqa: E731
    return [keep(block) for block in convs], [keep(block) for block in denses]
