"""Benchmark: this CPU's training throughput in FLOP/s on the project's network.

The notebooks print a T4 estimate next to their measured CPU time
(:func:`synapticnet.workspace.expected_times`): the same FLOPs at a T4's assumed rate
instead of this CPU's measured one. This script measures the CPU side:

1. count the FLOPs of one training step (forward + backward) of the ``cpu`` profile's
   task-0 network on a batch (the profile's size) of CIFAR-sized images with ``torch.utils.flop_counter``;
2. time that step (median of ``--repeats`` after a warm-up) in the precision the recipe trains in
   (bfloat16 autocast where the processor has it, :func:`synapticnet.engine.training_dtype`): a float32
   step runs at well under half the recipe's bfloat16 rate here (``flops.json`` before this change vs
   ``train.json``), so a float32 rate would understate the work a notebook's minutes hold;
3. write ``flops / seconds`` to ``figures/bench/flops.json``. ``scripts/run_notebooks.py``
   copies the CPU's training rate into the package's ``expected_times.json``, preferring
   ``figures/bench/train.json`` (the recipe's own step, ``cases.cpu.achieved_gflops``) when it exists.

Usage: ``python scripts/bench_flops.py [--repeats 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.engine import to_device, training_dtype
from synapticnet.profiles import get_profile
from synapticnet.run import machine

ROOT = Path(__file__).resolve().parent.parent


def train_step(model: MultiTaskConvSynapticNet, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               dtype: torch.dtype | None = None) -> None:
    """One SGD step on task 0 (what the notebooks spend their time on), under ``dtype`` autocast if given."""
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        loss = F.cross_entropy(model(x, task_id=0), y)
    loss.backward()
    opt.step()


def measure(repeats: int, batch: int | None = None) -> dict[str, float]:
    """FLOPs of one training step, its median time, and their ratio (TFLOP/s)."""
    torch.manual_seed(0)
    profile = get_profile("cpu")
    batch = profile.batch_size if batch is None else batch
    model = MultiTaskConvSynapticNet(in_channels=profile.channels, image_size=profile.image_size, num_classes=10,
                                     **profile.model_kwargs())
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    side = profile.image_size  # channels_last, as trained
    x, y = to_device(torch.randn(batch, profile.channels, side, side), "cpu"), torch.randint(0, 10, (batch,))
    dtype = training_dtype(profile, "cpu")
    with FlopCounterMode(display=False) as counter:
        train_step(model, x, y, opt, dtype)
    flops = counter.get_total_flops()
    for _ in range(3):
        train_step(model, x, y, opt, dtype)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        train_step(model, x, y, opt, dtype)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return dict(flops_per_step=float(flops), seconds_per_step=seconds, cpu_train_tflops=flops / seconds / 1e12,
                precision=str(dtype or torch.float32).removeprefix("torch."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "figures" / "bench" / "flops.json")
    args = parser.parse_args()
    result = measure(args.repeats)
    result.update(machine=dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__,
                               threads=torch.get_num_threads(), processor=machine()),
                  note=f"cpu profile task-0 network, batch {get_profile('cpu').batch_size}, 3x32x32 channels_last, "
                       "forward+backward+SGD step")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"{result['flops_per_step'] / 1e9:.2f} GFLOP per step, {result['seconds_per_step'] * 1000:.0f} ms per step "
          f"-> {result['cpu_train_tflops'] * 1000:.1f} GFLOP/s; wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
