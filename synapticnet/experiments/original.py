"""The original design's own recipe, run through this package, scored on training *and* test images.

One idea: a number in a results table means little until you know which images it was measured
on. The original README's table (MNIST 98.89 %, Fashion-MNIST 95.62 %, CIFAR-10 93.62 %,
CIFAR-100 93.89 %: :data:`ORIGINAL_REPORTED`) comes from the original notebook
(:data:`ORIGINAL_NOTEBOOK` in :data:`ORIGINAL_REPOSITORY`), and :data:`HOW_WE_KNOW` lists what
that notebook shows: its data loaders hold the *training* images only, and its final evaluation
reads those same loaders. So those are training-set accuracies.

:func:`run_original` trains the original recipe (:data:`synapticnet.profiles.ORIGINAL`: its
network, Adam, batch 64, epochs and growth) on MNIST → Fashion-MNIST → CIFAR-10 (→ CIFAR-100 where
the data exists) with the package's runner, and writes one JSON (``figures/original_run.json``)
with, per task, the accuracy on its own training images (the original's protocol), on the held-out
test images, its parameters and its training time — the answer to the question a reader of the
original asks first: what does that design reach on images it never trained on?

Parameters are counted two ways (:func:`masked_parameter_count`): the weights each task's column
uses here, and the size of the original's weight matrices, which also hold the (masked, inert)
connections between different tasks' units — 16,217,410 after its four tasks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..profiles import ORIGINAL, ORIGINAL_DIFFERENCES, SYNTHETIC_TASKS, Profile, family
from ..published import published
from ..run import run, split_available
from ..storage import load_json, save_json

ORIGINAL_REPOSITORY = "Harsha-211/SynapticNet-A-Continual-Learning-Architecture-with-Dynamic-Growth"
ORIGINAL_NOTEBOOK = "SynapticNet-CNN-NeuronGenesis.ipynb"
# The original README's table, in percent: accuracy on each task's training images (see HOW_WE_KNOW).
# (The numbers are in synapticnet/published.json, with their source.)
ORIGINAL_REPORTED: dict[str, float] = {task: published(f"original/{task}")["value"]
                                       for task in ("mnist", "fashion_mnist", "cifar10", "cifar100")}
ORIGINAL_PARAMETERS: int = published("original/parameters")["value"]  # printed by the original notebook after its 4 tasks
# What the original notebook shows, cell by cell (its execution counts in brackets).
HOW_WE_KNOW: tuple[str, ...] = (
    "`get_all_dataloaders` builds the MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 loaders with `train=True`; the "
    "notebook builds no test loader.",
    "Its final cell (execution count 26) calls `evaluate_task` on those same loaders (`mnist_loader`, "
    "`fmnist_loader`, `cifar10_loader`, `cifar100_loader`): the table's numbers are accuracies on the training images.",
    "The training cells ran more than once: MNIST [12], the three grow cells [13, 15, 17], the parameter count "
    "[20], then Fashion-MNIST [21], CIFAR-10 [23], CIFAR-100 [25] and the evaluation [26] (execution counts). The "
    "saved first batches of Fashion-MNIST, CIFAR-10 and CIFAR-100 start at 82.81, 90.62 and 84.38 % batch accuracy: "
    "those tasks had been trained before, so for more epochs than the 10 printed.",
)
# The original's epochs as printed and its per-task growth (channels in every conv layer, hidden units, classes).
ORIGINAL_COLUMNS: dict[str, tuple[int, int, int]] = {
    "mnist": (64, 512, 10), "fashion_mnist": (64, 512, 10), "cifar10": (64, 512, 10), "cifar100": (128, 1024, 100)}


def masked_parameter_count(columns: Sequence[tuple[int, int, int]], in_channels: int = 3, conv_layers: int = 4,
                           kernel: int = 3, side: int = 4) -> int:
    """Parameters of the original's network after the tasks ``columns`` (``(channels, hidden, classes)`` each).

    The original grows one weight matrix per layer: every unit has a weight from every unit of the layer
    below, whatever task either belongs to; its masks make the connections between tasks inert but keep
    them. Four 3×3 convolutions with a bias, ``side``² features per channel into the hidden layer, one
    output layer over all tasks' classes. (The weights a task actually uses are the package's count.)"""
    channels = sum(c for c, _, _ in columns)
    hidden = sum(h for _, h, _ in columns)
    classes = sum(k for _, _, k in columns)
    first = in_channels * channels * kernel**2 + channels
    rest = (conv_layers - 1) * (channels * channels * kernel**2 + channels)
    dense = channels * side**2 * hidden + hidden
    return first + rest + dense + hidden * classes + classes


def smoke_profile() -> Profile:
    """The original recipe at toy width on synthetic stand-ins: seconds, for tests (its accuracies mean nothing)."""
    return ORIGINAL.replace(name="original_smoke", description="the original recipe, toy width, synthetic data",
                            default_tasks=SYNTHETIC_TASKS,
                            conv_channels=(8, 8, 8, 8), hidden=(32,),
                            growth={"default": ((8, 8, 8, 8), (32,)), "cifar100": ((16, 16, 16, 16), (64,))},
                            epochs={"default": 2}, n_train=300, n_test=None)


def run_original(out: str | os.PathLike, runs_dir: str | os.PathLike, profile: Profile = ORIGINAL, seed: int = 0,
                 data_root: str | os.PathLike | None = None, shared: bool = False, progress: bool = True,
                 download: bool = False) -> dict[str, Any]:
    """Run ``profile`` (the original recipe) on the four-task sequence — those tasks whose data is here — and
    write the summary to ``out``. The run lives in ``runs_dir`` and resumes there task by task (an interrupted
    call continues where it stopped). ``shared``: other work ran on the machine, so times are upper bounds."""
    wanted = list(profile.default_tasks)
    tasks, missing = split_available(wanted, root=data_root, download=download)  # none: a one-line ValueError
    before = _finished_tasks(Path(runs_dir))
    start = time.perf_counter()
    results = run(tasks, "synapticnet", profile, data_root=data_root, out_dir=runs_dir, seed=seed, resume=True,
                  progress=progress, download=download, unavailable=missing)
    wall = time.perf_counter() - start
    summary = summarise(results, profile, wall_seconds=wall, resumed_after=before, shared=shared)
    save_json(summary, Path(out))
    return summary


def _finished_tasks(runs_dir: Path) -> int:
    """Tasks an earlier call already finished in ``runs_dir`` (0 for a new run)."""
    path = runs_dir / "results.json"
    if not path.exists():
        return 0
    return sum(1 for row in load_json(path).get("accuracy_matrix", []) if row and row[-1] is not None)


def summarise(results: dict[str, Any], profile: Profile, wall_seconds: float, resumed_after: int = 0,
              shared: bool = False) -> dict[str, Any]:
    """The run's ``results.json`` reduced to the comparison: per task, training-set and test accuracy (percent),
    parameters and time, beside the original's reported number; the original's parameter count for the same
    tasks; what differs from the original and how we know what it measured."""
    tasks = results["tasks"]
    columns = [ORIGINAL_COLUMNS[family(t)] for t in tasks]
    rows = []
    for i, task in enumerate(tasks):
        rows.append(dict(
            task=task, title=results["task_titles"][i], epochs=profile.epochs_for(task),
            original_reported=ORIGINAL_REPORTED[family(task)] if not results["synthetic_data"] else None,
            train_accuracy=_percent(results["train_accuracy"][task]),
            test_accuracy=_percent(results["final_accuracy"][task]),
            gap_points=round(100 * (results["train_accuracy"][task] - results["final_accuracy"][task]), 2),
            train_images=results["train_accuracy_images"][i],
            params_used=results["params_used_per_task"][i], params_created=results["params_per_task"][i],
            train_seconds=round(results["train_seconds_per_task"][i], 1)))
    return dict(
        what="the original design's recipe (profile 'original') through this package: accuracy on each task's "
             "training images (what the original table reports) and on its held-out test images",
        profile=profile.name, seed=results["seed"], tasks=tasks, rows=rows,
        unavailable_tasks=results["unavailable_tasks"],
        params_total=results["params_total"],
        original_params_same_tasks=masked_parameter_count(columns),
        original_params_reported=ORIGINAL_PARAMETERS,
        original_params_four_tasks=masked_parameter_count(list(ORIGINAL_COLUMNS.values())),
        bwt=results["bwt"], forgetting=results["forgetting"],
        train_seconds_total=round(results["train_seconds_total"], 1),
        train_accuracy_seconds=round(results["train_accuracy_seconds"], 1),
        wall_seconds=round(wall_seconds, 1),
        wall_seconds_note=("one call; the first " + f"{resumed_after} task(s) had been trained by an earlier call"
                           if resumed_after else "one uninterrupted call: training, evaluation, task inference"),
        shared_machine=shared,
        machine=dict(device=results["device"], cpu_threads=results["cpu_threads"], torch=results["torch"],
                     platform=results["platform"], training_precision=results["training_precision"]),
        train_accuracy_split=results["train_accuracy_split"],
        differences=list(ORIGINAL_DIFFERENCES),
        original=dict(repository=ORIGINAL_REPOSITORY, notebook=ORIGINAL_NOTEBOOK, reported=ORIGINAL_REPORTED,
                      how_we_know=list(HOW_WE_KNOW)),
        synthetic_data=results["synthetic_data"], data=results["data"],
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _percent(value: float) -> float:
    return round(100 * value, 2)
