"""Training and evaluating one task: the loop every continual method needs.

The loop is the ordinary PyTorch one, plus one line::

    loss = F.cross_entropy(model(x, task_id=t), y)
    optimizer.zero_grad()
    loss.backward()
    model.apply_task_gradient_mask(t)   # the only SynapticNet-specific line
    optimizer.step()

Around it: a one-cycle learning-rate schedule, a check that stops on a NaN/inf loss
(naming the task and step), a progress bar (``tqdm.auto``: a widget in Jupyter, a text
bar in a terminal; in headless notebook runs — ``SYNAPTICNET_HEADLESS=1``, set by
``make reproduce`` — a text bar updated every 30 s, so the saved notebook shows readable
progress instead of a frozen widget), and the optional automatic growth trigger.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
import os

from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm

from .model import MultiTaskConvSynapticNet
from .profiles import Compaction, GrowthTrigger, Profile, family


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: results after this point would be garbage."""


def check_finite(model: nn.Module, where: str) -> None:
    """Raise :class:`TrainingDiverged` if any parameter or buffer holds NaN or ±inf.

    A finite loss is not enough: a learning rate far too high can blow BatchNorm's running
    variance up to ``inf`` while the last batches' losses still look like numbers, and
    every later evaluation would then be garbage. Checked after every task.
    """
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise TrainingDiverged(f"{where}: {name} holds non-finite values (NaN or inf) after training; "
                                   "the results would be garbage. Try a lower learning rate.")


class TaskData(Protocol):
    """What the engine needs from a task's data (``synapticnet.data.TaskDataset`` has it)."""

    task_id: int
    name: str
    num_classes: int

    def train_batches(self, batch_size: int, epoch: int = 0): ...
    def eval_batches(self, split: str = "test", batch_size: int = 512): ...
    def num_train_batches(self, batch_size: int) -> int: ...


HEADLESS_REFRESH_SECONDS = 30.0  # how often a headless bar redraws (one line per redraw in a saved notebook)


def progress_bar(**kwargs: Any):
    """A tqdm bar: the notebook widget or terminal bar of ``tqdm.auto``, or, in headless
    notebook runs (``SYNAPTICNET_HEADLESS=1``), a plain text bar refreshed every 30 s."""
    if os.environ.get("SYNAPTICNET_HEADLESS") == "1":
        return text_tqdm(mininterval=HEADLESS_REFRESH_SECONDS, **kwargs)
    return tqdm(**kwargs)


SEED_LIMIT = 2**64  # torch.manual_seed takes 0 … 2**64 - 1 ("Overflow when unpacking long long" beyond)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so a run can be repeated exactly (on the same device).

    ``seed`` must be an integer in ``0 … 2**64 - 1`` (what ``torch.manual_seed``
    accepts); anything else is a ``ValueError`` naming the seed. The run's per-task seeds
    (``seed * 1000 + task``, :func:`synapticnet.run.task_seed`) stay far inside that
    range for every seed the command line accepts (``0 … 2**32 - 1``).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in 0 … 2**64 - 1 (the range torch.manual_seed accepts), "
                         f"got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _unavailable(device: torch.device, requested: str) -> str | None:
    """Why ``device`` cannot be used on this machine, or ``None`` if it can."""
    hint = "use --device cpu or leave --device out"
    if device.type == "meta":
        return (f"device {requested!r} holds tensor shapes but no data, so nothing can be trained or evaluated "
                f"on it; {hint}")
    if device.type == "cpu":
        return None
    if device.type == "mps":
        backend, label = getattr(torch.backends, "mps", None), "MPS (Apple silicon)"
    else:  # cuda, xpu, …: a torch.<type> module with is_available() and device_count()
        backend, label = getattr(torch, device.type, None), device.type.upper()
    if backend is None or not callable(getattr(backend, "is_available", None)):
        return f"device {requested!r} is not supported here: use cpu, cuda or mps, or leave --device out"
    if not backend.is_available():
        return f"device {requested!r} requested but {label} is not available on this machine; {hint}"
    count = getattr(backend, "device_count", lambda: 1)()
    if device.index is not None and device.index >= count:
        return (f"device {requested!r} requested but this machine has {count} {label} device(s) "
                f"({device.type}:0 … {device.type}:{count - 1}); {hint}")
    return None


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """The device to run on; ``"auto"``/``None`` picks CUDA, then Apple's MPS, then the CPU.

    An explicit request is checked up front, before any data is loaded or model built:
    an unknown name, a device this machine does not have (``"cuda"`` without a GPU,
    ``"cuda:3"`` with two GPUs, ``"mps"`` off Apple silicon) and ``"meta"`` (shapes
    without data) are a ``ValueError`` that says so and what to use instead.
    """
    if requested not in (None, "auto"):
        try:
            device = torch.device(requested)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"unknown device {requested!r}: {error}; use cpu, cuda or mps, "
                             f"or leave --device out") from None
        problem = _unavailable(device, str(requested))
        if problem:
            raise ValueError(problem)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, data: TaskData, split: str = "test", device: torch.device | str = "cpu",
             task_id: int | None = None, batch_size: int = 512) -> float:
    """Accuracy (fraction in [0, 1]) of ``model`` on one split of one task, in eval mode."""
    task_id = data.task_id if task_id is None else task_id
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in data.eval_batches(split, batch_size):
        x, y = x.to(device), y.to(device)
        correct += (model(x, task_id=task_id).argmax(dim=1) == y).sum().item()
        total += y.numel()
    model.train(was_training)
    if total == 0:
        raise ValueError(f"task {data.name!r} has an empty {split!r} split")
    return correct / total


def make_optimizer(model: nn.Module, profile: Profile) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum over *all* parameters: frozen ones are skipped by
    PyTorch itself, because they never have a gradient."""
    return torch.optim.SGD(model.parameters(), lr=profile.lr, momentum=profile.momentum,
                           nesterov=True, weight_decay=profile.weight_decay)


def _schedule(optimizer: torch.optim.Optimizer, profile: Profile, total_steps: int):
    """One-cycle schedule: warm up to ``lr``, then anneal to almost zero.

    Below 8 steps (a brief fine-tune of a tiny task) there is no room for a cycle: the
    learning rate then stays at ``lr``.
    """
    if total_steps < 8:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=profile.lr, total_steps=max(total_steps, 1), pct_start=0.25,
        anneal_strategy="cos", div_factor=10.0, final_div_factor=100.0,
    )


@dataclass
class TaskReport:
    """What happened while training one task."""

    steps: int = 0
    epochs: int = 0
    final_loss: float = math.nan
    train_accuracy: float = math.nan  # running accuracy of the last epoch (augmented batches)
    val_accuracy: float | None = None
    growth_decisions: list[dict[str, Any]] = field(default_factory=list)
    compaction: dict[str, Any] | None = None  # what automatic compaction tried and chose


def train_task(
    model: nn.Module,
    data: TaskData,
    profile: Profile,
    device: torch.device | str = "cpu",
    progress: bool = True,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
    after_backward: Callable[[], None] | None = None,
) -> TaskReport:
    """Train task ``data.task_id`` of ``model`` for the profile's epochs.

    ``model`` is usually a :class:`MultiTaskConvSynapticNet` (then the task must be its
    newest and the gradient mask is applied), but any module called as
    ``model(x, task_id=t)`` works — the baselines use this same loop.
    ``loss_fn(logits, y, x)``, if given, replaces plain cross-entropy (baselines use it
    to add their penalties). ``after_backward()``, if given, runs after the backward pass
    (and the gradient mask), before the optimiser step: methods that edit the gradient
    itself, such as GEM's projection, hook in there. With ``profile.growth_trigger`` set, the task may be
    widened (``model.widen``) at probe points; the optimiser and schedule are then
    rebuilt for the remaining steps.
    """
    task = data.task_id
    masked = isinstance(model, MultiTaskConvSynapticNet)
    if masked and task != model.trainable_task:
        raise ValueError(f"task {task} ({data.name}) is not the model's newest task ({model.trainable_task})")
    epochs = profile.epochs_for(data.name)
    per_epoch = data.num_train_batches(profile.batch_size)
    total = epochs * per_epoch
    if profile.max_steps_per_task is not None:
        total = min(total, profile.max_steps_per_task)
    trigger = profile.growth_trigger
    report = TaskReport()
    optimizer = make_optimizer(model, profile)
    scheduler = _schedule(optimizer, profile, total)
    model.train()
    bar = progress_bar(total=total, desc=f"task {task} {data.name}", unit="batch", disable=not progress, leave=True)
    step = 0
    for epoch in range(epochs):
        if step >= total:
            break
        correct = seen = 0
        for x, y in data.train_batches(profile.batch_size, epoch=epoch):
            if step >= total:
                break
            x, y = x.to(device), y.to(device)
            logits = model(x, task_id=task)
            loss = F.cross_entropy(logits, y, label_smoothing=profile.label_smoothing) if loss_fn is None \
                else loss_fn(logits, y, x)
            if not torch.isfinite(loss):
                bar.close()
                raise TrainingDiverged(
                    f"task {task} ({data.name}): loss became {loss.item()} at step {step} (epoch {epoch}); "
                    f"stopping instead of writing garbage results. Try a lower learning rate than {profile.lr}."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if masked:
                model.apply_task_gradient_mask(task)
            if after_backward is not None:
                after_backward()
            optimizer.step()
            scheduler.step()
            step += 1
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
            report.final_loss = loss.item()
            bar.update(1)
            if step % 20 == 0 or step == total:
                # refresh=False: the bar redraws at its own pace (mininterval). Forcing a redraw here
                # printed a line every 20 steps into headless notebooks, hundreds per task.
                bar.set_postfix(loss=f"{report.final_loss:.3f}", acc=f"{correct / seen:.3f}", epoch=epoch,
                                refresh=False)
        report.epochs = epoch + 1
        report.train_accuracy = correct / max(seen, 1)
        if masked and trigger is not None and _target(trigger, data) is not None and _probe_due(trigger, epoch, epochs):
            decision = _growth_decision(model, data, trigger, device, epoch)
            report.growth_decisions.append(decision)
            bar.write(f"  growth trigger, task {task} after epoch {epoch + 1}: val acc "
                      f"{decision['val_accuracy']:.4f} vs {decision['threshold']:.4f} -> {decision['action']}")
            if decision["action"] == "widen":
                optimizer = make_optimizer(model, profile)
                scheduler = _schedule(optimizer, profile, total - step)
                model.train()
    bar.close()
    report.steps = step
    compaction = profile.compaction
    if masked and compaction is not None and (task > 0 or compaction.include_first_task):
        report.compaction = compact_task(model, data, profile, device, progress)
        report.steps += report.compaction["finetune_steps"]
    if getattr(data, "n_val", 1):
        report.val_accuracy = evaluate(model, data, "val", device)
    return report


def compaction_sizes(model: MultiTaskConvSynapticNet, fraction: float) -> tuple[list[int], list[int]]:
    """Units per layer that keep ``fraction`` of the newest task's own units (at least one)."""
    task = model.trainable_task
    keep = lambda layer: max(1, math.ceil(fraction * layer.blocks[task].out_units))  # noqa: E731
    return [keep(layer) for layer in model.convs], [keep(layer) for layer in model.dense]


def finetune_profile(profile: Profile) -> Profile:
    """The brief fine-tune after compaction: ``finetune_epochs`` at ``finetune_lr_factor`` × the learning rate."""
    rule: Compaction = profile.compaction or Compaction()
    return profile.replace(epochs={"default": rule.finetune_epochs}, lr=profile.lr * rule.finetune_lr_factor,
                           max_steps_per_task=min((n for n in (rule.finetune_steps, profile.max_steps_per_task)
                                                   if n is not None), default=None),
                           compaction=None, growth_trigger=None)


def compact_task(model: MultiTaskConvSynapticNet, data: TaskData, profile: Profile, device,
                 progress: bool = False) -> dict[str, Any]:
    """Automatic compaction of the newest task (see :class:`~synapticnet.profiles.Compaction`).

    ``params_task_*`` in the record count what the task's forward pass uses (frozen units
    it reads included), ``params_created_*`` only the units the task owns.

    Each candidate is tried on a copy: compact, fine-tune briefly, measure validation
    accuracy. The first (smallest) candidate within the tolerance is then applied to
    ``model`` itself — the same units are chosen, because importance depends only on the
    weights — and the copy's fine-tuned weights are loaded. Returns the decision record
    that ``results.json`` keeps (``compaction`` list).
    """
    rule: Compaction = profile.compaction
    if not getattr(data, "n_val", 0):
        raise ValueError(f"automatic compaction of task {data.task_id} ({data.name}) needs a validation split "
                         "(val_size > 0): it compares the task with itself on held-out data")
    finetune = finetune_profile(profile)
    task = model.trainable_task
    full_val = evaluate(model, data, "val", device)
    params_before = model.num_parameters(task)
    created_before = model.parameters_per_task()[task]
    tried, chosen, steps = [], None, 0
    for fraction in sorted(rule.fractions):
        conv, hidden = compaction_sizes(model, fraction)
        candidate = copy.deepcopy(model)
        candidate.compact(conv, hidden)
        report = train_task(candidate, data, finetune, device=device, progress=False)
        steps += report.steps
        val = evaluate(candidate, data, "val", device)
        tried.append(dict(fraction=fraction, conv_channels=conv, hidden=hidden, val_accuracy=val,
                          params_task=candidate.num_parameters(task),
                          params_created=candidate.parameters_per_task()[task]))
        if val >= full_val - rule.tolerance:
            chosen = tried[-1]
            model.compact(conv, hidden)
            model.load_state_dict(candidate.state_dict())
            break
    decision = dict(task=task, dataset=data.name, full_val_accuracy=full_val, tolerance=rule.tolerance,
                    tried=tried, chosen_fraction=None if chosen is None else chosen["fraction"],
                    params_task_before=params_before, params_task_after=model.num_parameters(task),
                    params_created_before=created_before, params_created_after=model.parameters_per_task()[task],
                    finetune_steps=steps)
    if progress:
        kept = "full width kept" if chosen is None else f"kept {chosen['fraction']:g} of its units"
        print(f"  compaction, task {task} ({data.name}): val {100 * full_val:.2f}% at full width; "
              + ", ".join(f"×{t['fraction']:g}: {100 * t['val_accuracy']:.2f}%" for t in tried) + f" -> {kept}")
    return decision


def _probe_due(trigger: GrowthTrigger, epoch: int, epochs: int) -> bool:
    """A probe after every ``probe_epochs`` epochs, except after the last one."""
    return (epoch + 1) % trigger.probe_epochs == 0 and epoch + 1 < epochs


def _target(trigger: GrowthTrigger, data: TaskData) -> float | None:
    """The validation accuracy the trigger wants for this task's dataset family, or None.

    A family with no threshold (and no ``"default"``) has no target: the trigger does not
    probe that task at all — no validation passes, no "keep" decisions against a target of 0.
    """
    return trigger.threshold.get(family(data.name), trigger.threshold.get("default"))


def _growth_decision(model: MultiTaskConvSynapticNet, data: TaskData, trigger: GrowthTrigger,
                     device, epoch: int) -> dict[str, Any]:
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
