"""The continual run: learn a sequence of tasks, evaluate after each, save, resume.

For every task ``i`` in order::

    grow the network (except for the first task)   ->  NeuronGenesis
    train task i                                   ->  engine.train_task
    evaluate every task j <= i on its test set     ->  row i of the accuracy matrix
    fit task i's task-inference statistics         ->  task_inference.fit_task_statistics
    after the last task: infer every test image's task  ->  task-id and class-incremental accuracy
    save checkpoint + partial results              ->  nothing finished is ever lost

A run writes to its output directory:

* ``checkpoint.pt`` — the model and the run's state after the last finished task, in
  one file written atomically, so the two can never disagree;
* ``results.json``  — the results so far (``"complete": false`` until the end).

Restarted on the same directory with ``resume=True``, a run continues after its last
finished task. Every task re-seeds the random generators from ``(seed, task index)``,
so a resumed run ends with exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from . import data as data_lib
from . import streams as streams_lib
from .engine import check_finite, evaluate, seed_everything, select_device, train_task
from .metrics import summarize
from .model import MultiTaskConvSynapticNet
from .profiles import MAX_SEED, Profile, get_profile
from .storage import save_json, save_torch
from .task_inference import evaluate_task_inference, fit_task_statistics

CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"
# Test images per task for the task-inference metrics (evenly spread over the split): every image goes
# through every task's network, so the full test sets would cost T times a normal evaluation.
TASK_INFERENCE_IMAGES = 5000
IMAGE_SIZE, CHANNELS = 32, 3  # every task is harmonised to the CIFAR input


def task_seed(seed: int, index: int) -> int:
    """The seed of task ``index``: independent of what ran before, so resume is exact."""
    return seed * 1000 + index


def check_tasks(tasks: Sequence[str] | str) -> list[str]:
    """Validate task names (non-empty, known, no repeats) before any work starts.

    Datasets and streams can be mixed (see :mod:`synapticnet.streams`): a stream name
    stands for its tasks, so ``"mnist,split_cifar10"`` becomes ``["mnist",
    "split_cifar10/0", …, "split_cifar10/4"]`` — the list that is returned and run.
    """
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    tasks = list(tasks)
    if not tasks:
        raise ValueError("the task list is empty: name at least one dataset or stream, e.g. mnist,fashion_mnist")
    tasks = streams_lib.expand_tasks(tasks)  # unknown names: a ValueError listing datasets and streams
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


def data_record(d, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """What results.json records about one task's data: file, size and sha256 of a registered
    dataset (or the stream it was cut from), or just its name and title for your own arrays."""
    counts = {"n_train": d.n_train, "n_val": d.n_val, "n_test": d.n_test}
    if d.name in data_lib.DATASETS or streams_lib.is_stream_task(d.name):
        return streams_lib.task_provenance(d.name, root=root) | counts
    return {"name": d.name, "title": d.title, "source": "TaskDataset passed in", "synthetic": d.synthetic} | counts


def split_available(tasks: Sequence[str], root: str | os.PathLike | None = None,
                    download: bool = True) -> tuple[list[str], dict[str, str]]:
    """Which of ``tasks`` can be loaded here? Returns ``(available, {missing: reason})``.

    For notebooks that should run what they can and *say* what they could not (for
    example CIFAR-100 on an offline machine) — never substituting other data.
    """
    available, missing = [], {}
    reasons: dict[str, str | None] = {}  # base dataset -> why it cannot be loaded (None: it can)
    for name in check_tasks(tasks):
        base = streams_lib.base_dataset(name)  # a stream task is available iff its base dataset is
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
    return available, missing


def fresh_run_dir(out: str | os.PathLike) -> Path:
    """A run directory without a previous run's checkpoint/results (only those two files go)."""
    out = Path(out)
    for name in (CHECKPOINT, RESULTS):
        (out / name).unlink(missing_ok=True)
    return out


def check_writable(out_dir: Path) -> Path:
    """Create ``out_dir`` and prove we can write there, or raise a clear ``ValueError``."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"output directory {out_dir} is not writable: {error.strerror or error}") from None
    return out_dir


def load_task_data(tasks: Sequence[str], profile: Profile, root: str | os.PathLike | None, seed: int,
                   download: bool = True) -> list:
    """Load every task's data up front, so a missing dataset fails before any training.

    ``tasks`` are dataset names, stream names (expanded to their tasks) or stream task
    names; each base dataset is read once, however many tasks are cut from it.
    """
    tasks = streams_lib.expand_tasks(tasks)
    cache: dict = {}  # base dataset -> its arrays, for this call only
    datasets = [
        streams_lib.task_dataset(
            name, i, root=root, download=download, cache=cache, image_size=IMAGE_SIZE, channels=CHANNELS,
            n_train=profile.n_train, val_size=profile.val_size, seed=task_seed(seed, i),
            crop_padding=profile.crop_padding,
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


def environment(device: torch.device) -> dict[str, Any]:
    """Where the numbers came from: software versions and hardware."""
    return dict(
        device=str(device), torch=torch.__version__, python=platform.python_version(),
        platform=platform.platform(), cpu_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else None,
    )


def run_sequence(
    tasks: Sequence[str] | Sequence[data_lib.TaskDataset] | str | None = None,
    profile: Profile | str = "cpu",
    data_root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "runs/latest",
    seed: int = 0,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    download: bool = True,
    unavailable: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Learn ``tasks`` one after another with SynapticNet; return (and write) the results.

    Args:
        tasks: dataset or stream names in order (a list or ``"mnist,split_cifar10"``),
            or a list of your own :class:`~synapticnet.data.TaskDataset` objects (their
            splits and normalisation are used as they are; the profile's ``n_train``,
            ``val_size`` and ``crop_padding`` then do not apply); default: the profile's tasks.
        profile: a :class:`~synapticnet.profiles.Profile` or its name.
        data_root: where the datasets are (default: ``$SYNAPTICNET_DATA`` or ``data/``).
        out_dir: where ``checkpoint.pt`` and ``results.json`` go.
        seed: one seed for everything.
        resume: continue the run in ``out_dir`` after its last finished task.
        device: ``"cpu"``, ``"cuda"``, ... or ``None`` for automatic.
        progress: show progress bars.
        download: let torchvision download datasets missing from the data root.
        unavailable: tasks of the intended sequence that could not be loaded here
            (``{name: reason}``, see :func:`split_available`); recorded in the results.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    given = as_datasets(tasks)
    tasks = [d.name for d in given] if given else check_tasks(tasks if tasks is not None else profile.default_tasks)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0 … {MAX_SEED} (2**32 - 1), got {seed!r}")
    device = select_device(device)
    out = Path(out_dir)
    created = not out.exists()
    check_writable(out)
    try:
        with run_lock(out):
            return _run(tasks, profile, data_root, out, seed, resume, device, progress, download, unavailable, given)
    except BaseException:
        if created:  # a run that failed before writing anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _run(tasks: list[str], profile: Profile, data_root, out: Path, seed: int, resume: bool, device: torch.device,
         progress: bool, download: bool, unavailable: dict[str, str] | None, given: list | None) -> dict[str, Any]:
    """The body of :func:`run_sequence`, holding the output folder's lock."""
    state = _start_or_resume(out, tasks, profile, seed, resume)
    state["unavailable"] = dict(unavailable or {})
    datasets = given or load_task_data(tasks, profile, data_root, seed, download)  # fails here if data is missing
    provenance = [data_record(d, data_root) for d in datasets]
    _check_same_data(state, provenance, out)

    model, results = None, None
    if state["finished"]:
        checkpoint = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
        model = MultiTaskConvSynapticNet.from_checkpoint(checkpoint["model"], source=str(out / CHECKPOINT)).to(device)
        if progress:
            print(f"resuming {out}: {state['finished']} of {len(tasks)} task(s) already finished")
        for j in range(state["finished"]):  # a checkpoint from before task inference existed: fit what is missing
            if not model.task_statistics.has(j):
                fit_task_statistics(model, datasets[j], task_id=j, device=device)
    for i in range(state["finished"], len(tasks)):
        data = datasets[i]
        seed_everything(task_seed(seed, i))
        if model is None:
            model = MultiTaskConvSynapticNet(
                in_channels=CHANNELS, num_classes=data.num_classes, image_size=IMAGE_SIZE, **profile.model_kwargs()
            ).to(device)
        else:
            conv, hidden = profile.growth_for(data.name)
            model.grow(num_classes=data.num_classes, grow_conv_channels=conv, grow_hidden=hidden)
        start = time.perf_counter()
        report = train_task(model, data, profile, device=device, progress=progress)
        check_finite(model, f"task {i} ({data.name})")
        state["train_seconds"].append(time.perf_counter() - start)
        fit_task_statistics(model, data, task_id=i, device=device)  # frozen with the task from here on
        state["rows"].append([evaluate(model, datasets[j], "test", device) for j in range(i + 1)])
        if i == len(tasks) - 1:  # T forward passes per image: measured once, at the end (synapticnet.task_inference)
            state["task_inference"] = evaluate_task_inference(model, datasets, "test", device=device,
                                                              max_images=TASK_INFERENCE_IMAGES)
        state["val_accuracy"].append(report.val_accuracy)
        state["growth_decisions"].extend(report.growth_decisions)
        if report.compaction is not None:
            state.setdefault("compaction", []).append(report.compaction)
        state["steps"].append(report.steps)
        state["finished"] = i + 1
        save_torch({"model": model.checkpoint(), "state": state}, out / CHECKPOINT)
        results = build_results(state, tasks, datasets, model, profile, seed, device, provenance)
        save_json(results, out / RESULTS)
        if progress:
            row = "  ".join(f"{tasks[j]} {100 * a:.2f}%" for j, a in enumerate(state["rows"][-1]))
            print(f"after task {i} ({data.title}): {row}")
    if results is None:  # resumed a run that had already finished (or was killed before its results were written)
        if "task_inference" not in state and state["finished"]:
            state["task_inference"] = evaluate_task_inference(model, datasets[: state["finished"]], "test", device=device,
                                                              max_images=TASK_INFERENCE_IMAGES)
        results = build_results(state, tasks, datasets, model, profile, seed, device, provenance)
        save_json(results, out / RESULTS)
    return results


LOCK = ".lock"


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` while a run writes there: two runs into one folder would overwrite each
    other's checkpoint and results. A lock left by a run that died (its process is gone) is stale
    and taken over; a lock of a live process is a clear error."""
    path = out / LOCK
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = path.read_text().split() if path.is_file() else []
            pid, host = (int(owner[0]), owner[1]) if len(owner) == 2 and owner[0].isdigit() else (None, None)
            if pid is not None and host == socket.gethostname() and not _alive(pid):
                path.unlink(missing_ok=True)  # stale: its run died without removing it
                continue
            raise ValueError(f"{out} is in use by another run (process {pid or '?'} on {host or '?'}); wait for it "
                             f"to finish or choose another output folder. If no run is active, delete {path}") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _check_same_data(state: dict[str, Any], provenance: list[dict[str, Any]], out: Path) -> None:
    """Record the data's checksums in a new run; refuse to resume a run on different data."""
    now = [p.get("sha256") for p in provenance]
    before = state.setdefault("data_sha256", now)
    for task, old, new in zip(state["tasks"], before, now):
        if old != new:
            raise ValueError(f"cannot resume {out}: the data of task {task!r} changed since the run started "
                             f"(sha256 {str(old)[:12]}… then, {str(new)[:12]}… now). Resume with the original "
                             "data file, or start a new run in another folder")


def _start_or_resume(out: Path, tasks: list[str], profile: Profile, seed: int, resume: bool) -> dict[str, Any]:
    """A fresh run state, or the saved one when resuming (after checking it matches)."""
    path = out / CHECKPOINT
    if not path.exists():
        return dict(tasks=tasks, profile=profile.to_dict(), seed=seed, finished=0, rows=[], train_seconds=[],
                    val_accuracy=[], growth_decisions=[], steps=[],
                    started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if not resume:
        raise ValueError(f"{out} already holds a run ({CHECKPOINT}); pass --resume (resume=True) "
                         "to continue it, or choose another output directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state"]
    except Exception as error:
        raise ValueError(f"cannot resume: {path} is not a readable run checkpoint ({error})") from error
    mine = dict(tasks=tasks, profile=profile.to_dict(), seed=seed)
    differing = [k for k in mine if k != "profile" and state[k] != mine[k]]
    settings = _differing_settings(state["profile"], mine["profile"])
    if differing or settings:
        shown = {k: (state[k], mine[k]) for k in differing}
        shown.update({f"profile.{k}": v for k, v in settings.items()})
        raise ValueError(f"cannot resume {out}: it was started with other settings (saved vs requested: {shown}); "
                         "resume with the original settings, or start a new run in another folder")
    state["profile"] = mine["profile"]  # the same numbers; the current wording of description and notes
    return state


def _differing_settings(saved: dict[str, Any], requested: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Profile fields that differ, ignoring prose (``description``, ``notes``): changing words changes no run."""
    prose = ("description", "notes")
    keys = sorted((set(saved) | set(requested)) - set(prose))
    return {k: (saved.get(k), requested.get(k)) for k in keys if saved.get(k) != requested.get(k)}


def _inferred(state: dict[str, Any], key: str) -> Any:
    """``task_id_accuracy`` (per scorer) or ``class_incremental_accuracy`` (default scorer) of the run, or None."""
    inference = state.get("task_inference")
    if inference is None:
        return None
    return inference[key] if key == "task_id_accuracy" else inference[key][inference["default_scorer"]]


def build_results(state: dict[str, Any], tasks: list[str], datasets: list, model: MultiTaskConvSynapticNet,
                  profile: Profile, seed: int, device: torch.device, provenance: list[dict]) -> dict[str, Any]:
    """The ``results.json`` document: numbers first, provenance after."""
    T, done = len(tasks), state["finished"]
    R = [row + [None] * (T - len(row)) for row in state["rows"]]
    metrics = summarize([r[:done] for r in R[:done]]) if done else {}
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return dict(
        method="synapticnet",
        complete=done == T,
        tasks=tasks,
        task_titles=[d.title for d in datasets],
        num_classes=[d.num_classes for d in datasets],
        accuracy_matrix=R,
        final_accuracy={tasks[j]: R[done - 1][j] for j in range(done)} if done else {},
        average_accuracy=metrics.get("average_accuracy"),
        bwt=metrics.get("bwt"),
        forgetting=metrics.get("forgetting"),
        # Without the task id (synapticnet.task_inference), after the last task: the fraction of test images whose
        # task was identified, per scorer; class-incremental accuracy (task and class right, pooled over the tasks'
        # test images) with the default detector — the same key and meaning as replay/GEM's (baselines.py);
        # task_inference holds every scorer's numbers, the "oracle" (task id given) and the confusion matrices.
        task_id_accuracy=_inferred(state, "task_id_accuracy"),
        class_incremental_accuracy=_inferred(state, "class_incremental_accuracy"),
        task_inference=state.get("task_inference"),
        val_accuracy=state["val_accuracy"],
        params_total=model.num_parameters(),
        params_per_task=model.parameters_per_task(),
        params_used_per_task=[model.num_parameters(t) for t in range(model.num_tasks)],
        train_seconds_per_task=state["train_seconds"],
        train_seconds_total=sum(state["train_seconds"]),
        steps_per_task=state["steps"],
        growth_decisions=state["growth_decisions"],
        compaction=state.get("compaction", []),
        profile=profile.name,
        profile_settings=profile.to_dict(),
        seed=seed,
        **environment(device),
        data=provenance,
        synthetic_data=any(d.synthetic for d in datasets),
        unavailable_tasks=state.get("unavailable", {}),
        started_at=state["started_at"],
        finished_at=finished,
    )
