"""The recipe's ablation: what each technique of the per-task recipe is worth, on validation splits.

Two tables. ``make ablation`` runs the **paired** one (``--paired``): the fast-training literature's
ingredients (airbench94, Keller Jordan 2024), each added alone to the cpu profile's recipe and
compared with the recipe itself on the same seeds — the same subset, split, initial weights and
batch order — so that each ingredient's gain comes with a 95 % interval over five seeds. An
ingredient that cannot change a task's run (test-time shifts for a task trained without shifts)
is not run there and is said so. Writes ``figures/ablation_paired.json`` (+ ``.png``); every
finished run is kept under ``build/ablation_paired/`` so an interrupted study resumes, and
``--seeds`` lets two one-thread processes share the seeds.

``--longer N`` asks whether a gain measured over few steps lasts: the ingredients that change where
training *starts* (whitening, identity initialisation, both) are run again on CIFAR-10, where they
gained most, on the same images and seeds with N times the epochs, and their paired gains are set
beside the short budget's (from ``ablation_paired.json``'s runs). Writes
``figures/ablation_longer.json`` (+ ``.png``); finished runs are kept under ``build/ablation_longer/``.

The older one-seed table (no flag): every variant is the cpu profile's recipe
(:mod:`synapticnet.profiles`) with one technique removed (or one added), trained on each dataset
alone — one task, so the numbers are about the recipe, not about continual learning — on a
stratified subset (``--n-train`` images, ``--val`` validation images held out of the training
split, fewer epochs than the profile). Runs use ``eval_split="val"``: the test splits are never
read, so the recipe can be chosen from this table without touching the headline's test numbers.
Seeds 0 (and 1 for the full recipe: the seed-to-seed noise to read the table against).

Writes ``figures/ablation.json`` and ``figures/ablation.png``; the README's table comes from them.

Usage: ``python scripts/ablation.py [--paired [--seeds 0,1,2] [--recheck | --longer 4]] [--tasks ...] [--smoke]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from synapticnet.plots import display_name, save_figure, styled
from synapticnet.profiles import CPU, SMOKE, Profile, family
from synapticnet.run import _differing_settings, machine, run
from synapticnet.stats import paired_difference
from synapticnet.storage import load_json, save_json

# The recipe this table starts from, fixed here (not the cpu profile, which took its final settings
# from full-budget runs afterwards: see the profiles docstring): float32, shifts + flips on every
# dataset but digits (shifts only).
BASE = CPU.replace(precision="float32", augmentation={"default": "flip+translate", "mnist": "translate"})

# Each variant: (label, changes to the recipe). The first is the recipe itself.
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("recipe (as first proposed)", {}),
    ("− two-conv stages (one conv per stage)", dict(conv_channels=(32, 64, 128), pool_after=None,
                                                    growth={"default": ((32, 64, 128), (256,))})),
    ("− random shifts (flips only; digits: none)", dict(augmentation={"default": "flip", "mnist": "none"})),
    ("− label smoothing", dict(label_smoothing=0.0)),
    ("− test-time flip", dict(test_flip=False)),
    ("− batch 256 (batch 128, lr 0.05)", dict(batch_size=128, lr=0.05)),
    ("+ weight averaging (decay 0.99)", dict(weight_average=0.99)),
    ("+ bfloat16 mixed precision", dict(precision="bfloat16")),
    ("previous recipe (3 convs, flips, batch 128, no smoothing)",
     dict(conv_channels=(32, 64, 128), pool_after=None, growth={"default": ((32, 64, 128), (256,))},
          augmentation={"default": "flip", "mnist": "none"}, label_smoothing=0.0, test_flip=False,
          batch_size=128, lr=0.05)),
)
EPOCHS = {"default": 2, "mnist": 2, "fashion_mnist": 3, "cifar10": 6}
# Rows run with both seeds: the recipe (its seed-to-seed noise) and mixed precision (a paired comparison)
TWO_SEEDS = {VARIANTS[0][0], "+ bfloat16 mixed precision"}


def ablation(tasks: list[str], n_train: int, val: int, base: Profile, seeds_of_recipe: tuple[int, ...],
             runs_dir: Path, data_root: str | None, only: set[int] | None = None) -> dict[str, Any]:
    """Validation accuracy (%) of every variant (or of the variants numbered ``only``) on every task,
    one run per (variant, task, seed). Runs are independent and seeded: any row can be re-run alone."""
    rows = []
    for i, (label, changes) in enumerate(VARIANTS):
        if only is not None and i not in only:
            continue
        profile = base.replace(**{**dict(n_train=n_train, val_size=val, epochs=EPOCHS, compaction=None,
                                         mode="isolate", name=f"{base.name}-ablation"), **changes})
        for seed in (seeds_of_recipe if label in TWO_SEEDS else seeds_of_recipe[:1]):
            row = dict(variant=label, changes={k: str(v) for k, v in changes.items()}, seed=seed, val_accuracy={},
                       train_seconds={})
            for task in tasks:
                start = time.perf_counter()
                result = run([task], profile=profile, out_dir=runs_dir / f"v{i}_{task}_s{seed}", seed=seed,
                             progress=False, eval_split="val", data_root=data_root, download=False)
                row["val_accuracy"][task] = round(100 * result["val_accuracy"][0], 2)
                row["train_seconds"][task] = round(time.perf_counter() - start, 1)
                print(f"{label:60s} seed {seed} {task:14s} val {row['val_accuracy'][task]:6.2f} % "
                      f"({row['train_seconds'][task]:.0f} s)", flush=True)
            rows.append(row)
    return dict(description="validation accuracy (%) of the recipe as first proposed (float32; see scripts/ablation.py "
                            "BASE) with one technique removed or added; "
                            f"each dataset alone, {n_train} training and {val} validation images, epochs {EPOCHS}, "
                            "eval_split='val' (the test splits are never read)",
                tasks=tasks, n_train=n_train, val_size=val, epochs=EPOCHS, rows=rows,
                command="python scripts/ablation.py")




def airbench_sgd(batch_size: int, lr: float = 11.5, momentum: float = 0.85, weight_decay: float = 0.0153,
                 bias_scaler: float = 64.0) -> dict[str, float]:
    """airbench94's optimiser settings in this package's terms, at ``batch_size``. airbench states them per 1,024
    images and decoupled from momentum: it sums the loss over the batch and sets PyTorch's learning rate to
    ``lr / (1024 · (1 + 1/(1 − momentum)))`` and its weight decay so that the decay per step is
    ``weight_decay · batch / (1024 · (1 + 1/(1 − momentum)))``. For the mean loss used here that is a learning rate
    ``batch`` times larger and a weight decay of ``weight_decay / lr`` (PyTorch multiplies the two);
    ``bias_scaler`` is :attr:`Profile.norm_bias_lr`."""
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    return dict(lr=round(lr * batch_size / kilostep, 6), momentum=momentum, weight_decay=round(weight_decay / lr, 7),
                norm_bias_lr=bias_scaler)


AIRBENCH_SGD = airbench_sgd(CPU.batch_size)  # at the recipe's batch of 256: lr 0.375, weight decay 0.00133

# The fast-training literature's ingredients, each added alone to the cpu recipe (paired by seed). airbench94's
# Lookahead pulls the weights back every 5 steps with decay 0.95⁵ (scaled by (step/steps)³). Its SGD settings come
# twice: alone, and with its BatchNorm (no learned scale), for which its 64× learning rate on the shifts was tuned;
# identity initialisation also on top of the whitening layer (the long profile has it): is it worth it there too?
# Random erasing (Zhong et al. 2017) is not airbench94's: the literature's answer to a column that fits its training
# images, as the long profile's Fashion-MNIST column does (99.93 % on them).
PAIRED_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("+ alternating flips", dict(alternate_flips=True)),
    ("+ test-time shifts (1 px)", dict(test_shift=1)),
    ("+ Lookahead", dict(lookahead=round(0.95 ** 5, 4))),
    ("+ BatchNorm without learned scale", dict(batch_norm_scale=False)),
    ("+ whitening first layer", dict(whiten=True)),
    ("+ identity initialisation", dict(identity_init=True)),
    ("+ airbench94's SGD settings", AIRBENCH_SGD),
    ("+ airbench94's SGD settings and BatchNorm", {**AIRBENCH_SGD, "batch_norm_scale": False}),
    ("+ whitening and identity initialisation", dict(whiten=True, identity_init=True)),
    ("+ random erasing", dict(augmentation={family: f"{how}+erase" for family, how in CPU.augmentation.items()})),
)
# Ingredients that add to another one: their gain is also given over each of these (the same seeds, paired).
OVER: tuple[tuple[str, str], ...] = (("+ whitening and identity initialisation", "+ whitening first layer"),
                                     ("+ whitening and identity initialisation", "+ identity initialisation"))
PAIRED_SEEDS = (0, 1, 2, 3, 4)
RECHECK_SEEDS = (5, 6, 7, 8, 9)  # a gain whose interval is above zero is measured again on seeds never run before
RECIPE_LABEL = "recipe (cpu profile)"
# --longer: on the dataset where they gained most, the ingredients that change where training starts, and the
# anchor's other ingredients whose short-budget gain on it was not below zero (test-time shifts, BatchNorm without
# learned scale, Lookahead): does a gain last, and does one the short budget could not resolve appear? Random erasing
# also on Fashion-MNIST, whose column fits its training images at length (99.93 % in the long run): a regulariser
# can only pay where there is overfitting to take away, which the short budget has little of. The pairs compared at
# both lengths: each ingredient over the recipe, the OVER pairs, and identity over whitening (which start is better,
# the question the long profile had to answer).
LONGER_STARTS = ("+ whitening first layer", "+ identity initialisation", "+ whitening and identity initialisation")
LONGER_INGREDIENTS: dict[str, tuple[str, ...]] = {
    **{label: ("cifar10",) for label in (*LONGER_STARTS, "+ test-time shifts (1 px)",
                                         "+ BatchNorm without learned scale", "+ Lookahead")},
    "+ random erasing": ("fashion_mnist", "cifar10")}  # label: the dataset families it runs on
LONGER_FAMILIES = {f for families in LONGER_INGREDIENTS.values() for f in families}
LONGER_PAIRS: tuple[tuple[str, str], ...] = (*((label, RECIPE_LABEL) for label in LONGER_INGREDIENTS), *OVER,
                                             ("+ identity initialisation", "+ whitening first layer"))


def paired_recipe(base: Profile, n_train: int, val: int) -> Profile:
    """The cpu recipe on the ablation's budget: one task at a time, no compaction, its own column."""
    return base.replace(n_train=n_train, val_size=val, epochs=EPOCHS, compaction=None, mode="isolate",
                        name=f"{base.name}-ablation")


def inert(recipe: Profile, variant: Profile, task: str) -> bool:
    """``True`` if ``variant`` cannot train or evaluate ``task`` differently from ``recipe``: it changes only the
    task's data options (flips, test-time shifts) and those come out the same for this task."""
    changed = set(_differing_settings(recipe.to_dict(), variant.to_dict())) - {"name"}
    return changed <= {"alternate_flips", "test_shift"} and variant.data_options(task) == recipe.data_options(task)


def paired_ablation(tasks: list[str], recipe: Profile, seeds: tuple[int, ...], runs_dir: Path,
                    data_root: str | None, only: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Validation accuracy of the recipe and of every :data:`PAIRED_VARIANTS` entry, per task and seed. Each finished
    (variant, task, seed) is kept in ``runs_dir`` as a small JSON and not run again. ``only``: run just these
    ingredients on these tasks (and the recipe on those tasks)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for i, (label, changes) in enumerate(((RECIPE_LABEL, {}), *PAIRED_VARIANTS)):
        profile = recipe.replace(**changes)
        wanted = None if only is None else (
            {t for ts in only.values() for t in ts} if label == RECIPE_LABEL else set(only.get(label, ())))
        for task in tasks:
            if changes and inert(recipe, profile, task):
                continue
            if wanted is not None and task not in wanted:
                continue
            for seed in seeds:
                done = runs_dir / f"v{i}_{task}_s{seed}.json"
                if done.exists():
                    records.append(load_json(done))
                    continue
                start = time.perf_counter()
                with tempfile.TemporaryDirectory() as out:
                    result = run([task], profile=profile, out_dir=Path(out), seed=seed, progress=False,
                                 eval_split="val", data_root=data_root, download=False)
                record = dict(variant=label, task=task, seed=seed, val_accuracy=round(100 * result["val_accuracy"][0], 2),
                              seconds=round(time.perf_counter() - start, 1), cpu_threads=result["cpu_threads"],
                              synthetic=bool(result["synthetic_data"]), machine=machine(),
                              steps=result["steps_per_task"][0])
                save_json(record, done)
                records.append(record)
                print(f"{label:36s} {task:14s} seed {seed} val {record['val_accuracy']:6.2f} % "
                      f"({record['seconds']:.0f} s)", flush=True)
    return records


def variant_settings() -> dict[str, dict[str, Any]]:
    """Every ingredient's changes as they read back from JSON (tuples become lists): what the summary records and
    what a committed run's ingredient is compared with."""
    return {label: json.loads(json.dumps(changes)) for label, changes in PAIRED_VARIANTS}


def in_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs sorted by ingredient, task and seed, as the JSON keeps them."""
    return sorted(records, key=lambda r: (r["variant"], r["task"], r["seed"]))


def restore_committed(path: Path, recipe: Profile, runs_dir: Path) -> int:
    """Put the runs a committed ``ablation_paired.json`` holds (``runs`` and ``recheck_runs``) back into ``runs_dir``
    as finished, when the recipe and that ingredient's changes are still the ones they ran with and the run was made
    on this machine (:func:`machine`): adding an ingredient then runs only its own runs. Returns how many were
    restored."""
    if not path.exists():
        return 0
    committed = load_json(path)
    if set(_differing_settings(committed["recipe"], recipe.to_dict())) - {"name"}:
        return 0  # another recipe: every run again
    index = {label: i for i, (label, _) in enumerate(((RECIPE_LABEL, {}), *PAIRED_VARIANTS))}
    current = {RECIPE_LABEL: {}, **variant_settings()}
    was = {RECIPE_LABEL: {}, **committed["variants"]}
    restored, here = 0, machine()
    runs_dir.mkdir(parents=True, exist_ok=True)
    for record in (*committed["runs"], *committed.get("recheck_runs", ())):
        label = record["variant"]
        if label not in index or was.get(label) != current[label] or record.get("machine") != here:
            continue
        done = runs_dir / f"v{index[label]}_{record['task']}_s{record['seed']}.json"
        if not done.exists():
            save_json(record, done)
            restored += 1
    return restored


def finished_runs(runs_dir: Path, seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """Every finished (variant, task, seed) record in ``runs_dir`` of one of ``seeds``, whichever process ran it."""
    return [r for r in (load_json(p) for p in sorted(runs_dir.glob("v*_s*.json"))) if r["seed"] in seeds]


def paired_gain(value: dict[tuple[str, str, int], float], label: str, base: str, task: str) -> dict[str, Any] | None:
    """``label`` − ``base`` on ``task`` over the seeds both have (paired, 95 % interval), or None if none."""
    seeds = sorted(s for (lab, t, s) in value if lab == label and t == task and (base, task, s) in value)
    if not seeds:
        return None
    d = paired_difference([value[(label, task, s)] for s in seeds], [value[(base, task, s)] for s in seeds])
    return {**d.to_dict(), "seeds": seeds}


def accuracies(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    """Validation accuracy by (ingredient, task, seed): what :func:`paired_gain` pairs."""
    return {(r["variant"], r["task"], r["seed"]): r["val_accuracy"] for r in records}


def recipe_means(value: dict[tuple[str, str, int], float], tasks: list[str]) -> dict[str, float | None]:
    """The recipe's mean validation accuracy per task over its seeds (None for a task it has no run on)."""
    means: dict[str, float | None] = {}
    for task in tasks:
        accs = [v for (label, t, _), v in value.items() if label == RECIPE_LABEL and t == task]
        means[task] = round(sum(accs) / len(accs), 2) if accs else None
    return means


def comparisons(value: dict[tuple[str, str, int], float], pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                tasks: list[str]) -> list[dict[str, Any]]:
    """Each ``(ingredient, base)`` of ``pairs``: ingredient − base on every task where both have seeds (paired)."""
    return [{"ingredient": label, "over": base,
             "gains": {t: d for t in tasks if (d := paired_gain(value, label, base, t)) is not None}}
            for label, base in pairs]


def paired_summary(records: list[dict[str, Any]], tasks: list[str], recipe: Profile) -> dict[str, Any]:
    """Each ingredient's gain over the recipe per task: paired differences over the seeds both have, 95 % interval."""
    value = accuracies(records)
    gains: dict[str, dict[str, Any]] = {}
    for label, changes in PAIRED_VARIANTS:
        gains[label] = {}
        for task in tasks:
            if inert(recipe, recipe.replace(**changes), task):
                gains[label][task] = "inert: the ingredient cannot change this task's run"
                continue
            if (d := paired_gain(value, label, RECIPE_LABEL, task)) is not None:
                gains[label][task] = d
    over = comparisons(value, [(label, base) for label, base in OVER if label in gains and base in gains], tasks)
    return dict(
        description="validation accuracy (%) of the cpu profile's recipe and of the recipe with one ingredient of "
                    "airbench94 (or random erasing) added, each dataset alone, paired by seed (the same subset, split, "
                    "initial weights and batch order); gains are variant − recipe in points with a 95 % Student-t "
                    "interval",
        tasks=tasks, n_train=recipe.n_train, val_size=recipe.val_size, epochs=recipe.epochs,
        recipe=recipe.to_dict(), variants=variant_settings(),
        recipe_mean=recipe_means(value, tasks), gains=gains, over=over, runs=in_order(records),
        seconds_total=round(sum(r["seconds"] for r in records), 1),
        cpu_threads=sorted({r["cpu_threads"] for r in records}), synthetic=any(r["synthetic"] for r in records),
        machines=sorted({r.get("machine", "not recorded") for r in records}), command="make ablation")


@styled
def paired_figure(result: dict[str, Any]):
    """Each ingredient's paired gain per task: the mean and its 95 % interval, zero marked."""
    import matplotlib.pyplot as plt
    import numpy as np

    tasks, labels = result["tasks"], list(result["gains"])
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.5 * len(labels) * len(tasks) / 2))
    height = 0.8 / len(tasks)
    y = np.arange(len(labels))
    for k, task in enumerate(tasks):
        shown = [(j, g) for j, label in enumerate(labels) if isinstance(g := result["gains"][label].get(task), dict)]
        means = [g["mean"] for _, g in shown]
        low = [g["mean"] - (g["low"] if g["low"] is not None else g["mean"]) for _, g in shown]
        high = [(g["high"] if g["high"] is not None else g["mean"]) - g["mean"] for _, g in shown]
        ax.errorbar(means, [y[j] + k * height for j, _ in shown], xerr=[low, high], fmt="o", color=f"C{k}",
                    capsize=3, label=display_name(task))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y + height * (len(tasks) - 1) / 2, labels)
    ax.invert_yaxis()
    ax.set_xlabel("validation accuracy − recipe's (points, 95 % interval)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(tasks), frameon=False)  # above: any height
    fig.tight_layout()
    return fig


def figure(result: dict[str, Any]):
    """Each variant's difference from the recipe (seed 0), per task, as horizontal bars."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in result["rows"] if r["seed"] == result["rows"][0]["seed"]]
    base, tasks = rows[0]["val_accuracy"], result["tasks"]
    labels = [r["variant"] for r in rows[1:]]
    fig, ax = plt.subplots(figsize=(10, 0.8 + 0.55 * len(labels)))
    y = np.arange(len(labels))
    height = 0.8 / len(tasks)
    for k, task in enumerate(tasks):
        diffs = [r["val_accuracy"][task] - base[task] for r in rows[1:]]
        ax.barh(y + k * height, diffs, height, label=task)
    noise = [abs(r["val_accuracy"][t] - base[t]) for r in result["rows"][1:] if r["variant"] == rows[0]["variant"]
             for t in tasks]
    if noise:
        ax.axvspan(-max(noise), max(noise), color="grey", alpha=0.15, label="recipe: seed 1 − seed 0")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y + height * (len(tasks) - 1) / 2, labels)
    ax.invert_yaxis()
    ax.set_xlabel("validation accuracy − recipe's (points)")
    ax.set_title(f"The recipe piece by piece on a small budget ({result['n_train']:,} images per task, "
                 "validation)\ncommand: make ablation", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mnist,fashion_mnist,cifar10")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--val", type=int, default=2_000)
    parser.add_argument("--smoke", action="store_true", help="synthetic stand-ins into build/ablation (seconds)")
    parser.add_argument("--only", default=None, help="run only these variants (numbers, e.g. 8,9) and replace "
                                                     "their rows in the existing ablation.json")
    parser.add_argument("--paired", action="store_true", help="the paired ablation of the fast-training ingredients")
    parser.add_argument("--recheck", action="store_true", help="--paired: measure every gain above zero again on "
                                                               "seeds 5-9")
    parser.add_argument("--seeds", default=None, help="--paired: run only these seeds (e.g. 0,1,2); the summary is "
                                                      "written from every finished run")
    parser.add_argument("--longer", type=int, default=None, metavar="N",
                        help="--paired: the starting ingredients and the anchor's other ones that did not lose on "
                             "CIFAR-10 (random erasing also on Fashion-MNIST), again with N times the epochs, beside "
                             "the short budget's gains (figures/ablation_longer.json)")
    args = parser.parse_args()
    if args.longer is not None and (not args.paired or args.longer < 2):
        parser.error("--longer N goes with --paired, N a whole number of times the epochs, 2 or more")
    if args.paired:
        return main_paired(args)
    only = None if args.only is None else {int(i) for i in args.only.split(",")}
    if args.smoke:
        tasks, base, folder = ["synthetic_mnist", "synthetic_cifar10"], SMOKE.replace(
            conv_channels=(32, 32, 64, 64, 128, 128), pool_after=(0, 2, 4), max_steps_per_task=2), Path("build/ablation")
        n_train, val = 200, 50
    else:
        tasks, base, folder, n_train, val = args.tasks.split(","), BASE, Path("figures"), args.n_train, args.val
    with tempfile.TemporaryDirectory() as runs:
        result = ablation(tasks, n_train, val, base, (0, 1), Path(runs), os.environ.get("SYNAPTICNET_DATA"), only)
    folder.mkdir(parents=True, exist_ok=True)
    if only is not None:  # merge: keep the other rows, in the order of VARIANTS
        old = load_json(folder / "ablation.json")
        new = {(r["variant"], r["seed"]): r for r in old["rows"]} | {(r["variant"], r["seed"]): r
                                                                     for r in result["rows"]}
        order = {label: i for i, (label, _) in enumerate(VARIANTS)}
        result["rows"] = sorted(new.values(), key=lambda r: (order.get(r["variant"], len(order)), r["seed"]))
    save_json(result, folder / "ablation.json")
    save_figure(figure(result), folder / "ablation.png")
    print(f"wrote {folder / 'ablation.json'} and {folder / 'ablation.png'}")


def main_paired(args: argparse.Namespace) -> None:
    """``--paired``: run what is missing, then write the summary from every finished run."""
    if args.smoke:
        tasks, recipe, folder = ["synthetic_mnist", "synthetic_cifar10"], paired_recipe(SMOKE.replace(
            max_steps_per_task=2, augmentation={"default": "flip+translate"}), 200, 50), Path("build/ablation")
    else:
        tasks, recipe, folder = args.tasks.split(","), paired_recipe(CPU, args.n_train, args.val), Path("figures")
    seeds = PAIRED_SEEDS if args.seeds is None else tuple(int(s) for s in args.seeds.split(","))
    runs = Path("build") / ("ablation_paired_smoke" if args.smoke else "ablation_paired")
    data_root = os.environ.get("SYNAPTICNET_DATA")
    if args.longer is not None:
        return main_longer(args.longer, tasks, recipe, folder, runs.with_name(runs.name.replace("paired", "longer")),
                           data_root, seeds)
    restored = restore_committed(folder / "ablation_paired.json", recipe, runs)
    if restored:
        print(f"{restored} finished run(s) taken from {folder / 'ablation_paired.json'} (same recipe and ingredient)")
    if args.recheck:
        return recheck(tasks, recipe, folder, runs, data_root, RECHECK_SEEDS if args.seeds is None else seeds)
    paired_ablation(tasks, recipe, seeds, runs, data_root)
    result = paired_summary(finished_runs(runs, PAIRED_SEEDS), tasks, recipe)  # other processes' seeds too
    folder.mkdir(parents=True, exist_ok=True)
    save_json(result, folder / "ablation_paired.json")
    save_figure(paired_figure(result), folder / "ablation_paired.png")
    print(f"wrote {folder / 'ablation_paired.json'} and {folder / 'ablation_paired.png'}")


def gains_above_zero(result: dict[str, Any]) -> dict[str, list[str]]:
    """The ingredients, and for each the tasks, whose paired gain has its whole 95 % interval above zero."""
    claims = {label: [t for t, g in gains.items() if isinstance(g, dict) and g["low"] is not None and g["low"] > 0]
              for label, gains in result["gains"].items()}
    return {label: tasks for label, tasks in claims.items() if tasks}


def recheck(tasks: list[str], recipe: Profile, folder: Path, runs: Path, data_root: str | None,
            seeds: tuple[int, ...] = RECHECK_SEEDS) -> None:
    """``--recheck``: every gain above zero, measured again on :data:`RECHECK_SEEDS` (never run before; ``seeds``:
    this process's share of them), added to ``ablation_paired.json`` as ``recheck`` from every finished run."""
    result = load_json(folder / "ablation_paired.json")
    claims = gains_above_zero(result)
    needed = [t for t in tasks if any(t in ts for ts in claims.values())]
    paired_ablation(needed, recipe, seeds, runs, data_root, only=claims)
    every = finished_runs(runs, RECHECK_SEEDS)
    summary = paired_summary(every, tasks, recipe)
    again = summary["gains"]
    result["recheck"] = {label: {t: again[label][t] for t in ts} for label, ts in claims.items()}
    result["recheck_over"] = summary["over"]
    result["recheck_seeds"] = list(RECHECK_SEEDS)
    result["recheck_seconds_total"] = round(sum(r["seconds"] for r in every), 1)
    result["recheck_runs"] = in_order(every)
    save_json(result, folder / "ablation_paired.json")
    print(f"re-checked {claims} on seeds {RECHECK_SEEDS}: wrote {folder / 'ablation_paired.json'}")


def longer_recipe(recipe: Profile, times: int) -> Profile:
    """``recipe`` with every epoch count ``times`` as large: the same images, split, seeds and schedule shape."""
    if isinstance(times, bool) or not isinstance(times, int) or times < 2:
        raise ValueError(f"--longer needs a whole number of times the epochs, 2 or more; got {times!r}")
    return recipe.replace(epochs={name: n * times for name, n in recipe.epochs.items()}, name=f"{recipe.name}-x{times}")


def longer_summary(short: dict[str, Any], records: list[dict[str, Any]], tasks: list[str], longer: Profile,
                   times: int) -> dict[str, Any]:
    """The :data:`LONGER_PAIRS` at the paired ablation's budget (``short``: its ``ablation_paired.json``, seeds
    :data:`PAIRED_SEEDS`) and at ``times`` its epochs (``records``), side by side."""
    families = {RECIPE_LABEL: LONGER_FAMILIES, **LONGER_INGREDIENTS}  # each ingredient on its own datasets only
    before = [r for r in short["runs"] if r["task"] in tasks and r["seed"] in PAIRED_SEEDS
              and family(r["task"]) in families.get(r["variant"], ())]

    def budget(runs: list[dict[str, Any]], epochs: dict[str, int]) -> dict[str, Any]:
        value = accuracies(runs)
        return dict(epochs=epochs, seeds=sorted({r["seed"] for r in runs}),
                    steps=sorted({r["steps"] for r in runs if r.get("steps") is not None}),
                    recipe_mean=recipe_means(value, tasks), comparisons=comparisons(value, LONGER_PAIRS, tasks),
                    seconds_total=round(sum(r["seconds"] for r in runs), 1),
                    machines=sorted({r.get("machine", "not recorded") for r in runs}))

    return dict(
        description="validation accuracy (%) gains of the ingredients that change where training starts, of the "
                    "anchor's other ingredients that did not lose at the short budget, and of random erasing, paired "
                    f"by seed, at the paired ablation's epochs and at {times} times them (the same images, split, "
                    "seeds and recipe); 95 % Student-t intervals",
        tasks=tasks, n_train=longer.n_train, val_size=longer.val_size, times=times,
        recipe=longer.to_dict(), variants={label: v for label, v in variant_settings().items() if label in families},
        budgets=[budget(before, short["epochs"]), budget(records, longer.epochs)], runs=in_order(records),
        cpu_threads=sorted({r["cpu_threads"] for r in records}), synthetic=any(r["synthetic"] for r in records),
        command=f"python scripts/ablation.py --paired --longer {times}")


@styled
def longer_figure(result: dict[str, Any]):
    """Each comparison's paired gain at the short and the longer budget, one row per dataset: over the recipe (left)
    and one start over another (right, where the dataset has such pairs): does a gain last?"""
    import matplotlib.pyplot as plt

    budgets, tasks = result["budgets"], result["tasks"]
    fig, rows = plt.subplots(len(tasks), 2, figsize=(9.0, 4.4 * len(tasks)), squeeze=False)
    every = [(c["ingredient"], c["over"]) for c in budgets[-1]["comparisons"]]
    colour = {pair: f"C{k}" for k, pair in enumerate(every)}  # one colour per comparison in every row
    for task, axes in zip(tasks, rows):
        x = [b["epochs"][family(task)] for b in budgets]
        gains = {pair: [next(c["gains"].get(task) for c in b["comparisons"] if (c["ingredient"], c["over"]) == pair)
                        for b in budgets] for pair in every}
        measured = [pair for pair in every if any(g is not None for g in gains[pair])]
        panels = ([p for p in measured if p[1] == RECIPE_LABEL], [p for p in measured if p[1] != RECIPE_LABEL])
        for ax, pairs, title in zip(axes, panels, ("over the recipe", "one start over another")):
            if not pairs:
                ax.set_axis_off()
                continue
            for k, (label, base) in enumerate(pairs):
                shown = [(xi, g) for xi, g in zip(x, gains[label, base]) if g is not None]
                offset = (k - (len(pairs) - 1) / 2) * 0.1 * (x[-1] - x[0]) / len(pairs)
                low = [g["mean"] - g["low"] if g["low"] is not None else 0.0 for _, g in shown]
                high = [g["high"] - g["mean"] if g["high"] is not None else 0.0 for _, g in shown]
                name = label.removeprefix("+ ") + " − " + ("recipe" if base == RECIPE_LABEL else base.removeprefix("+ "))
                ax.errorbar([xi + offset for xi, _ in shown], [g["mean"] for _, g in shown], yerr=[low, high],
                            fmt="o-", capsize=3, color=colour[label, base], label=name)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(x, [str(e) for e in x])
            ax.set_xlabel(f"{display_name(task)} epochs ({result['n_train']:,} images, "
                          f"batch {result['recipe']['batch_size']})")
            ax.set_title(f"{display_name(task)}: {title}", fontsize=10)
            ax.set_ylabel("validation accuracy gain\n(points, 95 % interval)")
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.suptitle("Does a gain last over more steps? (paired by seed)", fontsize=11)
    fig.tight_layout()
    return fig


def main_longer(times: int, tasks: list[str], recipe: Profile, folder: Path, runs: Path, data_root: str | None,
                seeds: tuple[int, ...]) -> None:
    """``--longer N``: each of :data:`LONGER_INGREDIENTS` on its datasets with N times the epochs, paired over
    :data:`PAIRED_SEEDS` and set beside the paired ablation's gains (which must exist: ``make ablation`` writes
    them)."""
    short_path = folder / "ablation_paired.json"
    if not short_path.exists():
        raise SystemExit(f"--longer compares with the paired ablation's runs: {short_path} is missing "
                         "(python scripts/ablation.py --paired writes it)")
    longer = longer_recipe(recipe, times)
    tasks = [t for t in tasks if family(t) in LONGER_FAMILIES]
    if not tasks:
        raise SystemExit(f"--longer runs on {' and '.join(sorted(LONGER_FAMILIES))}: add one to --tasks")
    path = folder / "ablation_longer.json"
    restored = restore_committed(path, longer, runs)
    if restored:
        print(f"{restored} finished run(s) taken from {path} (same recipe and ingredient)")
    paired_ablation(tasks, longer, seeds, runs, data_root,
                    only={label: [t for t in tasks if family(t) in families]
                          for label, families in LONGER_INGREDIENTS.items()})
    result = longer_summary(load_json(short_path), finished_runs(runs, PAIRED_SEEDS), tasks, longer, times)
    save_json(result, path)
    save_figure(longer_figure(result), path.with_suffix(".png"))
    print(f"wrote {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
