"""Compaction ("synaptic pruning"), conv-only reuse and pooled features.

Every guarantee of growth must survive them: old tasks bitwise unchanged, a rejected
call leaves the model as it was, a checkpoint rebuilds the exact network.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.methods import MultiHeadCNN, get_method
from synapticnet.run import run
from synapticnet.engine import train_task
from synapticnet.pruning import compaction_sizes
from synapticnet.profiles import SMOKE, Compaction
from synapticnet.run import load_task_data, run_sequence
from synapticnet.storage import load_json

IMAGE = 8
SMALL = dict(in_channels=3, conv_channels=(4, 8), hidden=(16,), num_classes=5, image_size=IMAGE, dropout=0.0)
VARIANTS = {
    "reuse": dict(mode="reuse"),
    "isolate": dict(mode="isolate"),
    "conv-reuse": dict(mode="reuse", dense_mode="isolate"),
    "reuse-gap": dict(mode="reuse", pooled_size=1),
}


def images(seed: int, n: int = 12) -> torch.Tensor:
    return torch.randn(n, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed))


def trained(variant: str, tasks: int = 2) -> MultiTaskConvSynapticNet:
    """A model with ``tasks`` tasks, each trained a few SGD steps (BatchNorm statistics too)."""
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL, **VARIANTS[variant])
    for t in range(tasks):
        if t:
            model.grow(num_classes=3, grow_conv_channels=(2, 4), grow_hidden=(8,))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model.train()
        for step in range(4):
            x = images(100 * t + step)
            y = torch.arange(len(x)) % model.num_classes(t)
            opt.zero_grad()
            F.cross_entropy(model(x, task_id=t), y).backward()
            model.apply_task_gradient_mask(t)
            opt.step()
    return model.eval()


@torch.no_grad()
def logits(model: MultiTaskConvSynapticNet, task: int) -> torch.Tensor:
    return model.eval()(images(-1), task_id=task)


@pytest.mark.parametrize("variant", VARIANTS)
def test_compact_keeps_old_tasks_bitwise_and_removes_what_it_says(variant):
    model = trained(variant, tasks=3)
    old = [logits(model, t) for t in range(2)]
    before = model.num_parameters()
    removed = model.compact(conv_channels=[1, 2], hidden=[3])
    assert removed == before - model.num_parameters() > 0
    assert [layer.blocks[2].out_units for layer in model.task_layers] == [1, 2, 3]
    assert all(torch.equal(logits(model, t), o) for t, o in enumerate(old))  # bit for bit
    assert logits(model, 2).shape == (12, 3)  # the compacted task still works
    for layer in model.task_layers:  # tags follow the units
        assert layer.task_ids.tolist().count(2) == layer.blocks[2].out_units
        assert len(layer.task_ids) == sum(layer.out_units_per_task)
    # training the compacted task still leaves old tasks alone
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    model.train()
    opt.zero_grad()
    F.cross_entropy(model(images(7), task_id=2), torch.zeros(12, dtype=torch.long)).backward()
    model.apply_task_gradient_mask(2)
    opt.step()
    assert all(torch.equal(logits(model, t), o) for t, o in enumerate(old))


@pytest.mark.parametrize("variant", VARIANTS)
def test_compacting_to_full_size_changes_nothing_and_checkpoint_round_trips(variant, tmp_path):
    model = trained(variant)
    expected = logits(model, 1)
    assert model.compact([2, 4], [8]) == 0
    assert torch.equal(logits(model, 1), expected)
    model.compact([1, 3], [5])
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = MultiTaskConvSynapticNet.load(path)
    assert all(torch.equal(logits(loaded, t), logits(model, t)) for t in range(2))
    assert loaded.growth[-1]["op"] == "compact"


def test_compact_keeps_the_most_important_units_in_order():
    model = trained("reuse", tasks=1)
    with torch.no_grad():
        gamma = model.convs[0].blocks[0].norm.weight
        gamma.copy_(torch.tensor([0.1, 5.0, 0.2, 3.0]))
    kept_filters = model.convs[0].blocks[0].unit.weight[[1, 3]].clone()
    model.compact([2, 8], [16])
    assert torch.equal(model.convs[0].blocks[0].unit.weight, kept_filters)  # filters 1 and 3, in order


@pytest.mark.parametrize("conv, hidden, error", [
    ([5, 8], [16], ValueError),      # more than the task has (4 filters)
    ([-1, 8], [16], ValueError),     # negative
    ([2], [16], ValueError),         # wrong length
    ([2, 8], [], ValueError),        # wrong length
    ([2, 4.5], [16], TypeError),     # not an integer
    ([0, 8], [16], ValueError),      # task 0 needs at least one unit per layer
])
def test_bad_compaction_sizes_are_refused_and_leave_the_model_unchanged(conv, hidden, error):
    model = trained("reuse", tasks=1)
    state = copy.deepcopy(model.state_dict())
    growth = copy.deepcopy(model.growth)
    with pytest.raises(error):
        model.compact(conv, hidden)
    assert model.growth == growth and model.state_dict().keys() == state.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_conv_reuse_needs_units_where_the_task_reads_only_its_own():
    model = trained("conv-reuse", tasks=1)
    with pytest.raises(ValueError, match="isolate"):
        model.grow(num_classes=3, grow_conv_channels=(2, 0), grow_hidden=(8,))
    assert model.num_tasks == 1  # rejected before anything changed
    with pytest.raises(ValueError, match="needs mode='reuse'"):
        MultiTaskConvSynapticNet(**SMALL, mode="isolate", dense_mode="reuse")


def test_conv_reuse_costs_less_than_reuse_and_reads_old_filters():
    reuse, conv_reuse, isolate = (trained(v) for v in ("reuse", "conv-reuse", "isolate"))
    cost = lambda m: m.parameters_per_task()[1]  # noqa: E731
    assert cost(isolate) < cost(conv_reuse) < cost(reuse)
    # conv-reuse's new filters read task 0's channels: 4 old + 2 own inputs in the second conv
    assert conv_reuse.convs[1].blocks[1].unit.weight.shape[1] == 4 + 2
    assert conv_reuse.dense[0].blocks[1].unit.weight.shape[1] == 4 * (IMAGE // 4) ** 2  # own maps only


def test_pooled_features_match_the_plain_reference_network():
    model = MultiTaskConvSynapticNet(**SMALL, pooled_size=1)
    reference = MultiHeadCNN((4, 8), (16,), (5,), 0.0, 3, IMAGE, pooled_size=1)
    assert model.num_parameters() == reference.num_parameters()  # same layers, same count
    assert model.dense[0].blocks[0].unit.in_features == 8  # one averaged feature per channel
    with pytest.raises(ValueError, match="pooled_size"):
        MultiTaskConvSynapticNet(**SMALL, pooled_size=IMAGE)


def test_compaction_sizes_round_up_and_keep_one():
    model = trained("reuse")
    assert compaction_sizes(model, 0.25) == ([1, 1], [2])
    assert compaction_sizes(model, 0.5) == ([1, 2], [4])


TINY = SMOKE.replace(n_train=200, val_size=60, epochs={"default": 2})
TASKS = ["synthetic_mnist", "synthetic_cifar10"]


def test_automatic_compaction_is_recorded_and_keeps_old_tasks(tmp_path):
    # tolerance 1.0: any candidate passes, so the smallest fraction is chosen (deterministic)
    profile = TINY.replace(compaction=Compaction(fractions=(0.5, 0.25), tolerance=1.0))
    results = run_sequence(TASKS, profile, out_dir=tmp_path, progress=False)
    assert results["bwt"] == 0.0
    decisions = results["compaction"]
    assert [d["task"] for d in decisions] == [0, 1]
    for d in decisions:
        assert d["chosen_fraction"] == 0.25 and [t["fraction"] for t in d["tried"]] == [0.25]
        assert d["params_task_after"] < d["params_task_before"] and d["finetune_steps"] > 0
    assert load_json(tmp_path / "results.json")["compaction"] == decisions
    plain = run_sequence(TASKS, TINY, out_dir=tmp_path / "plain", progress=False)
    assert results["params_total"] < plain["params_total"] and plain["compaction"] == []


def test_automatic_compaction_keeps_full_width_when_nothing_is_good_enough(tmp_path):
    profile = TINY.replace(compaction=Compaction(fractions=(0.25,), tolerance=-1.0))  # impossible to meet
    datasets = load_task_data(TASKS[:1], profile, None, 0)
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(num_classes=10, **profile.model_kwargs())
    before = model.num_parameters()
    report = train_task(model, datasets[0], profile, progress=False, hooks=get_method("synapticnet")(profile))
    assert report.compaction["chosen_fraction"] is None and model.num_parameters() == before


def test_compaction_on_your_own_datasets_too(tmp_path):
    profile = TINY.replace(compaction=Compaction(fractions=(0.5,), tolerance=1.0), dense_mode="isolate")
    datasets = load_task_data(TASKS, profile, None, 0)
    r = run(datasets, "synapticnet", profile, out_dir=tmp_path, progress=False)
    assert [d["chosen_fraction"] for d in r["compaction"]] == [0.5, 0.5] and r["bwt"] == 0.0


def test_compact_with_your_own_scores():
    """``scores`` replaces |γ|: here the filters' L2 norms pick which units stay."""
    model = trained("reuse", tasks=1)
    norms = [layer.blocks[0].unit.weight.detach().flatten(1).norm(dim=1) for layer in model.task_layers]
    keep0 = norms[0].argsort(descending=True)[:2].sort().values
    keep1 = norms[1].argsort(descending=True)[:3].sort().values
    expected = model.convs[1].blocks[0].unit.weight.detach()[keep1][:, keep0].clone()
    model.compact([2, 3], [4], scores=(norms[:2], norms[2:]))
    assert torch.equal(model.convs[1].blocks[0].unit.weight, expected)
    with pytest.raises(ValueError, match="one value per unit"):
        model.compact([1, 1], [1], scores=([torch.ones(3)], [torch.ones(4)]))


# ---- network slimming: the sparsity penalty that makes |γ| informative ------------------------------
def test_scale_penalty_reads_only_the_training_tasks_scales():
    from synapticnet.pruning import scale_penalty

    model = trained("reuse")  # task 1 is training, task 0 is frozen
    model.train()
    penalty = scale_penalty(model, 1)
    expected = sum(float(b.norm.weight.detach().abs().sum()) for b in model.task_blocks(1)[0])
    assert float(penalty.detach()) == pytest.approx(expected, rel=1e-6)
    model.zero_grad(set_to_none=True)
    penalty.backward()
    for block in model.task_blocks(1)[0]:  # the training task's scales: d|γ|/dγ = sign(γ)
        assert torch.equal(block.norm.weight.grad, torch.sign(block.norm.weight.detach()))
    for block in model.task_blocks(0)[0]:  # the frozen task's: nothing
        assert block.norm.weight.grad is None or not block.norm.weight.grad.any()
    assert all(p.grad is None or not p.grad.any() for p in model.heads.parameters())


def test_sparsity_pushes_new_scales_down_and_keeps_old_tasks_bitwise():
    """Training task 1 with the penalty shrinks its own |γ|, never task 0's; compaction then keeps old tasks."""
    datasets = load_task_data(TASKS, TINY, None, 0)
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    scales = {}
    # tolerance -1: nothing passes, full width kept (all scales measurable); tolerance 1: halved
    for sparsity, tolerance in ((0.0, -1.0), (0.5, -1.0), (0.5, 1.0)):
        profile = TINY.replace(compaction=Compaction(fractions=(0.5,), tolerance=tolerance, include_first_task=False),
                               sparsity=sparsity, max_steps_per_task=8)
        method = get_method("synapticnet")(profile)
        torch.manual_seed(0)
        model = MultiTaskConvSynapticNet(num_classes=10, **profile.model_kwargs())
        train_task(model, datasets[0], profile, progress=False, hooks=method)
        before = model.eval()(x, task_id=0).detach().clone()
        old_scales = [b.norm.weight.detach().clone() for b in model.task_blocks(0)[0]]
        conv, hidden = profile.growth_for("synthetic_cifar10")
        model.grow(num_classes=10, grow_conv_channels=conv, grow_hidden=hidden)
        report = train_task(model, datasets[1], profile, progress=False, hooks=method)
        assert report.compaction["chosen_fraction"] == (0.5 if tolerance > 0 else None)
        assert torch.equal(model.eval()(x, task_id=0), before)  # old task bitwise, penalty and compaction included
        assert all(torch.equal(a, b.norm.weight) for a, b in zip(old_scales, model.task_blocks(0)[0]))
        scales[sparsity, tolerance] = float(torch.cat([b.norm.weight.detach().abs()
                                                       for b in model.task_blocks(1)[0]]).mean())
    assert scales[0.5, -1.0] < scales[0.0, -1.0] - 0.01  # the penalty shrank the new task's scales


def test_a_negative_sparsity_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"sparsity = -0.1 \(a penalty weight ≥ 0\)"):
        TINY.replace(sparsity=-0.1)


class Batches:
    """A task's training batches, as ``recalibrate_norms`` reads them."""

    def __init__(self, *batches: torch.Tensor) -> None:
        self.batches = batches

    def train_batches(self, batch_size: int, epoch: int = 0):
        yield from ((x, torch.zeros(len(x), dtype=torch.long)) for x in self.batches)


@pytest.mark.parametrize("variant", VARIANTS)
def test_recalibration_moves_only_the_newest_tasks_statistics_to_the_batches_mean(variant):
    from synapticnet.methods.synapticnet import recalibrate_norms

    model = trained(variant)
    model.compact(*compaction_sizes(model, 0.5))
    old, weights = logits(model, 0), [p.detach().clone() for p in model.parameters()]
    a, b = images(7, 16), images(8, 16)
    recalibrate_norms(model, Batches(a, b, images(9)), batches=2)
    assert torch.equal(old, logits(model, 0))  # older tasks bitwise unchanged
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))  # statistics only
    first = model.convs[0].blocks[1]  # isolate: reads the image; reuse: the adapter reads task 0's frozen units too
    with torch.no_grad():
        def pre_norm(x):  # what the first conv block's BatchNorm normalises, for task 1
            old_part = model.convs[0].blocks[0](x) if first.adapter is not None else None
            if old_part is not None:
                return first.unit(torch.cat([first.adapter.eval()(old_part), x], dim=1))
            return first.unit(x)
        expected = (pre_norm(a).mean(dim=(0, 2, 3)) + pre_norm(b).mean(dim=(0, 2, 3))) / 2  # two batches, not three
    assert torch.allclose(first.norm.running_mean, expected, atol=1e-5)
    assert not model.training
