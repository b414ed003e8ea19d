"""The one runner: learn a sequence of tasks with any method, evaluate after each, save, resume.

For every task ``i`` in order (``method`` is any registered :mod:`synapticnet.methods` plug-in)::

    make room for task i          ->  method.build (task 0) or method.next_task (grow, a new head, …)
    train task i                  ->  method.fit: the engine's loop with the method's hooks
    check every weight is finite  ->  a diverged run stops with a clear error
    method.after_task             ->  store a memory, a Fisher, task statistics, …
    evaluate every task j <= i    ->  row i of the accuracy matrix
    save checkpoint + results     ->  nothing finished is ever lost
    after the last task: method.final_metrics (e.g. accuracy without the task id), and every
    task's accuracy on its own training images (``train_accuracy``, beside the test accuracy)

Joint training is the one method that trains all tasks in one *stage*; the runner is the
same, its accuracy matrix is then a single final row.

A run writes to its output folder:

* ``checkpoint.pt`` — the network, the method's memory (replay buffers, Fishers) and the
  run's state after the last finished task, in one file written atomically, so they can
  never disagree;
* ``results.json``  — the results so far (``"complete": false`` until the end).

A folder belongs to one run. While a run writes there it holds ``.lock``: a second run
into the same folder is refused. A folder holding another run's files is never
overwritten: the same run continues with ``resume=True``; a different method, seed,
task list, hyper-parameters or profile is refused with what differs. Every task
re-seeds the random generators from ``(seed, task index)``, so a resumed run ends with
exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from . import data as data_lib
from .data import CHANNELS, IMAGE_SIZE, data_record
from .engine import check_finite, evaluate, seed_everything, select_device, task_seed, training_dtype
from .methods import final_width, get_method
from .methods.base import Method
from .metrics import summarize
from .profiles import Profile, check_seed, get_profile
from .folders import CHECKPOINT, RESULTS, prepare_output_dir, remove_created, run_lock
from .hardware import processor
from .storage import load_torch, save_json, save_torch



# --------------------------------------------------------------------------------------
# The task list and its data
# --------------------------------------------------------------------------------------
def check_tasks(tasks: Sequence[str] | str) -> list[str]:
    """Validate task names (non-empty, known, no repeats) before any work starts.

    Datasets and streams can be mixed (see :mod:`synapticnet.data.streams`): a stream name
    stands for its tasks, so ``"mnist,split_cifar10"`` becomes ``["mnist",
    "split_cifar10/0", …, "split_cifar10/4"]`` — the list that is returned and run.
    """
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    tasks = list(tasks)
    if not tasks:
        raise ValueError("the task list is empty: name at least one dataset or stream, e.g. mnist,fashion_mnist")
    tasks = data_lib.expand_tasks(tasks)  # unknown names: a ValueError listing datasets and streams
    if len(set(tasks)) != len(tasks):
        repeated = sorted({t for t in tasks if tasks.count(t) > 1})
        raise ValueError(f"each dataset or stream task can appear once in the task list; repeated: "
                         f"{', '.join(repeated)} (in {tasks})")
    return tasks


def as_datasets(tasks: object) -> list | None:
    """``tasks`` if it is a list of :class:`~synapticnet.data.TaskDataset` objects (checked), else ``None``.

    A run then learns your own tasks, in that order; each one's ``task_id`` must be its
    position (``TaskDataset(..., task_id=i)``), because the engine trains head ``task_id``.
    """
    if not isinstance(tasks, (list, tuple)) or not tasks or not any(isinstance(t, data_lib.TaskDataset) for t in tasks):
        return None
    for i, d in enumerate(tasks):
        if not isinstance(d, data_lib.TaskDataset):
            raise ValueError(f"a task list mixes TaskDataset objects and names: item {i} is {d!r}; "
                             "pass only names or only TaskDataset objects")
        if d.task_id != i:
            raise ValueError(f"task {i} ({d.name!r}) was built with task_id={d.task_id}; build it with task_id={i}")
    check_test_splits(tasks)
    names = [d.name for d in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"every task needs its own name (TaskDataset(..., name=...)); got {names}")
    return list(tasks)


def split_available(tasks: Sequence[str], root: str | os.PathLike | None = None,
                    download: bool = True) -> tuple[list[str], dict[str, str]]:
    """Which of ``tasks`` can be loaded here? Returns ``(available, {missing: reason})``.

    For notebooks that should run what they can and *say* what they could not (for
    example CIFAR-100 on an offline machine) — never substituting other data.

    Raises:
        ValueError: when not one of ``tasks`` can be loaded (one line with each dataset's reason):
            there is nothing to run, and saying so here beats an empty figure further on.
    """
    available, missing = [], {}
    reasons: dict[str, str | None] = {}  # base dataset -> why it cannot be loaded (None: it can)
    for name in check_tasks(tasks):
        base = data_lib.base_dataset(name)  # a stream task is available iff its base dataset is
        if base not in reasons:
            try:
                data_lib.load_arrays(base, root=root, download=download)
                reasons[base] = None
            except data_lib.DataError as error:
                reasons[base] = str(error).splitlines()[0]
        if reasons[base] is None:
            available.append(name)
        else:
            missing[name] = reasons[base]
    if not available:
        why = " ".join(reason for reason in reasons.values() if reason)  # each names its dataset
        raise ValueError(f"no dataset could be loaded: {why} Put the datasets under the data root "
                         "(SYNAPTICNET_DATA or DATA_ROOT), or run with SYNAPTICNET_SMOKE=1 on synthetic stand-ins")
    return available, missing


def load_task_data(tasks: Sequence[str], profile: Profile, root: str | os.PathLike | None, seed: int,
                   download: bool = True) -> list:
    """Load every task's data up front, so a missing dataset fails before any training.

    ``tasks`` are dataset names, stream names (expanded to their tasks) or stream task
    names; each base dataset is read once, however many tasks are cut from it.
    """
    tasks = data_lib.expand_tasks(tasks)
    if not tasks:
        raise ValueError("no dataset could be loaded: the task list is empty; name at least one dataset or stream")
    cache: dict = {}  # base dataset -> its arrays, for this call only
    datasets = [
        data_lib.task_dataset(
            name, i, root=root, download=download, cache=cache, seed=task_seed(seed, i),
            **profile.data_options(name),  # the input shape, n_train, val_size, augmentation
        )
        for i, name in enumerate(tasks)
    ]
    return check_test_splits(datasets)


def check_test_splits(datasets: Sequence) -> list:
    """Every task's test split is checked before any task trains (not after the task before it)."""
    for i, d in enumerate(datasets):
        if d.n_test == 0:
            raise ValueError(f"task {i} ({d.name}) has an empty test split: there is nothing to evaluate it on")
    return list(datasets)


def fresh_run_dir(out: str | os.PathLike) -> Path:
    """A run folder without a previous run's checkpoint/results (only those two files go): start over on purpose."""
    out = Path(out)
    if out.is_dir():
        with run_lock(out):  # never under a live run's feet: "in use" if another run holds the folder
            for name in (CHECKPOINT, RESULTS):
                (out / name).unlink(missing_ok=True)
    return out


def machine() -> str:
    """What a run's numbers depend on besides the code and the seed: the processor, torch, and the kernels torch
    picks for it (``"AMD EPYC; torch 2.14.1; AVX512"``). Two processors round differently, and after a few hundred
    steps the same seed can end a point apart: two runs are a pair only on the same machine. Speed depends on it
    too (a processor with AMX multiplies bfloat16 matrices about 5x faster than one without)."""
    return f"{processor()}; torch {torch.__version__}; {torch.backends.cpu.get_cpu_capability()}"


def environment(device: torch.device) -> dict[str, Any]:
    """Where the numbers came from: software versions and hardware."""
    return dict(
        device=str(device), torch=torch.__version__, python=platform.python_version(),
        platform=platform.platform(), machine=machine(), cpu_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else None,
    )


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------
def run(
    tasks: Sequence[str] | Sequence[data_lib.TaskDataset] | str | None = None,
    method: str = "synapticnet",
    profile: Profile | str = "cpu",
    data_root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    download: bool = True,
    unavailable: dict[str, str] | None = None,
    eval_split: str = "test",
    **hyper: Any,
) -> dict[str, Any]:
    """Learn ``tasks`` one after another with ``method``; return (and write) the results.

    Args:
        tasks: dataset or stream names in order (a list or ``"mnist,split_cifar10"``),
            or a list of your own :class:`~synapticnet.data.TaskDataset` objects (their
            splits and normalisation are used as they are; the profile's ``n_train``,
            ``val_size`` and ``crop_padding`` then do not apply); default: the profile's tasks.
        method: a registered method (:data:`synapticnet.methods.REGISTRY`: ``synapticnet``,
            ``ewc``, ``replay``, …, or your own ``@register``-ed class).
        profile: a :class:`~synapticnet.profiles.Profile` or its name.
        data_root: where the datasets are (default: ``$SYNAPTICNET_DATA`` or ``data/``).
        out_dir: where ``checkpoint.pt`` and ``results.json`` go (default
            ``runs/<profile>``, or ``runs/<profile>_<method>`` for other methods).
        seed: one seed for everything, ``0 … 2**32 - 1``.
        resume: continue the run in ``out_dir`` after its last finished task (a finished
            run is loaded, not trained again).
        device: ``"cpu"``, ``"cuda"``, ... or ``None`` for automatic.
        progress: show progress bars.
        download: let torchvision download datasets missing from the data root.
        unavailable: tasks of the intended sequence that could not be loaded here
            (``{name: reason}``, see :func:`split_available`); recorded in the results.
        eval_split: ``"test"`` for results, ``"val"`` for tuning (the test split is then never read).
        **hyper: the method's hyper-parameters (its ``defaults``), checked before any data loads.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    check_seed(seed)
    if eval_split not in ("test", "val"):
        raise ValueError(f"eval_split must be 'test' or 'val', got {eval_split!r}")
    device = select_device(device)
    algorithm = get_method(method)(profile, device, seed, **hyper)  # hyper-parameters checked here
    given = as_datasets(tasks)
    names = [d.name for d in given] if given else check_tasks(tasks if tasks is not None else profile.default_tasks)
    if out_dir is None:
        out_dir = f"runs/{profile.name}" if method == "synapticnet" else f"runs/{profile.name}_{method}"
    out, created = prepare_output_dir(out_dir)
    try:
        with run_lock(out):
            identity = dict(method=method, hyper=algorithm.hyper, tasks=names, seed=seed, eval_split=eval_split)
            state = _start_or_resume(out, identity, profile, resume, algorithm.stages(len(names)))
            datasets = given or load_task_data(names, profile, data_root, seed, download)  # fails here if missing
            return _run(algorithm, datasets, state, out, profile, device, progress, data_root, unavailable)
    except BaseException:
        remove_created(created)  # a run that failed before writing anything leaves no empty folders behind
        raise


def _run(algorithm: Method, datasets: list, state: dict[str, Any], out: Path, profile: Profile,
         device: torch.device, progress: bool, data_root, unavailable: dict[str, str] | None) -> dict[str, Any]:
    """The body of :func:`run`, holding the output folder's lock."""
    state["unavailable"] = dict(unavailable or {})
    provenance = [data_record(d, data_root) for d in datasets]
    _check_same_data(state, provenance, out)
    tasks, seed, split = state["tasks"], state["seed"], state["eval_split"]
    model = None
    if state["finished"]:
        saved = load_torch(out / CHECKPOINT, "run checkpoint")
        try:
            model = algorithm.restore(saved["model"], datasets, state["finished"]).to(device)
            algorithm.load_state_dict(saved["method"])
        except (KeyError, TypeError, RuntimeError, IndexError) as error:
            raise ValueError(f"{out / CHECKPOINT} is damaged: its network or method state does not load "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}); "
                             "start a new run in another folder") from None
        check_finite(model, f"cannot resume {out}: the checkpoint")
        _check_saved_rows(state, model, datasets, device, out, algorithm.frozen_past)
        if progress:
            print(f"resuming {out}: {state['finished']} of {len(tasks)} task(s) already finished")
    for stage in algorithm.stages(len(tasks)):
        if stage[-1] < state["finished"]:
            continue
        seed_everything(task_seed(seed, stage[0]))
        for i in stage:
            if model is None:
                model = algorithm.build(tasks, datasets[i].num_classes)
            else:
                algorithm.next_task(model, datasets[i])
        model.to(device)
        where = f"{algorithm.name}, task {stage[0]} ({datasets[stage[0]].name})" if len(stage) == 1 else \
            f"{algorithm.name}, tasks {stage[0]}-{stage[-1]}"
        start = time.perf_counter()
        report = algorithm.fit(model, datasets, stage, progress)
        check_finite(model, where)
        for i in stage:
            algorithm.after_task(model, datasets, i)
        state["train_seconds"].append(time.perf_counter() - start)
        state.setdefault("cpu_threads", []).append(torch.get_num_threads())  # what trained it (a resume may differ)
        state["rows"].append([evaluate(model, datasets[j], split, device) for j in range(stage[-1] + 1)])
        state["val_accuracy"].extend(report.val_accuracy if isinstance(report.val_accuracy, list)
                                     else [report.val_accuracy])
        state["growth_decisions"].extend(report.growth_decisions)
        if report.compaction is not None:
            state["compaction"].append(report.compaction)
        state["steps"].append(report.steps)
        state["extra"].update(report.extra)
        if report.clipped_steps is not None:  # how often profile.grad_clip acted, per task (stage)
            state["extra"].setdefault("clipped_steps_per_task", []).append(report.clipped_steps)
        state["finished"] = stage[-1] + 1
        if state["finished"] == len(tasks):  # once, at the end (task inference costs T passes per image)
            state["final"] = algorithm.final_metrics(model, datasets, split)
            state["train_accuracy"] = training_set_accuracy(model, datasets, device)
        save_torch({"model": algorithm.model_checkpoint(model), "method": algorithm.state_dict(), "state": state},
                   out / CHECKPOINT)
        save_json(build_results(state, datasets, model, algorithm, profile, device, provenance), out / RESULTS)
        if progress:
            row = "  ".join(f"{tasks[j]} {100 * a:.2f}%" for j, a in enumerate(state["rows"][-1]))
            print(f"{algorithm.name} after task {stage[-1]} ({datasets[stage[-1]].title}): {row}")
    if "final" not in state and state["finished"] == len(tasks):  # a checkpoint saved before its final metrics
        state["final"] = algorithm.final_metrics(model, datasets, split)
    if "train_accuracy" not in state and state["finished"] == len(tasks):  # saved before it was measured
        state["train_accuracy"] = training_set_accuracy(model, datasets, device)
    results = build_results(state, datasets, model, algorithm, profile, device, provenance)
    save_json(results, out / RESULTS)
    return results


TRAIN_ACCURACY_SPLIT = ("each task's own training images (the training split it learned from: all of them, or the "
                        "profile's n_train subset; the validation images held out of it are not included), scored "
                        "after the last task in eval mode, without augmentation and with the test evaluation's "
                        "settings")


def training_set_accuracy(model: torch.nn.Module, datasets: Sequence, device: torch.device) -> dict[str, Any]:
    """Every task's accuracy on its own *training* images, after the whole sequence — beside the test accuracy.

    A network can remember images it was trained on better than it classifies new ones; the gap between the
    two numbers is how much it has fitted its own training set. A table of results must say which one it shows:
    the runner records both (see :data:`TRAIN_ACCURACY_SPLIT`). The cost is one evaluation pass over every
    training split (about five times a test pass for a full dataset); ``seconds`` records it."""
    start = time.perf_counter()
    accuracy = [evaluate(model, d, "train", device) for d in datasets]
    return dict(accuracy=accuracy, images=[d.n_train for d in datasets], seconds=time.perf_counter() - start)


def run_sequence(tasks=None, profile: Profile | str = "cpu", **kwargs: Any) -> dict[str, Any]:
    """:func:`run` with SynapticNet (the name the notebooks use)."""
    return run(tasks, "synapticnet", profile, **kwargs)


def run_baseline(method: str, tasks=None, profile: Profile | str = "cpu", **kwargs: Any) -> dict[str, Any]:
    """:func:`run` with another method (the name the comparison notebooks use)."""
    return run(tasks, method, profile, **kwargs)


# --------------------------------------------------------------------------------------
# One folder, one run
# --------------------------------------------------------------------------------------
def _check_same_data(state: dict[str, Any], provenance: list[dict[str, Any]], out: Path) -> None:
    """Record the data's checksums in a new run; refuse to resume a run on different data."""
    now = [p.get("sha256") for p in provenance]
    before = state.setdefault("data_sha256", now)
    if len(before) != len(now):
        raise ValueError(f"{out / CHECKPOINT} is damaged: its run state is inconsistent (data_sha256 has "
                         f"{len(before)} entries for {len(now)} task(s)); start a new run in another folder")
    for task, old, new in zip(state["tasks"], before, now):
        if old != new:
            raise ValueError(f"cannot resume {out}: the data of task {task!r} changed since the run started "
                             f"(sha256 {str(old)[:12]}… then, {str(new)[:12]}… now). Resume with the original "
                             "data file, or start a new run in another folder")


# What a saved run state must hold, and the type of each entry (a tampered or damaged checkpoint is refused).
STATE_TYPES: dict[str, type | tuple[type, ...]] = dict(
    method=str, hyper=dict, tasks=list, seed=int, eval_split=str, profile=dict, finished=int, rows=list,
    train_seconds=list, val_accuracy=list, growth_decisions=list, steps=list, compaction=list, extra=dict,
    started_at=str, data_sha256=list)


def _check_state(state: object, path: Path, stages: list[list[int]] | None = None) -> dict[str, Any]:
    """The saved state if every entry is there with the right type and the numbers fit together, else a ValueError
    naming the inconsistent field. ``stages`` (the method's grouping of tasks, :meth:`Method.stages`): one row of
    accuracies per finished stage, as long as the tasks seen by then, one time and step count per stage."""
    if not isinstance(state, dict):
        raise ValueError(f"{path} is damaged: its run state is not a dictionary; start a new run in another folder")
    problems = [f"{k} missing" for k in STATE_TYPES if k not in state]
    problems += [f"{k} is {type(state[k]).__name__}, not {getattr(t, '__name__', t)}" for k, t in STATE_TYPES.items()
                 if k in state and (not isinstance(state[k], t) or isinstance(state[k], bool))]
    if not problems:
        T, done, rows = len(state["tasks"]), state["finished"], state["rows"]
        if not 0 <= done <= T:
            problems.append(f"finished = {done} with {T} task(s)")
        bad_rows = [r for r in rows if not isinstance(r, list)
                    or not all(isinstance(a, float) and 0.0 <= a <= 1.0 for a in r)]
        if bad_rows:
            problems.append("rows hold values that are not accuracies in [0, 1]")
        done_stages = [st for st in (stages or []) if st[-1] < done] if 0 <= done <= T else []
        if stages is not None and 0 <= done <= T and not bad_rows:
            if done and done not in {st[-1] + 1 for st in stages}:
                problems.append(f"finished = {done} does not end a stage of this method")
            lengths, expected = [len(r) for r in rows], [st[-1] + 1 for st in done_stages]
            if lengths != expected:
                problems.append(f"rows has rows of lengths {lengths} for {done} finished task(s) (expected {expected})")
            for key in ("train_seconds", "steps"):
                if len(state[key]) != len(done_stages):
                    problems.append(f"{key} has {len(state[key])} entries for {len(done_stages)} finished stage(s)")
        if len(state["data_sha256"]) != T:
            problems.append(f"data_sha256 has {len(state['data_sha256'])} entries for {T} task(s)")
        clash = sorted(set(state["extra"]) & RESULT_KEYS)
        if clash:
            problems.append(f"extra holds {', '.join(clash)}, which results.json already has")
    if problems:
        raise ValueError(f"{path} is damaged: its run state is inconsistent ({'; '.join(problems)}); "
                         "start a new run in another folder")
    return state


def _check_saved_rows(state: dict[str, Any], model: torch.nn.Module, datasets: list, device: torch.device,
                      out: Path, frozen_past: bool) -> None:
    """Re-derive the saved accuracies from the restored network: a checkpoint whose numbers do not belong to
    its weights (tampered, or mixed up with another run's) is refused. The last row is the network's now; for a
    method that never changes a finished task (``frozen_past``) every earlier row's entries are, too."""
    if not state["rows"]:
        raise ValueError(f"{out / CHECKPOINT} is damaged: {state['finished']} task(s) finished but no accuracies saved")
    tasks = getattr(model, "num_tasks", None)
    if tasks is not None and tasks < len(state["rows"][-1]):
        raise ValueError(f"{out / CHECKPOINT} is damaged: its run state says {state['finished']} task(s) finished, "
                         f"but its network has {tasks}; start a new run in another folder")
    again = [evaluate(model, datasets[j], state["eval_split"], device) for j in range(len(state["rows"][-1]))]
    checked = state["rows"] if frozen_past else state["rows"][-1:]
    for row in checked:
        if max(abs(a - b) for a, b in zip(row, again)) > ROW_TOLERANCE:
            k = state["rows"].index(row)
            raise ValueError(f"cannot resume {out}: the accuracies saved in {CHECKPOINT} after task {len(row) - 1} "
                             f"({[round(a, 4) for a in row]}) are not those of its network "
                             f"({[round(a, 4) for a in again[:len(row)]]}, row {k}); the checkpoint was changed "
                             "or damaged. Start a new run in another folder")


# The entries build_results writes: a method's extra results (state["extra"]) may not reuse these names.
RESULT_KEYS = frozenset("""method complete tasks task_titles num_classes accuracy_matrix final_accuracy average_accuracy
    bwt forgetting task_id_accuracy class_incremental_accuracy task_inference val_accuracy params_total params_per_task
    params_used_per_task train_seconds_per_task train_seconds_total steps_per_task growth_decisions compaction profile
    profile_settings seed training_precision data synthetic_data unavailable_tasks started_at finished_at hyper
    eval_split scenario evaluation width device torch python platform cpu_threads gpu""".split())
ROW_TOLERANCE = 0.005  # another device or kernel may flip a few test images; a tampered number moves more


def _start_or_resume(out: Path, identity: dict[str, Any], profile: Profile, resume: bool,
                     stages: list[list[int]]) -> dict[str, Any]:
    """A fresh run state, or the saved one when resuming; refuse a folder that holds another run."""
    path = out / CHECKPOINT
    mine = dict(identity, profile=profile.to_dict())
    if not path.exists():
        if (out / RESULTS).exists():
            raise ValueError(f"{out} already holds {RESULTS} of another run (without its {CHECKPOINT}); "
                             "choose another output folder, or delete that file to start over")
        return dict(mine, finished=0, rows=[], train_seconds=[], val_accuracy=[], growth_decisions=[], steps=[],
                    compaction=[], extra={}, started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    saved = load_torch(path, "run checkpoint")
    if not isinstance(saved, dict) or not {"model", "method", "state"} <= set(saved):
        raise ValueError(f"{path} is not a checkpoint of this version's runner; move it away or choose another "
                         "output folder")
    state = _check_state(saved["state"], path, stages)
    differing = {k: (state.get(k), v) for k, v in mine.items() if k != "profile" and state.get(k) != v}
    differing.update({f"profile.{k}": v for k, v in _differing_settings(state.get("profile", {}), mine["profile"]).items()})
    if differing:
        raise ValueError(f"{out} holds another run (saved vs requested: {differing}); choose another output folder, "
                         "or resume it with its original settings")
    if not resume:
        raise ValueError(f"{out} already holds this run ({CHECKPOINT}, {state.get('finished')} of "
                         f"{len(state['tasks'])} task(s) done); pass --resume (resume=True) to continue it, "
                         "or choose another output folder")
    state["profile"] = mine["profile"]  # the same numbers; the current wording of description and notes
    return state


# Profile fields added after runs had been saved, with the value every run saved before them used: a folder
# without the field ran with that value, so it resumes (any other later field is reported as differing).
ADDED_PROFILE_FIELDS: dict[str, Any] = {"image_size": IMAGE_SIZE, "channels": CHANNELS, "lr_decay": True,
                                         "sparsity": 0.0, "n_test": None, "grad_clip": None, "pick": False,
                                         "pick_lr_factor": 1.0, "optimizer": "sgd", "normalization": "dataset",
                                         "batch_norm": True, "lookahead": 0.0, "test_shift": 0,
                                         "alternate_flips": False, "batch_norm_scale": True,
                                         "whiten": False, "identity_init": False, "norm_bias_lr": 1.0}
ADDED_COMPACTION_FIELDS: dict[str, Any] = {"finetune_share": None, "recalibrate_batches": 0}  # the same, in ``compaction``


def _differing_settings(saved: dict[str, Any], requested: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Profile fields that differ, ignoring prose (``description``, ``notes``): changing words changes no run.
    A field of :data:`ADDED_PROFILE_FIELDS` missing from ``saved`` has the value runs had before it existed.
    (Also how the front and the Permuted MNIST table decide whether their recorded budget is still current.)"""
    saved = {**ADDED_PROFILE_FIELDS, **saved}
    if isinstance(saved.get("compaction"), dict):
        saved["compaction"] = {**ADDED_COMPACTION_FIELDS, **saved["compaction"]}
    prose = ("description", "notes")
    keys = sorted((set(saved) | set(requested)) - set(prose))
    return {k: (saved.get(k), requested.get(k)) for k in keys if saved.get(k) != requested.get(k)}


# --------------------------------------------------------------------------------------
# results.json
# --------------------------------------------------------------------------------------
def _inferred(inference: dict[str, Any] | None, key: str) -> Any:
    """``task_id_accuracy`` (per scorer) or ``class_incremental_accuracy`` (default scorer) of a run, or None."""
    if inference is None:
        return None
    return inference[key] if key == "task_id_accuracy" else inference[key][inference["default_scorer"]]


def _train_accuracy(state: dict[str, Any], tasks: list[str]) -> dict[str, float] | None:
    """``{task: accuracy on its training images}`` after the last task, or None before the run is complete."""
    record = state.get("train_accuracy")
    return None if record is None else dict(zip(tasks, record["accuracy"]))


def build_results(state: dict[str, Any], datasets: list, model: torch.nn.Module, algorithm: Method,
                  profile: Profile, device: torch.device, provenance: list[dict]) -> dict[str, Any]:
    """The ``results.json`` document: numbers first, provenance after. The same keys for every method."""
    tasks, T, done = state["tasks"], len(state["tasks"]), state["finished"]
    final = state.get("final", {})
    if algorithm.joint:
        row = state["rows"][0] if state["rows"] else []
        R = [row] if row else []
        metrics = dict(average_accuracy=sum(row) / len(row) if row else None, bwt=None, forgetting=None)
        final_row = dict(zip(tasks, row))
    else:
        R = [row + [None] * (T - len(row)) for row in state["rows"]]
        metrics = summarize([r[:done] for r in R[:done]]) if done else {}
        final_row = {tasks[j]: R[done - 1][j] for j in range(done)} if done else {}
    inference = final.get("task_inference")
    results = dict(
        method=algorithm.name,
        complete=done == T,
        tasks=tasks,
        task_titles=[d.title for d in datasets],
        num_classes=[d.num_classes for d in datasets],
        accuracy_matrix=R,
        final_accuracy=final_row,
        average_accuracy=metrics.get("average_accuracy"),
        bwt=metrics.get("bwt"),
        forgetting=metrics.get("forgetting"),
        # Without the task id, after the last task: SynapticNet's task inference (synapticnet.task_inference:
        # the fraction of test images whose task was identified, per scorer, and class-incremental accuracy with
        # the default detector), or a class-incremental method's argmax over all heads — the same key and meaning.
        task_id_accuracy=_inferred(inference, "task_id_accuracy"),
        class_incremental_accuracy=final.get("class_incremental_accuracy",
                                             _inferred(inference, "class_incremental_accuracy")),
        task_inference=inference,
        val_accuracy=state["val_accuracy"],
        params_total=model.num_parameters(),
        params_per_task=model.parameters_per_task(),
        params_used_per_task=[model.num_parameters(t) for t in range(model.num_tasks)],
        # picking masks (pick=True): one bit per older weight each task picks from; 0 for every other network
        mask_bits_total=model.num_mask_bits() if hasattr(model, "num_mask_bits") else 0,
        # The original protocol's number: accuracy on the training images themselves (None until the last task)
        train_accuracy=_train_accuracy(state, tasks),
        train_accuracy_images=state.get("train_accuracy", {}).get("images"),
        train_accuracy_seconds=state.get("train_accuracy", {}).get("seconds"),
        train_accuracy_split=TRAIN_ACCURACY_SPLIT,
        train_seconds_per_task=state["train_seconds"],
        train_seconds_total=sum(state["train_seconds"]),
        steps_per_task=state["steps"],
        growth_decisions=state["growth_decisions"],
        compaction=state["compaction"],
        profile=profile.name,
        profile_settings=profile.to_dict(),
        seed=state["seed"],
        **environment(device),
        training_precision=str(training_dtype(profile, device) or torch.float32).removeprefix("torch."),
        data=provenance,
        synthetic_data=any(d.synthetic for d in datasets),
        unavailable_tasks=state.get("unavailable", {}),
        started_at=state["started_at"],
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        hyper=dict(state["hyper"]),
        eval_split=state["eval_split"],
        scenario="class-incremental" if state["hyper"].get("class_incremental") else "task-incremental",
    )
    if state.get("cpu_threads"):  # the threads that trained the run, not those of a later call that only loaded it
        results["cpu_threads"] = max(state["cpu_threads"])
    if clash := sorted(set(state["extra"]) & set(results)):
        raise ValueError(f"a method's extra results {clash} would overwrite entries of results.json")
    results.update(state["extra"])
    if algorithm.joint:
        results["evaluation"] = "joint (one final row)"
    if algorithm.shared_network:
        results["width"] = dict(zip(("conv_channels", "hidden"), map(list, final_width(profile, tasks))))
    return results
