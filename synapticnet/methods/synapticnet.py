"""SynapticNet itself, as a method: grow new units per task, freeze the old ones.

The whole recipe is in this file, as hooks on the one loop (:mod:`synapticnet.engine`)
and the one runner (:func:`synapticnet.run.run`):

* ``build`` / ``next_task`` — task 0's network, then ``model.grow()`` (NeuronGenesis) by
  the profile's growth for each new task: old units are frozen, new ones added.
* ``before_task`` — (if the profile asks for ``whiten``) the new task's fixed whitening layer, computed
  from its own training images (:mod:`synapticnet.whitening`); (``identity_init``) its convolutions
  start as partly the identity (:mod:`synapticnet.identity_init`).
* ``loss`` — cross-entropy, plus (if the profile asks for ``sparsity``) an L1 penalty on the new
  task's BatchNorm scales, so that compaction later knows which filters to remove.
* ``after_backward`` — the gradient mask: only the newest task's parameters keep a gradient.
* ``after_epoch`` — the optional **growth trigger** (:class:`~synapticnet.profiles.GrowthTrigger`):
  widen the task while its validation accuracy is below a target.
* ``after_training`` — optional **automatic compaction** (:class:`~synapticnet.profiles.Compaction`):
  keep the smallest width whose validation accuracy stays within a tolerance.
* ``after_task`` — store the task's statistics for task inference (frozen with the task).
* ``final_metrics`` — after the last task: infer every test image's task
  (:mod:`synapticnet.task_inference`): task-id and class-incremental accuracy.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..engine import TaskReport, evaluate, step_budget, train_task
from ..guarded import MultiTaskConvSynapticNet
from ..profiles import Compaction, GrowthTrigger, Profile, family
from ..pruning import compaction_sizes, scale_penalty
from ..task_inference import evaluate_task_inference, fit_task_statistics, statistics
from ..identity_init import identity_init_task
from ..whitening import whiten_task
from .base import Method, register

# Training images per task that its whitening layer is estimated from (profile.whiten; airbench94 uses 5,000).
WHITENING_IMAGES = 5000
# Test images per task for the task-inference metrics (evenly spread over the split): every image goes
# through every task's network, so the full test sets would cost T times a normal evaluation.
TASK_INFERENCE_IMAGES = 5000


@register
class SynapticNet(Method):
    """Task-gated growth: ``next_task`` grows the network by the profile's growth for that task."""

    name = "synapticnet"
    shared_network = False
    frozen_past = True  # grow() freezes every finished task, bit for bit
    whitens = True  # profile.whiten: each task's column starts from its own whitening (before_task)
    fits_task_statistics = True  # after every task (SynapticNetDistill does not: its old units move)

    # ---- the network ---------------------------------------------------------------------
    def build(self, tasks: Sequence[str], first_classes: int) -> nn.Module:
        return MultiTaskConvSynapticNet(in_channels=self.profile.channels, num_classes=first_classes,
                                        image_size=self.profile.image_size,
                                        **self.profile.model_kwargs())

    def next_task(self, model: nn.Module, data) -> None:
        conv, hidden = self.profile.growth_for(data.name)
        model.grow(num_classes=data.num_classes, grow_conv_channels=conv, grow_hidden=hidden)

    def model_checkpoint(self, model: MultiTaskConvSynapticNet) -> dict[str, Any]:
        return model.checkpoint()  # config + growth record + weights: what MultiTaskConvSynapticNet.load reads

    def restore(self, checkpoint: dict[str, Any], datasets: list, finished: int) -> nn.Module:
        model = MultiTaskConvSynapticNet.from_checkpoint(checkpoint, source="the run's checkpoint")
        if model.num_tasks < finished:
            raise ValueError(f"the run's checkpoint is damaged: its run state says {finished} task(s) finished, but "
                             f"its network has {model.num_tasks}; start a new run in another folder")
        for j in range(finished if self.fits_task_statistics else 0):  # a checkpoint from before task inference
            if not statistics(model).has(j):  # existed: fit what is missing
                fit_task_statistics(model, datasets[j], task_id=j, device="cpu")
        return model

    # ---- the hooks -----------------------------------------------------------------------
    def before_task(self, model: nn.Module, datasets: list, i: int) -> None:
        if i != model.trainable_task:
            raise ValueError(f"task {i} ({datasets[i].name}) is not the model's newest task ({model.trainable_task})")
        if self.profile.whiten:  # the first batch of eval_batches: the split's first images, normalised, not augmented
            images, _ = next(iter(datasets[i].eval_batches("train", batch_size=WHITENING_IMAGES)))
            whiten_task(model, images)
        if self.profile.identity_init:  # the new column's convolutions start as partly the identity
            identity_init_task(model)

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, task: int) -> Tensor:
        """Cross-entropy, plus ``profile.sparsity`` × the L1 norm of the task's own BatchNorm scales (slimming)."""
        loss = super().loss(model, logits, y, x, task)
        if self.profile.sparsity:
            loss = loss + self.profile.sparsity * scale_penalty(model, task)
        return loss

    def after_backward(self, model: nn.Module, i: int) -> None:
        model.apply_task_gradient_mask(i)  # which also warns about an optimiser built before grow()

    def after_epoch(self, model: nn.Module, data, epoch: int, epochs: int, report: TaskReport,
                    log: Callable[[str], None]) -> bool:
        trigger = self.profile.growth_trigger
        if trigger is None or _target(trigger, data) is None or not _probe_due(trigger, epoch, epochs):
            return False
        decision = growth_decision(model, data, trigger, self.device, epoch)
        report.growth_decisions.append(decision)
        log(f"  growth trigger, task {data.task_id} after epoch {epoch + 1}: val acc "
            f"{decision['val_accuracy']:.4f} vs {decision['threshold']:.4f} -> {decision['action']}")
        return decision["action"] == "widen"

    def after_training(self, model: nn.Module, data, report: TaskReport, progress: bool) -> None:
        rule = self.profile.compaction
        if rule is not None and (data.task_id > 0 or rule.include_first_task):
            report.compaction = compact_task(model, data, self.profile, self.device, progress)
            report.steps += report.compaction["finetune_steps"]

    def after_task(self, model: nn.Module, datasets: list, i: int) -> None:
        fit_task_statistics(model, datasets[i], task_id=i, device=self.device)  # frozen with the task from here on

    def final_metrics(self, model: nn.Module, datasets: list, split: str) -> dict[str, Any]:
        return {"task_inference": evaluate_task_inference(model, datasets, split, device=self.device,
                                                          max_images=TASK_INFERENCE_IMAGES)}


# --------------------------------------------------------------------------------------
# The growth trigger
# --------------------------------------------------------------------------------------
def _probe_due(trigger: GrowthTrigger, epoch: int, epochs: int) -> bool:
    """A probe after every ``probe_epochs`` epochs, except after the last one."""
    return (epoch + 1) % trigger.probe_epochs == 0 and epoch + 1 < epochs


def _target(trigger: GrowthTrigger, data) -> float | None:
    """The validation accuracy the trigger wants for this task's dataset family, or None.

    A family with no threshold (and no ``"default"``) has no target: the trigger does not
    probe that task at all — no validation passes, no "keep" decisions against a target of 0.
    """
    return trigger.threshold.get(family(data.name), trigger.threshold.get("default"))


def growth_decision(model: MultiTaskConvSynapticNet, data, trigger: GrowthTrigger, device, epoch: int
                    ) -> dict[str, Any]:
    """Measure validation accuracy; widen the newest task if it is below the threshold."""
    val = evaluate(model, data, "val", device)
    threshold = _target(trigger, data)
    widenings = sum(1 for d in model.growth if d.get("op") == "widen" and d.get("task") == data.task_id)
    if val >= threshold:
        action = "keep"
    elif widenings >= trigger.max_widenings:
        action = "cap reached"
    else:
        action = "widen"
        model.widen(trigger.grow_conv_channels, trigger.grow_hidden)
    return dict(task=data.task_id, dataset=data.name, after_epoch=epoch + 1, val_accuracy=val,
                threshold=threshold, action=action, params_total=model.num_parameters(),
                params_task=model.num_parameters(data.task_id))


# --------------------------------------------------------------------------------------
# Automatic compaction ("synaptic pruning")
# --------------------------------------------------------------------------------------
def finetune_profile(profile: Profile, data=None) -> Profile:
    """The fine-tune after compaction: ``finetune_epochs`` (``None``: as many as the task trained — a real
    retrain) at ``finetune_lr_factor`` × the learning rate with the profile's schedule, capped
    by ``finetune_steps`` and (given the task's ``data``) by ``finetune_share`` × the task's own training steps;
    without the slimming penalty (the units it silenced are gone)."""
    rule: Compaction = profile.compaction or Compaction()
    share = None
    if rule.finetune_share is not None and data is not None:
        share = max(1, round(rule.finetune_share * step_budget(data, profile)[1]))
    epochs = rule.finetune_epochs or (profile.epochs_for(data.name) if data is not None else profile.epochs["default"])
    return profile.replace(epochs={"default": epochs}, lr=profile.lr * rule.finetune_lr_factor,
                           max_steps_per_task=min((n for n in (rule.finetune_steps, share, profile.max_steps_per_task)
                                                   if n is not None), default=None),
                           compaction=None, growth_trigger=None, sparsity=0.0)


@torch.no_grad()
def recalibrate_norms(model: MultiTaskConvSynapticNet, data, batches: int, batch_size: int = 128) -> None:
    """Re-estimate the BatchNorm statistics of the newest task's units on ``batches`` training batches.

    After :meth:`~MultiTaskConvSynapticNet.compact` removed units, the units behind them see other inputs, and
    the running means and variances they normalise with at test time are stale. Only those statistics move
    (a cumulative average over the batches, as ``momentum=None`` would give); no weight changes, and older
    tasks' blocks are untouched — they are frozen and never read the newest task's units.
    """
    if batches < 1:
        return
    convs, denses = model.task_blocks(model.trainable_task)
    norms = [block.norm for block in convs + denses if block.norm is not None]
    was_training = model.training
    model.eval()
    momentum = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.train()
    try:
        for i, (x, _) in enumerate(data.train_batches(batch_size, epoch=0)):
            if i >= batches:
                break
            for bn in norms:
                bn.momentum = 1.0 / (i + 1)  # the cumulative mean of every batch so far
            model(x.to(next(model.parameters()).device), task_id=model.trainable_task)
    finally:
        for bn, m in zip(norms, momentum):
            bn.momentum = m
        model.train(was_training)


def next_fraction(fractions: Sequence[float], passed: dict[float, bool]) -> float | None:
    """The next fraction compaction tries: a binary search for the smallest one that passes.

    It starts in the middle of the sorted ``fractions``; after a candidate passes (``passed[f]``) it
    looks among the smaller ones, after a failure among the larger ones (accuracy grows with width, so
    a fraction below a failed one would fail too). With ``n`` fractions at most ``ceil(log2(n + 1))``
    candidates are retrained — two for three fractions — instead of up to ``n`` in order. ``None``: done.
    """
    ordered, lo, hi = sorted(fractions), 0, len(fractions) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if ordered[mid] not in passed:
            return ordered[mid]
        lo, hi = (lo, mid - 1) if passed[ordered[mid]] else (mid + 1, hi)
    return None


def compact_task(model: MultiTaskConvSynapticNet, data, profile: Profile, device, progress: bool = False
                 ) -> dict[str, Any]:
    """Automatic compaction of the newest task (see :class:`~synapticnet.profiles.Compaction`).

    ``params_task_*`` in the record count what the task's forward pass uses (frozen units
    it reads included), ``params_created_*`` only the units the task owns.

    Each candidate is tried on a copy: compact, fine-tune briefly (masked, as the task
    trained), measure validation accuracy. The first (smallest) candidate within the
    tolerance is then applied to ``model`` itself — the same units are chosen, because
    importance depends only on the weights — and the copy's fine-tuned weights are
    loaded. Returns the decision record that ``results.json`` keeps (``compaction`` list), with the
    ``seconds`` compaction took (the fine-tunes and validation passes): what it adds to the task's training.
    """
    rule: Compaction = profile.compaction
    if not getattr(data, "n_val", 0):
        raise ValueError(f"automatic compaction of task {data.task_id} ({data.name}) needs a validation split "
                         "(val_size > 0): it compares the task with itself on held-out data")
    start = time.perf_counter()
    finetune = finetune_profile(profile, data)
    hooks = SynapticNet(finetune, device)  # the gradient mask, no trigger, no compaction
    task = model.trainable_task
    full_val = evaluate(model, data, "val", device)
    params_before = model.num_parameters(task)
    created_before = model.parameters_per_task()[task]
    tried, chosen, best, steps, passed = [], None, None, 0, {}
    while (fraction := next_fraction(rule.fractions, passed)) is not None:
        conv, hidden = compaction_sizes(model, fraction)
        candidate = copy.deepcopy(model)
        candidate.compact(conv, hidden)
        recalibrate_norms(candidate, data, rule.recalibrate_batches, profile.batch_size)
        report = train_task(candidate, data, finetune, device=device, progress=False, hooks=hooks)
        steps += report.steps
        val = report.val_accuracy  # train_task ends with the candidate's validation pass: not run a second time
        tried.append(dict(fraction=fraction, conv_channels=conv, hidden=hidden, val_accuracy=val,
                          params_task=candidate.num_parameters(task),
                          params_created=candidate.parameters_per_task()[task]))
        passed[fraction] = val >= full_val - rule.tolerance
        if passed[fraction]:  # the search only tries smaller fractions after a pass: this one is the best so far
            chosen, best = tried[-1], candidate
    if best is not None:
        model.compact(chosen["conv_channels"], chosen["hidden"])
        model.load_state_dict(best.state_dict())
    decision = dict(task=task, dataset=data.name, full_val_accuracy=full_val, tolerance=rule.tolerance,
                    tried=tried, chosen_fraction=None if chosen is None else chosen["fraction"],
                    params_task_before=params_before, params_task_after=model.num_parameters(task),
                    params_created_before=created_before, params_created_after=model.parameters_per_task()[task],
                    finetune_steps=steps, seconds=time.perf_counter() - start)
    if progress:
        kept = "full width kept" if chosen is None else f"kept {chosen['fraction']:g} of its units"
        print(f"  compaction, task {task} ({data.name}): val {100 * full_val:.2f}% at full width; "
              + ", ".join(f"×{t['fraction']:g}: {100 * t['val_accuracy']:.2f}%" for t in tried) + f" -> {kept}")
    return decision
