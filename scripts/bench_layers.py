"""Benchmark: what task gating costs, measured side by side in one run.

Three ratios (timings on shared machines are noisy, so A and B are interleaved and
the median of many repeats is compared; read ratios, not absolute times):

1. ``conv_step``: a training step (forward, backward, SGD step) of a ``TaskConv2d``
   training its newest task, against a plain ``nn.Conv2d`` + ``BatchNorm2d`` of the
   same active width. Below 1.0 means the frozen blocks saved backward work.
2. ``model_step``: the same for the whole network: the newest task of a grown
   ``MultiTaskConvSynapticNet`` against a fresh, fully trainable one of equal width.
3. ``old_task_inference``: evaluating task 0 on a network grown three times, against
   a network that only ever had task 0 (≈1.0 is the goal) and against evaluating all
   units (what compute-everything-then-mask would cost).
4. ``pick_step``: a training step of the newest task with picking masks over the older filters
   (``pick=True``, conv-reuse as the front runs it) against the same network without them: what
   a task's own view of the old weights costs per step.

Usage: ``python scripts/bench_layers.py [--repeats 30] [--out figures/bench/layers.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from synapticnet import MultiTaskConvSynapticNet, TaskConv2d
from synapticnet.run import machine


def interleaved_medians(fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each function, calling them in turn each round.

    The order alternates between rounds (A B C, C B A, ...): whichever case runs first
    after another one meets warmer or colder caches, so a fixed order biases the ratio.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    items = list(fns.items())
    for round_ in range(repeats):
        for name, fn in items if round_ % 2 == 0 else items[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def train_step(module: nn.Module, forward: Callable[[], torch.Tensor], opt: torch.optim.Optimizer) -> Callable[[], None]:
    def step() -> None:
        opt.zero_grad()
        forward().square().mean().backward()
        opt.step()
    return step


def bench_conv_step(repeats: int, batch: int) -> dict:
    torch.manual_seed(0)
    x = torch.randn(batch, 48, 16, 16)
    task_conv = TaskConv2d(32, 64, shared_input=False)
    task_conv.grow(32, in_units=16)  # task 1: 32 new filters reading 32 + 16 input channels
    task_conv.train()
    plain = nn.Sequential(nn.Conv2d(48, 96, 3, padding=1, bias=False), nn.BatchNorm2d(96)).train()
    single = TaskConv2d(48, 96).train()
    fns = {
        "task_conv_newest_task": train_step(task_conv, lambda: task_conv(x, 1),
                                            torch.optim.SGD(task_conv.parameters(), lr=0.01, momentum=0.9)),
        "task_conv_single_task": train_step(single, lambda: single(x, 0),
                                            torch.optim.SGD(single.parameters(), lr=0.01, momentum=0.9)),
        "plain_conv_bn": train_step(plain, lambda: plain(x),
                                    torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)),
    }
    t = interleaved_medians(fns, repeats)
    return {
        "seconds": t,
        "ratio_newest_task_vs_plain": t["task_conv_newest_task"] / t["plain_conv_bn"],
        "ratio_single_task_vs_plain": t["task_conv_single_task"] / t["plain_conv_bn"],
        "setup": f"batch {batch}, 48->96 channels at 16x16 (task 1 of 2: 32 new filters), SGD momentum",
    }


def grown(widths: tuple[int, ...] = (32, 64, 128), hidden: int = 256, tasks: int = 4,
          **options) -> MultiTaskConvSynapticNet:
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(conv_channels=widths, hidden=(hidden,), **options)
    for _ in range(tasks - 1):
        model.grow(num_classes=10, grow_conv_channels=[w // 2 for w in widths], grow_hidden=hidden // 2)
    return model


def masked_step(net: MultiTaskConvSynapticNet, x: torch.Tensor, y: torch.Tensor, task: int | None = None,
                opt: torch.optim.Optimizer | None = None) -> Callable[[], None]:
    """One training step of ``net``'s task (default: the newest), as the training loop takes it."""
    task = net.trainable_task if task is None else task
    opt = opt or torch.optim.SGD(net.task_parameters(task), lr=0.01, momentum=0.9)

    def run() -> None:
        opt.zero_grad()
        F.cross_entropy(net(x, task), y).backward()
        net.apply_task_gradient_mask(task)
        opt.step()
    return run


def bench_pick_step(repeats: int, batch: int) -> dict:
    options = dict(dense_mode="isolate", pool_after=(0, 2, 4))
    widths = (32, 32, 64, 64, 128, 128)
    nets = {name: grown(widths, tasks=4, pick=pick, **options).train() for name, pick in (("masks", True),
                                                                                          ("no_masks", False))}
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    t = interleaved_medians({name: masked_step(net, x, y) for name, net in nets.items()}, repeats)
    return {"seconds": t, "ratio_masks_vs_none": t["masks"] / t["no_masks"],
            "setup": f"batch {batch}, task 3 of a conv-reuse net {list(widths)} + 256 grown 3x by half, SGD momentum"}


def bench_model_step(repeats: int, batch: int) -> dict:
    model = grown().train()
    newest = model.trainable_task
    widths = [conv.out_units_for(newest) for conv in model.convs]
    plain = MultiTaskConvSynapticNet(conv_channels=widths, hidden=(model.dense[0].out_units_for(newest),)).train()
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    t = interleaved_medians({
        "synapticnet_newest_task": masked_step(model, x, y, newest,
                                               torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)),
        "plain_same_width": masked_step(plain, x, y, 0, torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)),
    }, repeats)
    return {
        "seconds": t,
        "ratio_vs_plain": t["synapticnet_newest_task"] / t["plain_same_width"],
        "images_per_second_synapticnet": batch / t["synapticnet_newest_task"],
        "images_per_second_plain": batch / t["plain_same_width"],
        "setup": f"batch {batch}, task {newest} of a net grown 3x from (32,64,128)/256 by half; widths {widths}",
    }


def bench_old_task_inference(repeats: int, batch: int) -> dict:
    model = grown().eval()
    alone = MultiTaskConvSynapticNet().eval()  # a network that only ever had task 0
    x = torch.randn(batch, 3, 32, 32)
    fns = {
        "grown_task0": lambda: model(x, 0),
        "task0_alone": lambda: alone(x, 0),
        "grown_all_units": lambda: model(x, model.trainable_task),
    }
    with torch.inference_mode():
        t = interleaved_medians(fns, repeats)
    return {
        "seconds": t,
        "ratio_grown_task0_vs_alone": t["grown_task0"] / t["task0_alone"],
        "ratio_grown_task0_vs_all_units": t["grown_task0"] / t["grown_all_units"],
        "params_task0": model.num_parameters(0),
        "params_total": model.num_parameters(),
        "setup": f"batch {batch}, eval mode, 4 tasks",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per case (default 30)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--out", type=Path, default=Path("figures/bench/layers.json"))
    parser.add_argument("--shared", action="store_true",
                        help="record that other jobs shared the machine (ratios hold; absolute times do not)")
    args = parser.parse_args()
    results = {
        "conv_step": bench_conv_step(args.repeats, args.batch),
        "model_step": bench_model_step(args.repeats, args.batch),
        "old_task_inference": bench_old_task_inference(args.repeats, args.batch),
        "pick_step": bench_pick_step(args.repeats, args.batch),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": machine(),
        "repeats": args.repeats,
        "shared": args.shared,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results.items():
        if isinstance(r, dict):
            ratios = {k: round(v, 3) for k, v in r.items() if k.startswith(("ratio", "images"))}
            print(f"{name:20s} {ratios}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
