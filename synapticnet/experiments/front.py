"""The accuracy–parameter front: does growing one network beat separate networks?

A continual learner that *grows* must earn its extra machinery. The honest test: for
every parameter budget, compare it with the simplest thing that never forgets — one
independent network per task ("separate networks") — trained with the same layers,
optimiser, schedule, data and epochs. Plot average accuracy against parameters (log
scale): a method is worth its complexity only where it sits *above and to the left* of
the separate-network curve.

The configurations (:data:`CONFIGS`):

* ``separate ×f`` — the references: one network per task at ``f`` × task 0's width
  (the same conv/BatchNorm/dense layers as SynapticNet's blocks).
* ``reuse ×g`` — SynapticNet: task 0 at full width, every later task adds ``g`` × that
  width and reads every frozen older unit, in every layer.
* ``conv-reuse ×g`` — the cheaper reuse (``dense_mode="isolate"``): new filters read
  every older task's channels, but the new task's dense layer reads only its *own*
  flattened maps. In plain reuse most of a new task's parameters are dense weights
  reading older tasks' flattened maps (16 inputs per old channel at 4×4 maps); here
  reuse costs only 3×3 conv weights per old channel.
* ``… + compaction`` — train the task at its growth, then let automatic compaction
  (:data:`~synapticnet.profiles.RETRAIN`: bisection over an eighth, a quarter and half of the
  task's units, each candidate *retrained* for the task's epochs) take back the units the task
  does not need, judged on its own validation split. ``conv-reuse ×1 + compaction`` is the
  growth trigger without per-dataset targets: start wide, shrink while accuracy holds.
  ``isolate ×1 + compaction`` is separate networks pruned the same way: the fair
  reference for compaction itself.
* ``… + masks`` — every new task reads the older filters through its own picking mask over
  their frozen weights (``pick=True``, :class:`~synapticnet.layers.PickedView`): reuse that
  builds new features from old weights. The masks' bits are counted beside the parameters
  (``mask_bits``; a target counts them too, at 32 bits a parameter).

Everything is chosen on validation splits; test accuracy is only reported. Each
configuration runs for several seeds (at least :data:`MIN_SEEDS` before any claim is
made). Seed-to-seed spread is as large as the effects in question, so claims rest on
**paired** differences (:mod:`synapticnet.stats`): seed ``s`` of a configuration minus
seed ``s`` of the reference, with a 95 % confidence interval (:func:`comparisons`,
:func:`targets`). A claim is stated only where its interval supports it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..profiles import RETRAIN, Compaction, Profile, budget
from ..run import _differing_settings, fresh_run_dir, load_task_data, run  # settings recorded vs now
from ..stats import paired_difference
from ..storage import load_json, save_json
from .compare import grid_edge
from .studies import scaled_growth

# The streams of the front: unrelated tasks, and related ones (where transfer can pay): Split CIFAR-10, and Split
# MNIST (the split stream most continual-learning papers report; issue 22 asked for it on the same front).
STREAMS: dict[str, list[str]] = {
    "mnist_fashion_cifar10": ["mnist", "fashion_mnist", "cifar10"],
    "split_cifar10": ["split_cifar10"],
    "split_mnist": ["split_mnist"],
}
SMOKE_STREAMS: dict[str, list[str]] = {
    "mnist_fashion_cifar10": ["synthetic_mnist", "synthetic_fashion_mnist", "synthetic_cifar10"],
    "split_cifar10": ["synthetic_split_cifar10"],
    "split_mnist": ["synthetic_split_mnist"],
}


# The learning rate of picking masks' scores, × the task's (Profile.pick_lr_factor), chosen on validation by
# `growth_front.py --sweep-pick` (figures/front_pick.json).
PICK_LR_FACTOR = 10.0  # seeds 0, 1 of Split CIFAR-10 at conv-reuse ×0.25: 1 → 79.72, 10 → 80.36, 100 → 79.46, 1000 → 80.38 %


@dataclass(frozen=True)
class FrontConfig:
    """One point of the front: a method (``separate`` or ``synapticnet``) and its settings."""

    label: str
    family: str  # "separate" for the references, "synapticnet" otherwise
    width: float = 1.0  # task 0's width, × the budget's
    growth: float = 1.0  # × the budget's growth table (in the cpu budget that table is task 0's width)
    mode: str = "reuse"
    pooled_size: int | None = None
    dense_mode: str | None = None
    compaction: bool = False
    tolerance: float = RETRAIN.tolerance  # validation accuracy compaction may give up (fraction)
    sparsity: float = 0.0  # network slimming's λ while the task trains (Profile.sparsity)
    pick: bool = False  # picking masks over older weights (Profile.pick)
    pick_lr_factor: float = PICK_LR_FACTOR  # their scores' learning rate × the task's (Profile.pick_lr_factor)

    def profile(self, base: Profile) -> Profile:
        """``base`` with this configuration's width, growth, mode, pooling and compaction."""
        scale = lambda widths: tuple(max(1, round(self.width * w)) for w in widths)  # noqa: E731
        p = base.replace(conv_channels=scale(base.conv_channels), hidden=scale(base.hidden), mode=self.mode,
                         pooled_size=self.pooled_size, dense_mode=self.dense_mode,
                         compaction=self.rule() if self.compaction else None, sparsity=self.sparsity,
                         pick=self.pick, pick_lr_factor=self.pick_lr_factor)
        return p.replace(growth=scaled_growth(p, self.growth))

    def rule(self) -> Compaction:
        """The front's compaction: :data:`~synapticnet.profiles.RETRAIN` with this point's tolerance."""
        return dataclasses.replace(RETRAIN, tolerance=self.tolerance)

    def settings(self) -> dict[str, Any]:
        """What the front's JSON records about this configuration (besides its measurements)."""
        return dict(label=self.label, family=self.family, mode=self.mode, dense_mode=self.dense_mode,
                    width=self.width, growth=self.growth, pooled_size=self.pooled_size, compaction=self.compaction,
                    tolerance=self.tolerance if self.compaction else None,
                    sparsity=self.sparsity, pick=self.pick,
                    rule=json.loads(json.dumps(dataclasses.asdict(self.rule()))) if self.compaction else None,
                    pick_lr_factor=self.pick_lr_factor if self.pick else None)

    @property
    def method(self) -> str:
        return "separate" if self.family == "separate" else "synapticnet"


POOL_NAMES = {None: "", 1: " GAP", 2: " P2"}  # label suffix of each pooling


def _separate(f: float, pooled_size: int | None) -> FrontConfig:
    return FrontConfig(f"separate{POOL_NAMES[pooled_size]} ×{f:g}", "separate", width=f, pooled_size=pooled_size)


# Network slimming's λ for the front's compaction points (Profile.sparsity), chosen on validation by
# `growth_front.py --sweep-sparsity` (figures/front_sparsity.json, Split CIFAR-10, seeds 0 and 1): no λ in
# 0.001-0.1 gave smaller networks within 0.3 validation points of λ = 0 (0.03: 44 % fewer parameters, -3.7
# points; 0.1: every task at chance), so the front compacts without the penalty.
SPARSITY = 0.0
# The sweep's λ that shrank the networks clearly without collapsing them: what notebook 06 shows slimming doing.
SPARSITY_SHOWN = 0.03

CONFIGS: tuple[FrontConfig, ...] = (
    *(_separate(f, None) for f in (0.25, 0.5, 1.0)),  # separate ×1 is also "isolate ×1": the same networks
    *(FrontConfig(f"reuse ×{g:g}", "synapticnet", growth=g) for g in (0.25, 0.5)),
    *(FrontConfig(f"conv-reuse ×{g:g}", "synapticnet", growth=g, dense_mode="isolate") for g in (0.25, 0.5, 1.0)),
    FrontConfig("conv-reuse ×1 + compaction", "synapticnet", growth=1.0, dense_mode="isolate", compaction=True,
                sparsity=SPARSITY),
    # the fair reference for compaction itself: separate networks (isolate ×1) pruned the same way
    FrontConfig("isolate ×1 + compaction", "synapticnet", growth=1.0, mode="isolate", compaction=True,
                sparsity=SPARSITY),
    # picking masks over the older filters: the same widths as conv-reuse, masks on (the ablation is the pair)
    FrontConfig("conv-reuse ×0.25 + masks", "synapticnet", growth=0.25, dense_mode="isolate", pick=True),
    FrontConfig("conv-reuse ×1 + masks + compaction", "synapticnet", growth=1.0, dense_mode="isolate", pick=True,
                compaction=True, sparsity=SPARSITY),
)
# Also available for your own fronts (measured once, seed 0, not in the committed front):
# global average pooling (``pooled_size=1``) cost 12 points on MNIST → Fashion-MNIST → CIFAR-10
# at this width (separate GAP ×1: 63.11 % vs 75.29 % flattened), 2×2 pooling 3.6 points.
EXTRA_CONFIGS: tuple[FrontConfig, ...] = (
    *(_separate(f, pool) for pool in (1, 2) for f in (0.25, 0.5, 1.0)),
    *(FrontConfig(f"reuse{POOL_NAMES[pool]} ×{g:g}", "synapticnet", growth=g, pooled_size=pool)
      for pool in (1, 2) for g in (0.25, 0.5, 1.0)),
)


SETTING_KEYS = frozenset(FrontConfig("", "").settings())


def _settings(label: str) -> dict[str, Any] | None:
    """The current settings of the configuration called ``label`` (None: no longer defined)."""
    return next((c.settings() for c in (*CONFIGS, *EXTRA_CONFIGS) if c.label == label), None)


# Settings a configuration gained after points were first recorded, with the value those points had: a point
# without them was measured as the configuration is now only if the current value is this one (compaction points
# recorded without a rule used the short fine-tune, so they differ from every configuration with a rule).
ADDED_CONFIG_FIELDS: dict[str, Any] = {"pick": False, "pick_lr_factor": None, "rule": None}


def same_settings(stored: dict[str, Any] | None, current: dict[str, Any] | None,
                  added: dict[str, Any] = ADDED_CONFIG_FIELDS) -> bool:
    """Whether a configuration's settings ``stored`` in a table's JSON are its ``current`` ones; a key in ``added``
    that ``stored`` lacks (a setting added since) takes the value it had before it existed."""
    return stored is not None and current is not None and {**added, **stored} == current


def _edge(values: list[float], chosen: float) -> dict[str, Any]:
    """Whether a sweep's choice is the lowest or highest value of its grid (the best may lie outside it)."""
    side = grid_edge(values, [0.0] * len(values), values.index(chosen))
    return dict(edge=side is not None, edge_side=side)


def front_budget(stream: str, profile: Profile | str = "cpu") -> Profile:
    """The training budget of the front: notebook 04/05's (``"comparison"`` in
    :data:`synapticnet.profiles.BUDGETS`), or ``"front_split"`` for the split streams (two classes a task).

    Without notebook 04's gradient clipping (``grad_clip``, a guard for the baselines that can run away, such
    as EWC): the front compares SynapticNet with separate networks, was measured without it, and each of its
    comparisons trains every configuration the same way.
    """
    name = "front_split" if stream.startswith("split_") else "comparison"
    return budget(name, profile).replace(description=f"the accuracy-parameter front's budget ({stream})", grad_clip=None)


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (sample std, over seeds) of test and validation average accuracy, in %."""
    acc = np.array([100 * r["average_accuracy"] for r in runs])
    val = np.array([100 * np.mean(r["val_accuracy"]) for r in runs])
    std = (lambda a: float(a.std(ddof=1)) if len(a) > 1 else 0.0)  # noqa: E731
    return dict(avg_acc_mean=float(acc.mean()), avg_acc_std=std(acc), val_avg_acc_mean=float(val.mean()),
                val_avg_acc_std=std(val), params=int(np.mean([r["params_total"] for r in runs])),
                train_seconds_mean=float(np.mean([r["train_seconds_total"] for r in runs])))


def compaction_seconds(results: dict[str, Any]) -> float:
    """Seconds a run's automatic compaction took (its fine-tunes and validation passes), all tasks together."""
    return sum(d.get("seconds", 0.0) for d in results.get("compaction", []))


def run_front(out: str | os.PathLike, streams: dict[str, list[str]] = STREAMS, seeds: Sequence[int] = (0, 1, 2),
              configs: Sequence[FrontConfig] = CONFIGS, profile: Profile | str = "cpu",
              data_root: str | os.PathLike | None = None, runs_dir: str | os.PathLike = "runs/front",
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every configuration on every stream for every seed; write ``out`` after each point.

    ``out`` is the JSON of the front: ``{"streams": {STREAM: {"tasks", "budget", "configs":
    [{"label", "family", "params", "avg_acc_mean", "avg_acc_std", "seeds", "runs", …}]}}}``.
    A point already in ``out`` with the same seeds is kept, not run again, so an
    interrupted front continues where it stopped; a stream measured under another budget or
    task list (an earlier recipe) starts over.
    """
    out = Path(out)
    front = load_json(out) if out.is_file() else {"streams": {}}
    for stream, tasks in streams.items():
        base = front_budget(stream, profile)
        entry = front["streams"].setdefault(stream, {"configs": []})
        if entry.get("budget") is None or _differing_settings(entry["budget"], base.to_dict()) or entry.get("tasks") != tasks:
            # points measured under another budget or task list (an earlier recipe) are not comparable: start over
            entry["configs"] = []
        entry.update(tasks=tasks, budget=base.to_dict())
        # points of configurations no longer defined (a rule since replaced) are not comparable: drop them
        entry["configs"] = [c for c in entry["configs"] if _settings(c["label"]) is not None]
        # a point is kept if measured on these seeds with these settings (a changed rule is measured again)
        done = {c["label"]: c for c in entry["configs"] if c.get("seeds") == list(seeds)
                and same_settings({k: c[k] for k in c if k in SETTING_KEYS}, _settings(c["label"]))}
        datasets = {}
        for config in configs:
            if config.label in done:
                done[config.label].update(config.settings())  # settings only; the measurements stay
                continue
            runs = []
            for seed in seeds:
                if seed not in datasets:
                    datasets[seed] = load_task_data(tasks, base, data_root, seed)
                start = time.perf_counter()
                r = run(datasets[seed], config.method, config.profile(base), seed=seed, progress=False,
                        out_dir=fresh_run_dir(Path(runs_dir) / stream / f"{config.label}_s{seed}".replace(" ", "_")),
                        data_root=data_root)
                runs.append(r)
                log(f"{stream:>22} {config.label:<30} seed {seed}: {100 * r['average_accuracy']:.2f}% "
                    f"{r['params_total']:>9,} params  {time.perf_counter() - start:.0f} s")
            point = dict(config.settings(), seeds=list(seeds), **summarise(runs),
                         runs=[dict(seed=r["seed"], avg_acc=100 * r["average_accuracy"], params=r["params_total"],
                                    val_avg_acc=100 * float(np.mean(r["val_accuracy"])),
                                    train_seconds=r["train_seconds_total"], compaction=r.get("compaction", []),
                                    mask_bits=r.get("mask_bits_total", 0),
                                    compaction_seconds=compaction_seconds(r))
                               for r in runs])
            entry["configs"] = [c for c in entry["configs"] if c["label"] != config.label] + [point]
            save_json(front, out)
        entry["task_titles"] = [d.title for d in datasets[seeds[0]]] if datasets else entry.get("task_titles")
        save_json(front, out)
    return front


def _validation_sweep(stream: str, configs: dict[float, FrontConfig], key: str, seeds: Sequence[int],
                      profile: Profile | str, data_root: str | os.PathLike | None, runs_dir: str | os.PathLike,
                      log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run ``configs`` (one per value of the swept setting ``key``) on ``stream`` for ``seeds``; validation only."""
    base = front_budget(stream, profile)
    tasks = (SMOKE_STREAMS if base.name == "smoke" else STREAMS)[stream]
    rows = []
    for seed in seeds:
        datasets = load_task_data(tasks, base, data_root, seed)
        for value, config in configs.items():
            r = run(datasets, config.method, config.profile(base), seed=seed, progress=False, data_root=data_root,
                    out_dir=fresh_run_dir(Path(runs_dir) / stream / f"{key}_{value:g}_s{seed}"))
            rows.append({key: value, "seed": seed, "val_avg_acc": 100 * float(np.mean(r["val_accuracy"])),
                         "params": r["params_total"], "train_seconds": r["train_seconds_total"],
                         "compaction_seconds": compaction_seconds(r),
                         "chosen_fractions": [d["chosen_fraction"] for d in r["compaction"]]})
            log(f"{stream} {key}={value:g} seed {seed}: val {rows[-1]['val_avg_acc']:.2f} %, {r['params_total']:,} params")
    return rows


def sparsity_sweep(stream: str, sparsities: Sequence[float], seeds: Sequence[int] = (0, 1),
                   profile: Profile | str = "cpu", data_root: str | os.PathLike | None = None,
                   runs_dir: str | os.PathLike = "runs/front_sparsity", log: Callable[[str], None] = print
                   ) -> dict[str, Any]:
    """Choose network slimming's λ on *validation* accuracy: ``conv-reuse ×1 + compaction`` per λ and seed.

    Returns ``{"rows": [{sparsity, seed, val_avg_acc, params, train_seconds, compaction_seconds}], "chosen"}``:
    the largest λ whose validation accuracy, paired by seed with λ = 0, is on average at most
    ``NOT_BELOW_POINTS`` lower and whose networks are on average the smallest. Test accuracy is not read.
    """
    configs = {lam: FrontConfig(f"conv-reuse ×1 + compaction λ={lam:g}", "synapticnet", dense_mode="isolate",
                                compaction=True, sparsity=lam) for lam in sparsities}
    rows = _validation_sweep(stream, configs, "sparsity", seeds, profile, data_root, runs_dir, log)
    return dict(stream=stream, seeds=list(seeds), budget=front_budget(stream, profile).to_dict(), rows=rows,
                chosen=choose_sparsity(rows), **_edge(list(sparsities), choose_sparsity(rows)),
                rule=f"smallest mean parameters among λ with mean validation accuracy ≥ the smallest λ's "
                     f"− {NOT_BELOW_POINTS} points (ties: the smaller λ)")


def pick_sweep(stream: str, factors: Sequence[float], seeds: Sequence[int] = (0, 1), growth: float = 0.25,
               profile: Profile | str = "cpu", data_root: str | os.PathLike | None = None,
               runs_dir: str | os.PathLike = "runs/front_pick", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Choose the picking masks' learning-rate factor (``Profile.pick_lr_factor``) on *validation* accuracy:
    ``conv-reuse ×growth + masks`` per factor and seed; the smallest factor whose mean validation accuracy is
    within ``NOT_BELOW_POINTS`` of the best mean (differences below that are noise at two seeds; the gentler
    setting is preferred). ``edge`` says whether it is the smallest or largest tried: then widen the grid."""
    configs = {f: FrontConfig(f"conv-reuse ×{growth:g} + masks", "synapticnet", growth=growth, dense_mode="isolate",
                              pick=True, pick_lr_factor=f) for f in factors}
    rows = _validation_sweep(stream, configs, "pick_lr_factor", seeds, profile, data_root, runs_dir, log)
    mean = {f: float(np.mean([r["val_avg_acc"] for r in rows if r["pick_lr_factor"] == f])) for f in factors}
    chosen = min(f for f in factors if mean[f] >= max(mean.values()) - NOT_BELOW_POINTS)
    return dict(stream=stream, seeds=list(seeds), growth=growth, budget=front_budget(stream, profile).to_dict(),
                rows=rows, mean_val_avg_acc=mean, chosen=chosen, **_edge(list(factors), chosen),
                rule=f"the smallest factor with mean validation accuracy within {NOT_BELOW_POINTS} points of the best")


def choose_sparsity(rows: Sequence[dict[str, Any]]) -> float:
    """The λ of :func:`sparsity_sweep`'s ``rows`` whose networks are smallest on average, among those whose mean
    validation accuracy is at most ``NOT_BELOW_POINTS`` below the smallest λ's (ties: the smaller λ)."""
    lambdas = sorted({r["sparsity"] for r in rows})
    mean = lambda lam, key: float(np.mean([r[key] for r in rows if r["sparsity"] == lam]))  # noqa: E731
    floor = mean(lambdas[0], "val_avg_acc") - NOT_BELOW_POINTS
    return min((lam for lam in lambdas if mean(lam, "val_avg_acc") >= floor), key=lambda lam: (mean(lam, "params"), lam))


MIN_SEEDS = 5  # fewer seeds: no claim is made
NOT_BELOW_POINTS = 0.3  # a sweep's "not below": mean validation accuracy at most 0.3 points lower
PARAMS_TARGET_LOW = 0.5  # the parameter target's "as accurate": the paired interval's lower end at least −0.5 points
PARAMS_TARGETS = {"split_cifar10": 0.35, "mnist_fashion_cifar10": 0.5,  # × separate ×1's parameters (issue 22)
                  "split_mnist": 0.35}  # no target was set for it: held to the other split stream's
COMPACTION_TIME_LIMIT = 3.5  # a run with compaction may take at most this × its time without it
MASK_BITS_PER_PARAMETER = 32  # picking masks counted as float32 equivalents: 32 bits make one parameter


def _by_seed(point: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in point.get("runs", [])}


def _separate_curve(entry: dict[str, Any], pooled_size: int | None, seed: int) -> list[tuple[int, float]]:
    """``(parameters, accuracy)`` of the separate networks with this pooling, for one seed, by size."""
    return sorted((run["params"], run["avg_acc"]) for c in entry["configs"]
                  if c["family"] == "separate" and c["pooled_size"] == pooled_size
                  for s, run in _by_seed(c).items() if s == seed)


def _on_curve(curve: list[tuple[int, float]], params: int) -> tuple[float, bool]:
    """The separate curve's accuracy at ``params`` (linear in log-parameters, flat outside), and whether
    ``params`` lies between its smallest and largest network."""
    xs, ys = np.log([p for p, _ in curve]), [a for _, a in curve]
    x = float(np.log(params))
    return float(np.interp(x, xs, ys)), bool(xs[0] <= x <= xs[-1])


def comparisons(entry: dict[str, Any], level: float = 0.95) -> list[dict[str, Any]]:
    """Every SynapticNet point of one stream against the separate networks, *paired by seed*.

    For each configuration, over the seeds it shares with ``separate ×1`` (same pooling):

    * ``vs_separate_x1`` — accuracy minus separate ×1's of the same seed (points), mean and
      ``level`` confidence interval (:func:`synapticnet.stats.paired_difference`);
    * ``vs_separate_curve`` — accuracy minus the separate curve *of the same seed* read at the
      configuration's parameter count: the gain at equal parameters;
    * ``params_ratio`` — its parameters / separate ×1's, averaged over seeds; ``params_ratio_with_masks``
      adds its picking masks' bits ÷ 32 (float32 equivalents), so no capacity hides in masks;
    * ``time_ratio`` — for compaction points, the run's time / its time without compaction's
      fine-tunes and validation passes (both measured in the same run), the largest over seeds
      (``time_ratio_median``: the median, less sensitive to a stall of a shared machine).
    """
    out = []
    for c in entry["configs"]:
        ref = next((r for r in entry["configs"] if r["family"] == "separate" and r["width"] == 1.0
                    and r["pooled_size"] == c["pooled_size"]), None)
        if c["family"] != "synapticnet" or ref is None:
            continue
        mine, theirs = _by_seed(c), _by_seed(ref)
        seeds = sorted(set(mine) & set(theirs))
        if not seeds:
            continue
        on_curve = [_on_curve(_separate_curve(entry, c["pooled_size"], s), mine[s]["params"]) for s in seeds]
        times = [r["train_seconds"] / (r["train_seconds"] - r["compaction_seconds"]) for r in (mine[s] for s in seeds)
                 if r.get("compaction_seconds") and r["train_seconds"] > r["compaction_seconds"]]
        out.append(dict(
            config=c["label"], reference=ref["label"], seeds=seeds,
            params_ratio=float(np.mean([mine[s]["params"] / theirs[s]["params"] for s in seeds])),
            params_ratio_with_masks=float(np.mean([
                (mine[s]["params"] + mine[s].get("mask_bits", 0) / MASK_BITS_PER_PARAMETER) / theirs[s]["params"]
                for s in seeds])),
            vs_separate_x1=paired_difference([mine[s]["avg_acc"] for s in seeds],
                                             [theirs[s]["avg_acc"] for s in seeds], level).to_dict(),
            vs_separate_curve=paired_difference([mine[s]["avg_acc"] for s in seeds],
                                                [acc for acc, _ in on_curve], level).to_dict(),
            within_reference_range=all(inside for _, inside in on_curve),
            time_ratio=max(times) if times else None, time_ratio_median=float(np.median(times)) if times else None))
    return out


OPTIONS = {"pick": ("pick", "pick_lr_factor"), "compaction": ("compaction", "rule", "tolerance", "sparsity")}


def ablations(entry: dict[str, Any], level: float = 0.95) -> list[dict[str, Any]]:
    """Each option (picking masks, compaction) on against off at the same widths, paired by seed.

    For every configuration with an option on, its *twin* is the configuration whose settings are the
    same but for that option (off): ``difference`` is accuracy with minus without (points, ``level``
    interval), ``params_ratio`` parameters with / without, ``time_ratio`` training time with / without
    (median over seeds; times from runs that may have shared the machine)."""
    out = []
    for option, keys in OPTIONS.items():
        ignore = {"label", *keys}
        for c in entry["configs"]:
            if c["family"] != "synapticnet" or not c.get(option):
                continue
            twin = next((t for t in entry["configs"] if t["family"] == "synapticnet" and not t.get(option)
                         and all(t.get(k) == c.get(k) for k in set(c) | set(t) if k in SETTING_KEYS
                                 and k not in ignore)), None)
            if twin is None:
                continue
            on, off = _by_seed(c), _by_seed(twin)
            seeds = sorted(set(on) & set(off))
            if not seeds:
                continue
            out.append(dict(option=option, config=c["label"], without=twin["label"], seeds=seeds,
                            difference=paired_difference([on[s]["avg_acc"] for s in seeds],
                                                         [off[s]["avg_acc"] for s in seeds], level).to_dict(),
                            params_ratio=float(np.mean([on[s]["params"] / off[s]["params"] for s in seeds])),
                            time_ratio=float(np.median([on[s]["train_seconds"] / off[s]["train_seconds"]
                                                        for s in seeds]))))
    return out


def targets(front: dict[str, Any]) -> dict[str, Any]:
    """What the front supports, stream by stream, computed from its per-seed numbers.

    * **parameter target** — a SynapticNet configuration with at most
      ``PARAMS_TARGETS[stream]`` × the parameters of separate ×1 (mask bits ÷ 32 included) whose paired difference to
      separate ×1 has a 95 % interval with lower end ≥ −``PARAMS_TARGET_LOW``: "not below
      it". ``None`` (not shown) with fewer than ``MIN_SEEDS`` seeds or no reference.
    * **gain at equal parameters** — configurations whose paired difference to the
      separate curve has its whole interval above zero (inside the curve's range): only
      these may be said to *beat* separate networks.
    * **compaction time** — the largest ``time_ratio`` of a compaction point, against
      ``COMPACTION_TIME_LIMIT``.
    """
    verdicts: dict[str, Any] = {}
    for stream, entry in front["streams"].items():
        rows = comparisons(entry)
        enough = [r for r in rows if len(r["seeds"]) >= MIN_SEEDS]
        limit = PARAMS_TARGETS.get(stream, 0.5)
        hits = [r["config"] for r in enough if max(r["params_ratio"], r["params_ratio_with_masks"]) <= limit
                and r["vs_separate_x1"]["low"] is not None and r["vs_separate_x1"]["low"] >= -PARAMS_TARGET_LOW]
        gains = [r["config"] for r in enough if r["within_reference_range"]
                 and r["vs_separate_curve"]["low"] is not None and r["vs_separate_curve"]["low"] > 0]
        times = [r["time_ratio"] for r in rows if r["time_ratio"] is not None]
        verdicts[stream] = dict(
            comparisons=rows, seeds=max((len(r["seeds"]) for r in rows), default=0), min_seeds=MIN_SEEDS,
            params_limit=limit, params_target_low=-PARAMS_TARGET_LOW, params_target_met=(bool(hits) if enough else None), params_target_hits=hits,
            gain_shown=gains, compaction_time_ratio=max(times, default=None),
            compaction_time_met=(max(times) <= COMPACTION_TIME_LIMIT) if times else None,
            ablations=ablations(entry))
    return verdicts
