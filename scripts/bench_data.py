"""Benchmark: does the data path keep up with training? Measured side by side in one run.

For each case it times (a) producing augmented training batches with
``TaskDataset.train_batches`` and (b) the training step of the default CPU model
(``profiles.CPU``: forward, backward, masked SGD step) on batches of the same size,
and reports images per second of both and their ratio. The goal is a ratio ≥ 10:
the data path should never be what the CPU waits for.

With a data root (``--data ROOT``, or ``$SYNAPTICNET_DATA`` as everywhere in the package)
it uses the real datasets ``mnist`` and ``cifar10`` from there; without one, the synthetic
stand-ins (no files needed, labelled as such in the output).

Usage: ``python scripts/bench_data.py [--data ROOT] [--out figures/bench/data_path.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.data import ENV_VAR, TaskDataset, load_arrays
from synapticnet.engine import to_device
from synapticnet.profiles import CPU


def data_images_per_second(ds: TaskDataset, batch_size: int, epochs: int) -> float:
    """Images per second of shuffled, augmented, normalised training batches."""
    start, n = time.perf_counter(), 0
    for epoch in range(epochs):
        for x, _ in ds.train_batches(batch_size, epoch=epoch):
            n += x.shape[0]
    return n / (time.perf_counter() - start)


def train_images_per_second(ds: TaskDataset, batch_size: int, steps: int) -> float:
    """Images per second of the CPU profile's training step on this task's batches."""
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(in_channels=CPU.channels, num_classes=ds.num_classes, image_size=CPU.image_size,
                                     **CPU.model_kwargs()).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    batches = []
    for x, y in ds.train_batches(batch_size):
        batches.append((x, y))
        if len(batches) == steps + 2:
            break
    for i, (x, y) in enumerate(batches):
        if i == 2:  # two warm-up steps
            start = time.perf_counter()
        x = to_device(x, "cpu")  # channels_last, as the engine feeds it
        opt.zero_grad()
        F.cross_entropy(model(x, task_id=0), y).backward()
        model.apply_task_gradient_mask(0)
        opt.step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get(ENV_VAR), metavar="ROOT",
                        help=f"use real mnist/cifar10 from this data root (default: ${ENV_VAR})")
    parser.add_argument("--batch", type=int, default=CPU.batch_size)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per case")
    parser.add_argument("--out", type=Path, default=Path("figures/bench/data_path.json"))
    args = parser.parse_args()
    names = ["mnist", "cifar10"] if args.data else ["synthetic_mnist", "synthetic_cifar10"]
    cases = {}
    for i, name in enumerate(names):
        arrays = load_arrays(name, root=args.data)
        ds = TaskDataset(arrays, task_id=i, name=name, **{**CPU.data_options("cifar10"), "n_train": None,
                                                          "val_size": CPU.val_size})  # shifts + flips: the costlier path
        epochs = max(1, 20_000 // max(ds.n_train, 1))
        data_ips = data_images_per_second(ds, args.batch, epochs)
        train_ips = train_images_per_second(ds, args.batch, args.steps)
        cases[name] = dict(title=ds.title, source_shape=list(ds.source_shape), n_train=ds.n_train,
                           data_images_per_second=data_ips, train_images_per_second=train_ips,
                           ratio=data_ips / train_ips)
        print(f"{name:18s} data {data_ips:10.0f} img/s   train step {train_ips:6.0f} img/s   "
              f"ratio {data_ips / train_ips:6.1f}x")
    result = dict(cases=cases, batch_size=args.batch,
                  augmentation=f"random shift (up to {CPU.crop_padding} px) + flip (the cpu profile's)",
                  model="profiles.CPU task 0", torch=torch.__version__, threads=torch.get_num_threads())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
