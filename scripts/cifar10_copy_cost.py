"""What the offline CIFAR-10 copy costs: the same recipe on its exact images and on its JPEG ones.

The offline copy (``../shared/data/README``) is exact for training images 0–3,999 and test images
0–999; the other 55,000 images went through JPEG (quality ≈ 75). This script trains the cpu
profile's recipe on 4,000 *exact* training images and, separately, on 4,000 *JPEG* ones
(training images 4,000–7,999), each for two seeds, and evaluates every network on 1,000 exact
test images (0–999) and on 1,000 JPEG test images (every 9th of 1,000–9,999, which are grouped
by class). The gaps estimate what training on and testing against the lossy copy costs; on
1,000 test images one standard error is about one point, so only a gap of several points means
much. Writes ``figures/cifar10_copy_cost.json`` (about 4 minutes on a 2-core CPU).

Usage: ``SYNAPTICNET_DATA=../shared/data python scripts/cifar10_copy_cost.py [--epochs 15]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.data import TaskDataset, load_arrays
from synapticnet.engine import evaluate, seed_everything, train_task
from synapticnet.methods import get_method
from synapticnet.profiles import CPU
from synapticnet.storage import save_json

EXACT_TRAIN, EXACT_TEST = 4000, 1000  # the exact images of the offline copy (its README)


def subsets(arrays: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """``(training sets, test sets)``: exact and JPEG, 4,000 and 1,000 images each."""
    x, y, xt, yt = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    train = {"exact": (x[:EXACT_TRAIN], y[:EXACT_TRAIN]), "jpeg": (x[EXACT_TRAIN:2 * EXACT_TRAIN], y[EXACT_TRAIN:2 * EXACT_TRAIN])}
    jpeg_test = np.arange(EXACT_TEST, len(yt), 9)[:EXACT_TEST]
    test = {"exact": (xt[:EXACT_TEST], yt[:EXACT_TEST]), "jpeg": (xt[jpeg_test], yt[jpeg_test])}
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", type=Path, default=Path("figures/cifar10_copy_cost.json"))
    args = parser.parse_args()
    train, test = subsets(load_arrays("cifar10", root=os.environ.get("SYNAPTICNET_DATA"), download=False))
    profile = CPU.replace(epochs={"default": args.epochs}, compaction=None)
    options = {**profile.data_options("cifar10"), "n_train": None, "val_size": 0}
    rows = []
    for seed in map(int, args.seeds.split(",")):
        for kind, (x, y) in train.items():
            tasks = {t: TaskDataset(dict(x_train=x, y_train=y, x_test=xt, y_test=yt), 0, name="cifar10_subset",
                                    seed=seed, **options) for t, (xt, yt) in test.items()}
            seed_everything(seed)
            model = MultiTaskConvSynapticNet(in_channels=profile.channels, num_classes=10,
                                             image_size=profile.image_size, **profile.model_kwargs())
            train_task(model, tasks["exact"], profile, hooks=get_method("synapticnet")(profile, "cpu"), progress=False)
            row = dict(seed=seed, trained_on=kind, **{f"test_{t}": round(100 * evaluate(model, d), 2)
                                                      for t, d in tasks.items()})
            rows.append(row)
            print(row, flush=True)
    mean = lambda trained, tested: float(np.mean([r[f"test_{tested}"] for r in rows if r["trained_on"] == trained]))  # noqa: E731
    result = dict(
        description=__doc__.split("\n\n")[1].replace("\n", " "), epochs=args.epochs, rows=rows,
        mean={f"trained_{a}_tested_{b}": round(mean(a, b), 2) for a in train for b in test},
        command="SYNAPTICNET_DATA=../shared/data python scripts/cifar10_copy_cost.py")
    save_json(result, args.out)
    print(result["mean"], f"wrote {args.out}")


if __name__ == "__main__":
    main()
