"""The continual run end to end on synthetic stand-ins: metrics, resume, determinism, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from synapticnet import engine
from synapticnet.methods import base as method_base
from synapticnet.__main__ import main
from synapticnet.engine import PlainHooks, TrainingDiverged, train_task
from synapticnet import MultiTaskConvSynapticNet
from synapticnet.profiles import CPU, FULL, SMOKE, GrowthTrigger, default_profile_name, get_profile
from synapticnet.run import load_task_data, run_sequence
from synapticnet.storage import load_json

TASKS = ["synthetic_mnist", "synthetic_fashion_mnist", "synthetic_cifar10"]
# The volatile fields: wall-clock times and the environment; everything else must repeat exactly.
VOLATILE = {"train_seconds_per_task", "train_seconds_total", "train_accuracy_seconds", "started_at", "finished_at",
            "platform", "cpu_threads"}


def stable(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("smoke")
    return run_sequence(TASKS, profile="smoke", out_dir=out, seed=3, progress=False), out


def test_synapticnet_sequence_has_exactly_zero_forgetting(smoke_run):
    results, out = smoke_run
    assert results["complete"] and results["tasks"] == TASKS
    assert results["bwt"] == 0.0 and results["forgetting"] == 0.0  # exact, not approximate
    R = results["accuracy_matrix"]
    for j in range(3):
        assert len({R[i][j] for i in range(j, 3)}) == 1, f"task {j} accuracy changed: {[R[i][j] for i in range(3)]}"
    assert all(acc > 0.3 for acc in results["final_accuracy"].values()), results["final_accuracy"]  # chance: 0.1
    assert results["params_total"] == sum(results["params_per_task"])
    assert results["synthetic_data"] is True and all(d["synthetic"] for d in results["data"])
    assert load_json(out / "results.json") == results | {"finished_at": load_json(out / "results.json")["finished_at"]}


def test_results_json_has_the_documented_fields(smoke_run):
    results, _ = smoke_run
    required = {"tasks", "accuracy_matrix", "final_accuracy", "average_accuracy", "bwt", "forgetting",
                "params_total", "params_per_task", "train_seconds_per_task", "profile", "seed", "device",
                "torch", "data"}
    assert required <= results.keys()
    assert results["average_accuracy"] == pytest.approx(sum(results["accuracy_matrix"][-1]) / 3)
    assert all({"name", "source", "sha256"} <= d.keys() for d in results["data"])


def test_same_seed_gives_identical_results_and_another_seed_does_not(smoke_run, tmp_path):
    results, _ = smoke_run
    again = run_sequence(TASKS, profile="smoke", out_dir=tmp_path / "again", seed=3, progress=False)
    assert stable(again) == stable(results)
    other = run_sequence(TASKS[:1], profile="smoke", out_dir=tmp_path / "other", seed=4, progress=False)
    assert other["accuracy_matrix"][0][0] != results["accuracy_matrix"][0][0] or \
        other["val_accuracy"][0] != results["val_accuracy"][0]


@pytest.mark.parametrize("where", ["between tasks", "mid-task"])
def test_interrupted_run_resumes_to_exactly_the_same_results(smoke_run, tmp_path, monkeypatch, where):
    results, _ = smoke_run
    real_train = method_base.train_task

    def interrupted(model, data, profile, **kwargs):
        if data.task_id == 2:
            if where == "mid-task":  # learn a little, then "crash": the model in memory is dirty
                real_train(model, data, profile.replace(max_steps_per_task=3), **kwargs)
            raise KeyboardInterrupt
        return real_train(model, data, profile, **kwargs)

    monkeypatch.setattr(method_base, "train_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sequence(TASKS, profile="smoke", out_dir=tmp_path, seed=3, progress=False)
    partial = load_json(tmp_path / "results.json")
    assert partial["complete"] is False and len(partial["accuracy_matrix"][1]) == 3
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.setattr(method_base, "train_task", real_train)
    with pytest.raises(ValueError, match="--resume"):
        run_sequence(TASKS, profile="smoke", out_dir=tmp_path, seed=3, progress=False)
    with pytest.raises(ValueError, match=r"holds another run .*'seed': \(3, 4\)"):
        run_sequence(TASKS, profile="smoke", out_dir=tmp_path, seed=4, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"'profile.lr': \(0.05, 0.1\)"):  # names the setting that differs
        run_sequence(TASKS, profile=SMOKE.replace(lr=0.1), out_dir=tmp_path, seed=3, resume=True, progress=False)
    # Rewording a profile's description changes no number: the run resumes.
    reworded = SMOKE.replace(description="new words")
    resumed = run_sequence(TASKS, profile=reworded, out_dir=tmp_path, seed=3, resume=True, progress=False)
    assert resumed["profile_settings"]["description"] == "new words"
    for r in (resumed, results):
        r["profile_settings"] = {k: v for k, v in r["profile_settings"].items() if k != "description"}
    assert stable(resumed) == stable(results)


def test_a_finished_run_loaded_with_other_threads_reports_the_threads_that_trained_it(tmp_path):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = run_sequence(TASKS[:1], profile="smoke", out_dir=tmp_path, seed=3, progress=False)
        torch.set_num_threads(2)
        loaded = run_sequence(TASKS[:1], profile="smoke", out_dir=tmp_path, seed=3, resume=True, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert first["cpu_threads"] == loaded["cpu_threads"] == 1


def test_growth_trigger_widens_below_threshold_up_to_the_cap_and_keeps_old_tasks(tmp_path):
    trigger = GrowthTrigger(threshold={"default": 1.01}, probe_epochs=1, grow_conv_channels=2, grow_hidden=4,
                            max_widenings=2)
    profile = SMOKE.replace(growth_trigger=trigger, epochs={"default": 4})
    results = run_sequence(TASKS[:2], profile=profile, out_dir=tmp_path, seed=0, progress=False)
    actions = [(d["task"], d["action"]) for d in results["growth_decisions"]]
    assert actions == [(0, "widen"), (0, "widen"), (0, "cap reached"), (1, "widen"), (1, "widen"), (1, "cap reached")]
    assert results["bwt"] == 0.0
    widths = SMOKE.conv_channels[0] + 2 * 2, SMOKE.growth_for("mnist")[0][0] + 2 * 2
    model = MultiTaskConvSynapticNet.from_checkpoint(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"])
    assert model.convs[0].out_units_per_task == list(widths)
    keep = SMOKE.replace(growth_trigger=GrowthTrigger(threshold={"default": 0.0}), epochs={"default": 2})
    kept = run_sequence(TASKS[:1], profile=keep, out_dir=tmp_path / "keep", progress=False)
    assert [d["action"] for d in kept["growth_decisions"]] == ["keep"]


def test_growth_trigger_does_not_probe_a_task_without_a_target(tmp_path):
    """Only families with a threshold are probed: no "keep" decisions against a made-up target of 0."""
    family_1 = TASKS[1].removeprefix("synthetic_")
    trigger = GrowthTrigger(threshold={family_1: 1.01}, probe_epochs=1, grow_conv_channels=2, grow_hidden=4,
                            max_widenings=1)
    profile = SMOKE.replace(growth_trigger=trigger, epochs={"default": 3})
    results = run_sequence(TASKS[:2], profile=profile, out_dir=tmp_path, seed=0, progress=False)
    assert [(d["task"], d["action"]) for d in results["growth_decisions"]] == [(1, "widen"), (1, "cap reached")]
    assert all(d["threshold"] == 1.01 for d in results["growth_decisions"])


def test_nan_loss_stops_with_task_and_step():
    data = load_task_data(TASKS[:1], SMOKE, None, seed=0)[0]
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4, 4), hidden=(8,), num_classes=10)
    class NanLoss(PlainHooks):
        def loss(self, model, logits, y, x, task):
            return logits.sum() * math.nan

    with pytest.raises(TrainingDiverged, match=r"task 0 \(synthetic_mnist\).*step 0"):
        train_task(model, data, SMOKE, progress=False, hooks=NanLoss(SMOKE))


def test_headless_progress_bar_does_not_print_a_line_per_postfix(capsys, monkeypatch):
    """Saved notebooks must show a readable bar, not one line every 20 steps (a 300 kB notebook)."""
    monkeypatch.setenv("SYNAPTICNET_HEADLESS", "1")
    # An interval no run can reach: only forced redraws remain, however slow this machine is today.
    monkeypatch.setattr(engine, "HEADLESS_REFRESH_SECONDS", 1e9)
    profile = SMOKE.replace(n_train=120, val_size=20, batch_size=8, epochs={"default": 8})  # 120 tiny steps
    data = load_task_data(TASKS[:1], profile, None, seed=0)[0]
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4, 4), hidden=(8,), num_classes=10)
    assert train_task(model, data, profile, progress=True).steps == 120  # six postfix updates
    renders = capsys.readouterr().err.count("\r")
    assert 1 <= renders <= 3, f"{renders} redraws: set_postfix must not force one every 20 steps"


def test_full_profile_runs_in_smoke_size(tmp_path):
    """The GPU profile is the same code path: run it with its widths, a handful of steps."""
    tiny_full = FULL.replace(n_train=200, val_size=40, epochs={"default": 1}, max_steps_per_task=2, batch_size=32)
    results = run_sequence(TASKS[:2], profile=tiny_full, out_dir=tmp_path, progress=False)
    assert results["profile"] == "full" and results["bwt"] == 0.0
    assert results["params_per_task"][0] > 4_000_000  # full-size widths, not the smoke ones


def test_profiles_are_known_and_cpu_is_sized_as_documented():
    assert get_profile("cpu") is CPU
    with pytest.raises(ValueError, match="smoke, student, cpu, long, full"):
        get_profile("gpu")
    assert default_profile_name() == "student"  # a notebook run without settings: the quick budget (full: opt-in)


def test_the_command_line_runs_cpu_unless_told_otherwise(monkeypatch, tmp_path):
    """python -m synapticnet run: the reference budget by default (its numbers compare with the README's),
    and --profile still picks any other."""
    import synapticnet.__main__ as cli

    seen = []
    monkeypatch.setattr(cli, "_run", lambda args, profile, out: seen.append((profile, out)) or 0)
    assert cli.main(["run"]) == 0 and cli.main(["run", "--profile", "student"]) == 0
    assert seen == [("cpu", "runs/cpu"), ("student", "runs/student")]


def test_student_profile_is_the_cpu_recipe_on_less_data_at_half_width():
    from synapticnet.profiles import STUDENT

    same = ("pool_after", "mode", "dense_mode", "pooled_size", "dropout",
            "augmentation", "label_smoothing", "warmup", "test_flip", "precision")
    assert all(getattr(STUDENT, k) == getattr(CPU, k) for k in same)
    assert STUDENT.conv_channels == tuple(c // 2 for c in CPU.conv_channels)  # the same stages, half the width
    assert STUDENT.hidden == tuple(h // 2 for h in CPU.hidden)
    assert STUDENT.batch_size < CPU.batch_size  # less data: smaller batches, so that there are enough steps
    assert STUDENT.n_train is not None and CPU.n_train is None
    assert all(STUDENT.epochs_for(t) <= CPU.epochs_for(t) for t in ("mnist", "fashion_mnist", "cifar10"))
    assert STUDENT.epochs_for("cifar10") < CPU.epochs_for("cifar10")
    model = MultiTaskConvSynapticNet(**CPU.model_kwargs())
    assert 750_000 < model.num_parameters() < 900_000  # the "0.8 M-parameter CNN" of the cpu budget


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "mnist,imagenet"], "unknown task"),
        (["--tasks", " , "], "empty"),
        (["--tasks", "mnist,mnist"], "once"),
    ],
)
def test_cli_reports_bad_arguments_in_one_line(args, message, tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--out", str(tmp_path), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_cli_rejects_unwritable_output_and_unknown_profile(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--profile", "smoke", "--out", str(blocker / "sub"), "--quiet"]) == 2
    assert "not writable" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--profile", "gpu"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_missing_dataset_fails_before_training(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(method_base, "train_task", lambda *a, **k: calls.append(a))
    code = main(["run", "--profile", "smoke", "--tasks", "synthetic_mnist,mnist", "--data", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "out"), "--quiet", "--no-download"])
    assert code == 2 and not calls, "training started before all data was checked"
    err = capsys.readouterr().err
    assert "mnist" in err and str(tmp_path / "empty") in err


def test_cli_smoke_run_writes_results(tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--tasks", "synthetic_mnist", "--out", str(tmp_path), "--quiet"]) == 0
    assert load_json(tmp_path / "results.json")["complete"] is True
    assert "average accuracy" in capsys.readouterr().out


def test_full_profile_capacity_is_what_the_readme_says():
    """README and profiles.py state 15.1 M parameters after the four tasks of the full profile."""
    from synapticnet import MultiTaskConvSynapticNet
    from synapticnet.profiles import FULL

    model = MultiTaskConvSynapticNet(num_classes=10, **FULL.model_kwargs())
    for name, classes in (("fashion_mnist", 10), ("cifar10", 10), ("cifar100", 100)):
        conv, hidden = FULL.growth_for(name)
        model.grow(num_classes=classes, grow_conv_channels=conv, grow_hidden=hidden)
    assert round(model.num_parameters() / 1e6, 1) == 15.1


def test_atomic_write_keeps_the_old_file_on_failure_and_normal_permissions(tmp_path):
    import os
    import stat

    from synapticnet.storage import atomic_write, save_json

    path = save_json({"a": 1}, tmp_path / "r.json")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # readable by others, like any file

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write('{"a": ')
        raise OSError("disk full")
    with pytest.raises(OSError):
        atomic_write(path, broken)
    assert path.read_text().strip().startswith("{") and '"a": 1' in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_run_of_your_own_task_datasets(tmp_path):
    """run_sequence and run_baseline take TaskDataset objects as well as names."""
    from synapticnet.data import TaskDataset, make_synthetic
    from synapticnet.run import run_baseline

    profile = SMOKE.replace(max_steps_per_task=3)
    mine = [TaskDataset(make_synthetic(k, 28, 1, 120, 40, seed=k), task_id=i, val_size=20, seed=i, name=f"mine_{k}")
            for i, k in enumerate((3, 5))]
    r = run_sequence(mine, profile, out_dir=tmp_path / "seq", progress=False)
    assert r["tasks"] == ["mine_3", "mine_5"] and r["num_classes"] == [3, 5] and r["bwt"] == 0.0
    assert r["data"][0]["source"] == "TaskDataset passed in" and r["data"][1]["n_train"] == 100
    b = run_baseline("finetune", mine, profile=profile, out_dir=tmp_path / "ft", progress=False)
    assert b["tasks"] == ["mine_3", "mine_5"] and len(b["accuracy_matrix"]) == 2
    with pytest.raises(ValueError, match="task_id=1"):
        run_sequence(mine[::-1], profile, out_dir=tmp_path / "bad", progress=False)
    with pytest.raises(ValueError, match="mixes TaskDataset objects and names"):
        run_sequence([mine[0], "synthetic_mnist"], profile, out_dir=tmp_path / "mixed", progress=False)
