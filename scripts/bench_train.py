"""Benchmark: training throughput of the recipe's networks, and what each CPU option buys.

``make bench`` runs it (a few minutes on a 2-core CPU). Everything is measured side by side in
one run (cases interleaved, medians of repeats): read ratios, not absolute times.

1. **Gating overhead.** Images/s of one training step (forward, backward, SGD step) of
   SynapticNet's task-gated network against the *same* network written as a plain
   ``nn.Sequential`` (:class:`~synapticnet.methods.MultiHeadCNN`, same layers, same widths), for
   the ``cpu`` and ``long`` profiles: task 0, and task 2 of a network grown twice (what the
   third task of notebook 03 trains). Target: ratio ≥ 0.95. Steps run in the profile's training
   precision on this machine (``precision="auto"``: bfloat16 where the processor has it).
2. **FLOP utilisation.** FLOPs per step (``torch.utils.flop_counter``) × steps/s, against this
   machine's measured peak in the same precision: the best of a few large matrix products.
3. **CPU options**, each against the recipe's default (channels_last, batch 256, all threads):
   float32 instead of bfloat16, contiguous (NCHW) layout, batch 128 and 512, one thread,
   ``torch.compile`` of the float32 network (in a subprocess
   with a time limit; its compile time is reported), and the data path's share of a step
   (whether overlapping data loading with training could pay).

Writes ``figures/bench/train.json``. Usage: ``python scripts/bench_train.py [--repeats 12]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench_layers import interleaved_medians  # scripts/: the same side-by-side timing as the layer benchmark
from synapticnet import MultiTaskConvSynapticNet
from synapticnet.data import TaskDataset, make_synthetic
from synapticnet.engine import training_dtype
from synapticnet.methods import MultiHeadCNN
from synapticnet.profiles import Profile, get_profile
from synapticnet.run import machine

ROOT = Path(__file__).resolve().parent.parent
CL = torch.channels_last


# (model, loss(x, y), trained parameters, after_backward, input shape (channels, side, side))
Case = tuple[torch.nn.Module, Callable, list, Callable, tuple[int, int, int]]


def gated(profile: Profile, task: int) -> Case:
    """SynapticNet's network of ``profile`` grown to ``task`` (growth as the profile says), training that task."""
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(in_channels=profile.channels, num_classes=10, image_size=profile.image_size,
                                     **profile.model_kwargs())
    for name in ("fashion_mnist", "cifar10")[:task]:
        conv, hidden = profile.growth_for(name)
        model.grow(num_classes=10, grow_conv_channels=conv, grow_hidden=hidden)
    params = model.task_parameters(task)

    def loss(x, y):
        return F.cross_entropy(model(x, task_id=task), y)
    return model, loss, params, lambda: model.apply_task_gradient_mask(task), _input_shape(profile)


def plain(profile: Profile) -> Case:
    """The same layers as one ``nn.Sequential`` and a head: what a tutorial would write."""
    torch.manual_seed(0)
    model = MultiHeadCNN(profile.conv_channels, profile.hidden, (10,), profile.dropout, profile.channels,
                         profile.image_size, profile.pooled_size, profile.pool_after)
    return (model, lambda x, y: F.cross_entropy(model(x, 0), y), list(model.parameters()), lambda: None,
            _input_shape(profile))


def _input_shape(profile: Profile) -> tuple[int, int, int]:
    return profile.channels, profile.image_size, profile.image_size


def stepper(case: Case, batch: int, layout: torch.memory_format = CL,
            dtype: torch.dtype | None = None) -> Callable[[], None]:
    """One training step of ``case`` on a fixed batch (under bfloat16 autocast if ``dtype``), as a function."""
    model, loss, params, after_backward, shape = case
    model.train()
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, *shape, generator=g).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,), generator=g)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = loss(x, y)
        out.backward()
        after_backward()
        opt.step()
    return step


def flops_of(step: Callable[[], None]) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def matmul_peak(n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """This machine's matrix-product rate (FLOP/s) in ``dtype``: the best of a few n×n products."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def data_share(batch: int, step_seconds: float, repeats: int = 20) -> float:
    """Seconds to produce one augmented, normalised batch (the engine's data path) ÷ one training step."""
    arrays = make_synthetic(10, 32, 3, 4 * batch, 10, seed=0)
    ds = TaskDataset(arrays, 0, name="bench", val_size=0, crop_padding=2, augment=True)
    start, n = time.perf_counter(), 0
    while n < repeats:
        for x, _ in ds.train_batches(batch, epoch=n):
            x.contiguous(memory_format=CL)
            n += 1
    return (time.perf_counter() - start) / n / step_seconds


COMPILE_SNIPPET = """
import sys, time, json, torch
sys.path.insert(0, {root!r})
import torch.nn.functional as F
from synapticnet.methods import MultiHeadCNN
from synapticnet.profiles import get_profile
p = get_profile({profile!r}); torch.manual_seed(0)
model = MultiHeadCNN(p.conv_channels, p.hidden, (10,), p.dropout, p.channels, p.image_size, p.pooled_size,
                     p.pool_after).train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
x = torch.randn({batch}, p.channels, p.image_size, p.image_size).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, ({batch},))
fwd = torch.compile(lambda x: model(x, 0))
def step():
    opt.zero_grad(set_to_none=True); F.cross_entropy(fwd(x), y).backward(); opt.step()
def eager():
    opt.zero_grad(set_to_none=True); F.cross_entropy(model(x, 0), y).backward(); opt.step()
t = time.perf_counter(); step(); step(); compile_s = time.perf_counter() - t
ts, te = [], []
for _ in range({repeats}):
    t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    t = time.perf_counter(); eager(); te.append(time.perf_counter() - t)
ts.sort(); te.sort()
print(json.dumps(dict(compile_seconds=compile_s, compiled=ts[len(ts)//2], eager=te[len(te)//2])))
"""


def compiled(profile: str, batch: int, repeats: int, limit: float) -> dict[str, object]:
    """``torch.compile`` of the plain network (the gated one has per-task Python control flow), in a subprocess."""
    code = COMPILE_SNIPPET.format(root=str(ROOT), profile=profile, batch=batch, repeats=repeats)
    try:  # an empty compile cache: a warm one (an earlier run's kernels) would report seconds of compiling, not tens
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=limit,
                                 env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
    except subprocess.TimeoutExpired:
        return dict(status=f"not measured: compiling took over {limit:.0f} s")
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return dict(status=f"failed: {last[:200]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return dict(status="ok", compile_seconds=round(r["compile_seconds"], 1),
                speedup_over_eager=round(r["eager"] / r["compiled"], 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--profiles", default="cpu,long")
    parser.add_argument("--compile-limit", type=float, default=240.0, help="seconds allowed for torch.compile")
    parser.add_argument("--compile-profiles", default="cpu", help="profiles whose network torch.compile is tried on")
    parser.add_argument("--out", type=Path, default=ROOT / "figures" / "bench" / "train.json")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    peaks = {torch.float32: matmul_peak(), torch.bfloat16: matmul_peak(dtype=torch.bfloat16)}
    print(f"matmul peak {peaks[torch.float32] / 1e9:.0f} GFLOP/s float32, {peaks[torch.bfloat16] / 1e9:.0f} bfloat16 "
          f"({threads} threads)", flush=True)
    result: dict[str, object] = dict(
        matmul_peak_gflops=round(peaks[torch.float32] / 1e9, 1),
        matmul_peak_gflops_bfloat16=round(peaks[torch.bfloat16] / 1e9, 1), threads=threads, cases={},
        machine=dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__, processor=machine()),
        command="make bench (scripts/bench_train.py)")
    for name in args.profiles.split(","):
        profile = get_profile(name)
        batch, dtype = profile.batch_size, training_dtype(profile, "cpu")  # what the recipe trains with here
        bare = profile.replace(whiten=False)  # the gating ratio compares the same layers: the plain net has no whitening
        steps = {"plain": stepper(plain(profile), batch, dtype=dtype),
                 "gated task 0": stepper(gated(bare, 0), batch, dtype=dtype),
                 "gated task 2": stepper(gated(bare, 2), batch, dtype=dtype),
                 "plain, float32": stepper(plain(profile), batch),
                 "plain, contiguous layout": stepper(plain(profile), batch, torch.contiguous_format, dtype),
                 "plain, batch 128": stepper(plain(profile), 128, dtype=dtype),
                 "plain, batch 512": stepper(plain(profile), 512, dtype=dtype)}
        if profile.whiten:  # the column as the profile trains it: its whitening layer in front
            steps["gated task 0, whitening"] = stepper(gated(profile, 0), batch, dtype=dtype)
        sizes = {"plain, batch 128": 128, "plain, batch 512": 512}
        seconds = interleaved_medians(steps, args.repeats, warmup=2)
        flops = flops_of(steps["plain"])
        per_s = {k: sizes.get(k, batch) / s for k, s in seconds.items()}
        torch.set_num_threads(1)
        one = interleaved_medians({"plain": stepper(plain(profile), batch, dtype=dtype)}, max(4, args.repeats // 3),
                                  warmup=2)["plain"]
        torch.set_num_threads(threads)
        peak = peaks[dtype or torch.float32]
        case = dict(
            batch=batch, precision=str(dtype or torch.float32).removeprefix("torch."),
            images_per_second={k: round(v, 1) for k, v in per_s.items()},
            precision_speedup_over_float32=round(per_s["plain"] / per_s["plain, float32"], 3),
            gated_over_plain_task0=round(per_s["gated task 0"] / per_s["plain"], 3),
            gated_over_plain_task2=round(per_s["gated task 2"] / per_s["plain"], 3),
            gflop_per_step=round(flops / 1e9, 2),
            achieved_gflops=round(flops / seconds["plain"] / 1e9, 1),
            utilisation_of_matmul_peak=round(flops / seconds["plain"] / peak, 3),
            channels_last_speedup=round(per_s["plain"] / per_s["plain, contiguous layout"], 3),
            batch_512_over_batch=round(per_s["plain, batch 512"] / per_s["plain"], 3),
            batch_128_over_batch=round(per_s["plain, batch 128"] / per_s["plain"], 3),
            two_threads_over_one=round(one / seconds["plain"], 3) if threads > 1 else None,
            data_path_share_of_step=round(data_share(batch, seconds["plain"]), 4),
            torch_compile=(compiled(name, batch, max(6, args.repeats // 2), args.compile_limit)
                           if name in args.compile_profiles.split(",") else dict(status="not tried")),
        )
        if profile.whiten:
            whitened = flops_of(steps["gated task 0, whitening"])
            case["whitened_column"] = dict(
                gflop_per_step=round(whitened / 1e9, 2),
                achieved_gflops=round(whitened / seconds["gated task 0, whitening"] / 1e9, 1),
                utilisation_of_matmul_peak=round(whitened / seconds["gated task 0, whitening"] / peak, 3),
                images_per_second=round(per_s["gated task 0, whitening"], 1),
                speed_over_without=round(per_s["gated task 0, whitening"] / per_s["gated task 0"], 3))
        result["cases"][name] = case
        print(name, json.dumps(case, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
