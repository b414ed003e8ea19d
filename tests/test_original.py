"""The original design's recipe (profile ``original``), Adam, and accuracy on the training images."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from synapticnet.engine import evaluate, make_optimizer, train_task
from synapticnet.experiments.original import (ORIGINAL_COLUMNS, ORIGINAL_PARAMETERS, masked_parameter_count,
                                              run_original, smoke_profile)
from synapticnet.methods import get_method
from synapticnet.methods.networks import MultiHeadCNN
from synapticnet import MultiTaskConvSynapticNet
from synapticnet.profiles import ORIGINAL, SMOKE, SYNTHETIC_TASKS, get_profile
from synapticnet.run import load_task_data, run_sequence
from synapticnet.storage import load_json

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- the profile ----------------------------------------------------------------------------
def test_the_original_profile_is_the_notebooks_recipe():
    p = get_profile("original")
    assert p is ORIGINAL
    assert (p.optimizer, p.lr, p.batch_size, p.weight_decay, p.label_smoothing) == ("adam", 1e-3, 64, 0.0, 0.0)
    assert (p.warmup, p.lr_decay, p.precision, p.normalization, p.val_size) == (0.0, False, "float32", "half", 0)
    assert [p.epochs_for(t) for t in ("mnist", "fashion_mnist", "cifar10", "cifar100")] == [3, 10, 10, 10]
    assert all(p.augmentation_for(t) == "none" for t in ("mnist", "cifar10")) and not p.test_flip
    assert p.compaction is None and p.growth_trigger is None and p.batch_norm is False and p.dropout == 0.2


def test_the_rebuilt_network_has_the_originals_layers_and_counts_only_the_weights_each_column_uses():
    model = MultiTaskConvSynapticNet(in_channels=3, num_classes=10, image_size=32, **ORIGINAL.model_kwargs())
    assert model.spatial == 4 and model.feature_side == 4  # 32 → 16 → 8 → 4: no pool after the last conv
    assert [c.blocks[0].unit.out_channels for c in model.convs] == [64, 64, 64, 64]
    assert all(c.blocks[0].norm is None and c.blocks[0].unit.bias is not None for c in model.convs)
    assert model.dense[0].blocks[0].unit.in_features == 64 * 16 and model.dense[0].blocks[0].unit.out_features == 512
    assert model.num_parameters() == 642_506  # 1,792 + 3 × 36,928 + 524,800 + 5,130
    for name, classes in (("fashion_mnist", 10), ("cifar10", 10), ("cifar100", 100)):
        conv, hidden = ORIGINAL.growth_for(name)
        model.grow(num_classes=classes, grow_conv_channels=conv, grow_hidden=hidden)
    assert model.parameters_per_task() == [642_506, 642_506, 642_506, 2_647_012]  # isolate: one column per task
    assert model.num_parameters() == 4_574_530


def test_the_originals_weight_matrices_hold_the_16_2_million_parameters_its_notebook_printed():
    """Its masks keep every connection between tasks' units: the count of one matrix per layer."""
    assert masked_parameter_count(list(ORIGINAL_COLUMNS.values())) == ORIGINAL_PARAMETERS == 16_217_410
    assert masked_parameter_count([ORIGINAL_COLUMNS["mnist"]]) == 642_506  # one task: nothing masked, as ours


@pytest.mark.parametrize("changes, match", [(dict(optimizer="rmsprop"), "optimizer = 'rmsprop'"),
                                            (dict(normalization="imagenet"), "normalization = 'imagenet'"),
                                            (dict(batch_norm=1), "batch_norm = 1")])
def test_a_profile_refuses_an_unknown_optimizer_normalisation_or_batch_norm(changes, match):
    with pytest.raises(ValueError, match=match):
        SMOKE.replace(**changes)


def test_the_baselines_networks_follow_the_profiles_batch_norm_setting():
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in MultiHeadCNN((4, 4), (8,), batch_norm=False).modules())
    profile = SMOKE.replace(batch_norm=False)
    for method in ("finetune", "separate"):
        net = get_method(method)(profile, "cpu").build(["synthetic_mnist", "synthetic_cifar10"], 10)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()), method


# ---- Adam ---------------------------------------------------------------------------------
def test_adam_through_the_engine_leaves_earlier_tasks_bitwise_identical():
    """make_optimizer builds Adam for optimizer="adam" over *all* parameters; frozen ones have no gradient, so
    Adam's moments never touch them: task 0's logits and weights do not change while tasks 1 and 2 train."""
    profile = smoke_profile().replace(max_steps_per_task=6, val_size=30)
    datasets = load_task_data(list(SYNTHETIC_TASKS[:3]), profile, None, seed=0, download=False)
    method = get_method("synapticnet")(profile, "cpu")
    model = method.build([d.name for d in datasets], datasets[0].num_classes)
    optimizer = make_optimizer(model, profile)
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 1e-3
    assert isinstance(make_optimizer(model, SMOKE), torch.optim.SGD)  # SGD stays the default
    x = datasets[0].tensors("test")[0][:32]

    def logits(task: int) -> torch.Tensor:
        with torch.no_grad():
            return model.eval()(x, task_id=task)

    references = []
    for i, data in enumerate(datasets):
        if i:
            method.next_task(model, data)
        before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
        untrained = logits(i)
        train_task(model, data, profile, progress=False, hooks=method)
        assert not torch.equal(logits(i), untrained), "the new task did not learn"
        for t, reference in enumerate(references):
            assert torch.equal(logits(t), reference), f"training task {i} with Adam changed task {t}"
        for name, p in model.named_parameters():
            if name in before:
                assert torch.equal(p, before[name]), name
        references.append(logits(i))


def test_a_run_with_adam_has_exactly_zero_forgetting(tmp_path):
    results = run_sequence(list(SYNTHETIC_TASKS[:3]), profile=SMOKE.replace(optimizer="adam", lr=1e-3),
                           out_dir=tmp_path, progress=False)
    assert results["bwt"] == 0.0 and results["forgetting"] == 0.0
    assert results["profile_settings"]["optimizer"] == "adam"


# ---- accuracy on the training images --------------------------------------------------------
def test_every_run_records_each_tasks_accuracy_on_its_own_training_images(tmp_path):
    profile = SMOKE.replace(max_steps_per_task=8)
    results = run_sequence(list(SYNTHETIC_TASKS[:2]), profile=profile, out_dir=tmp_path, progress=False)
    datasets = load_task_data(results["tasks"], profile, None, seed=0, download=False)
    model = MultiTaskConvSynapticNet.load(tmp_path)
    # the whole training split, in eval mode, not augmented (synthetic RGB tasks are augmented while training)
    assert datasets[1].augment
    expected = {d.name: evaluate(model, d, "train") for d in datasets}
    assert results["train_accuracy"] == expected
    assert results["train_accuracy_images"] == [d.n_train for d in datasets] == [600, 600]
    assert results["train_accuracy"] != results["final_accuracy"]  # a different set of images
    assert results["train_accuracy_seconds"] >= 0 and "training images" in results["train_accuracy_split"]


def test_a_finished_run_saved_before_training_accuracy_existed_gets_it_on_resume(tmp_path):
    profile = SMOKE.replace(max_steps_per_task=4)
    first = run_sequence(list(SYNTHETIC_TASKS[:2]), profile=profile, out_dir=tmp_path, progress=False)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    del checkpoint["state"]["train_accuracy"]  # as a checkpoint written by an earlier version
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    again = run_sequence(list(SYNTHETIC_TASKS[:2]), profile=profile, out_dir=tmp_path, progress=False, resume=True)
    assert again["train_accuracy"] == first["train_accuracy"] and again["accuracy_matrix"] == first["accuracy_matrix"]


def test_an_unfinished_run_has_no_training_set_accuracy_yet(tmp_path, monkeypatch):
    from synapticnet.methods import base

    calls = {"n": 0}
    real = base.train_task

    def stop_after_one(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "train_task", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        run_sequence(list(SYNTHETIC_TASKS[:2]), profile=SMOKE.replace(max_steps_per_task=4), out_dir=tmp_path,
                     progress=False)
    partial = load_json(tmp_path / "results.json")
    assert not partial["complete"] and partial["train_accuracy"] is None


# ---- the experiment -------------------------------------------------------------------------
def test_run_original_writes_training_and_test_accuracy_per_task_and_resumes(tmp_path):
    profile = dataclasses.replace(smoke_profile(), default_tasks=SYNTHETIC_TASKS[:2], max_steps_per_task=6)
    out = tmp_path / "original_run.json"
    summary = run_original(out, tmp_path / "run", profile=profile, progress=False, shared=True)
    assert load_json(out) == summary and summary["shared_machine"] is True
    assert [r["task"] for r in summary["rows"]] == list(SYNTHETIC_TASKS[:2])
    for row in summary["rows"]:
        assert 0 <= row["train_accuracy"] <= 100 and 0 <= row["test_accuracy"] <= 100
        assert row["gap_points"] == pytest.approx(row["train_accuracy"] - row["test_accuracy"], abs=0.011)
        assert row["original_reported"] is None  # synthetic data: nothing to compare with
    assert summary["params_total"] == sum(r["params_created"] for r in summary["rows"])
    assert summary["original_params_same_tasks"] == masked_parameter_count([ORIGINAL_COLUMNS["mnist"]] * 2)
    assert summary["original_params_four_tasks"] == 16_217_410 and summary["differences"]
    again = run_original(out, tmp_path / "run", profile=profile, progress=False)  # a finished run is loaded
    assert again["rows"] == summary["rows"] and "earlier call" in again["wall_seconds_note"]


def test_run_original_records_a_missing_dataset_and_runs_the_rest(tmp_path, monkeypatch):
    from synapticnet.experiments import original

    def without_the_last(tasks, root=None, download=True):
        return list(tasks[:-1]), {tasks[-1]: "not in the data root"}

    monkeypatch.setattr(original, "split_available", without_the_last)
    profile = dataclasses.replace(smoke_profile(), default_tasks=SYNTHETIC_TASKS[:2], max_steps_per_task=3)
    summary = run_original(tmp_path / "o.json", tmp_path / "run", profile=profile, progress=False)
    assert summary["tasks"] == [SYNTHETIC_TASKS[0]]
    assert summary["unavailable_tasks"] == {SYNTHETIC_TASKS[1]: "not in the data root"}

