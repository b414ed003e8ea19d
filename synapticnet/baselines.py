"""Baselines: what SynapticNet is compared with, on the same stream, budget and evaluation.

Every method learns the same tasks in the same order, with the same data
(:func:`synapticnet.run.load_task_data`), epochs, optimiser and schedule
(:func:`synapticnet.engine.train_task`), and is evaluated the same way (test accuracy
of every task seen so far after each task) into the same ``results.json`` keys as
:func:`synapticnet.run.build_results`, with ``method`` set. So one figure compares them.

The methods themselves live in :mod:`synapticnet.methods`, one short file each
(``finetune``, ``ewc``, ``replay``, ``lwf``, ``gem``, ``agem``, ``joint``, ``separate``,
``synapticnet``, ``synapticnet_distill``); their docstrings explain each idea and how
its hyper-parameters convert from other libraries' conventions. This module is the
runner (:func:`run_baseline`, :func:`sweep`, :func:`compare`) and what they share.

**Capacity.** The shared network (finetune, ewc, replay, lwf, gem, agem, joint) is a plain
:class:`MultiHeadCNN` whose width in every layer is the width SynapticNet reaches after
its last task in the same profile: task 0's width plus every growth (see
:func:`final_width`). It has *more* parameters than SynapticNet (dense connections
between all units, where SynapticNet has only old→new ones) — so the comparison is
generous to the baselines; ``params_total`` is recorded in every result.

**Joint training** is a multi-task reference at the same step budget, not an upper bound
at this budget (see :mod:`synapticnet.methods.joint`); its ``accuracy_matrix`` is a single
final row and its ``bwt`` and ``forgetting`` are ``None``.

**Scenario.** Every result records ``scenario``: ``"task-incremental"`` (the task
identity picks the head, as everywhere in this project) or ``"class-incremental"``
(``replay``/``gem`` with ``class_incremental=True``: trained over the concatenated heads,
and scored also by :func:`class_incremental_accuracy`, stored as
``class_incremental_accuracy``).

Baseline runs write ``results.json`` but no checkpoint (they are short and not resumed).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from . import data as data_lib
from .engine import TrainingDiverged, check_finite, evaluate, seed_everything, select_device
from .methods import REGISTRY, get_method
from .methods.base import class_incremental_accuracy, stratified_memory  # noqa: F401  (public here)
from .methods.ewc import empirical_fisher  # noqa: F401
from .methods.lwf import frozen_teacher, kd_loss  # noqa: F401
from .methods.networks import MultiHeadCNN, SeparateNetworks, final_width  # noqa: F401
from .methods.synapticnet_distill import Unmasked, refreeze_synapticnet, unfreeze_synapticnet  # noqa: F401
from .profiles import Profile, get_profile
from .run import (CHANNELS, IMAGE_SIZE, RESULTS, as_datasets, build_results, check_tasks, check_writable, data_record,
                  load_task_data, task_seed)
from .storage import save_json
from .synthetic import make_synthetic

METHODS = tuple(REGISTRY)  # the built-in methods, in the registry's order
# Every method's hyper-parameters and their defaults, and the one its sweep tunes.
DEFAULTS: dict[str, dict[str, Any]] = {name: dict(cls.defaults) for name, cls in REGISTRY.items()}
SWEPT = {name: cls.swept for name, cls in REGISTRY.items() if cls.swept}


def build_model(method: str, profile: Profile, tasks: Sequence[str], first_classes: int) -> nn.Module:
    """The network ``method`` starts with (one head, for task 0)."""
    return get_method(method)(profile).build(tasks, first_classes)


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
    """Learn ``tasks`` in order with ``method``; return and write results.

    Args:
        method: a registered method name (:data:`METHODS`, or your own, see
            :mod:`synapticnet.methods`). ``"synapticnet"`` here is the same algorithm as
            :func:`synapticnet.run.run_sequence` without checkpoints (for custom streams).
        tasks, profile, data_root, seed, progress, device, download, unavailable: as in
            :func:`synapticnet.run.run_sequence` (names, or your own ``TaskDataset`` objects).
        out_dir: where ``results.json`` goes (default ``runs/baselines/<method>``).
        datasets: already-loaded :class:`~synapticnet.data.TaskDataset` s (then ``tasks``
            is ignored) — for sweeps and custom streams such as :func:`conflict_stream`.
        eval_split: ``"test"`` for results, ``"val"`` for tuning (then the test split is
            never evaluated).
        **hyper: the method's hyper-parameters (its ``defaults``; :data:`DEFAULTS`).
    """
    cls = get_method(method)
    profile = get_profile(profile) if isinstance(profile, str) else profile
    device = select_device(device)
    algorithm = cls(profile, device, seed, **hyper)  # checks the hyper-parameters' names
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
    if not getattr(algorithm, "sequential", True):
        model, results = algorithm.run(datasets, progress, eval_split, state, data_root)
    else:
        model = None
        for i, data in enumerate(datasets):
            seed_everything(task_seed(seed, i))
            if model is None:
                model = algorithm.build(tasks, data.num_classes).to(device)
            else:
                algorithm.next_task(model, data)
                model.to(device)
            start = time.perf_counter()
            report = algorithm.fit(model, datasets, i, progress)
            check_finite(model, f"{method}, task {i} ({data.name})")
            algorithm.after_task(model, datasets, i)
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
    class_incremental = bool(algorithm.hyper.get("class_incremental", False))
    results.update(method=method, hyper=dict(algorithm.hyper), eval_split=eval_split,
                   scenario="class-incremental" if class_incremental else "task-incremental")
    if class_incremental:
        results["class_incremental_accuracy"] = class_incremental_accuracy(model, datasets, device, eval_split)
    if cls.shared_network and getattr(algorithm, "sequential", True):
        results["width"] = dict(zip(("conv_channels", "hidden"), map(list, final_width(profile, tasks))))
    save_json(results, out / RESULTS)
    return results


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
    param = param or get_method(method).swept
    if param is None:
        raise ValueError(f"{method} has no hyper-parameter to sweep; name one with param=...")
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
def mean_std(runs: Sequence[dict[str, Any]], keys: Sequence[str] = ("average_accuracy", "bwt", "forgetting", "fwt")
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
    return add_forward_transfer(runs)


def add_forward_transfer(runs: dict[str, list[dict[str, Any]]], reference: str = "separate"
                         ) -> dict[str, list[dict[str, Any]]]:
    """Give every run its forward transfer (``fwt``) against the ``reference`` runs of the same seed.

    The ``separate`` baseline trains one network of task 0's width on each task alone, with
    the same data, epochs and optimiser: its accuracy on task ``i`` is the single-task
    reference ``b_i`` of :func:`synapticnet.metrics.forward_transfer`. For SynapticNet (whose
    new tasks grow by task 0's width) FWT is what reading the frozen units of earlier tasks
    adds; for the shared-network methods it also contains their larger width. ``fwt`` is
    ``None`` where it is undefined: without a reference run of that seed, and for joint
    training (one final row, no "right after learning task i"). The runs are changed in place
    and returned.
    """
    from .metrics import forward_transfer

    refs = {r["seed"]: [r["accuracy_matrix"][i][i] for i in range(len(r["accuracy_matrix"]))]
            for r in runs.get(reference, [])}
    for results in runs.values():
        for r in results:
            R, b = r["accuracy_matrix"], refs.get(r["seed"])
            r["fwt"] = forward_transfer(R, b) if b is not None and len(R) == len(b) == len(R[-1]) else None
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
    # the cpu budget on a quarter of the images and 2 epochs: notebooks 04-06 in minutes (student profile)
    "student": dict(n_train=1000, val_size=300, epochs={"default": 2}, conv_channels=(8, 16, 32), hidden=(64,),
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
