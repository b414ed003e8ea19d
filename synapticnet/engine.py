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
from .profiles import GrowthTrigger, Profile, family


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: results after this point would be garbage."""


class TaskData(Protocol):
    """What the engine needs from a task's data (``synapticnet.data.TaskDataset`` has it)."""

    task_id: int
    name: str
    num_classes: int

    def train_batches(self, batch_size: int, epoch: int = 0): ...
    def eval_batches(self, split: str = "test", batch_size: int = 512): ...
    def num_train_batches(self, batch_size: int) -> int: ...


def progress_bar(**kwargs: Any):
    """A tqdm bar: the notebook widget or terminal bar of ``tqdm.auto``, or, in headless
    notebook runs (``SYNAPTICNET_HEADLESS=1``), a plain text bar refreshed every 30 s."""
    if os.environ.get("SYNAPTICNET_HEADLESS") == "1":
        return text_tqdm(mininterval=30.0, **kwargs)
    return tqdm(**kwargs)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so a run can be repeated exactly (on the same device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def select_device(requested: str | None = None) -> torch.device:
    """``"auto"``/``None`` picks CUDA, then Apple's MPS, then the CPU."""
    if requested not in (None, "auto"):
        try:
            return torch.device(requested)
        except RuntimeError as error:
            raise ValueError(f"unknown device {requested!r}: {error}") from None
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
    """One-cycle schedule: warm up to ``lr``, then anneal to almost zero."""
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


def train_task(
    model: nn.Module,
    data: TaskData,
    profile: Profile,
    device: torch.device | str = "cpu",
    progress: bool = True,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
) -> TaskReport:
    """Train task ``data.task_id`` of ``model`` for the profile's epochs.

    ``model`` is usually a :class:`MultiTaskConvSynapticNet` (then the task must be its
    newest and the gradient mask is applied), but any module called as
    ``model(x, task_id=t)`` works — the baselines use this same loop.
    ``loss_fn(logits, y, x)``, if given, replaces plain cross-entropy (baselines use it
    to add their penalties). With ``profile.growth_trigger`` set, the task may be
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
        if masked and trigger is not None and _probe_due(trigger, epoch, epochs):
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
    if getattr(data, "n_val", 1):
        report.val_accuracy = evaluate(model, data, "val", device)
    return report


def _probe_due(trigger: GrowthTrigger, epoch: int, epochs: int) -> bool:
    """A probe after every ``probe_epochs`` epochs, except after the last one."""
    return (epoch + 1) % trigger.probe_epochs == 0 and epoch + 1 < epochs


def _growth_decision(model: MultiTaskConvSynapticNet, data: TaskData, trigger: GrowthTrigger,
                     device, epoch: int) -> dict[str, Any]:
    """Measure validation accuracy; widen the newest task if it is below the threshold."""
    val = evaluate(model, data, "val", device)
    threshold = trigger.threshold.get(family(data.name), trigger.threshold.get("default", 0.0))
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
