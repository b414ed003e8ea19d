"""Baselines: what SynapticNet is compared with, on the same stream, budget and evaluation.

Every method here learns the same tasks in the same order, with the same data
(:func:`synapticnet.run.load_task_data`), epochs, optimiser and schedule
(:func:`synapticnet.engine.train_task`), and is evaluated the same way (test accuracy
of every task seen so far after each task) into the same ``results.json`` keys as
:func:`synapticnet.run.build_results`, with ``method`` set. So one figure compares them.

=================  ===========================================================================
``finetune``       one shared network, one head per task, no protection: the forgetting reference
``ewc``            Elastic Weight Consolidation (Kirkpatrick et al., 2017): a quadratic penalty
                   ``λ/2 · Σ_k Σ_i F_k,i (θ_i − θ*_k,i)²`` summed over *all* previous tasks ``k``
                   (one Fisher and one anchor per task, not the online variant). ``F_k`` is the
                   diagonal *empirical* Fisher on ``fisher_samples`` (512) training examples of
                   task ``k``: the mean squared per-example gradient of the cross-entropy with
                   the true labels (per-example gradients with ``torch.func.vmap``).
``replay``         experience replay: after each task, ``memory_per_task`` training examples
                   (default 200, stratified by class) go into a memory; every training step adds
                   one replayed batch (``batch_size`` examples spread over the old tasks), each
                   sample through its own task's head.
``lwf``            Learning without Forgetting (Li & Hoiem, 2016): a frozen copy of the network
                   taken before task ``t`` gives the old heads' soft outputs on the new task's
                   inputs, on the fly; loss = CE + λ·T²·Σ_old KL(teacher/T ‖ student/T).
``joint``          all tasks at once (an upper bound, *not* continual): the same total number of
                   steps as the sequence, each task getting exactly its sequential number of
                   steps, interleaved in a seeded random order.
``separate``       one independent network of task 0's width per task: no sharing at all, the
                   reference for parameter cost (and zero forgetting by construction).
=================  ===========================================================================

**Capacity.** The shared network (finetune, ewc, replay, lwf, joint) is a plain
:class:`MultiHeadCNN` whose width in every layer is the width SynapticNet reaches after
its last task in the same profile: task 0's width plus every growth (see
:func:`final_width`). It has *more* parameters than SynapticNet (dense connections
between all units, where SynapticNet has only old→new ones) — so the comparison is
generous to the baselines; ``params_total`` is recorded in every result.

**Joint training's results.** It is evaluated once, after training: ``accuracy_matrix``
is a single row ``[[acc_0, …, acc_{T-1}]]``, ``final_accuracy`` and ``average_accuracy``
come from that row, ``bwt`` and ``forgetting`` are ``None`` (there is no sequence),
``evaluation`` says ``"joint (one final row)"``; per-task fields (``steps_per_task``,
``train_seconds_per_task``) hold one entry for the whole run.

Baseline runs write ``results.json`` but no checkpoint (they are short and not resumed).
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import data as data_lib
from .engine import (TrainingDiverged, _schedule, check_finite, evaluate, make_optimizer, seed_everything,
                     select_device, train_task)
from .model import MultiTaskConvSynapticNet
from .profiles import Profile, get_profile
from .run import (CHANNELS, IMAGE_SIZE, RESULTS, as_datasets, build_results, check_tasks, check_writable, data_record,
                  load_task_data, task_seed)
from .storage import save_json
from .synthetic import make_synthetic

METHODS = ("finetune", "ewc", "replay", "lwf", "joint", "separate", "synapticnet", "synapticnet_distill")
# The hyper-parameter each method's sweep tunes, and its default value.
DEFAULTS: dict[str, dict[str, Any]] = {
    "finetune": {},
    "ewc": {"ewc_lambda": 100.0, "fisher_samples": 512, "fisher_batch": 8},
    "replay": {"memory_per_task": 200},
    "lwf": {"lwf_lambda": 0.3, "temperature": 2.0},
    "joint": {},
    "separate": {},
    "synapticnet": {},
    "synapticnet_distill": {"lwf_lambda": 0.3, "temperature": 2.0},
}
SWEPT = {"ewc": "ewc_lambda", "replay": "memory_per_task", "lwf": "lwf_lambda", "synapticnet_distill": "lwf_lambda"}


# --------------------------------------------------------------------------------------
# The backbone
# --------------------------------------------------------------------------------------
class MultiHeadCNN(nn.Module):
    """A plain CNN with one output head per task — SynapticNet's backbone without the gating.

    conv3×3 → BatchNorm → ReLU → 2×2 max-pool per entry of ``conv_channels``; flatten
    (after average-pooling the maps to ``pooled_size``², if set — as SynapticNet's
    ``pooled_size``); Linear → ReLU → Dropout per entry of ``hidden``; then ``heads[task_id]``.
    """

    def __init__(self, conv_channels: Sequence[int] = (32, 64, 128), hidden: Sequence[int] = (256,),
                 num_classes: Sequence[int] | int = (10,), dropout: float = 0.1, in_channels: int = 3,
                 image_size: int = 32, pooled_size: int | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for c in conv_channels:
            layers += [nn.Conv2d(width, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            width = c
        side = image_size // 2 ** len(conv_channels)
        if pooled_size is not None:
            layers.append(nn.AdaptiveAvgPool2d(pooled_size))
            side = pooled_size
        layers.append(nn.Flatten())
        width *= side**2
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.heads = nn.ModuleList()
        for k in [num_classes] if isinstance(num_classes, int) else num_classes:
            self.add_head(k)
        self.last_features: Tensor | None = None  # kept by forward() for losses on other heads

    @property
    def num_tasks(self) -> int:
        return len(self.heads)

    def add_head(self, num_classes: int) -> int:
        """Add an output head for a new task; returns its task id."""
        ref = next(self.body.parameters())
        self.heads.append(nn.Linear(self.feature_dim, num_classes).to(ref.device, ref.dtype))
        return self.num_tasks - 1

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        self.last_features = self.body(x)
        return self.heads[task_id](self.last_features)

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.body.parameters())

    # The accounting methods of MultiTaskConvSynapticNet, so run.build_results works unchanged.
    def num_parameters(self, task_id: int | None = None) -> int:
        body = sum(p.numel() for p in self.body.parameters())
        if task_id is None:
            return body + sum(p.numel() for p in self.heads.parameters())
        return body + sum(p.numel() for p in self.heads[task_id].parameters())

    def parameters_per_task(self) -> list[int]:
        """Task 0 created the backbone and its head; every later task only its head."""
        heads = [sum(p.numel() for p in h.parameters()) for h in self.heads]
        return [heads[0] + sum(p.numel() for p in self.body.parameters()), *heads[1:]]


class SeparateNetworks(nn.Module):
    """One independent :class:`MultiHeadCNN` per task (no sharing): ``nets[t](x)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs
        self.nets = nn.ModuleList()

    @property
    def num_tasks(self) -> int:
        return len(self.nets)

    def add_head(self, num_classes: int) -> int:
        """A new task gets a whole new network."""
        self.nets.append(MultiHeadCNN(num_classes=(num_classes,), **self.kwargs))
        return self.num_tasks - 1

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        return self.nets[task_id](x, 0)

    def num_parameters(self, task_id: int | None = None) -> int:
        if task_id is None:
            return sum(p.numel() for p in self.parameters())
        return self.nets[task_id].num_parameters()

    def parameters_per_task(self) -> list[int]:
        return [net.num_parameters() for net in self.nets]


def final_width(profile: Profile, tasks: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """SynapticNet's width per layer after the last task: task 0's widths + every growth."""
    conv, hidden = list(profile.conv_channels), list(profile.hidden)
    for name in tasks[1:]:
        g_conv, g_hidden = profile.growth_for(name)
        conv = [c + g for c, g in zip(conv, g_conv)]
        hidden = [h + g for h, g in zip(hidden, g_hidden)]
    return tuple(conv), tuple(hidden)


def build_model(method: str, profile: Profile, tasks: Sequence[str], first_classes: int) -> nn.Module:
    """The network a method starts with (one head, for task 0)."""
    if method in ("synapticnet", "synapticnet_distill"):
        return MultiTaskConvSynapticNet(in_channels=CHANNELS, num_classes=first_classes, image_size=IMAGE_SIZE,
                                        **profile.model_kwargs())
    if method == "separate":
        model = SeparateNetworks(conv_channels=profile.conv_channels, hidden=profile.hidden,
                                 dropout=profile.dropout, in_channels=CHANNELS, image_size=IMAGE_SIZE,
                                 pooled_size=profile.pooled_size)
        model.add_head(first_classes)
        return model
    conv, hidden = final_width(profile, tasks)
    return MultiHeadCNN(conv, hidden, (first_classes,), profile.dropout, CHANNELS, IMAGE_SIZE, profile.pooled_size)


# --------------------------------------------------------------------------------------
# The methods' extra ingredients
# --------------------------------------------------------------------------------------
def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``, averaged over the batch (Hinton et al.)."""
    T = float(temperature)
    return T * T * F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                            reduction="batchmean", log_target=True)


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
    was_training = model.training
    model.eval()
    seen = 0
    for x, y in data.eval_batches("train", batch_size):
        x, y = x[: samples - seen].to(device), y[: samples - seen].to(device)
        for n, g in per_example(body_params, x, y).items():
            fisher[n] += (g**2).sum(0)
        seen += y.numel()
        if seen >= samples:
            break
    model.train(was_training)
    return [fisher[n] / max(seen, 1) for n, _ in model.body.named_parameters()]


def stratified_memory(data, per_task: int, seed: int) -> tuple[Tensor, Tensor]:
    """``per_task`` training examples of one task, equal per class (as far as possible), normalised."""
    images, labels = data.raw("train")
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    counts = data_lib.balanced_counts(np.bincount(y, minlength=data.num_classes), min(per_task, len(y)), rng)
    index = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c, n in enumerate(counts)])
    index = torch.from_numpy(np.sort(index))
    return data._finish(images[index]), labels[index].clone()  # the task's own normalisation


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


class Unmasked(nn.Module):
    """Wraps a SynapticNet so :func:`engine.train_task` does not apply the gradient mask."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, task_id: int) -> Tensor:
        return self.model(x, task_id=task_id)


def _old_logits(model: nn.Module, x: Tensor, old_tasks: range, features: Tensor | None = None) -> list[Tensor]:
    """Logits of every old head on ``x``: one backbone pass for a MultiHeadCNN (or the
    ``features`` it just computed), one pass per task for a SynapticNet."""
    if isinstance(model, MultiHeadCNN):
        feats = model.features(x) if features is None else features
        return [model.heads[k](feats) for k in old_tasks]
    return [model(x, task_id=k) for k in old_tasks]


def _train_one(method: str, model: nn.Module, datasets: list, i: int, profile: Profile, device, progress: bool,
               hyper: dict[str, Any], state: dict[str, Any]):
    """Train task ``i`` with ``method``; ``state`` carries what the method remembers across tasks."""
    data = datasets[i]
    ce = lambda logits, y: F.cross_entropy(logits, y, label_smoothing=profile.label_smoothing)  # noqa: E731
    if method in ("finetune", "separate", "synapticnet") or i == 0:  # nothing to protect yet
        return train_task(model, data, profile, device=device, progress=progress)

    if method == "ewc":
        lam = float(hyper["ewc_lambda"])
        params = model.backbone_parameters()

        def loss_fn(logits, y, x):
            penalty = sum((f * (p - a) ** 2).sum() for fisher, anchor in state["ewc"]
                          for f, p, a in zip(fisher, params, anchor))
            return ce(logits, y) + 0.5 * lam * penalty
        return train_task(model, data, profile, device=device, progress=progress, loss_fn=loss_fn)

    if method == "replay":
        memory = state["memory"]  # [(images, labels)] of tasks 0..i-1
        gen = torch.Generator().manual_seed(task_seed(state["seed"], i) + 7)
        per_task = max(1, profile.batch_size // len(memory))

        def loss_fn(logits, y, x):
            loss = ce(logits, y) * y.numel()
            count = y.numel()
            for k, (mx, my) in enumerate(memory):
                pick = torch.randint(len(my), (min(per_task, len(my)),), generator=gen)
                yk = my[pick].to(device)
                loss = loss + F.cross_entropy(model(mx[pick].to(device), task_id=k), yk,
                                              label_smoothing=profile.label_smoothing, reduction="sum")
                count += yk.numel()
            return loss / count  # every example, new or replayed, weighs the same
        return train_task(model, data, profile, device=device, progress=progress, loss_fn=loss_fn)

    if method in ("lwf", "synapticnet_distill"):
        lam, T = float(hyper["lwf_lambda"]), float(hyper["temperature"])
        teacher = frozen_teacher(model)
        student = model
        if method == "synapticnet_distill":
            unfreeze_synapticnet(model)
            student = Unmasked(model)

        def loss_fn(logits, y, x):
            with torch.no_grad():
                targets = _old_logits(teacher, x, range(i))
            outputs = _old_logits(model, x, range(i), getattr(model, "last_features", None))
            return ce(logits, y) + lam * sum(kd_loss(s, t, T) for s, t in zip(outputs, targets))
        try:
            return train_task(student, data, profile, device=device, progress=progress, loss_fn=loss_fn)
        finally:
            if method == "synapticnet_distill":
                refreeze_synapticnet(model)
    raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")


def _after_task(method: str, model: nn.Module, datasets: list, i: int, device, hyper: dict[str, Any],
                state: dict[str, Any]) -> None:
    """What a method stores once task ``i`` is learned (Fisher + anchor, memory)."""
    if method == "ewc":
        fisher = empirical_fisher(model, datasets[i], i, device, int(hyper["fisher_samples"]), int(hyper["fisher_batch"]))
        state["ewc"].append((fisher, [p.detach().clone() for p in model.backbone_parameters()]))
    elif method == "replay" and i + 1 < len(datasets):
        state["memory"].append(stratified_memory(datasets[i], int(hyper["memory_per_task"]), task_seed(state["seed"], i)))


def _next_task(method: str, model: nn.Module, profile: Profile, data) -> None:
    """Make room for the next task: a SynapticNet grows, the others get a head / network."""
    if method in ("synapticnet", "synapticnet_distill"):
        conv, hidden = profile.growth_for(data.name)
        model.grow(num_classes=data.num_classes, grow_conv_channels=conv, grow_hidden=hidden)
    else:
        model.add_head(data.num_classes)


# --------------------------------------------------------------------------------------
# Running a method on a stream
# --------------------------------------------------------------------------------------
def run_baseline(
    method: str,
    tasks: Sequence[str] | Sequence[data_lib.TaskDataset] | str | None = None,
    profile: Profile | str = "cpu",
    data_root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
    device: str | None = None,
    download: bool = True,
    unavailable: dict[str, str] | None = None,
    datasets: list | None = None,
    eval_split: str = "test",
    **hyper: Any,
) -> dict[str, Any]:
    """Learn ``tasks`` in order with ``method`` (see the module docstring); return and write results.

    Args:
        method: one of :data:`METHODS`. ``"synapticnet"`` here is the same algorithm as
            :func:`synapticnet.run.run_sequence` without checkpoints (for custom streams);
            ``"synapticnet_distill"`` is the distillation option (see
            :mod:`synapticnet.studies`).
        tasks, profile, data_root, seed, progress, device, download, unavailable: as in
            :func:`synapticnet.run.run_sequence` (names, or your own ``TaskDataset`` objects).
        out_dir: where ``results.json`` goes (default ``runs/baselines/<method>``).
        datasets: already-loaded :class:`~synapticnet.data.TaskDataset` s (then ``tasks``
            is ignored) — for sweeps and custom streams such as :func:`conflict_stream`.
        eval_split: ``"test"`` for results, ``"val"`` for tuning (then the test split is
            never evaluated).
        **hyper: the method's hyper-parameters (defaults in :data:`DEFAULTS`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    unknown = set(hyper) - set(DEFAULTS[method])
    if unknown:
        raise ValueError(f"{method} has no hyper-parameter(s) {sorted(unknown)}; it takes {sorted(DEFAULTS[method])}")
    hyper = {**DEFAULTS[method], **hyper}
    profile = get_profile(profile) if isinstance(profile, str) else profile
    device = select_device(device)
    datasets = datasets if datasets is not None else as_datasets(tasks)
    if datasets is None:
        tasks = check_tasks(tasks if tasks is not None else profile.default_tasks)
        datasets = load_task_data(tasks, profile, data_root, seed, download)
    tasks = [d.name for d in datasets]
    out = check_writable(Path(out_dir if out_dir is not None else f"runs/baselines/{method}"))
    provenance = [data_record(d, data_root) for d in datasets]
    state: dict[str, Any] = dict(finished=0, rows=[], train_seconds=[], val_accuracy=[], growth_decisions=[],
                                 steps=[], unavailable=dict(unavailable or {}),
                                 started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    memo: dict[str, Any] = dict(ewc=[], memory=[], seed=seed)

    if method == "joint":
        model, results = _run_joint(datasets, profile, device, seed, progress, eval_split, state, data_root)
    else:
        model = None
        for i, data in enumerate(datasets):
            seed_everything(task_seed(seed, i))
            if model is None:
                model = build_model(method, profile, tasks, data.num_classes).to(device)
            else:
                _next_task(method, model, profile, data)
                model.to(device)
            start = time.perf_counter()
            report = _train_one(method, model, datasets, i, profile, device, progress, hyper, memo)
            check_finite(model, f"{method}, task {i} ({data.name})")
            _after_task(method, model, datasets, i, device, hyper, memo)
            state["train_seconds"].append(time.perf_counter() - start)
            state["rows"].append([evaluate(model, datasets[j], eval_split, device) for j in range(i + 1)])
            state["val_accuracy"].append(report.val_accuracy)
            state["steps"].append(report.steps)
            state["growth_decisions"].extend(report.growth_decisions)
            if report.compaction is not None:
                state.setdefault("compaction", []).append(report.compaction)
            state["finished"] = i + 1
            if progress:
                print(f"{method} after task {i} ({data.title}): "
                      + "  ".join(f"{tasks[j]} {100 * a:.2f}%" for j, a in enumerate(state["rows"][-1])))
        results = build_results(state, tasks, datasets, model, profile, seed, device, provenance)
    results.update(method=method, hyper={k: v for k, v in hyper.items()}, eval_split=eval_split)
    if method not in ("synapticnet", "synapticnet_distill", "separate", "joint"):
        results["width"] = dict(zip(("conv_channels", "hidden"), map(list, final_width(profile, tasks))))
    save_json(results, out / RESULTS)
    return results


def _run_joint(datasets: list, profile: Profile, device, seed: int, progress: bool, eval_split: str,
               state: dict[str, Any], data_root: str | os.PathLike | None = None):
    """All tasks at once: each task gets its sequential number of steps, interleaved at random."""
    seed_everything(task_seed(seed, 0))
    tasks = [d.name for d in datasets]
    model = build_model("joint", profile, tasks, datasets[0].num_classes).to(device)
    for d in datasets[1:]:
        model.add_head(d.num_classes)
    budget = []
    for d in datasets:
        steps = profile.epochs_for(d.name) * d.num_train_batches(profile.batch_size)
        budget.append(steps if profile.max_steps_per_task is None else min(steps, profile.max_steps_per_task))
    order = np.random.default_rng(task_seed(seed, 0)).permutation(np.repeat(np.arange(len(datasets)), budget))
    optimizer = make_optimizer(model, profile)
    scheduler = _schedule(optimizer, profile, len(order))

    def batches(d):  # endless: epoch after epoch, each with its own seeded shuffle
        epoch = 0
        while True:
            yield from d.train_batches(profile.batch_size, epoch=epoch)
            epoch += 1
    streams = [batches(d) for d in datasets]
    model.train()
    start = time.perf_counter()
    for step, t in enumerate(order):
        x, y = next(streams[t])
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x, task_id=int(t)), y, label_smoothing=profile.label_smoothing)
        if not torch.isfinite(loss):
            raise RuntimeError(f"joint training diverged at step {step} (loss {loss.item()})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if progress and (step + 1) % 200 == 0:
            print(f"joint: step {step + 1}/{len(order)}, loss {loss.item():.3f}")
    state["train_seconds"].append(time.perf_counter() - start)
    state["steps"].append(len(order))
    state["val_accuracy"] = [evaluate(model, d, "val", device) if d.n_val else None for d in datasets]
    row = [evaluate(model, d, eval_split, device) for d in datasets]
    results = build_results(state, tasks, datasets, model, profile, seed, device,
                            [data_record(d, data_root) for d in datasets])
    results.update(complete=True, accuracy_matrix=[row], final_accuracy=dict(zip(tasks, row)),
                   average_accuracy=sum(row) / len(row), bwt=None, forgetting=None,
                   evaluation="joint (one final row)", steps_budget_per_task=budget)
    if progress:
        print("joint: " + "  ".join(f"{n} {100 * a:.2f}%" for n, a in zip(tasks, row)))
    return model, results


# --------------------------------------------------------------------------------------
# Tuning on the validation split
# --------------------------------------------------------------------------------------
def sweep(method: str, values: Sequence[Any], tasks: Sequence[str] | str | None = None,
          profile: Profile | str = "cpu", data_root: str | os.PathLike | None = None, seed: int = 0,
          param: str | None = None, out_dir: str | os.PathLike | None = None, progress: bool = False,
          datasets: list | None = None, download: bool = True, **fixed: Any) -> dict[str, Any]:
    """Tune one hyper-parameter of ``method`` on the *validation* split (never the test split).

    Runs the whole sequence once per value with ``eval_split="val"`` and scores it by
    the final average validation accuracy over all tasks; a value whose training
    diverges (NaN/inf loss) scores ``None`` and cannot be chosen. Returns ``{"method",
    "param", "values", "val_average_accuracy", "val_bwt", "chosen"}``.
    """
    param = param or SWEPT[method]
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if datasets is None:
        datasets = load_task_data(check_tasks(tasks if tasks is not None else profile.default_tasks),
                                  profile, data_root, seed, download)
    root = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix=f"sweep-{method}-"))
    scores, bwts = [], []
    for v in values:
        try:
            r = run_baseline(method, profile=profile, out_dir=root / f"{param}={v}", seed=seed, progress=progress,
                             datasets=datasets, eval_split="val", data_root=data_root, **{param: v}, **fixed)
        except TrainingDiverged as error:  # e.g. an EWC penalty too stiff for the learning rate
            print(f"{method} {param}={v}: diverged ({str(error).split(';')[0]}); scored as failed")
            scores.append(None)
            bwts.append(None)
            continue
        scores.append(r["average_accuracy"])
        bwts.append(r["bwt"])
    finite = [i for i, a in enumerate(scores) if a is not None]
    if not finite:
        raise TrainingDiverged(f"every value of {param} diverged for {method}: {list(values)}")
    best = max(finite, key=lambda i: scores[i])  # the first of equal scores wins
    return dict(method=method, param=param, values=list(values), val_average_accuracy=scores, val_bwt=bwts,
                chosen=values[best], tasks=[d.name for d in datasets], profile=profile.name, seed=seed)


# --------------------------------------------------------------------------------------
# Aggregating seeds
# --------------------------------------------------------------------------------------
def mean_std(runs: Sequence[dict[str, Any]], keys: Sequence[str] = ("average_accuracy", "bwt", "forgetting")
             ) -> dict[str, Any]:
    """Mean and (sample) standard deviation of some results fields over runs (seeds); None stays None."""
    out: dict[str, Any] = {"method": runs[0].get("method"), "seeds": [r.get("seed") for r in runs],
                           "params_total": runs[0].get("params_total")}
    for key in (*keys, "train_seconds_total"):
        values = [r.get(key) for r in runs]
        if any(v is None for v in values):
            out[key] = out[key + "_std"] = None
            continue
        out[key] = float(np.mean(values))
        out[key + "_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return out


# --------------------------------------------------------------------------------------
# A stream built to conflict (tests, demonstrations)
# --------------------------------------------------------------------------------------
def conflict_stream(profile: Profile, seed: int = 0, n_train: int = 2000, n_test: int = 400,
                    num_classes: int = 4) -> list:
    """Two synthetic tasks that fight over the same features — fine-tuning must forget.

    Task A: a small procedural dataset (:func:`synapticnet.synthetic.make_synthetic`).
    Task B: *the same images* with their labels shuffled across the examples (one fixed
    permutation per split), so no feature of an image predicts its B label. Learning B is
    memorisation: every step of it pushes the shared backbone away from the features A
    relied on, for as long as B trains. The effect is large (fine-tuning's BWT is about
    −0.6 to −0.75 on this stream, measured with torch's default, AVX2 and AVX-512 CPU
    kernels at 1 and 2 threads), so tests built on it hold on any CPU. B's own accuracy
    stays at chance: it is there only to cause forgetting.
    """
    arrays = make_synthetic(num_classes, 28, 1, n_train, n_test, seed=seed + 4242, noise=0.15, clutter=0)
    rng = np.random.default_rng(seed + 17)
    b = {}
    for split in ("train", "test"):
        b[f"x_{split}"] = arrays[f"x_{split}"].copy()
        b[f"y_{split}"] = rng.permutation(arrays[f"y_{split}"])
    return [
        data_lib.TaskDataset(arr, task_id=i, image_size=IMAGE_SIZE, channels=CHANNELS, n_train=profile.n_train,
                             val_size=profile.val_size, seed=task_seed(seed, i), name=name,
                             crop_padding=profile.crop_padding)
        for i, (name, arr) in enumerate((("conflict_a", arrays), ("conflict_b", b)))
    ]


# --------------------------------------------------------------------------------------
# The comparison notebook 04 runs
# --------------------------------------------------------------------------------------
def compare(methods: Sequence[str], seeds: Sequence[int], tasks: Sequence[str], profile: Profile,
            out_dir: str | os.PathLike, data_root: str | os.PathLike | None = None,
            hyper: dict[str, dict[str, Any]] | None = None, unavailable: dict[str, str] | None = None,
            progress: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Run every method on the same stream for every seed: ``{method: [results per seed]}``.

    ``"synapticnet"`` goes through :func:`synapticnet.run.run_sequence` (the real thing,
    with checkpoints); the others through :func:`run_baseline` with ``hyper[method]``.
    Each run writes to ``out_dir/<method>_s<seed>/``.
    """
    from .run import run_sequence
    from .run import fresh_run_dir

    hyper = hyper or {}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in seeds:
        datasets = None
        for method in methods:
            out = fresh_run_dir(Path(out_dir) / f"{method}_s{seed}")
            start = time.perf_counter()
            if method == "synapticnet":
                r = run_sequence(tasks, profile, data_root=data_root, out_dir=out, seed=seed, progress=progress,
                                 unavailable=unavailable)
            else:
                if datasets is None:
                    datasets = load_task_data(tasks, profile, data_root, seed)
                r = run_baseline(method, profile=profile, data_root=data_root, out_dir=out, seed=seed,
                                 progress=progress, datasets=datasets, unavailable=unavailable,
                                 **hyper.get(method, {}))
            r["wall_seconds"] = time.perf_counter() - start
            runs[method].append(r)
            bwt = "—" if r["bwt"] is None else f"{100 * r['bwt']:+.2f}"
            print(f"seed {seed} {method:>12}: average accuracy {100 * r['average_accuracy']:.2f}%, BWT {bwt}, "
                  f"{r['params_total']:,} parameters, {r['wall_seconds']:.0f} s")
    return runs


# --------------------------------------------------------------------------------------
# The budget notebooks 04 and 05 share
# --------------------------------------------------------------------------------------
# Changes to each profile for notebooks 04 and 05. The shared network of five baselines is
# as wide as SynapticNet's final width, and every method runs 3 seeds plus validation
# sweeps, so on a CPU the two notebooks train on a stratified subset of each task's
# training split with a narrow task-0 network (sized by measuring single runs on a 2-core
# CPU so that both notebooks together take under 30 minutes). Test sets stay complete.
# Every figure title says what the budget trades away (budget_label). The cpu budget also
# switches to plain reuse mode without compaction, the design's default (smoke and full
# profiles), so that 04 and 05 study growth itself; in isolate mode with growth equal to task
# 0's width SynapticNet would be exactly the "separate" baseline. The cpu profile's own
# default (conv-reuse + compaction) is what notebook 06's front chose.
NOTEBOOK_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": dict(n_train=160, val_size=40, epochs={"default": 2}, max_steps_per_task=3, batch_size=32),
    "cpu": dict(n_train=4000, val_size=500, epochs={"default": 3}, conv_channels=(8, 16, 32), hidden=(64,),
                growth={"default": ((8, 16, 32), (64,))}, mode="reuse", dense_mode=None, compaction=None),
    "full": {},
}


def notebook_budget(profile: Profile | str) -> Profile:
    """The profile notebooks 04 and 05 run: ``profile`` with :data:`NOTEBOOK_BUDGETS` applied."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    return profile.replace(**NOTEBOOK_BUDGETS.get(profile.name, {}))


def budget_label(profile: Profile, tasks: Sequence[str]) -> str:
    """A short description of a time-budgeted profile for figure titles.

    It names what the budget trades away: the training subset per task, the epochs, the
    task-0 width, a step cap if any, and synthetic stand-in data if the tasks are synthetic.
    """
    epochs = [profile.epochs_for(t) for t in tasks]
    if len(set(epochs)) == 1:
        epoch_text = f"{epochs[0]} epoch{'s' if epochs[0] != 1 else ''}/task"
    else:  # name them per task, e.g. "epochs 2/2/4 (mnist/fashion_mnist/cifar10)"
        epoch_text = f"epochs {'/'.join(map(str, epochs))} ({'/'.join(tasks)})"
    n = "all" if profile.n_train is None else f"{profile.n_train:,}"
    label = (f"{profile.name} profile, {n} training images/task, {epoch_text}, "
             f"task-0 width {list(profile.conv_channels)}+{list(profile.hidden)}")
    if profile.max_steps_per_task is not None:
        label += f", ≤{profile.max_steps_per_task} steps/task"
    from .streams import base_dataset  # a stream task is synthetic when its base dataset is

    if any(base_dataset(t) in data_lib.DATASETS and data_lib.is_synthetic(base_dataset(t)) for t in tasks):
        label += ", SYNTHETIC stand-in data"
    return label
