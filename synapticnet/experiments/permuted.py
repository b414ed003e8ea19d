"""Permuted MNIST under GPM's protocol: SynapticNet on the map of published results.

One idea: the literature compares continual learners on Permuted MNIST by two numbers —
the **average test accuracy after the last task** and the **capacity**, the parameters a
method keeps relative to *one* network of the protocol's shape. This module runs
SynapticNet (and one network per task, the 1000 % reference) under that protocol and puts
the results next to published points (:data:`ANCHORS`), in ``figures/permuted_mnist.json``
and, by :func:`~synapticnet.experiments.figures.permuted_figure`, ``figures/permuted_mnist.png``.

**The protocol** is GPM's (Saha et al., ICLR 2021; github.com/sahagobinda/GPM, ``main_pmnist.py``
and ``dataloader/pmnist.py``), set in :data:`synapticnet.profiles.BUDGETS` ``["permuted_mnist"]``:
10 tasks, 1×28×28 inputs, an MLP 784-100-100-10 with ReLU, plain SGD at learning rate 0.01
(no momentum, no weight decay, constant: ``lr_decay=False``), batch 10, 5 epochs per task, 10 % of each task's 60,000
training images held out for validation (54,000 train / 6,000 val), every task tested on
the whole 10,000-image test set, no augmentation. SynapticNet's network is the same MLP made
of :class:`~synapticnet.layers.TaskLinear` layers (``conv_channels=()``: the flattened image
is the shared input of the first layer).

**Where ours differs** — the numbers compare in spirit, not to the last decimal:

* our layers have biases (GPM's MLP has none): one network of the reference shape has
  89,610 parameters here, 89,400 there. Capacities are ratios to *our* count, computed
  (:func:`reference_parameters`), never typed in;
* every task has its own output head (the task id is known at test time, as in every method of
  the table); GPM shares one output layer, the labels meaning the same in every task;
* the validation split is a seeded, *stratified random* 10 % of the training set
  (:func:`synapticnet.data.split_indices`); GPM's is the *first* 10 %. Same sizes;
* each task is normalised with its own training mean and std. A permutation moves pixels
  without changing their values, so these are MNIST's statistics (up to the split) — what
  GPM's fixed (0.1307, 0.3081) are;
* our task 0 is the original MNIST and task ``k`` uses permutation seed ``k``
  (:mod:`synapticnet.data.streams`); GPM permutes all ten tasks, in a seed-shuffled order.

**Configurations** (:data:`CONFIGS`) are data, to be chosen on validation accuracy (each
run records ``val_avg_acc``; test accuracy is only reported). The SynapticNet ones aim at
WSN's capacity, 77.7 % of one network over all ten tasks (about 69.6k parameters here):
a narrow task 0 and a small growth per task in reuse mode (a new task's second layer and
head read every older task's frozen units), one tiny network per task (isolate) as the
no-reuse reference at that size, and a wide start taken back by automatic compaction.
``params_planned`` in the JSON is each configuration's size before any compaction.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import base_dataset, get_spec
from ..methods.networks import MultiHeadCNN
from ..guarded import MultiTaskConvSynapticNet
from ..profiles import Compaction, Profile, budget
from ..published import published
from ..run import _differing_settings, check_tasks, fresh_run_dir, load_task_data, run
from ..storage import load_json, save_json
from .compare import budget_label
from .front import same_settings

# Published points: average accuracy after the last task (%) and capacity (parameters / one network of the
# protocol's shape, as each paper counts them), as tabulated in the WSN paper — read from synapticnet/published.json.
ANCHOR_LABELS: tuple[str, ...] = ("WSN", "PackNet", "SupSup", "GPM", "one network per task")
ANCHORS: tuple[dict[str, Any], ...] = tuple(
    dict(label=label, accuracy=published(f"permuted_mnist/{label}/accuracy")["value"],
         capacity=published(f"permuted_mnist/{label}/capacity")["value"],
         source=published(f"permuted_mnist/{label}/accuracy")["source"])
    for label in ANCHOR_LABELS)


# The picking masks' learning-rate factor here (Profile.pick_lr_factor): the protocol's plain SGD at lr 0.01 and
# batch 10 takes 27,000 steps a task, so the scores (initialised at 0.01) move far at the task's own rate.
PICK_LR_FACTOR = 1.0
# Settings a configuration gained after runs were first recorded, with the value those runs had (see same_settings).
ADDED_CONFIG_FIELDS: dict[str, Any] = {"pick": False, "pick_lr_factor": 1.0}


@dataclass(frozen=True)
class PermutedConfig:
    """One configuration of the table: a method and the widths it trains with.

    ``hidden``: task 0's hidden widths; ``growth``: the units every later task adds to each
    hidden layer (SynapticNet only; ``separate`` gives every task a whole network of
    ``hidden``). ``mode`` / ``dense_mode`` / ``compaction`` as in :class:`~synapticnet.profiles.Profile`.
    """

    label: str
    method: str = "synapticnet"  # or "separate"
    hidden: tuple[int, ...] = (100, 100)
    growth: tuple[int, ...] = (100, 100)
    mode: str = "reuse"
    dense_mode: str | None = None
    compaction: Compaction | None = None
    pick: bool = False  # picking masks over older tasks' weights (Profile.pick)
    pick_lr_factor: float = 1.0

    def profile(self, base: Profile) -> Profile:
        """``base`` (the protocol's budget) with this configuration's widths, growth, compaction and masks."""
        return base.replace(hidden=tuple(self.hidden), growth={"default": ((), tuple(self.growth))}, mode=self.mode,
                            dense_mode=self.dense_mode, compaction=self.compaction, pick=self.pick,
                            pick_lr_factor=self.pick_lr_factor)

    def settings(self) -> dict[str, Any]:
        """What the JSON records about this configuration (besides its measurements)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))  # plain JSON types: tuples become lists


# Sizes for 10 tasks of 10 classes (params_planned; one network = 89,610): reuse 40+4 → 69,396 (77.4 %), reuse 56+2
# → 69,088 (77.1 %), isolate 8 → 64,420 (71.9 %); the compacted one depends on what each task keeps.
CONFIGS: tuple[PermutedConfig, ...] = (
    PermutedConfig("separate ×1", "separate"),
    PermutedConfig("reuse 40+4", hidden=(40, 40), growth=(4, 4)),
    PermutedConfig("reuse 56+2", hidden=(56, 56), growth=(2, 2)),
    PermutedConfig("isolate 8", hidden=(8, 8), growth=(8, 8), mode="isolate"),
    # Start at one network for task 0 and 16 units per later task; keep a quarter or half of each task's units
    # if validation accuracy stays within half a point. 1,000 fine-tune steps ≈ 4 % of a task's 27,000.
    PermutedConfig("reuse 100+16 + compaction", hidden=(100, 100), growth=(16, 16),
                   compaction=Compaction(fractions=(0.25, 0.5), tolerance=0.005, finetune_steps=1000)),
    # Picking masks: every later task reads the older units through its own binary mask over their weights. 40+4 is
    # the ablation of "reuse 40+4" (masks on, same widths; 417,216 mask bits = 13,038 float32 equivalents: 92.0 % with
    # them); 36+3 fits WSN's 77.7 % with its bits counted (57,241 parameters + 355,320 bits / 32 = 76.3 %).
    PermutedConfig("reuse 40+4 + masks", hidden=(40, 40), growth=(4, 4), pick=True, pick_lr_factor=PICK_LR_FACTOR),
    PermutedConfig("reuse 36+3 + masks", hidden=(36, 36), growth=(3, 3), pick=True, pick_lr_factor=PICK_LR_FACTOR),
)


def permuted_budget(profile: Profile | str = "cpu") -> Profile:
    """The protocol as a budget of ``profile`` (:data:`synapticnet.profiles.BUDGETS` ``["permuted_mnist"]``)."""
    return budget("permuted_mnist", profile).replace(description="Permuted MNIST under GPM's protocol "
                                                                 "(synapticnet.experiments.permuted)")


def reference_parameters(base: Profile, num_classes: int = 10) -> int:
    """Parameters of *one* network of the protocol's shape (784-100-100-10 with biases: 89,610), computed."""
    return MultiHeadCNN(base.conv_channels, base.hidden, (num_classes,), base.dropout, base.channels, base.image_size,
                        base.pooled_size, base.pool_after).num_parameters()


def planned_parameters(config: PermutedConfig, base: Profile, num_tasks: int, num_classes: int = 10) -> int:
    """Parameters of ``config`` after ``num_tasks`` tasks of ``num_classes`` classes, before any compaction."""
    p = config.profile(base)
    if config.method == "separate":
        return num_tasks * reference_parameters(p, num_classes)
    model = MultiTaskConvSynapticNet(in_channels=p.channels, num_classes=num_classes, image_size=p.image_size,
                                     **p.model_kwargs())
    for _ in range(num_tasks - 1):
        model.grow(num_classes, grow_conv_channels=(), grow_hidden=config.growth)
    return model.num_parameters()


def reference_weights(base: Profile, num_classes: int = 10) -> int:
    """Connection weights of one network of the protocol's shape without biases and head (784·100 + 100·100 =
    88,400): what WSN's capacity is a fraction of."""
    net = MultiHeadCNN(base.conv_channels, base.hidden, (num_classes,), base.dropout, base.channels, base.image_size,
                       base.pooled_size, base.pool_after)
    return sum(p.numel() for name, p in net.named_parameters() if p.dim() >= 2 and not name.startswith("heads"))


def wsn_capacity(folder: str | os.PathLike, results: dict[str, Any], base: Profile) -> tuple[float, float]:
    """``(weights, weights + mask bits ÷ 32)`` of a finished run as fractions of :func:`reference_weights` — capacity
    counted as WSN counts it: connection weights, no biases, no heads. One network per task: ``tasks × 1``."""
    reference = reference_weights(base, results["num_classes"][0])
    if results["method"] == "separate":
        return (float(len(results["tasks"])),) * 2
    model = MultiTaskConvSynapticNet.load(folder)
    weights = sum(block.unit.weight.numel() for layer in model.task_layers for block in layer.blocks)
    return weights / reference, (weights + model.num_mask_bits() / 32) / reference


def _record(results: dict[str, Any], reference: int, capacity_wsn: tuple[float, float] | None = None
            ) -> dict[str, Any]:
    """One run's line in the table: accuracy and BWT in points, parameters, capacity (ours: parameters / one
    network's; WSN's: weights, and weights + mask bits ÷ 32, / one bias-free network's), time."""
    val = [v for v in results["val_accuracy"] if v is not None]
    return dict(seed=results["seed"], avg_acc=100 * results["average_accuracy"],
                bwt=None if results["bwt"] is None else 100 * results["bwt"],
                params=results["params_total"], capacity=results["params_total"] / reference,
                mask_bits=results.get("mask_bits_total", 0),
                capacity_wsn=None if capacity_wsn is None else capacity_wsn[0],
                capacity_wsn_with_masks=None if capacity_wsn is None else capacity_wsn[1],
                val_avg_acc=100 * float(np.mean(val)) if val else None,
                train_seconds=results["train_seconds_total"], final_accuracy=results["final_accuracy"],
                compaction=[d["chosen_fraction"] for d in results.get("compaction", [])])


def _summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (sample std over seeds; 0 for one seed) of every measured column."""
    out: dict[str, Any] = dict(seeds=[r["seed"] for r in runs])
    for key in ("avg_acc", "bwt", "params", "capacity", "capacity_wsn", "capacity_wsn_with_masks", "val_avg_acc",
                "train_seconds"):
        values = np.array([r[key] for r in runs if r.get(key) is not None], dtype=float)
        out[f"{key}_mean"] = float(values.mean()) if len(values) else None
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0 if len(values) else None
    return out


def _same_budget(saved: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """Were the saved runs trained with the budget ``now`` (its wording aside; a setting added since they were
    saved counts with the value they had, :data:`synapticnet.run.ADDED_PROFILE_FIELDS`)?"""
    return saved is not None and not _differing_settings(saved, now)


def run_permuted(out: str | os.PathLike, seeds: Sequence[int] = (0, 1, 2),
                 configs: Sequence[PermutedConfig] = CONFIGS, profile: Profile | str = "cpu",
                 data_root: str | os.PathLike | None = None, runs_dir: str | os.PathLike = "runs/permuted_mnist",
                 tasks: Sequence[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every configuration for every seed under the protocol; write the table ``out`` after every run.

    Each run is the one runner (:func:`synapticnet.run.run`) into ``runs_dir/<label>_s<seed>``. ``tasks``:
    default the budget's (``permuted_mnist:10``; smoke: three synthetic tasks). ``out`` is JSON:
    ``{"tasks", "budget", "reference_network": {"params"}, "anchors", "configs": [{settings…, "params_planned",
    "capacity_planned", "runs": [{"seed", "avg_acc", "bwt", "params", "capacity", "val_avg_acc",
    "train_seconds", …}], "avg_acc_mean", "avg_acc_std", …}]}`` — accuracies and BWT in percent
    (points), capacity as a ratio (1.0 = one network). A run already in ``out`` is kept, not run
    again, so an interrupted table continues where it stopped (a configuration whose settings
    changed runs again); an ``out`` written under other tasks or another budget is refused. Seeds run one after another, so one seed's ten tasks are in
    memory at a time (about 55 MB each).
    """
    base = permuted_budget(profile)
    tasks = check_tasks(list(base.default_tasks) if tasks is None else tasks)
    num_classes = get_spec(base_dataset(tasks[0])).num_classes
    reference = reference_parameters(base, num_classes)
    out = Path(out)
    table = load_json(out) if out.is_file() else None
    if table is not None and (table.get("tasks") != tasks or not _same_budget(table.get("budget"), base.to_dict())):
        raise ValueError(f"{out} holds a table of other tasks or another budget; choose another output file, "
                         "or delete it to start over")
    before, table = copy.deepcopy(table), table or {}  # a table that does not change is not written again
    table.update(experiment="Permuted MNIST under GPM's protocol (synapticnet.experiments.permuted)",
                 tasks=tasks, budget=base.to_dict(), budget_label=budget_label(base, tasks),
                 reference_network=dict(hidden=list(base.hidden), input=[base.channels, base.image_size,
                                                                          base.image_size],
                                        num_classes=num_classes, params=reference),
                 anchors=[dict(a) for a in ANCHORS])
    entries = {c["label"]: c for c in table.get("configs", [])}
    for config in configs:
        planned, settings = planned_parameters(config, base, len(tasks), num_classes), config.settings()
        entry = entries.get(config.label)
        stored = None if entry is None else {k: entry[k] for k in settings if k in entry}
        if not same_settings(stored, settings, ADDED_CONFIG_FIELDS):  # new, or its settings changed
            if entry is not None and entry.get("runs"):
                log(f"{config.label}: its settings changed since its runs in {out}; they run again")
            entry = entries[config.label] = {"runs": []}
        entry.update(settings, params_planned=planned, capacity_planned=planned / reference)
    order = list(entries)  # the table's own order, new configurations after it: a subset reorders nothing
    table["configs"] = [entries[label] for label in order]
    for seed in seeds:
        datasets = None  # loaded once per seed, when a run needs them
        for config in configs:
            entry = entries[config.label]
            if any(r["seed"] == seed for r in entry["runs"]):
                continue
            if datasets is None:
                datasets = load_task_data(tasks, base, data_root, seed)
                table["task_titles"] = [d.title for d in datasets]
            folder = Path(runs_dir) / f"{re.sub(r'[^A-Za-z0-9.]+', '_', config.label).strip('_')}_s{seed}"
            results = run(datasets, config.method, config.profile(base), seed=seed, progress=False,
                          out_dir=fresh_run_dir(folder), data_root=data_root)
            table["synthetic_data"] = results["synthetic_data"]
            line = _record(results, reference, wsn_capacity(folder, results, base))
            entry["runs"] = sorted(entry["runs"] + [line], key=lambda r: r["seed"])
            entry.update(_summary(entry["runs"]))
            save_json(table, out)
            line = next(r for r in entry["runs"] if r["seed"] == seed)
            log(f"{config.label:<28} seed {seed}: {line['avg_acc']:.2f}%  {line['params']:>9,} params "
                f"({100 * line['capacity']:.1f} % of one network)  {line['train_seconds']:.0f} s")
        del datasets
    if table != before:
        save_json(table, out)
    return table
