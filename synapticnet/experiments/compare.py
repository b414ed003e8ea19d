"""Comparing methods: every method on the same stream, budget and evaluation.

Every method learns the same tasks in the same order, with the same data, epochs,
optimiser and schedule, through the one runner (:func:`synapticnet.run.run`), and is
evaluated the same way (test accuracy of every task seen so far after each task) into the
same ``results.json`` keys. So one figure compares them. This module holds what the
comparison notebooks (04, 05) add on top: validation sweeps (:func:`sweep`), several
methods × seeds (:func:`compare`), forward transfer against separate networks, mean ± std
over seeds, a stream built to conflict, and the label a budgeted figure carries.

**Capacity.** The shared network (finetune, ewc, replay, lwf, gem, agem, joint) is a plain
:class:`~synapticnet.methods.networks.MultiHeadCNN` whose width in every layer is the width
SynapticNet reaches after its last task in the same profile (see
:func:`~synapticnet.methods.networks.final_width`). It has *more* parameters than
SynapticNet (dense connections between all units, where SynapticNet has only old→new
ones) — so the comparison is generous to the baselines; ``params_total`` is recorded.

**Joint training** is a multi-task reference at the same step budget, not an upper bound
at this budget (see :mod:`synapticnet.methods.joint`).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as data_lib
from ..data import make_synthetic
from ..engine import TrainingDiverged, task_seed
from ..methods import REGISTRY, get_method
from ..metrics import forward_transfer
from ..profiles import Profile, get_profile
from ..run import check_tasks, fresh_run_dir, load_task_data, run
from ..stats import format_mean_std

METHODS = tuple(REGISTRY)  # the built-in methods, in the registry's order
# Every method's hyper-parameters and their defaults, and the one its sweep tunes.
DEFAULTS: dict[str, dict[str, Any]] = {name: dict(cls.defaults) for name, cls in REGISTRY.items()}
SWEPT = {name: cls.swept for name, cls in REGISTRY.items() if cls.swept}


# --------------------------------------------------------------------------------------
# Tuning on the validation split
# --------------------------------------------------------------------------------------
def sweep(method: str, values: Sequence[Any], tasks: Sequence[str] | str | None = None,
          profile: Profile | str = "cpu", data_root: str | os.PathLike | None = None, seed: int = 0,
          param: str | None = None, out_dir: str | os.PathLike | None = None, progress: bool = False,
          datasets: list | None = None, download: bool = True, seeds: Sequence[int] | None = None,
          **fixed: Any) -> dict[str, Any]:
    """Tune one hyper-parameter of ``method`` on the *validation* split (never the test split).

    Runs the whole sequence once per value and seed (``seeds``, default ``[seed]``) with
    ``eval_split="val"`` (the runner, each into ``out_dir/<param>=<value>``, or
    ``…=<value>_s<seed>`` for several seeds; a fresh temporary folder by default) and scores a
    value by its final average validation accuracy over all tasks, averaged over the seeds. A
    value whose training diverges (NaN/inf loss) on *any* seed it is tried on scores ``None``
    and cannot be chosen (its remaining seeds are not run): a setting that is unstable on one
    seed may be unstable on the next. ``edge``/``edge_side`` say whether the choice is the lowest
    or highest value that trained (:func:`grid_edge`): then the best value may lie outside the grid.

    Returns ``{"method", "param", "values", "val_average_accuracy", "val_bwt", "chosen", "edge",
    "edge_side", "seeds", …}`` (with several seeds also ``val_average_accuracy_per_seed``).
    """
    param = param or get_method(method).swept
    if param is None:
        raise ValueError(f"{method} has no hyper-parameter to sweep; name one with param=...")
    seeds = [seed] if seeds is None else list(seeds)
    if not seeds:
        raise ValueError("sweep needs at least one seed")
    if datasets is not None and len(seeds) > 1:
        raise ValueError("datasets= holds one seed's data; leave it out to sweep over several seeds")
    profile = get_profile(profile) if isinstance(profile, str) else profile
    task_list = check_tasks(tasks if tasks is not None else profile.default_tasks) if datasets is None else None
    loaded = {seeds[0]: datasets} if datasets is not None else {}
    root = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix=f"sweep-{method}-"))
    per_seed: list[list[float]] = []
    bwts: list[list[float]] = []
    for v in values:
        accs, bwt = [], []
        for s in seeds:
            if s not in loaded:
                loaded[s] = load_task_data(task_list, profile, data_root, s, download)
            folder = root / (f"{param}={v}" if len(seeds) == 1 else f"{param}={v}_s{s}")
            try:
                r = run(loaded[s], method, profile, out_dir=fresh_run_dir(folder), seed=s, progress=progress,
                        eval_split="val", data_root=data_root, **{param: v}, **fixed)
            except TrainingDiverged as error:  # e.g. an EWC penalty too stiff for the learning rate
                print(f"{method} {param}={v} seed {s}: diverged ({str(error).split(';')[0]}); rejected")
                accs = bwt = None
                break
            accs.append(r["average_accuracy"])
            bwt.append(r["bwt"])
        per_seed.append(accs)
        bwts.append(bwt)
    scores = [None if a is None else float(np.mean(a)) for a in per_seed]
    finite = [i for i, a in enumerate(scores) if a is not None]
    if not finite:
        raise TrainingDiverged(f"every value of {param} diverged for {method}: {list(values)}")
    best = max(finite, key=lambda i: scores[i])  # the first of equal scores wins
    side = grid_edge(values, scores, best)
    out = dict(method=method, param=param, values=list(values), val_average_accuracy=scores,
               val_bwt=[None if b is None or None in b else float(np.mean(b)) for b in bwts],
               chosen=values[best], edge=side is not None, edge_side=side,
               tasks=[d.name for d in loaded[seeds[0]]], profile=profile.name, seed=seeds[0], seeds=seeds)
    if len(seeds) > 1:
        out["val_average_accuracy_per_seed"] = per_seed
    return out


def grid_edge(values: Sequence[Any], scores: Sequence[float | None], chosen: int) -> str | None:
    """Is ``values[chosen]`` the lowest (``"low"``) or highest (``"high"``) value of its grid that trained?

    Values whose score is ``None`` (diverged) do not count: a choice next to a diverged value is
    as unbracketed as one at the end of the grid — the best value may lie between them. ``"only"``:
    no other value trained; ``None``: a trained value lies on either side, so the choice is inside.
    """
    trained = [values[i] for i, s in enumerate(scores) if s is not None]
    value = values[chosen]
    lower = any(v < value for v in trained)
    higher = any(v > value for v in trained)
    if lower and higher:
        return None
    return "only" if not (lower or higher) else "low" if not lower else "high"


# --------------------------------------------------------------------------------------
# Aggregating seeds
# --------------------------------------------------------------------------------------
def mean_std(runs: Sequence[dict[str, Any]], keys: Sequence[str] = ("average_accuracy", "bwt", "forgetting", "fwt")
             ) -> dict[str, Any]:
    """Mean and (sample) standard deviation of some results fields over runs (seeds); None stays None.

    ``n`` is the number of runs. With one run the std is recorded as 0.0 but means nothing: print
    these numbers with :func:`format_mean_std`, which shows no ± below two runs.
    """
    out: dict[str, Any] = {"method": runs[0].get("method"), "seeds": [r.get("seed") for r in runs],
                           "n": len(runs), "params_total": runs[0].get("params_total")}
    for key in (*keys, "train_seconds_total"):
        values = [r.get(key) for r in runs]
        if any(v is None for v in values):
            out[key] = out[key + "_std"] = None
            continue
        out[key] = float(np.mean(values))
        out[key + "_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return out


# --------------------------------------------------------------------------------------
# A stream built to conflict (tests, demonstrations)
# --------------------------------------------------------------------------------------
def conflict_stream(profile: Profile, seed: int = 0, n_train: int = 2000, n_test: int = 400,
                    num_classes: int = 4) -> list:
    """Two synthetic tasks that fight over the same features — fine-tuning must forget.

    Task A: a small procedural dataset (:func:`synapticnet.data.make_synthetic`).
    Task B: *the same images* with their labels shuffled across the examples (one fixed
    permutation per split), so no feature of an image predicts its B label. Learning B is
    memorisation: every step of it pushes the shared backbone away from the features A
    relied on, for as long as B trains. The effect is large (fine-tuning's BWT is about
    −0.6 to −0.75 on this stream, measured with torch's default, AVX2 and AVX-512 CPU
    kernels at 1 and 2 threads), so tests built on it hold on any CPU. B's own accuracy
    stays at chance: it is there only to cause forgetting.
    """
    arrays = make_synthetic(num_classes, 28, 1, n_train, n_test, seed=seed + 4242, noise=0.15, clutter=0)
    rng = np.random.default_rng(seed + 17)
    b = {}
    for split in ("train", "test"):
        b[f"x_{split}"] = arrays[f"x_{split}"].copy()
        b[f"y_{split}"] = rng.permutation(arrays[f"y_{split}"])
    return [
        data_lib.TaskDataset(arr, task_id=i, seed=task_seed(seed, i), name=name, **profile.data_options(name))
        for i, (name, arr) in enumerate((("conflict_a", arrays), ("conflict_b", b)))
    ]


# --------------------------------------------------------------------------------------
# The comparison notebook 04 runs
# --------------------------------------------------------------------------------------
def compare(methods: Sequence[str], seeds: Sequence[int], tasks: Sequence[str], profile: Profile,
            out_dir: str | os.PathLike, data_root: str | os.PathLike | None = None,
            hyper: dict[str, dict[str, Any]] | None = None, unavailable: dict[str, str] | None = None,
            progress: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Run every method on the same stream for every seed: ``{method: [results per seed]}``.

    Every method goes through the one runner (:func:`synapticnet.run.run`) with
    ``hyper[method]``, on the same loaded data per seed; each run starts afresh in
    ``out_dir/<method>_s<seed>/``. A run that diverges is reported and left out (its method's
    ``seeds`` say which remain); a method that diverges on every seed raises ``TrainingDiverged``.
    """
    hyper = hyper or {}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in seeds:
        datasets = None
        for method in methods:
            out = fresh_run_dir(Path(out_dir) / f"{method}_s{seed}")
            start = time.perf_counter()
            if datasets is None:
                datasets = load_task_data(tasks, profile, data_root, seed)
            try:
                r = run(datasets, method, profile, data_root=data_root, out_dir=out, seed=seed, progress=progress,
                        unavailable=unavailable, **hyper.get(method, {}))
            except TrainingDiverged as error:  # e.g. an EWC penalty chosen on one seed, too stiff on another
                print(f"seed {seed} {method:>12}: diverged ({str(error).split(';')[0]}); left out of its mean")
                continue
            r["wall_seconds"] = time.perf_counter() - start
            runs[method].append(r)
            bwt = "—" if r["bwt"] is None else f"{100 * r['bwt']:+.2f}"
            print(f"seed {seed} {method:>12}: average accuracy {100 * r['average_accuracy']:.2f}%, BWT {bwt}, "
                  f"{r['params_total']:,} parameters, {r['wall_seconds']:.0f} s")
    failed = [m for m, results in runs.items() if not results]
    if failed:
        raise TrainingDiverged(f"{', '.join(failed)} diverged on every seed ({list(seeds)}) with {hyper}")
    return add_forward_transfer(runs)


def add_forward_transfer(runs: dict[str, list[dict[str, Any]]], reference: str = "separate"
                         ) -> dict[str, list[dict[str, Any]]]:
    """Give every run its forward transfer (``fwt``) against the ``reference`` runs of the same seed.

    The ``separate`` baseline trains one network of task 0's width on each task alone, with
    the same data, epochs and optimiser: its accuracy on task ``i`` is the single-task
    reference ``b_i`` of :func:`synapticnet.metrics.forward_transfer`. For SynapticNet (whose
    new tasks grow by task 0's width) FWT is what reading the frozen units of earlier tasks
    adds; for the shared-network methods it also contains their larger width. ``fwt`` is
    ``None`` where it is undefined: without a reference run of that seed, and for joint
    training (one final row, no "right after learning task i"). The runs are changed in place
    and returned.
    """
    refs = {r["seed"]: [r["accuracy_matrix"][i][i] for i in range(len(r["accuracy_matrix"]))]
            for r in runs.get(reference, [])}
    for results in runs.values():
        for r in results:
            R, b = r["accuracy_matrix"], refs.get(r["seed"])
            r["fwt"] = forward_transfer(R, b) if b is not None and len(R) == len(b) == len(R[-1]) else None
    return runs


# --------------------------------------------------------------------------------------
# Figure labels
# --------------------------------------------------------------------------------------
def budget_label(profile: Profile, tasks: Sequence[str]) -> str:
    """A short description of a time-budgeted profile for figure titles.

    It names what the budget trades away: the training subset per task, the epochs, the
    task-0 width, a step cap if any, and synthetic stand-in data if the tasks are synthetic.
    """
    epochs = [profile.epochs_for(t) for t in tasks]
    if len(set(epochs)) == 1:
        epoch_text = f"{epochs[0]} epoch{'s' if epochs[0] != 1 else ''}/task"
    else:  # name them per task, e.g. "epochs 2/2/4 (mnist/fashion_mnist/cifar10)"
        epoch_text = f"epochs {'/'.join(map(str, epochs))} ({'/'.join(tasks)})"
    n = "all" if profile.n_train is None else f"{profile.n_train:,}"
    label = (f"{profile.name} profile, {n} training images/task, {epoch_text}, "
             f"task-0 width {list(profile.conv_channels)}+{list(profile.hidden)}")
    if profile.max_steps_per_task is not None:
        label += f", ≤{profile.max_steps_per_task} steps/task"
    base = data_lib.base_dataset  # a stream task is synthetic when its base dataset is
    if any(base(t) in data_lib.DATASETS and data_lib.is_synthetic(base(t)) for t in tasks):
        label += ", SYNTHETIC stand-in data"
    return label
