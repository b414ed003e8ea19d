"""The recipe's ablation: what each technique of the per-task recipe is worth, on validation splits.

``make ablation`` (about 20 minutes on a 2-core CPU). Every variant is the cpu profile's recipe
(:mod:`synapticnet.profiles`) with one technique removed (or one added), trained on each dataset
alone — one task, so the numbers are about the recipe, not about continual learning — on a
stratified subset (``--n-train`` images, ``--val`` validation images held out of the training
split, fewer epochs than the profile). Runs use ``eval_split="val"``: the test splits are never
read, so the recipe can be chosen from this table without touching the headline's test numbers.
Seeds 0 (and 1 for the full recipe: the seed-to-seed noise to read the table against).

Writes ``figures/ablation.json`` and ``figures/ablation.png``; the README's table comes from them.

Usage: ``python scripts/ablation.py [--tasks mnist,fashion_mnist,cifar10] [--smoke]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from synapticnet.plots import save_figure
from synapticnet.profiles import CPU, SMOKE, Profile

# The recipe this table starts from, fixed here (not the cpu profile, which took its final settings
# from full-budget runs afterwards: see the profiles docstring): float32, shifts + flips on every
# dataset but digits (shifts only).
BASE = CPU.replace(precision="float32", augmentation={"default": "flip+translate", "mnist": "translate"})
from synapticnet.run import run
from synapticnet.storage import load_json, save_json

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
                command="make ablation")


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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
