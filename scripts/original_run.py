"""The original design's recipe, scored on training and test images: ``make original``.

Runs the ``original`` profile (:data:`synapticnet.profiles.ORIGINAL`: the original notebook's network,
Adam at 1e-3, batch 64, 3 / 10 / 10 / 10 epochs) on MNIST → Fashion-MNIST → CIFAR-10 → CIFAR-100 —
the tasks whose data is under ``$SYNAPTICNET_DATA`` (default ``data/``); a missing one is recorded,
never replaced — with seed 0, and writes ``figures/original_run.json``: per task the accuracy on its
training images (what the original table reports), on its test images, its parameters and time
(:mod:`synapticnet.experiments.original`). The run itself lives in ``runs/original/`` and resumes per
task: run the command again after an interruption.

Usage: ``python scripts/original_run.py [--out figures/original_run.json] [--threads 1] [--shared]
[--profile smoke]`` (``smoke``: the recipe at toy width on synthetic data, into ``build/`` unless ``--out``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from synapticnet.experiments.original import run_original, smoke_profile
from synapticnet.profiles import ORIGINAL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="the summary JSON (default: figures/original_run.json; "
                             "smoke: build/original/original_run.json)")
    parser.add_argument("--runs", type=Path, default=None, help="the run's folder (default: runs/original)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--shared", action="store_true",
                        help="other work runs on the machine: record the times as upper bounds")
    parser.add_argument("--profile", choices=("original", "smoke"), default="original")
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    smoke = args.profile == "smoke"
    out = args.out or Path("build/original/original_run.json" if smoke else "figures/original_run.json")
    runs = args.runs or (out.parent / "run" if smoke else Path("runs/original"))
    summary = run_original(out, runs, profile=smoke_profile() if smoke else ORIGINAL, seed=args.seed,
                           data_root=os.environ.get("SYNAPTICNET_DATA"), shared=args.shared)
    for row in summary["rows"]:
        print(f"{row['title']}: training images {row['train_accuracy']:.2f} %, test images {row['test_accuracy']:.2f} %"
              f" ({row['params_used']:,} parameters, {row['train_seconds'] / 60:.1f} min)")
    print(f"wrote {out} ({summary['wall_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
