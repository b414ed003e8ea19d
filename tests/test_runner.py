"""The one runner (synapticnet.run.run) for every method: resume, locks, folders that hold another
run, failed runs, diverged joint training, hyper-parameter checks and the run's checkpoint.

Everything runs on two synthetic tasks with a tiny profile (4 steps per task), one thread.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
import torch

from synapticnet import data as data_lib
from synapticnet import run as run_module
from synapticnet.__main__ import main
from synapticnet.data import DataError
from synapticnet.engine import TrainingDiverged, evaluate
from synapticnet.methods import get_method
from synapticnet.methods.synapticnet import TASK_INFERENCE_IMAGES
from synapticnet import MultiTaskConvSynapticNet
from synapticnet.profiles import SMOKE
from synapticnet.run import CHECKPOINT, RESULTS, fresh_run_dir, load_task_data, run
from synapticnet.folders import LOCK
from synapticnet.storage import load_json
from synapticnet.task_inference import evaluate_task_inference

PROFILE = SMOKE.replace(n_train=120, val_size=30, max_steps_per_task=4, batch_size=32)
TASKS = ["synthetic_mnist", "synthetic_fashion_mnist"]
STEPS = 4 * len(TASKS)  # training steps of a whole run (joint: all of them in its one stage)
# Small memories and Fishers: the memory passes of GEM and EWC's Fisher stay cheap.
HYPER = {"ewc": dict(fisher_samples=32), "replay": dict(memory_per_task=20), "gem": dict(memory_per_task=20)}
# Wall-clock fields: everything else of results.json must repeat exactly.
VOLATILE = {"train_seconds_per_task", "train_seconds_total", "train_accuracy_seconds", "started_at", "finished_at"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def go(method: str, out: Path, tasks=TASKS, profile=PROFILE, seed: int = 0, **kwargs) -> dict:
    """One quiet CPU run of ``method`` into ``out`` (its HYPER unless overridden)."""
    return run(tasks, method, profile, out_dir=out, seed=seed, progress=False, device="cpu",
               **{**HYPER.get(method, {}), **kwargs})


def stable(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in VOLATILE}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(folder: Path) -> list[str]:
    """A lock or temporary files a run should not have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name == LOCK or p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """``finished(method)``: ``(results, folder)`` of an uninterrupted run, run once per module.

    Tests copy the folder before they touch it."""
    cache: dict[str, tuple[dict, Path]] = {}

    def get(method: str) -> tuple[dict, Path]:
        if method not in cache:
            out = tmp_path_factory.mktemp(f"finished_{method}") / "run"
            cache[method] = (go(method, out), out)
        return cache[method]

    return get


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


# --------------------------------------------------------------------------------------
# Resume: exactly the numbers of an uninterrupted run, for every method
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["mid-task", "before results.json"])
@pytest.mark.parametrize("method", ["synapticnet", "ewc", "replay", "gem", "joint"])
def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_results(method, where, finished, tmp_path,
                                                                         monkeypatch):
    reference, _ = finished(method)
    cls = get_method(method)
    out = tmp_path / "run"
    if where == "mid-task":
        # Sequential methods: Ctrl-C at the second step of task 1 (task 0 is saved; the model in memory and the
        # random generators have moved on). Joint, one stage: Ctrl-C at the third of its interleaved steps.
        real, steps = cls.after_backward, []

        def interrupt(self, model, i):
            real(self, model, i)
            steps.append(i)
            if (len(steps) == 3) if cls.joint else (steps.count(1) == 2):
                raise KeyboardInterrupt

        monkeypatch.setattr(cls, "after_backward", interrupt)
    else:
        def interrupt(obj, path):  # the first stage's checkpoint is written, its results.json not yet
            raise KeyboardInterrupt

        monkeypatch.setattr(run_module, "save_json", interrupt)
    with pytest.raises(KeyboardInterrupt):
        go(method, out)
    monkeypatch.undo()

    if where == "mid-task" and cls.joint:
        assert not out.exists()  # nothing was finished: the folder the run created is gone again
    else:
        assert leftovers(out) == []
        saved = torch.load(out / CHECKPOINT, weights_only=True)["state"]
        assert saved["finished"] == (len(TASKS) if cls.joint else 1)
        if where == "mid-task":
            partial = load_json(out / RESULTS)
            assert partial["complete"] is False and partial["accuracy_matrix"][0] == reference["accuracy_matrix"][0]
        else:
            assert not (out / RESULTS).exists()

    resumed = go(method, out, resume=True)
    assert stable(resumed) == stable(reference)
    assert stable(load_json(out / RESULTS)) == stable(reference)
    assert resumed["complete"] is True and leftovers(out) == []


@pytest.mark.parametrize("method", ["synapticnet", "ewc", "joint"])
def test_resuming_a_finished_run_returns_its_results_without_training(method, finished, tmp_path, monkeypatch):
    reference, done = finished(method)
    out = copy_of(done, tmp_path)
    checkpoint = (out / CHECKPOINT).read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(get_method(method), "fit", no_training)
    again = go(method, out, resume=True)
    assert stable(again) == stable(reference)
    assert stable(load_json(out / RESULTS)) == stable(reference)
    assert (out / CHECKPOINT).read_bytes() == checkpoint and leftovers(out) == []


# --------------------------------------------------------------------------------------
# One folder, one run
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["synapticnet", "ewc"])
def test_a_second_run_into_a_folder_in_use_is_refused_and_the_first_finishes_unharmed(method, finished, tmp_path,
                                                                                      monkeypatch):
    reference, _ = finished(method)
    cls = get_method(method)
    out = tmp_path / "run"
    owner = f"{os.getpid()} {socket.gethostname()}"
    real, refusals = cls.before_task, []

    def second_run(self, model, datasets, i):
        if i == 1:  # task 0 is saved and the first run holds the lock: start two more runs into its folder
            saved = snapshot(out)
            assert set(saved) == {CHECKPOINT, RESULTS, LOCK} and saved[LOCK].decode() == owner
            for kwargs in (dict(resume=True), dict(seed=1)):
                with pytest.raises(ValueError, match="is in use by another run") as error:
                    go(method, out, **kwargs)
                refusals.append(str(error.value))
            assert snapshot(out) == saved  # the refused runs wrote nothing and left the lock alone
        real(self, model, datasets, i)

    monkeypatch.setattr(cls, "before_task", second_run)
    first = go(method, out)
    assert len(refusals) == 2 and all(f"process {os.getpid()} on {socket.gethostname()}" in r for r in refusals)
    assert stable(first) == stable(reference)
    assert stable(load_json(out / RESULTS)) == stable(reference) and leftovers(out) == []


@pytest.mark.parametrize("method", ["synapticnet", "ewc"])
def test_the_lock_of_a_live_process_keeps_every_run_out_of_a_finished_folder(method, finished, tmp_path):
    _, done = finished(method)
    out = copy_of(done, tmp_path)
    (out / LOCK).write_text(f"{os.getpid()} {socket.gethostname()}")  # as a live run holds it
    before = snapshot(out)
    for kwargs in (dict(resume=True), dict(), dict(seed=1)):
        with pytest.raises(ValueError, match="is in use by another run"):
            go(method, out, **kwargs)
    assert snapshot(out) == before


@pytest.mark.parametrize("change, named", [
    (dict(method="ewc"), r"'method': \('synapticnet', 'ewc'\)"),
    (dict(seed=1), r"'seed': \(0, 1\)"),
    (dict(tasks=[TASKS[0], "synthetic_cifar10"]), r"'tasks': \(\['synthetic_mnist', 'synthetic_fashion_mnist'\], "
                                                   r"\['synthetic_mnist', 'synthetic_cifar10'\]\)"),
    (dict(profile=PROFILE.replace(lr=0.1)), r"'profile.lr': \(0.05, 0.1\)"),
    (dict(profile=PROFILE.replace(max_steps_per_task=5)), r"'profile.max_steps_per_task': \(4, 5\)"),
])
def test_a_folder_holding_another_run_is_refused_naming_what_differs(change, named, finished, tmp_path):
    _, done = finished("synapticnet")
    out = copy_of(done, tmp_path)
    before = snapshot(out)
    change = dict(change)
    method = change.pop("method", "synapticnet")
    for resume in (False, True):
        with pytest.raises(ValueError, match=r"holds another run \(saved vs requested: \{.*" + named):
            go(method, out, resume=resume, **change)
    assert snapshot(out) == before  # results.json and checkpoint.pt: the same bytes; no lock left


def test_other_hyper_parameters_are_another_run(finished, tmp_path):
    _, done = finished("ewc")
    out = copy_of(done, tmp_path)
    before = snapshot(out)
    with pytest.raises(ValueError, match=r"holds another run .*'hyper': \(\{.*'fisher_samples': 32.*\}, "
                                         r"\{.*'fisher_samples': 64.*\}\)"):
        go("ewc", out, resume=True, fisher_samples=64)
    with pytest.raises(ValueError, match=r"'method': \('ewc', 'synapticnet'\)"):
        go("synapticnet", out, resume=True)
    assert snapshot(out) == before


def test_the_same_run_again_needs_resume_and_a_results_file_alone_is_refused(finished, tmp_path):
    _, done = finished("synapticnet")
    out = copy_of(done, tmp_path)
    before = snapshot(out)
    with pytest.raises(ValueError, match=r"already holds this run \(checkpoint.pt, 2 of 2 task\(s\) done\); "
                                         r"pass --resume \(resume=True\)"):
        go("synapticnet", out)
    assert snapshot(out) == before
    (out / CHECKPOINT).unlink()  # results.json without its checkpoint: which run wrote it cannot be told
    before = snapshot(out)
    for resume in (False, True):
        with pytest.raises(ValueError, match=r"already holds results.json of another run \(without its "
                                             r"checkpoint.pt\)"):
            go("synapticnet", out, resume=resume)
    assert snapshot(out) == before


# --------------------------------------------------------------------------------------
# Failed runs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", ["missing data", "diverging lr"])
@pytest.mark.parametrize("method", ["synapticnet", "ewc", "joint"])
def test_a_run_failing_before_its_first_task_finished_leaves_no_folder_behind(method, failure, tmp_path):
    out = tmp_path / "a" / "b" / "c"
    if failure == "missing data":
        with pytest.raises(DataError, match="mnist"):
            go(method, out, tasks=["synthetic_mnist", "mnist"], data_root=tmp_path / "no_data", download=False)
    else:
        with pytest.raises(TrainingDiverged, match="loss became"):
            go(method, out, profile=PROFILE.replace(lr=1e30))
    assert not (tmp_path / "a").exists()


def test_joint_training_that_diverges_writes_no_results(tmp_path, monkeypatch):
    out = tmp_path / "joint"
    out.mkdir()  # a folder that existed before the run: it stays, empty
    with pytest.raises(TrainingDiverged, match="loss became"):
        go("joint", out, profile=PROFILE.replace(lr=1e30))
    assert list(out.iterdir()) == []
    # BatchNorm's running statistics become non-finite while every loss stays finite (train mode normalises
    # with the batch's own statistics): the runner's check after the stage stops the run before anything is saved.
    cls = get_method("joint")
    real = cls.after_backward

    def poison(self, model, i):
        real(self, model, i)
        norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        norm.running_var.fill_(float("inf"))  # stays inf: (1 - momentum) * inf + momentum * var

    monkeypatch.setattr(cls, "after_backward", poison)
    with pytest.raises(TrainingDiverged, match=r"joint, tasks 0-1.*running_var.*non-finite"):
        go("joint", out)
    assert list(out.iterdir()) == []  # neither checkpoint.pt nor results.json (let alone "complete": true)


# --------------------------------------------------------------------------------------
# Hyper-parameters: typed, range-checked, before any data loads
# --------------------------------------------------------------------------------------
def test_boolean_hyper_parameters_take_words_and_refuse_anything_else():
    replay = get_method("replay")
    for word, value in (("false", False), ("No", False), ("0", False), (0, False), ("true", True), ("YES", True),
                        ("1", True), (True, True)):
        assert replay(PROFILE, class_incremental=word).hyper["class_incremental"] is value, word
    with pytest.raises(ValueError, match=r"replay: hyper-parameter class_incremental='maybe' must be a boolean"):
        replay(PROFILE, class_incremental="maybe")
    assert get_method("ewc")(PROFILE, ewc_lambda="1e3").hyper["ewc_lambda"] == 1000.0  # text from --param


@pytest.mark.parametrize("method, hyper, problem", [
    ("gem", dict(memory_per_task=0), "out of range"),
    ("agem", dict(memory_per_task=0), "out of range"),
    ("replay", dict(memory_per_task=0), "out of range"),
    ("replay", dict(memory_per_task=2.5), "must be an integer"),
    ("ewc", dict(ewc_lambda=-100), "out of range"),
    ("ewc", dict(fisher_samples=0), "out of range"),
    ("gem", dict(margin=-1), "out of range"),
    ("agem", dict(sample_size=-1), "out of range"),
    ("lwf", dict(temperature=0), "out of range"),
    ("synapticnet_distill", dict(temperature=0), "out of range"),
    ("replay", dict(class_incremental="maybe"), "must be a boolean"),
    ("ewc", dict(ewc_lambda=float("nan")), "finite"),
    ("synapticnet", dict(memory_per_task=3), "synapticnet has no hyper-parameter(s) ['memory_per_task']"),
])
def test_a_bad_hyper_parameter_is_refused_before_any_data_loads(method, hyper, problem, tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the hyper-parameters were checked")

    monkeypatch.setattr(data_lib, "task_dataset", no_data)
    monkeypatch.setattr(data_lib, "load_arrays", no_data)
    (key,) = hyper
    with pytest.raises(ValueError) as error:
        go(method, tmp_path / "out", **hyper)
    message = str(error.value)
    assert problem in message and key in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no output folder either


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_an_infinite_or_nan_integer_hyper_parameter_is_a_one_line_error(value):
    with pytest.raises(ValueError, match=r"gem: hyper-parameter memory_per_task=.* must be an integer"):
        get_method("gem")(PROFILE, memory_per_task=value)  # --param memory_per_task=1e400 reads as inf


def test_cli_refuses_a_bad_hyper_parameter_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--profile", "smoke", "--method", "gem", "--param", "memory_per_task=0", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: gem: hyper-parameter memory_per_task=0 is out of range")
    assert not out.exists()


# --------------------------------------------------------------------------------------
# The run's checkpoint is the trained model
# --------------------------------------------------------------------------------------
def test_the_checkpoint_of_a_synapticnet_run_loads_as_the_model_it_evaluated(finished):
    results, out = finished("synapticnet")
    datasets = load_task_data(TASKS, PROFILE, None, 0)
    for source in (out / CHECKPOINT, out):
        try:
            model = MultiTaskConvSynapticNet.load(source)
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            pytest.fail(f"MultiTaskConvSynapticNet.load({source}) of a run checkpoint failed: "
                        f"{type(error).__name__}: {error}")
        assert model.num_tasks == len(TASKS) and model.num_parameters() == results["params_total"]
        assert [evaluate(model, d, "test") for d in datasets] == results["accuracy_matrix"][-1]  # exactly
        assert all(model.task_statistics.has(t) for t in range(len(TASKS)))
        inference = evaluate_task_inference(model, datasets, "test", max_images=TASK_INFERENCE_IMAGES)
        assert inference == results["task_inference"]
        x, _ = next(datasets[1].eval_batches("test", 16))
        model.eval()
        with torch.no_grad():
            task, label = model.predict(x)
            assert task.shape == label.shape == (16,) and 0 <= int(task.min()) <= int(task.max()) < len(TASKS)
            expected = torch.stack([model(x[k:k + 1], int(t)).argmax(1)[0] for k, t in enumerate(task)])
        assert torch.equal(label, expected)  # the class comes from the inferred task's head


def test_fresh_run_dir_never_deletes_under_a_live_run(tmp_path):
    """Starting over (fresh_run_dir, used by sweeps, studies and the front) takes the folder's lock first."""
    import os
    import socket

    out = tmp_path / "busy"
    out.mkdir()
    for name in ("checkpoint.pt", "results.json"):
        (out / name).write_text("a live run's file")
    (out / ".lock").write_text(f"{os.getpid()} {socket.gethostname()}")
    with pytest.raises(ValueError, match="in use"):
        fresh_run_dir(out)
    assert (out / "checkpoint.pt").read_text() == "a live run's file"
    (out / ".lock").unlink()
    assert fresh_run_dir(out) == out and not (out / "checkpoint.pt").exists() and not (out / "results.json").exists()
