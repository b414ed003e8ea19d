"""Permuted MNIST under GPM's protocol: the task-gated MLP, the input shape in the profile, the table.

A SynapticNet without convolutions must keep every guarantee of the convolutional one: old
tasks bitwise unchanged after growth and compaction, exact checkpoints, task inference's shared
features. Offline and fast: random tensors and synthetic stand-ins only.
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from synapticnet import data as data_lib
from synapticnet.engine import make_optimizer
from synapticnet.experiments.figures import permuted_figure
from synapticnet.experiments.permuted import (ANCHORS, CONFIGS, PermutedConfig, permuted_budget, planned_parameters,
                                              reference_parameters, run_permuted)
from synapticnet.methods import MultiHeadCNN, get_method
from synapticnet.checkpoint import implausible as _implausible
from synapticnet import MultiTaskConvSynapticNet
from synapticnet.profiles import CPU, PROFILES, SMOKE, STUDENT, budget
from synapticnet.pruning import compaction_sizes, unit_importance, units_to_keep
from synapticnet.run import _differing_settings, load_task_data
from synapticnet.storage import load_json

MLP = dict(conv_channels=(), hidden=(12, 10), in_channels=1, image_size=8, num_classes=4, dropout=0.0)
MODES = {"reuse": dict(mode="reuse"), "isolate": dict(mode="isolate"), "reuse, dense isolate":
         dict(mode="reuse", dense_mode="isolate")}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny models: one thread."""


def images(seed: int, n: int = 16) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def train_steps(model: MultiTaskConvSynapticNet, task: int, steps: int = 5) -> None:
    """A few masked SGD steps on the newest task (momentum and weight decay on: they must not move old tasks)."""
    model.train()
    opt = torch.optim.SGD(model.task_parameters(task), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for step in range(steps):
        x = images(100 + step)
        loss = F.cross_entropy(model(x, task), torch.arange(len(x)) % model.num_classes(task))
        opt.zero_grad()
        loss.backward()
        model.apply_task_gradient_mask(task)
        opt.step()
    model.eval()


def outputs(model: MultiTaskConvSynapticNet, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model(x, t) for t in range(model.num_tasks)]


# ------------------------------------------------------------------------------------------
# The model without convolutions
# ------------------------------------------------------------------------------------------
def test_mlp_forward_reads_the_flattened_image_through_a_shared_first_layer():
    model = MultiTaskConvSynapticNet(**MLP).eval()
    assert model(images(0, 5), 0).shape == (5, 4)
    assert len(model.convs) == 0 and model.dense[0].shared_input and not model.dense[1].shared_input
    assert model.dense[0].in_units_per_task == [1 * 8 * 8]
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 8, 8\)"):
        model(torch.randn(2, 3, 8, 8), 0)


def test_a_network_without_any_layer_is_refused_in_one_line():
    for build in (lambda: MultiTaskConvSynapticNet(conv_channels=(), hidden=()),
                  lambda: MultiHeadCNN(conv_channels=(), hidden=())):
        with pytest.raises(ValueError, match="at least one layer") as error:
            build()
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("mode", MODES)
def test_mlp_grow_keeps_old_tasks_bitwise(mode):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**MLP, **MODES[mode])
    train_steps(model, 0)
    x = images(1)
    before = outputs(model, x)
    model.grow(num_classes=3, grow_hidden=(4, 3))
    train_steps(model, 1)
    after = outputs(model, x)
    assert torch.equal(after[0], before[0])
    assert after[1].shape == (16, 3) and not torch.equal(after[1], torch.zeros_like(after[1]))
    reads = model.dense[1].blocks[1].unit.in_features  # reuse: every older task's first-layer units too
    assert reads == (12 + 4 if MODES[mode].get("dense_mode", MODES[mode]["mode"]) == "reuse" else 4)
    assert model.dense[0].blocks[1].unit.in_features == 64  # the first layer always reads the image alone


@pytest.mark.parametrize("mode", MODES)
def test_mlp_compaction_keeps_old_tasks_and_the_rebuilt_checkpoint(mode, tmp_path):
    torch.manual_seed(1)
    model = MultiTaskConvSynapticNet(**MLP, **MODES[mode])
    train_steps(model, 0)
    conv, hidden = compaction_sizes(model, 0.5)
    assert (conv, hidden) == ([], [6, 5])
    assert model.compact(conv, hidden) > 0  # task 0 itself: its first layer reads the image (no kept inputs)
    x = images(2)
    task0 = outputs(model, x)[0]
    model.grow(num_classes=4, grow_hidden=(6, 6))
    train_steps(model, 1)
    scores = unit_importance(model)
    assert scores[0] == [] and [len(s) for s in scores[1]] == [6, 6]
    kept = units_to_keep(model, [], [3, 2])
    assert [len(k) for k in kept] == [3, 2]
    removed = model.compact([], [3, 2])
    assert removed > 0 and model.dense[0].blocks[1].out_units == 3 and model.dense[1].blocks[1].out_units == 2
    model.widen(grow_hidden=1)
    after = outputs(model, x)
    assert torch.equal(after[0], task0)
    path = tmp_path / "mlp.pt"
    model.save(path)
    loaded = MultiTaskConvSynapticNet.load(path).eval()
    assert loaded.growth == model.growth and loaded.config["conv_channels"] == []
    for a, b in zip(outputs(loaded, x), after):
        assert torch.equal(a, b)
    assert loaded.parameters_per_task() == model.parameters_per_task()
    assert _implausible(loaded) == ""
    assert torch.equal(loaded.task_view(1)(x), after[1])


@pytest.mark.parametrize("mode", MODES)
def test_mlp_shared_features_are_task_0s_hidden_activations_for_every_task(mode):
    torch.manual_seed(2)
    model = MultiTaskConvSynapticNet(**MLP, **MODES[mode])
    train_steps(model, 0)
    x = images(3)
    g0 = model.shared_features(x)
    with torch.no_grad():
        h1 = F.relu(model.dense[0].blocks[0](x.flatten(1)))
        h2 = F.relu(model.dense[1].blocks[0](h1))
    assert g0.shape == (16, 12 + 10) and torch.equal(g0, torch.cat([h1, h2], dim=1))
    model.grow(num_classes=4, grow_hidden=3)
    train_steps(model, 1)
    shared, per_task = model.all_outputs(x)
    assert torch.equal(model.shared_features(x), g0) and torch.equal(shared, g0)
    for t, (features, logits) in enumerate(per_task):
        assert torch.equal(logits, model(x, t)) and torch.equal(features, model.features(x, t))


def test_multihead_mlp_matches_the_synapticnet_mlp_layer_for_layer():
    """The reference 'one network' and SynapticNet's task 0 are the same MLP: 784-100-100-10, with biases."""
    plain = MultiHeadCNN(conv_channels=(), hidden=(100, 100), num_classes=(10,), dropout=0.0, in_channels=1,
                         image_size=28)
    gated = MultiTaskConvSynapticNet(conv_channels=(), hidden=(100, 100), in_channels=1, image_size=28)
    plain_layers = [m for m in plain.body if isinstance(m, torch.nn.Linear)] + [plain.heads[0]]
    gated_layers = [layer.blocks[0].unit for layer in gated.dense] + [gated.heads[0]]
    assert [tuple(m.weight.shape) for m in plain_layers] == [tuple(m.weight.shape) for m in gated_layers]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert [count(m) for m in plain_layers] == [count(m) for m in gated_layers]
    one_network = (28 * 28 + 1) * 100 + (100 + 1) * 100 + (100 + 1) * 10  # weights + biases of each layer
    assert plain.num_parameters() == gated.num_parameters() == gated.parameters_per_task()[0] == one_network
    assert reference_parameters(permuted_budget("cpu")) == one_network


# ------------------------------------------------------------------------------------------
# The profile: input shape and the protocol's budget
# ------------------------------------------------------------------------------------------
def test_profile_input_shape_defaults_are_the_data_constants_and_existing_data_options_are_unchanged():
    assert (SMOKE.image_size, SMOKE.channels) == (data_lib.IMAGE_SIZE, data_lib.CHANNELS) == (32, 3)
    assert all((p.image_size, p.channels) == (32, 3) for p in PROFILES.values())
    geometry = dict(image_size=32, channels=3, n_test=None, normalization="dataset", test_shift=0,
                    alternate_flips=False, random_erasing=0.0)  # the airbench options and erasing, off in every profile
    assert CPU.data_options("cifar10") == dict(geometry, n_train=None, val_size=0.05, augment=True, flip=True,
                                               crop_padding=2, test_flip=True)
    assert CPU.data_options("mnist") == dict(geometry, n_train=None, val_size=0.05, augment=True, flip=False,
                                             crop_padding=2, test_flip=False)
    assert STUDENT.data_options("fashion_mnist") == dict(geometry, n_train=5000, val_size=0.05, augment=True,
                                                         flip=True, crop_padding=0, test_flip=True)
    assert SMOKE.data_options("synthetic_cifar10") == dict(geometry, n_train=600, val_size=100, augment=True,
                                                           flip=True, crop_padding=0, test_flip=False)


def test_profile_refuses_an_input_shape_it_cannot_build():
    with pytest.raises(ValueError, match="channels = 2"):
        SMOKE.replace(channels=2)
    with pytest.raises(ValueError, match="image_size = 0"):
        SMOKE.replace(image_size=0)


def test_a_run_folder_saved_before_the_input_shape_fields_resumes_and_another_shape_is_refused():
    now = SMOKE.to_dict()
    older = {k: v for k, v in now.items() if k not in ("image_size", "channels")}  # as saved before the fields
    assert _differing_settings(older, now) == {}
    assert _differing_settings(older, SMOKE.replace(image_size=28, channels=1).to_dict()) == {
        "channels": (3, 1), "image_size": (32, 28)}


def test_the_permuted_mnist_budget_is_gpms_protocol():
    p = budget("permuted_mnist", "cpu")
    assert (p.image_size, p.channels, p.conv_channels, p.hidden, p.dropout) == (28, 1, (), (100, 100), 0.0)
    assert (p.batch_size, p.lr, p.momentum, p.weight_decay, p.label_smoothing, p.warmup) == (10, 0.01, 0, 0, 0, 0)
    assert (p.epochs_for("permuted_mnist/3"), p.val_size, p.n_train, p.compaction, p.precision) == (5, 0.1, None,
                                                                                                      None, "float32")
    assert p.data_options("permuted_mnist/3") == dict(image_size=28, channels=1, n_train=None, val_size=0.1,
                                                      augment=False, flip=False, crop_padding=0, test_flip=False,
                                                      n_test=None, normalization="dataset", test_shift=0,
                                                      alternate_flips=False, random_erasing=0.0)
    assert p.lr_decay is False  # GPM keeps lr 0.01 constant
    full = dataclasses.asdict(budget("permuted_mnist", "full"))
    assert {k: v for k, v in full.items() if k not in ("name", "description")} == \
        {k: v for k, v in dataclasses.asdict(p).items() if k not in ("name", "description")}
    student, smoke = budget("permuted_mnist", "student"), budget("permuted_mnist", "smoke")
    assert (student.n_train, student.epochs_for("permuted_mnist/0")) == (3000, 1)
    assert smoke.default_tasks == ("synthetic_permuted_mnist:3",) and smoke.max_steps_per_task is not None
    task = load_task_data(["synthetic_permuted_mnist/1"], smoke, None, seed=0)[0]
    assert task.tensors("val")[0].shape[1:] == (1, 28, 28) and not task.augment
    for method in ("synapticnet", "separate", "finetune"):  # every build reads the profile's input shape
        model = get_method(method)(smoke).build(["synthetic_permuted_mnist/0"], 10).eval()
        assert model(task.tensors("val")[0][:3], 0).shape == (3, 10)


def test_momentum_zero_is_plain_sgd():
    """Nesterov needs a momentum: with momentum 0 the step is exactly w - lr * grad."""
    p = budget("permuted_mnist", "smoke")
    model = MultiTaskConvSynapticNet(conv_channels=(), hidden=(5,), in_channels=1, image_size=8, num_classes=3)
    optimizer = make_optimizer(model, p)
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"], group["lr"]) == (0, False, 0, 0.01)
    before = [q.detach().clone() for q in model.parameters()]
    model(images(4), 0).square().mean().backward()
    optimizer.step()
    for q, old in zip(model.parameters(), before):  # (one rounding or two: a fused multiply-add may be used)
        torch.testing.assert_close(q.detach(), old - 0.01 * q.grad, rtol=1e-6, atol=1e-9)
    assert all(state.get("momentum_buffer") is None for state in optimizer.state.values())  # nothing remembered
    assert make_optimizer(model, SMOKE).param_groups[0]["nesterov"] is True  # the recipe keeps Nesterov


# ------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------
def test_planned_sizes_of_the_configurations_aim_at_wsns_capacity():
    base = permuted_budget("cpu")
    one = reference_parameters(base)
    planned = {c.label: planned_parameters(c, base, 10) / one for c in CONFIGS}
    assert planned["separate ×1"] == 10.0
    wsn = next(a["capacity"] for a in ANCHORS if a["label"] == "WSN")
    assert all(0.7 < planned[label] <= wsn for label in ("reuse 40+4", "reuse 56+2", "isolate 8"))
    assert all(a["source"] for a in ANCHORS)


def test_run_permuted_smoke_writes_the_table_with_computed_capacity(tmp_path):
    configs = (PermutedConfig("separate ×1", "separate"), PermutedConfig("reuse 6+2", hidden=(6, 6), growth=(2, 2)))
    out, tasks, lines = tmp_path / "pmnist.json", ["synthetic_permuted_mnist:2"], []
    table = run_permuted(out, seeds=(0,), configs=configs, profile="smoke", runs_dir=tmp_path / "runs", tasks=tasks,
                         log=lines.append)
    assert load_json(out) == table and len(lines) == 2
    one = table["reference_network"]["params"]
    assert one == reference_parameters(permuted_budget("smoke")) == 89_610
    separate, reuse = table["configs"]
    assert [r["seed"] for r in separate["runs"]] == [0] and separate["capacity_mean"] == 2.0  # two whole networks
    run = reuse["runs"][0]
    assert run["capacity"] == run["params"] / one and run["params"] == reuse["params_planned"]
    assert run["bwt"] == 0.0 and 0 <= run["avg_acc"] <= 100 and run["train_seconds"] > 0
    assert table["tasks"] == ["synthetic_permuted_mnist/0", "synthetic_permuted_mnist/1"]
    assert table["synthetic_data"] is True and len(table["anchors"]) == len(ANCHORS)
    again = run_permuted(out, seeds=(0,), configs=configs, profile="smoke", runs_dir=tmp_path / "runs", tasks=tasks,
                         log=lines.append)  # every run is in the table already: nothing runs again
    assert len(lines) == 2 and again["configs"] == table["configs"]
    wider = (configs[0], dataclasses.replace(configs[1], growth=(3, 3)))  # same label, other settings: runs again
    changed = run_permuted(out, seeds=(0,), configs=wider, profile="smoke", runs_dir=tmp_path / "runs", tasks=tasks,
                           log=lines.append)
    assert len(lines) == 4 and "settings changed" in lines[2]
    assert changed["configs"][1]["growth"] == [3, 3] and changed["configs"][1]["runs"][0]["params"] > run["params"]
    with pytest.raises(ValueError, match="other tasks or another budget"):
        run_permuted(out, seeds=(0,), configs=configs, profile="smoke", tasks=["synthetic_permuted_mnist:3"])
    figure = permuted_figure(table)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlim()[1] > 1000  # capacity in %: the 1000 % anchor is on it
    figure.savefig(tmp_path / "pmnist.png")
    plt.close(figure)


def test_a_table_run_that_changes_nothing_writes_nothing(tmp_path):
    configs = (PermutedConfig("separate ×1", "separate"), PermutedConfig("reuse 6+2", hidden=(6, 6), growth=(2, 2)))
    out, tasks = tmp_path / "pmnist.json", ["synthetic_permuted_mnist:2"]
    run_permuted(out, seeds=(0,), configs=configs, profile="smoke", runs_dir=tmp_path / "runs", tasks=tasks,
                 log=lambda _: None)
    text, written = out.read_bytes(), out.stat().st_mtime_ns
    for subset in ((configs[1],), configs[::-1]):  # a subset, or another order: every run is there already
        run_permuted(out, seeds=(0,), configs=subset, profile="smoke", runs_dir=tmp_path / "runs", tasks=tasks,
                     log=lambda _: None)
        assert out.read_bytes() == text and out.stat().st_mtime_ns == written
