"""Training and evaluating: the one loop every continual method shares.

The loop is the ordinary PyTorch one::

    logits = model(x, task_id=t)
    loss = hooks.loss(model, logits, y, x, t)     # cross-entropy, or a method's own loss
    optimizer.zero_grad()
    loss.backward()
    hooks.after_backward(model, t)                # e.g. SynapticNet's gradient mask, GEM's projection
    optimizer.step()

A *method* (:mod:`synapticnet.methods`) customises it through these hooks — Avalanche's
idea of plug-ins on one loop — and the engine knows nothing about any model class or
method: it trains whatever ``model(x, task_id=t)`` is. Two more hooks run between
epochs (``after_epoch``: SynapticNet's growth trigger may widen the task there, and the
optimiser is rebuilt) and after the last epoch (``after_training``: automatic compaction).

The recipe around the loop (every profile and every method trains with it, so comparisons
stay fair): SGD with Nesterov momentum (Adam in the ``original`` profile, the original
design's own recipe); a learning rate that warms up linearly over the first ``profile.warmup``
of a task's steps, then decays linearly to zero; label smoothing; optionally a running average
of the weights (:class:`WeightAverage`) that the task keeps when it finishes; and, for tasks
trained with flips, test-time flip averaging (:func:`evaluate`).
Batches go through the network in ``channels_last`` memory layout, which oneDNN's CPU
convolutions run markedly faster, and with ``profile.precision`` in bfloat16 mixed precision
where the processor has it (:func:`training_dtype`; ``make bench`` measures both).

Around the loop: optional gradient-norm clipping (``profile.grad_clip``, the same for every method:
:meth:`_Trainer.clip`), a check that stops on a NaN/inf loss
(naming the task and step), and a progress bar (``tqdm.auto``: a widget in Jupyter, a text
bar in a terminal; in headless notebook runs — ``SYNAPTICNET_HEADLESS=1``, set by ``make
reproduce`` — a text bar updated every 30 s, so the saved notebook shows readable progress).

Two batch sources share that one step: :func:`train_task` (one task, epoch after epoch)
and :func:`train_interleaved` (several tasks at once, for joint training).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm

from .profiles import Profile


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: results after this point would be garbage."""


def check_finite(model: nn.Module, where: str) -> None:
    """Raise :class:`TrainingDiverged` if any parameter or buffer holds NaN or ±inf.

    A finite loss is not enough: a learning rate far too high can blow BatchNorm's running
    variance up to ``inf`` while the last batches' losses still look like numbers, and
    every later evaluation would then be garbage. The runner checks after every task.
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
    n_val: int

    def train_batches(self, batch_size: int, epoch: int = 0): ...
    def eval_batches(self, split: str = "test", batch_size: int = 512): ...
    def num_train_batches(self, batch_size: int) -> int: ...


class PlainHooks:
    """The four hooks the loop calls, at their plainest: cross-entropy (with the profile's label
    smoothing) and nothing else — the loop of any tutorial. Every method
    (:class:`synapticnet.methods.Method`) is a subclass that overrides what makes it different."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def ce(self, logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
        """Cross-entropy with the profile's label smoothing."""
        return F.cross_entropy(logits, y, label_smoothing=self.profile.label_smoothing, reduction=reduction)

    def loss(self, model: nn.Module, logits: Tensor, y: Tensor, x: Tensor, task: int) -> Tensor:
        """The training loss of one batch of ``task`` (``logits`` from its head)."""
        return self.ce(logits, y)

    def divergence_hint(self) -> str:
        """What to change when the loss becomes NaN or inf (a method names its own hyper-parameters)."""
        return f"Try a lower learning rate than {self.profile.lr}."

    def after_backward(self, model: nn.Module, task: int) -> None:
        """Called after ``loss.backward()``, before the optimiser step: edit ``p.grad`` here."""

    def after_epoch(self, model: nn.Module, data: TaskData, epoch: int, epochs: int, report: "TaskReport",
                    log: Callable[[str], None]) -> bool:
        """Called after every epoch; return ``True`` if the model's parameters changed (the optimiser is rebuilt)."""
        return False

    def after_training(self, model: nn.Module, data: TaskData, report: "TaskReport", progress: bool) -> None:
        """Called after the task's last epoch, before its validation accuracy is measured."""


HEADLESS_REFRESH_SECONDS = 30.0  # how often a headless bar redraws (one line per redraw in a saved notebook)


def progress_bar(**kwargs: Any):
    """A tqdm bar: the notebook widget or terminal bar of ``tqdm.auto``, or, in headless
    notebook runs (``SYNAPTICNET_HEADLESS=1``), a plain text bar refreshed every 30 s."""
    if os.environ.get("SYNAPTICNET_HEADLESS") == "1":
        return text_tqdm(mininterval=HEADLESS_REFRESH_SECONDS, **kwargs)
    return tqdm(**kwargs)


# --------------------------------------------------------------------------------------
# Seeds and devices
# --------------------------------------------------------------------------------------
SEED_LIMIT = 2**64  # torch.manual_seed takes 0 … 2**64 - 1 ("Overflow when unpacking long long" beyond)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so a run can be repeated exactly (on the same device).

    ``seed`` must be an integer in ``0 … 2**64 - 1`` (what ``torch.manual_seed``
    accepts); anything else is a ``ValueError`` naming the seed. The run's per-task seeds
    (:func:`task_seed`) stay far inside that range for every run seed (``0 … 2**32 - 1``).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in 0 … 2**64 - 1 (the range torch.manual_seed accepts), "
                         f"got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def task_seed(seed: int, index: int) -> int:
    """The seed of task ``index`` of a run: independent of what ran before, so a resumed run is exact."""
    return seed * 1000 + index


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


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def evaluating(model: nn.Module, no_grad: bool = True) -> Iterator[nn.Module]:
    """``with evaluating(model):`` — eval mode (no dropout, BatchNorm's running statistics) and, unless
    ``no_grad=False``, no gradients inside; the model's previous mode is restored afterwards, even after an error."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield model
    finally:
        model.train(was_training)


def to_device(x: Tensor, device: torch.device | str) -> Tensor:
    """A batch on ``device``; images (4-D) in ``channels_last`` layout, which CPU convolutions run fastest."""
    x = x.to(device)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def logits(model: nn.Module, x: Tensor, task_id: int, test_flip: bool = False, test_shift: int = 0) -> Tensor:
    """``model(x, task_id)``, or with ``test_flip`` the mean of the logits of ``x`` and of its mirror image.

    Test-time flip averaging: a task trained on randomly flipped images has learned that a
    mirrored image shows the same class, so asking both and averaging removes some of the
    network's left-right noise for the cost of a second forward pass.

    ``test_shift=s`` (for tasks trained with random shifts): half the weight goes to those
    logits, half to the mean over ``x`` moved ``s`` pixels up-left and ``s`` down-right (the
    border reflected, each with its mirror if ``test_flip``) — airbench's test-time
    augmentation, 2 → 6 forward passes."""
    def mirrored(images: Tensor) -> Tensor:
        out = model(images, task_id=task_id)
        return (out + model(images.flip(3), task_id=task_id)) / 2 if test_flip else out

    out = mirrored(x)
    if not test_shift:
        return out
    h, w = x.shape[-2:]
    padded = F.pad(x, (test_shift,) * 4, mode="reflect")
    moved = [padded[..., :h, :w], padded[..., 2 * test_shift:, 2 * test_shift:]]
    return out / 2 + sum(mirrored(m.contiguous(memory_format=torch.channels_last)) for m in moved) / 4


def evaluate(model: nn.Module, data: TaskData, split: str = "test", device: torch.device | str = "cpu",
             task_id: int | None = None, batch_size: int = 512) -> float:
    """Accuracy (fraction in [0, 1]) of ``model`` on one split of one task, in eval mode.

    If the task says ``test_flip`` (:class:`~synapticnet.data.TaskDataset`), each image is
    classified by the mean logits of the image and its mirror image (see :func:`logits`)."""
    task_id = data.task_id if task_id is None else task_id
    test_flip = bool(getattr(data, "test_flip", False))
    test_shift = int(getattr(data, "test_shift", 0))
    correct = total = 0
    with evaluating(model):
        for x, y in data.eval_batches(split, batch_size):
            x, y = to_device(x, device), y.to(device)
            correct += (logits(model, x, task_id, test_flip, test_shift).argmax(dim=1) == y).sum().item()
            total += y.numel()
    if total == 0:
        raise ValueError(f"task {data.name!r} has an empty {split!r} split")
    return correct / total


# --------------------------------------------------------------------------------------
# Optimiser, schedule, one step
# --------------------------------------------------------------------------------------
def make_optimizer(model: nn.Module, profile: Profile) -> torch.optim.Optimizer:
    """The profile's optimiser over *all* parameters: frozen ones are skipped by PyTorch
    itself, because they never have a gradient (no step, no weight decay, no moments).

    ``profile.optimizer``: ``"sgd"`` (every recipe of ours) — SGD with Nesterov momentum;
    ``momentum=0`` is plain SGD (Nesterov's look-ahead needs a momentum; GPM's Permuted MNIST
    protocol uses none). ``"adam"`` — Adam at PyTorch's default betas and ``eps``, as the
    original design's notebook trains (``momentum`` is then unused).

    Picking masks' scores (:class:`~synapticnet.layers.PickedView`) are a group of their own, as in
    Piggyback and WSN: their own learning rate (``pick_lr_factor`` × the profile's) and no weight
    decay (a score's size means nothing; only its sign is the mask).

    ``profile.batch_norm_scale=False`` (airbench94's BatchNorm): every BatchNorm's scale γ is left out,
    so it stays at its initial 1 and only the shift β learns.

    ``profile.norm_bias_lr`` ≠ 1 (airbench94's bias scaler): BatchNorm shifts β are a group of their own
    at ``norm_bias_lr`` × the learning rate and weight decay ÷ ``norm_bias_lr`` — PyTorch multiplies the
    two, so a shift decays per step exactly as every other weight does; only its gradient step is larger."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    fixed = set() if profile.batch_norm_scale else {id(m.weight) for m in norms if m.weight is not None}
    shifts = set() if profile.norm_bias_lr == 1 else {id(m.bias) for m in norms if m.bias is not None}
    named = [(name, p) for name, p in model.named_parameters() if id(p) not in fixed]
    scores = [p for name, p in named if name.endswith(".scores")]
    groups = [{"params": [p for name, p in named if not name.endswith(".scores") and id(p) not in shifts]}]
    if shifts:
        groups.append({"params": [p for _, p in named if id(p) in shifts], "lr": profile.lr * profile.norm_bias_lr,
                       "weight_decay": profile.weight_decay / profile.norm_bias_lr})
    if scores:
        groups.append({"params": scores, "lr": profile.lr * profile.pick_lr_factor, "weight_decay": 0.0})
    if profile.optimizer == "adam":
        return torch.optim.Adam(groups, lr=profile.lr, weight_decay=profile.weight_decay)
    return torch.optim.SGD(groups, lr=profile.lr, momentum=profile.momentum,
                           nesterov=profile.momentum > 0, weight_decay=profile.weight_decay)


def native_bfloat16(device: torch.device | str) -> bool:
    """Does ``device`` compute in bfloat16 natively? A CUDA GPU that says so, or a CPU with bfloat16
    instructions (AVX512-BF16 or AMX-BF16): there mixed precision roughly doubles the convolutions'
    throughput. Elsewhere bfloat16 is emulated and *slower* than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    flags = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(flags.get("avx512_bf16") or flags.get("amx_bf16"))


def training_dtype(profile: Profile, device: torch.device | str) -> torch.dtype | None:
    """The autocast type of the training steps (``None``: plain float32), from ``profile.precision``.

    Mixed precision (``torch.autocast``): convolutions and matrix products run in bfloat16,
    while the weights, BatchNorm, the loss and the optimiser stay in float32. Evaluation is
    always float32. ``"auto"`` uses bfloat16 only where it is native (:func:`native_bfloat16`):
    the same profile then runs at full speed on every machine, with slightly different
    rounding between machines that have bfloat16 and machines that do not."""
    if profile.precision == "bfloat16" or (profile.precision == "auto" and native_bfloat16(device)):
        return torch.bfloat16
    return None


def lr_factor(step: int, total_steps: int, warmup: float, decay: bool = True) -> float:
    """The learning rate of ``step`` (0-based) as a fraction of the peak: a triangle.

    A linear warm-up over the first ``warmup`` of the steps (from ``1/warm`` to 1), then a
    linear decay that reaches zero one step after the last — the schedule of the fast
    CIFAR-10 training recipes. ``decay=False`` keeps the peak after the warm-up (a constant
    learning rate when ``warmup=0``, as in GPM's Permuted MNIST protocol). Below 8 steps (a
    brief fine-tune of a tiny task) there is no room for a schedule: the factor stays 1."""
    if total_steps < 8:
        return 1.0
    warm = max(1, round(warmup * total_steps))
    if step < warm:
        return (step + 1) / warm
    if not decay:
        return 1.0
    return max(0.0, (total_steps - step) / (total_steps - warm + 1))


def make_schedule(optimizer: torch.optim.Optimizer, profile: Profile, total_steps: int):
    """The learning-rate schedule of :func:`lr_factor` (warm-up ``profile.warmup``, then a linear decay if
    ``profile.lr_decay``)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, profile.warmup,
                                                                               profile.lr_decay))


class WeightAverage:
    """A running (exponential) average of the weights being trained, kept by the task at the end.

    After every optimiser step ``avg ← decay·avg + (1 − decay)·w`` for every parameter that
    requires a gradient; :meth:`apply` copies the averages into the network. Averaging the
    last few hundred steps smooths out the noise of the final SGD steps. Early in training
    the decay is smaller (``min(decay, (1 + s) / (10 + s))``), so the average is not anchored
    to the random initial weights.

    Only trainable parameters are averaged: a frozen SynapticNet task (``requires_grad=False``)
    is never touched, so the averaged copy is *per task*, applied once when the task finishes
    and frozen with it. BatchNorm's running statistics are the network's own."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay, self.steps = float(decay), 0
        self.pairs = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        weight = 1.0 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        for p, avg in self.pairs:
            avg.lerp_(p, weight)

    @torch.no_grad()
    def apply(self) -> None:
        """Put the averaged weights into the network."""
        for p, avg in self.pairs:
            p.copy_(avg)


class Lookahead:
    """Lookahead after airbench94: every ``every`` steps, ``slow ← d·slow + (1 − d)·fast`` and the
    network's (fast) weights restart from ``slow``; when the task ends the network keeps ``slow``.
    (airbench also averages BatchNorm's running statistics, starts after 3 of its 10 epochs and
    copies ``slow`` back at every epoch's end; here the ``(step/total)³`` ramp alone keeps it quiet
    early, and the running statistics stay the network's own.)

    ``d = decay × (step / total)³`` grows from 0 to ``decay``: early on the fast weights run free
    (d ≈ 0 copies them into ``slow``), late in the schedule each 5-step excursion is pulled back
    towards where the weights were — an average over the last steps that the training itself
    continues from (unlike :class:`WeightAverage`, which the network never sees until the end).
    As there, only trainable parameters take part: a frozen task's weights are never written."""

    def __init__(self, model: nn.Module, decay: float, total: int, every: int = 5) -> None:
        self.decay, self.total, self.every = float(decay), max(int(total), 1), int(every)
        self.pairs = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]

    @torch.no_grad()
    def update(self, step: int) -> None:
        """After optimiser step number ``step`` (1-based) of the task."""
        if step % self.every == 0:
            self.sync(self.decay * (step / self.total) ** 3)

    @torch.no_grad()
    def sync(self, d: float) -> None:
        for p, slow in self.pairs:
            slow.lerp_(p, 1.0 - d)
            p.copy_(slow)

    def apply(self) -> None:
        """The end of the task: the network takes the slow weights."""
        self.sync(1.0)


def step_budget(data: TaskData, profile: Profile) -> tuple[int, int]:
    """``(epochs, steps)`` task ``data`` trains for under ``profile`` (``max_steps_per_task`` caps the steps)."""
    epochs = profile.epochs_for(data.name)
    total = epochs * data.num_train_batches(profile.batch_size)
    if profile.max_steps_per_task is not None:
        total = min(total, profile.max_steps_per_task)
    return epochs, total


@dataclass
class TaskReport:
    """What happened while training one task (or, for joint training, all of them)."""

    steps: int = 0
    epochs: int = 0
    final_loss: float = math.nan
    train_accuracy: float = math.nan  # running accuracy of the last epoch (augmented batches)
    val_accuracy: float | list[float | None] | None = None
    growth_decisions: list[dict[str, Any]] = field(default_factory=list)
    compaction: dict[str, Any] | None = None  # what automatic compaction tried and chose
    extra: dict[str, Any] = field(default_factory=dict)  # a method's own record (e.g. joint's step budgets)
    clipped_steps: int | None = None  # steps whose gradient norm was above profile.grad_clip (None: no clipping)


class _Trainer:
    """The optimiser, schedule and one training step shared by both batch sources."""

    def __init__(self, model: nn.Module, profile: Profile, hooks: PlainHooks, total: int, device, bar) -> None:
        self.model, self.profile, self.hooks, self.device, self.bar = model, profile, hooks, device, bar
        dtype = training_dtype(profile, device)  # the autocast of every step, decided once
        self.autocast = dict(device_type=torch.device(device).type, dtype=dtype or torch.bfloat16,
                             enabled=dtype is not None)
        self.step, self.total = 0, total
        self.correct = self.seen = 0
        self.clipped = 0  # steps whose gradients were scaled down (profile.grad_clip)
        self.restart()

    def restart(self) -> None:
        """(Re)build the optimiser, schedule and weight average for the remaining steps (after the model's
        parameters changed)."""
        self.optimizer = make_optimizer(self.model, self.profile)
        self.scheduler = make_schedule(self.optimizer, self.profile, self.total - self.step)
        self.average = WeightAverage(self.model, self.profile.weight_average) if self.profile.weight_average else None
        self.lookahead = Lookahead(self.model, self.profile.lookahead, self.total) if self.profile.lookahead else None
        self.model.train()

    def clip(self, task: int, name: str, epoch: int) -> None:
        """Scale every gradient by one factor so that their total L2 norm is at most ``profile.grad_clip``.

        Runs after the method's ``after_backward`` (SynapticNet's masks, GEM's projection): one common
        factor keeps every direction those guarantee, and a gradient that is exactly zero stays zero.
        """
        limit = self.profile.grad_clip
        norm = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.grad is not None], limit)
        if not torch.isfinite(norm):
            self.bar.close()
            raise TrainingDiverged(f"task {task} ({name}): the gradient became {norm.item()} at step {self.step} "
                                   f"(epoch {epoch}); stopping instead of writing garbage results")
        self.clipped += int(norm.item() > limit)

    def finish(self) -> None:
        """The end of training: the network takes its averaged (or Lookahead's slow) weights, if the profile says so."""
        if self.lookahead is not None:
            self.lookahead.apply()
        if self.average is not None and self.average.steps:
            self.average.apply()

    def __call__(self, x: Tensor, y: Tensor, task: int, name: str, epoch: int, report: TaskReport) -> None:
        x, y = to_device(x, self.device), y.to(self.device)
        with torch.autocast(**self.autocast):
            logits = self.model(x, task_id=task)
            loss = self.hooks.loss(self.model, logits, y, x, task)
        if not torch.isfinite(loss):
            self.bar.close()
            raise TrainingDiverged(
                f"task {task} ({name}): loss became {loss.item()} at step {self.step} (epoch {epoch}); "
                f"stopping instead of writing garbage results. {self.hooks.divergence_hint()}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.hooks.after_backward(self.model, task)
        if self.profile.grad_clip is not None:
            self.clip(task, name, epoch)
        self.optimizer.step()
        self.scheduler.step()
        if self.average is not None:
            self.average.update()
        self.step += 1
        if self.lookahead is not None:
            self.lookahead.update(self.step)
        self.correct += (logits.argmax(1) == y).sum().item()
        self.seen += y.numel()
        report.final_loss = loss.item()
        self.bar.update(1)
        if self.step % 20 == 0 or self.step == self.total:
            # refresh=False: the bar redraws at its own pace (mininterval); forcing it printed hundreds of lines
            self.bar.set_postfix(loss=f"{report.final_loss:.3f}", acc=f"{self.correct / self.seen:.3f}", epoch=epoch,
                                 refresh=False)


def train_task(model: nn.Module, data: TaskData, profile: Profile, device: torch.device | str = "cpu",
               progress: bool = True, hooks: PlainHooks | None = None) -> TaskReport:
    """Train task ``data.task_id`` of ``model`` for the profile's epochs (capped by ``max_steps_per_task``).

    ``model`` is anything called as ``model(x, task_id=t)``. ``hooks`` (a method from
    :mod:`synapticnet.methods`, or anything with its four hooks) customises the loss and
    what happens after each backward pass, each epoch and the whole task; default: plain
    cross-entropy. When ``after_epoch`` returns ``True`` (it changed the model's parameters,
    e.g. widened the task) the optimiser and schedule are rebuilt for the remaining steps.
    """
    hooks = hooks if hooks is not None else PlainHooks(profile)
    task = data.task_id
    epochs, total = step_budget(data, profile)
    report = TaskReport()
    bar = progress_bar(total=total, desc=f"task {task} {data.name}", unit="batch", disable=not progress, leave=True)
    trainer = _Trainer(model, profile, hooks, total, device, bar)
    for epoch in range(epochs):
        if trainer.step >= total:
            break
        trainer.correct = trainer.seen = 0
        for x, y in data.train_batches(profile.batch_size, epoch=epoch):
            if trainer.step >= total:
                break
            trainer(x, y, task, data.name, epoch, report)
        report.epochs = epoch + 1
        report.train_accuracy = trainer.correct / max(trainer.seen, 1)
        if hooks.after_epoch(model, data, epoch, epochs, report, bar.write):
            trainer.restart()
    bar.close()
    trainer.finish()
    report.steps = trainer.step
    report.clipped_steps = trainer.clipped if profile.grad_clip is not None else None
    hooks.after_training(model, data, report, progress)
    if getattr(data, "n_val", 1):
        report.val_accuracy = evaluate(model, data, "val", device)
    return report


def train_interleaved(model: nn.Module, datasets: Sequence[TaskData], order: Sequence[int], profile: Profile,
                      device: torch.device | str = "cpu", progress: bool = True, hooks: PlainHooks | None = None
                      ) -> TaskReport:
    """Train several tasks at once: step ``s`` takes the next batch of task ``order[s]``.

    Each task's batches come epoch after epoch, each epoch with its own seeded shuffle,
    for as long as ``order`` asks for them. The same step, loss hook and schedule as
    :func:`train_task` (one schedule over ``len(order)`` steps).
    """
    hooks = hooks if hooks is not None else PlainHooks(profile)

    def endless(d: TaskData) -> Iterator[tuple[Tensor, Tensor]]:
        epoch = 0
        while True:
            yield from d.train_batches(profile.batch_size, epoch=epoch)
            epoch += 1

    streams = [endless(d) for d in datasets]
    report = TaskReport()
    bar = progress_bar(total=len(order), desc="all tasks", unit="batch", disable=not progress, leave=True)
    trainer = _Trainer(model, profile, hooks, len(order), device, bar)
    for t in order:
        x, y = next(streams[t])
        trainer(x, y, int(t), datasets[int(t)].name, 0, report)
    bar.close()
    trainer.finish()
    report.steps, report.epochs = trainer.step, 1
    report.clipped_steps = trainer.clipped if profile.grad_clip is not None else None
    report.train_accuracy = trainer.correct / max(trainer.seen, 1)
    report.val_accuracy = [evaluate(model, d, "val", device) if d.n_val else None for d in datasets]
    return report
