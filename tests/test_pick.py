"""Picking masks (``pick=True``): each new task reads older units through its own binary mask over their
frozen weights. The guarantees: old tasks stay bitwise unchanged with any optimiser, a task's outputs do not
change when a later task freezes its mask, masks are stored as one bit per weight, and they really pick."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.engine import make_optimizer
from synapticnet.experiments.front import MASK_BITS_PER_PARAMETER, ablations, comparisons, same_settings
from synapticnet.layers import pack_bits, unpack_bits
from synapticnet.methods.synapticnet import next_fraction
from synapticnet.profiles import SMOKE
from synapticnet.run import run_sequence

IMAGE = 8
SMALL = dict(in_channels=3, conv_channels=(4, 8), hidden=(16,), num_classes=5, image_size=IMAGE, dropout=0.0,
             pick=True)
OPTIMIZERS = {
    "sgd_nesterov_wd": lambda params: torch.optim.SGD(params, lr=0.5, momentum=0.9, nesterov=True, weight_decay=5e-4),
    "adam_wd": lambda params: torch.optim.Adam(params, lr=5e-2, weight_decay=1e-3),
}


def batch(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, IMAGE, IMAGE, generator=g), torch.randint(0, 5, (n,), generator=g)


def train(model: MultiTaskConvSynapticNet, task: int, opt: torch.optim.Optimizer, steps: int = 8) -> None:
    model.train()
    for step in range(steps):
        x, y = batch(100 * task + step)
        loss = F.cross_entropy(model(x, task_id=task), y)
        opt.zero_grad()
        loss.backward()
        model.apply_task_gradient_mask(task)
        opt.step()


@torch.no_grad()
def logits(model: MultiTaskConvSynapticNet, task: int) -> torch.Tensor:
    model.eval()
    return model(batch(-1, n=32)[0], task_id=task)


def views(model: MultiTaskConvSynapticNet, task: int):
    return [view for layer in model.task_layers if layer.pick for view in layer.picks[task]]


@pytest.mark.parametrize("size", [1, 7, 8, 9, 100])
def test_bits_pack_and_unpack_exactly(size):
    mask = torch.rand(size, 3, generator=torch.Generator().manual_seed(size)) > 0.5
    packed = pack_bits(mask)
    assert packed.dtype == torch.uint8 and packed.numel() == (mask.numel() + 7) // 8
    assert torch.equal(unpack_bits(packed, mask.shape), mask)


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_masks_leave_old_tasks_bitwise_and_pick_a_real_subset(make_opt):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    reference = {}
    for task in range(3):
        if task:
            before = {t: logits(model, t) for t in reference}
            model.grow(num_classes=5, grow_conv_channels=2, grow_hidden=4)
            for t, out in before.items():  # grow() freezes the newest task's masks: its outputs stay exactly
                assert torch.equal(logits(model, t), out), f"grow() changed task {t}"
            old_weights = [b.unit.weight.clone() for layer in model.task_layers for b in layer.blocks[:task]]
        # a fresh optimiser over *all* parameters, as a user would write it
        train(model, task, make_opt(model.parameters()))
        reference[task] = logits(model, task)
        for t in range(task):
            assert torch.equal(logits(model, t), reference[t]), f"training task {task} changed task {t}"
        if task:
            frozen = [b.unit.weight for layer in model.task_layers for b in layer.blocks[:task]]
            assert all(torch.equal(a, b) for a, b in zip(old_weights, frozen)), "an old weight moved"
            dropped = sum(int((v.scores <= 0).sum()) for v in views(model, task))
            assert 0 < dropped < model.num_mask_bits(task), "the masks picked nothing (or dropped everything)"


def test_masks_are_bits_not_parameters_and_survive_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    plain = MultiTaskConvSynapticNet(**{**SMALL, "pick": False})
    for m in (model, plain):
        m.grow(num_classes=5, grow_conv_channels=2, grow_hidden=4)
    train(model, 1, make_optimizer(model, SMOKE.replace(lr=0.5)))
    old_weights = sum(b.unit.weight.numel() for layer in model.task_layers for b in layer.blocks[:1])
    assert model.num_mask_bits() == model.num_mask_bits(1) == old_weights
    # what masks add as parameters is each view's own BatchNorm (conv layers): 2 per old unit
    own_norms = sum(2 * b.out_units for b in (conv.blocks[0] for conv in model.convs))
    assert model.num_parameters() == plain.num_parameters() + own_norms
    model.grow(num_classes=5, grow_conv_channels=2, grow_hidden=4)  # task 1's scores become bits
    assert all(v.scores is None and v.bits.dtype == torch.uint8 for v in views(model, 1))
    state = model.state_dict()
    assert not any(k.startswith("convs.0.picks.1") and k.endswith("scores") for k in state)
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = MultiTaskConvSynapticNet.load(path)
    for t in range(3):
        assert torch.equal(logits(loaded, t), logits(model, t))


def test_the_scores_learn_at_their_own_rate_without_weight_decay():
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=5)
    opt = make_optimizer(model, SMOKE.replace(pick=True, mode="reuse", pick_lr_factor=20.0))
    plain, scores = opt.param_groups
    assert scores["lr"] == pytest.approx(20.0 * SMOKE.lr) and scores["weight_decay"] == 0.0
    assert {id(p) for p in scores["params"]} == {id(v.scores) for v in views(model, 1)}
    assert plain["weight_decay"] == SMOKE.weight_decay


def test_masks_need_reuse_and_say_so_in_one_line():
    with pytest.raises(ValueError, match="pick=True needs mode='reuse'"):
        MultiTaskConvSynapticNet(**{**SMALL, "mode": "isolate"})
    with pytest.raises(ValueError, match="picking masks need mode='reuse'"):
        SMOKE.replace(pick=True, mode="isolate")
    with pytest.raises(ValueError, match="pick_lr_factor"):
        SMOKE.replace(pick_lr_factor=0.0)


def test_a_run_with_masks_never_forgets_and_reports_its_bits(tmp_path):
    profile = SMOKE.replace(n_train=200, val_size=40, epochs={"default": 1}, pick=True, dense_mode="isolate")
    results = run_sequence(["synthetic_mnist", "synthetic_cifar10"], profile, out_dir=tmp_path, progress=False)
    assert results["bwt"] == 0.0 and results["forgetting"] == 0.0
    old_conv_weights = sum(c * k for c, k in zip((3, *profile.conv_channels), profile.conv_channels)) * 9
    assert results["mask_bits_total"] == old_conv_weights  # conv layers only: the dense layers do not reuse


@pytest.mark.parametrize("passes, tried", [
    ({0.125: True, 0.25: True, 0.5: True}, [0.25, 0.125]),
    ({0.125: False, 0.25: True, 0.5: True}, [0.25, 0.125]),
    ({0.125: False, 0.25: False, 0.5: True}, [0.25, 0.5]),
    ({0.125: False, 0.25: False, 0.5: False}, [0.25, 0.5]),
])
def test_compaction_bisects_to_the_smallest_passing_fraction_in_two_retrains(passes, tried):
    seen: dict[float, bool] = {}
    while (f := next_fraction((0.5, 0.125, 0.25), seen)) is not None:
        seen[f] = passes[f]
    assert list(seen) == tried


def test_front_points_are_measured_again_when_their_rule_changes():
    current = dict(label="x", compaction=True, rule=dict(fractions=[0.25]), pick=False, pick_lr_factor=None)
    assert same_settings(dict(current), current)
    older = {k: v for k, v in current.items() if k not in ("pick", "pick_lr_factor")}  # before masks existed
    assert same_settings(older, current)
    assert not same_settings(dict(current, rule=dict(fractions=[0.5])), current)
    assert not same_settings({k: v for k, v in current.items() if k != "rule"}, current)  # the old short rule
    assert not same_settings(dict(older), dict(current, pick=True))


def test_mask_bits_count_against_the_parameter_ratio():
    runs = lambda params, bits: [dict(seed=s, avg_acc=80.0, params=params, mask_bits=bits) for s in range(5)]  # noqa
    entry = {"configs": [
        dict(label="separate ×1", family="separate", width=1.0, pooled_size=None, runs=runs(1000, 0)),
        dict(label="masks", family="synapticnet", width=1.0, pooled_size=None, runs=runs(300, 3200)),
    ]}
    (row,) = comparisons(entry)
    assert row["params_ratio"] == pytest.approx(0.3)
    assert row["params_ratio_with_masks"] == pytest.approx((300 + 3200 / MASK_BITS_PER_PARAMETER) / 1000)


def test_each_option_is_compared_with_its_twin_without_it():
    runs = lambda acc, params, secs: [dict(seed=s, avg_acc=acc + s, params=params, train_seconds=secs)  # noqa: E731
                                      for s in range(5)]
    common = dict(family="synapticnet", width=1.0, growth=0.25, mode="reuse", dense_mode="isolate", pooled_size=None)
    entry = {"configs": [
        dict(label="plain", **common, pick=False, runs=runs(80.0, 1000, 10.0)),
        dict(label="masked", **common, pick=True, pick_lr_factor=10.0, runs=runs(81.5, 1100, 15.0)),
        dict(label="wider", **dict(common, growth=0.5), pick=True, runs=runs(90.0, 2000, 10.0)),  # no twin
    ]}
    (row,) = ablations(entry)
    assert (row["option"], row["config"], row["without"]) == ("pick", "masked", "plain")
    assert row["difference"]["mean"] == pytest.approx(1.5) and row["difference"]["n"] == 5
    assert row["params_ratio"] == pytest.approx(1.1) and row["time_ratio"] == pytest.approx(1.5)
