"""Runs that cannot lie or lose results: each defect of the fault-injection audit, reproduced.

Every test sets up the failure the audit found and checks that it is now either the
correct behaviour or a one-line error that names the cause.
"""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.nn.functional as F

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.engine import TrainingDiverged, check_finite
from synapticnet.profiles import SMOKE
from synapticnet.data import make_synthetic
from synapticnet.run import CHECKPOINT, RESULTS, load_task_data, run_sequence
from synapticnet.folders import LOCK, run_lock
from synapticnet.storage import load_json

TASKS = ["synthetic_mnist", "synthetic_cifar10"]
TINY = SMOKE.replace(n_train=120, val_size=30, max_steps_per_task=3)


def test_d1_resuming_a_finished_run_rewrites_a_complete_results_file(tmp_path):
    first = run_sequence(TASKS, TINY, out_dir=tmp_path, progress=False)
    stale = dict(first, complete=False, accuracy_matrix=[])  # as if killed before results.json was written
    (tmp_path / RESULTS).write_text(json.dumps(stale))
    again = run_sequence(TASKS, TINY, out_dir=tmp_path, resume=True, progress=False)
    on_disk = load_json(tmp_path / RESULTS)
    assert on_disk["complete"] and on_disk["accuracy_matrix"] == first["accuracy_matrix"] == again["accuracy_matrix"]


def test_d2_a_second_run_into_a_busy_folder_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(ValueError, match="in use by another run"):
            run_sequence(TASKS, TINY, out_dir=tmp_path, progress=False)
    assert not (tmp_path / LOCK).exists()  # released
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / LOCK).write_text(f"{dead} {socket.gethostname()}")
    assert run_sequence(TASKS, TINY, out_dir=tmp_path, progress=False)["complete"]
    assert not (tmp_path / LOCK).exists()


def test_d3_resume_refuses_other_data(tmp_path):
    run_sequence(TASKS[:1], TINY, out_dir=tmp_path, progress=False)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    state["state"].update(finished=0, rows=[], train_seconds=[], steps=[])  # as if killed before the first task finished ...
    state["state"]["data_sha256"] = ["0" * 64]  # ... and then the data file was replaced
    torch.save(state, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match="changed since the run started"):
        run_sequence(TASKS[:1], TINY, out_dir=tmp_path, resume=True, progress=False)


def test_d4_non_finite_statistics_fail_the_task_even_when_the_loss_looked_fine():
    model = MultiTaskConvSynapticNet(conv_channels=(4,), hidden=(), image_size=8)
    check_finite(model, "task 0")  # fine
    model.convs[0].blocks[0].norm.running_var.fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match=r"task 0.*running_var.*non-finite"):
        check_finite(model, "task 0")


@pytest.mark.parametrize("change", [dict(epochs={"default": 0}), dict(epochs={"default": -1}), dict(lr=0.0),
                                    dict(max_steps_per_task=0), dict(batch_size=0), dict(n_train=0)])
def test_d5_untrainable_settings_are_rejected_up_front(change):
    with pytest.raises(ValueError, match="cannot train"):
        TINY.replace(**change)


def test_d12_images_of_the_wrong_dtype_get_a_clear_error():
    model = MultiTaskConvSynapticNet(conv_channels=(4,), hidden=(), image_size=8)
    with pytest.raises(TypeError, match="uint8: convert and normalise"):
        model(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), task_id=0)
    with pytest.raises(TypeError, match="float64"):
        model(torch.zeros(2, 3, 8, 8, dtype=torch.float64), task_id=0)


def test_d13_training_a_frozen_task_says_so():
    model = MultiTaskConvSynapticNet(conv_channels=(4,), hidden=(8,), image_size=8)
    model.grow(num_classes=3)
    model.train()
    logits = model(torch.randn(4, 3, 8, 8), task_id=0)  # a forward pass of an old task is allowed ...
    with pytest.raises(RuntimeError, match="task 0 is frozen"):  # ... training it is not
        F.cross_entropy(logits, torch.zeros(4, dtype=torch.long)).backward()
    with torch.no_grad():
        assert not model(torch.randn(4, 3, 8, 8), task_id=0).requires_grad  # evaluation is untouched


def test_d14_a_training_batch_of_one_in_reuse_mode(tmp_path):
    model = MultiTaskConvSynapticNet(conv_channels=(4, 8), hidden=(8,), image_size=8, mode="reuse")
    model.grow(num_classes=3)
    model.train()
    loss = F.cross_entropy(model(torch.randn(1, 3, 8, 8), task_id=1), torch.zeros(1, dtype=torch.long))
    loss.backward()
    assert torch.isfinite(loss)
    # and through the engine: 65 training images, batch 64 -> a last batch of one
    profile = SMOKE.replace(n_train=65, val_size=20, batch_size=64, epochs={"default": 1}, mode="reuse")
    assert run_sequence(TASKS, profile, out_dir=tmp_path, progress=False)["complete"]


def test_d17_a_failed_run_leaves_no_empty_output_folder(tmp_path):
    from synapticnet.data import DataError

    out = tmp_path / "never"
    with pytest.raises(DataError):  # the folder is created, then the data is missing
        run_sequence(["mnist"], TINY, out_dir=out, data_root=tmp_path / "empty_root", download=False, progress=False)
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(DataError):  # a folder that existed before is left alone
        run_sequence(["mnist"], TINY, out_dir=kept, data_root=tmp_path / "empty_root", download=False, progress=False)
    assert kept.is_dir()


def test_d18_an_empty_test_split_is_reported_before_any_training(monkeypatch):
    from synapticnet import data as streams  # run.load_task_data calls synapticnet.data.task_dataset

    arrays = make_synthetic(4, 28, 1, 200, 40, seed=1)
    empty = dict(arrays, x_test=arrays["x_test"][:0], y_test=arrays["y_test"][:0])
    real = streams.task_dataset

    def fake(name, task_id, **kwargs):
        kwargs.pop("root", None), kwargs.pop("download", None), kwargs.pop("cache", None)
        from synapticnet.data import TaskDataset
        return TaskDataset(empty if task_id == 1 else arrays, task_id=task_id, name=f"custom{task_id}", **kwargs)
    monkeypatch.setattr(streams, "task_dataset", fake)
    try:
        with pytest.raises(ValueError, match=r"task 1 \(custom1\) has an empty test split"):
            load_task_data(TASKS, TINY, None, 0)
    finally:
        monkeypatch.setattr(streams, "task_dataset", real)


def test_d20_a_checkpoint_with_an_inconsistent_growth_record(tmp_path):
    model = MultiTaskConvSynapticNet(conv_channels=(4,), hidden=(8,), image_size=8)
    model.grow(num_classes=3)
    checkpoint = model.checkpoint()
    checkpoint["growth"] = []  # the weights of two tasks, the record of one
    with pytest.raises(ValueError, match="damaged: its config and growth record"):
        MultiTaskConvSynapticNet.from_checkpoint(checkpoint)
    checkpoint["growth"] = [dict(op="shrink")]
    with pytest.raises(ValueError, match="unknown growth operation"):
        MultiTaskConvSynapticNet.from_checkpoint(checkpoint)


def test_d17_a_failed_load_leaves_no_empty_dataset_folders(tmp_path):
    from synapticnet.data import DataError, load_arrays

    root = tmp_path / "root"
    with pytest.raises(DataError):
        load_arrays("mnist", root=root, download=False)
    assert not root.exists()  # neither the root nor MNIST/raw/ stays behind
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(DataError):
        load_arrays("fashion_mnist", root=root, download=False)
    assert sorted(p.name for p in root.rglob("*")) == ["notes.txt"]  # the user's files are never touched


# -- the third audit: every saved number checked on resume, every inconsistency named --------------------
def _tamper(folder, change) -> None:
    saved = torch.load(folder / CHECKPOINT, weights_only=True)
    change(saved["state"], saved)
    torch.save(saved, folder / CHECKPOINT)


def test_a1_every_saved_row_of_a_frozen_method_is_rederived_on_resume(tmp_path):
    first = run_sequence(TASKS, TINY, out_dir=tmp_path, progress=False)
    true = first["accuracy_matrix"][0][0]

    def earlier_row(state, _):
        state["rows"][0][0] = 0.0 if true > 0.5 else 1.0  # the first row only: the last one is still right
    _tamper(tmp_path, earlier_row)
    with pytest.raises(ValueError, match=r"accuracies saved in checkpoint\.pt after task 0 .* are not those of its "
                                         r"network .*row 0\)"):
        run_sequence(TASKS, TINY, out_dir=tmp_path, resume=True, progress=False)


def test_a1_a_shorter_data_checksum_list_is_refused(tmp_path):
    run_sequence(TASKS, TINY, out_dir=tmp_path, progress=False)
    _tamper(tmp_path, lambda state, _: state["data_sha256"].pop())
    with pytest.raises(ValueError, match=r"inconsistent \(data_sha256 has 1 entries for 2 task\(s\)\)"):
        run_sequence(TASKS, TINY, out_dir=tmp_path, resume=True, progress=False)


@pytest.mark.parametrize("change, match", [
    (lambda state, _: state["rows"].pop(0), r"rows has rows of lengths \[2\] for 2 finished task\(s\) \(expected \[1, 2\]\)"),
    (lambda state, _: state["steps"].append(3), r"steps has 3 entries for 2 finished stage\(s\)"),
    (lambda state, _: state["extra"].update(method="ewc"), r"extra holds method, which results\.json already has"),
])
def test_a2_an_inconsistent_run_state_names_the_field(tmp_path, change, match):
    run_sequence(TASKS, TINY, out_dir=tmp_path, progress=False)
    _tamper(tmp_path, change)
    with pytest.raises(ValueError, match=r"checkpoint\.pt is damaged: its run state is inconsistent \(.*" + match):
        run_sequence(TASKS, TINY, out_dir=tmp_path, resume=True, progress=False)


def test_a2_a_network_with_fewer_tasks_than_finished_is_named_as_the_cause(tmp_path):
    run_sequence(TASKS[:1], TINY, out_dir=tmp_path / "one", progress=False)
    run_sequence(TASKS, TINY, out_dir=tmp_path / "two", progress=False)
    one = torch.load(tmp_path / "one" / CHECKPOINT, weights_only=True)
    _tamper(tmp_path / "two", lambda state, saved: saved.update(model=one["model"]))
    with pytest.raises(ValueError, match=r"run state says 2 task\(s\) finished, but its network has 1") as error:
        run_sequence(TASKS, TINY, out_dir=tmp_path / "two", resume=True, progress=False)
    assert "grow()" not in str(error.value)


def test_a10_resuming_synapticnet_distill_adds_no_task_statistics(tmp_path):
    from synapticnet.methods import get_method

    from synapticnet.run import run

    run(TASKS, "synapticnet_distill", TINY, out_dir=tmp_path, progress=False)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert not any(k.startswith("task_statistics.") for k in saved["model"]["state_dict"])  # uninterrupted
    datasets = load_task_data(TASKS, TINY, None, 0)
    method = get_method("synapticnet_distill")(TINY, torch.device("cpu"), 0)
    model = method.restore(saved["model"], datasets, 2)
    assert not any(k.startswith("task_statistics.") for k in model.state_dict())  # resumed: the same
