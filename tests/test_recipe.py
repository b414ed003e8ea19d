"""The per-task training recipe (issue 21): every piece on its own, small and deterministic.

Stages of two convolutions (``pool_after``), augmentation (flip + shift), the warm-up then
linear-decay schedule, the per-task weight average, test-time flip averaging, and the
one place a profile turns into dataset options. Zero forgetting must survive all of them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synapticnet import MultiTaskConvSynapticNet
from synapticnet.data import TaskDataset, augment_batch, describe, erase_batch, make_synthetic
from synapticnet.engine import Lookahead, WeightAverage, evaluate, logits, lr_factor, to_device, train_task
from synapticnet.methods import MultiHeadCNN, get_method
from synapticnet.profiles import CPU, PROFILES, SMOKE, Profile
from synapticnet.identity_init import identity_init_task
from synapticnet.whitening import whiten_task

IMAGE = 8
STAGES = dict(in_channels=3, conv_channels=(4, 4, 8, 8), pool_after=(0, 2), hidden=(16,), num_classes=5,
              image_size=IMAGE, dropout=0.0)


def images(seed: int, n: int = 6, size: int = IMAGE) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---- architecture -------------------------------------------------------------------------
def test_two_conv_stages_pool_only_where_asked_and_match_the_plain_network():
    model = MultiTaskConvSynapticNet(**STAGES)
    assert model.spatial == IMAGE // 4  # two pools, not four
    reference = MultiHeadCNN((4, 4, 8, 8), (16,), (5,), 0.0, 3, IMAGE, pool_after=(0, 2))
    assert model.num_parameters() == reference.num_parameters()  # same layers, same count
    # the same weights give the same outputs: the gated network *is* the plain one for task 0
    with torch.no_grad():
        convs = [m for m in reference.body if isinstance(m, torch.nn.Conv2d)]
        norms = [m for m in reference.body if isinstance(m, torch.nn.BatchNorm2d)]
        for layer, conv, bn in zip(model.convs, convs, norms):
            conv.weight.copy_(layer.blocks[0].unit.weight)
            bn.weight.copy_(layer.blocks[0].norm.weight)
            bn.bias.copy_(layer.blocks[0].norm.bias)
        linear = [m for m in reference.body if isinstance(m, torch.nn.Linear)][0]
        linear.load_state_dict(model.dense[0].blocks[0].unit.state_dict())
        reference.heads[0].load_state_dict(model.heads[0].state_dict())
    x = images(1)
    torch.testing.assert_close(model.eval()(x, task_id=0), reference.eval()(x, 0))


def test_pool_after_is_checked_and_survives_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        MultiTaskConvSynapticNet(**{**STAGES, "pool_after": (0, 9)})
    with pytest.raises(ValueError, match="divisible"):
        MultiTaskConvSynapticNet(**{**STAGES, "image_size": 6})
    model = MultiTaskConvSynapticNet(**STAGES)
    model.grow(num_classes=3, grow_conv_channels=2, grow_hidden=4)
    model.save(tmp_path / "m.pt")
    again = MultiTaskConvSynapticNet.load(tmp_path / "m.pt")
    assert again.pools == model.pools == {0, 2}
    x = images(2)
    torch.testing.assert_close(again.eval()(x, task_id=1), model.eval()(x, task_id=1), rtol=0, atol=0)


# ---- augmentation -------------------------------------------------------------------------
def test_augmentation_keeps_shapes_and_is_deterministic_per_seed():
    batch = torch.randint(0, 256, (16, 3, 10, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a = augment_batch(batch, torch.Generator().manual_seed(5), padding=2, flip=True)
    b = augment_batch(batch, torch.Generator().manual_seed(5), padding=2, flip=True)
    c = augment_batch(batch, torch.Generator().manual_seed(6), padding=2, flip=True)
    assert a.shape == batch.shape and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_without_flip_every_augmented_image_is_a_shift_of_the_original():
    batch = torch.randint(1, 256, (32, 1, 9, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = augment_batch(batch, torch.Generator().manual_seed(2), padding=2, flip=False)
    padded = torch.nn.functional.pad(batch, (2, 2, 2, 2))
    for img, aug in zip(padded, out):  # the output is one of the 25 crops of the padded image, never mirrored
        crops = [img[:, dy:dy + 9, dx:dx + 9] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(aug, crop) for crop in crops)


def test_alternating_flips_mirror_each_image_in_exactly_one_of_two_epochs():
    arrays = make_synthetic(4, 8, 3, 64, 16, seed=3)
    ds = TaskDataset(arrays, 0, image_size=8, seed=4, name="s", val_size=0, crop_padding=0, alternate_flips=True)
    raw = ds._x["train"]  # the uint8 training images, in order
    flipped = {}
    for epoch in (0, 1, 2):
        order = []
        for x, _ in ds.train_batches(16, epoch=epoch):
            order.append(x)
        x = torch.cat(order)
        plain, mirror = ds._finish(raw), ds._finish(raw.flip(3))
        # every batch image is one training image, plain or mirrored: find which, and how
        is_mirror = (x[:, None] == mirror[None]).flatten(2).all(2).any(1)
        is_plain = (x[:, None] == plain[None]).flatten(2).all(2).any(1)
        assert bool((is_mirror | is_plain).all())
        match = (x[:, None] == torch.where(is_mirror[:, None, None, None, None], mirror[None], plain[None])
                 ).flatten(2).all(2).float().argmax(1)
        flipped[epoch] = torch.zeros(ds.n_train, dtype=torch.bool).index_put_((match,), is_mirror & ~is_plain)
    assert 0.3 < flipped[0].float().mean() < 0.7  # a random half in epoch 0
    assert bool((flipped[0] ^ flipped[1]).all())  # epoch 1 mirrors exactly the others
    assert torch.equal(flipped[0], flipped[2])
    assert "horizontal flip (alternating by epoch)" in describe(ds)
    with pytest.raises(ValueError, match="one boolean per image"):
        augment_batch(raw[:4], torch.Generator(), padding=0, flipped=torch.zeros(3, dtype=torch.bool))


def test_random_erasing_sets_one_rectangle_of_the_right_size_per_chosen_image_and_nothing_else():
    x = torch.randn(400, 3, 16, 16, generator=torch.Generator().manual_seed(0)) + 10  # no pixel is near -1
    before = x.clone()
    out = erase_batch(x, torch.Generator().manual_seed(1), p=0.5, value=-1.0)
    assert torch.equal(out, erase_batch(x, torch.Generator().manual_seed(1), p=0.5, value=-1.0))  # seeded
    assert torch.equal(x, before) and out.shape == x.shape and not torch.equal(out, x)  # a new tensor
    hit = out == -1.0
    assert torch.equal(out[~hit], x[~hit])  # every other pixel untouched
    erased = hit.flatten(1).any(1)
    assert 0.4 < erased.float().mean() < 0.6  # about half the images, as p asks
    areas = []
    for mask in hit[erased]:
        assert torch.equal(mask[0], mask[1]) and torch.equal(mask[0], mask[2])  # all channels alike
        rows, cols = mask[0].any(1).nonzero().flatten(), mask[0].any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert mask[0].sum() == h * w and rows[-1] - rows[0] == h - 1 and cols[-1] - cols[0] == w - 1  # a rectangle
        assert h * w <= 0.4 * 256 + 16  # at most 40 % of the area, up to rounding of each side
        areas.append(h * w / 256)
    assert 0.16 < sum(areas) / len(areas) < 0.26  # uniform between 2 and 40 %: 21 % on average
    assert torch.equal(erase_batch(x, torch.Generator(), p=0.0), x)
    with pytest.raises(ValueError, match="probability"):
        erase_batch(x, torch.Generator(), p=1.5)


def test_a_dataset_with_random_erasing_differs_only_by_the_erased_rectangles_and_without_it_is_unchanged():
    arrays = make_synthetic(4, 8, 3, 64, 16, seed=3)
    options = dict(image_size=8, seed=4, name="s", val_size=0, crop_padding=1)
    plain = next(TaskDataset(arrays, 0, **options).train_batches(64))[0]
    assert torch.equal(plain, next(TaskDataset(arrays, 0, random_erasing=0.0, **options).train_batches(64))[0])
    ds = TaskDataset(arrays, 0, random_erasing=1.0, **options)
    erased = next(ds.train_batches(64))[0]  # the first batch: the same shifts and flips, drawn before the erasing
    changed = erased != plain
    assert changed.flatten(1).any(1).all()  # every image lost a rectangle (p = 1) ...
    assert (erased[changed] == 0).all()  # ... set to the training mean, which is 0 once normalised
    assert "random erasing (p = 1)" in describe(ds)
    assert torch.equal(next(ds.eval_batches("train", 64))[0], ds.tensors("train")[0][:64])  # evaluation is not erased
    with pytest.raises(ValueError, match="random_erasing"):
        TaskDataset(arrays, 0, random_erasing=2, **options)


def test_profile_erases_only_the_families_whose_augmentation_says_erase():
    profile = CPU.replace(augmentation={"default": "flip+translate", "fashion_mnist": "flip+erase"})
    assert profile.data_options("fashion_mnist")["random_erasing"] == 0.5
    assert profile.data_options("fashion_mnist")["flip"] and profile.data_options("fashion_mnist")["augment"]
    assert profile.data_options("cifar10")["random_erasing"] == 0.0
    with pytest.raises(ValueError, match="augmentation"):
        CPU.replace(augmentation={"default": "erase+flip"})


def test_profile_passes_alternating_flips_and_test_shifts_to_shift_trained_tasks_only():
    profile = CPU.replace(augmentation={"default": "flip+translate", "fashion_mnist": "flip"}, test_shift=1,
                          alternate_flips=True)
    assert profile.data_options("cifar10")["test_shift"] == 1
    assert profile.data_options("fashion_mnist")["test_shift"] == 0  # never trained on shifted images
    assert profile.data_options("cifar10")["alternate_flips"] is True
    for bad in (dict(test_shift=-1), dict(test_shift=True), dict(alternate_flips=1), dict(lookahead=1.0)):
        with pytest.raises(ValueError):
            CPU.replace(**bad)


def grey_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    return make_synthetic(4, 12, 1, 80, 20, seed=seed)


def test_profile_turns_augmentation_by_family_into_dataset_options():
    profile = CPU.replace(augmentation={"default": "flip+translate", "mnist": "translate"}, crop_padding=2,
                          test_flip=True, image_size=16)  # the input shape is a data option too
    digits, clothes = profile.data_options("mnist"), profile.data_options("fashion_mnist")
    assert (digits["augment"], digits["flip"], digits["crop_padding"], digits["test_flip"]) == (True, False, 2, False)
    assert (clothes["augment"], clothes["flip"], clothes["crop_padding"], clothes["test_flip"]) == (True, True, 2, True)
    none = profile.replace(augmentation={"default": "none"}).data_options("cifar10")
    assert not none["augment"] and not none["test_flip"]
    with pytest.raises(ValueError, match="augmentation"):
        CPU.replace(augmentation={"default": "rotate"})
    ds = TaskDataset(grey_arrays(), 0, seed=0, name="mnist_like", **digits)
    assert (ds.image_size, ds.channels) == (16, 3)
    assert ds.augment and not ds.flip  # grey images are augmented too, but never mirrored


def test_every_profile_is_valid_and_the_same_recipe_reaches_the_baselines():
    for profile in PROFILES.values():
        assert isinstance(profile, Profile)
        assert profile.augmentation_for("cifar10") in ("flip", "flip+translate", "none", "translate")  # no erasing
    # the shared network of the baselines has SynapticNet's layers (pooling included)
    method = get_method("finetune")(SMOKE.replace(conv_channels=(4, 4), pool_after=(0,), hidden=(8,),
                                                  growth={"default": ((2, 2), (4,))}), "cpu")
    net = method.build(["synthetic_mnist", "synthetic_cifar10"], 10)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.body) == 1


# ---- schedule -------------------------------------------------------------------------------
def test_learning_rate_warms_up_linearly_then_decays_linearly_to_near_zero():
    total = 100
    factors = [lr_factor(s, total, 0.2) for s in range(total)]
    assert factors[0] == pytest.approx(1 / 20) and factors[19] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:20], factors[1:20]))  # warm-up: rising
    assert all(a > b for a, b in zip(factors[19:], factors[20:]))  # decay: falling
    assert 0 < factors[-1] <= 1 / 80
    assert [lr_factor(s, 5, 0.2) for s in range(5)] == [1.0] * 5  # too short for a schedule
    assert [lr_factor(s, total, 0.0, decay=False) for s in range(total)] == [1.0] * total  # constant (GPM)


# ---- weight averaging -----------------------------------------------------------------------
def test_weight_average_is_a_running_mean_of_the_trainable_weights_only():
    layer = torch.nn.Linear(2, 2)
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    model = torch.nn.Sequential(layer, frozen)
    before = frozen.weight.clone()
    average = WeightAverage(model, decay=0.5)
    start = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(1.0)
    average.update()  # step 1: weight 1 - min(0.5, 2/11) = 9/11 on the new value
    torch.testing.assert_close(average.pairs[0][1], start + 9 / 11)
    average.apply()
    torch.testing.assert_close(layer.weight, start + 9 / 11)
    assert len(average.pairs) == 2 and torch.equal(frozen.weight, before)  # weight + bias of layer only


def test_averaged_weights_are_what_the_task_keeps_and_are_frozen_with_it():
    """A task ends with its averaged weights; after grow() it never changes again, bit for bit."""
    arrays = make_synthetic(3, 8, 3, 120, 30, seed=1)
    profile = SMOKE.replace(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), epochs={"default": 2},
                            batch_size=16, weight_average=0.9, growth={"default": ((2, 2), (4,))})
    data = [TaskDataset(arrays, t, image_size=8, seed=t, name=f"t{t}", val_size=10) for t in range(2)]
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), num_classes=3,
                                     image_size=8, dropout=0.0)
    method = get_method("synapticnet")(profile, "cpu")
    # the last SGD iterate differs from what the task keeps: the average was applied
    seen = {}
    original_apply = WeightAverage.apply

    def spy(self):
        seen["last_iterate"] = self.pairs[0][0].detach().clone()
        original_apply(self)
    WeightAverage.apply = spy
    try:
        train_task(model, data[0], profile, hooks=method, progress=False)
    finally:
        WeightAverage.apply = original_apply
    kept = model.convs[0].blocks[0].unit.weight.detach().clone()
    assert not torch.equal(seen["last_iterate"], kept)
    x = images(3, size=8)
    before = model.eval()(x, task_id=0).detach().clone()
    model.grow(num_classes=3, grow_conv_channels=(2, 2), grow_hidden=(4,))
    train_task(model, data[1], profile, hooks=method, progress=False)
    assert torch.equal(model.convs[0].blocks[0].unit.weight, kept)
    assert torch.equal(model.eval()(x, task_id=0), before)  # zero forgetting, averaging included


# ---- evaluation ------------------------------------------------------------------------------
class PixelClassifier(torch.nn.Module):
    """A linear classifier on raw pixels: not mirror-symmetric, so a flip changes many of its answers."""

    def __init__(self, classes: int, size: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(classes, 3 * size * size, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T


def test_flip_averaged_evaluation_is_the_mean_of_two_passes():
    model = PixelClassifier(5, 8).eval()
    x = images(4)
    with torch.no_grad():
        both = logits(model, x, 0, test_flip=True)
        torch.testing.assert_close(both, (model(x, task_id=0) + model(x.flip(3), task_id=0)) / 2)
        assert torch.equal(logits(model, x, 0, test_flip=False), model(x, task_id=0))
    arrays = make_synthetic(5, 8, 3, 60, 40, seed=2)
    plain = TaskDataset(arrays, 0, image_size=8, seed=0, name="s", val_size=0)
    flipped = TaskDataset(arrays, 0, image_size=8, seed=0, name="s", val_size=0, test_flip=True)
    xs, ys = plain.tensors("test")
    with torch.no_grad():
        a, b = model(xs, task_id=0), model(xs.flip(3), task_id=0)
        averaged = ((a + b) / 2).argmax(1)
        assert (a.argmax(1) != averaged).sum() >= 10  # the mirror image changes many answers
        # far from ties: no rounding of any CPU can move an answer
        top2 = ((a + b) / 2).topk(2, dim=1).values
        assert (top2[:, 0] - top2[:, 1]).min() > 1e-3
    assert evaluate(model, flipped) == averaged.eq(ys).sum().item() / len(ys)
    assert evaluate(model, plain) == a.argmax(1).eq(ys).sum().item() / len(ys)


def test_shift_averaged_evaluation_weighs_the_moved_images_half():
    model = PixelClassifier(5, 8).eval()
    x = images(5)
    pad = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    down, up = pad[..., :8, :8], pad[..., 2:, 2:]
    with torch.no_grad():
        mirrored = [(model(v, task_id=0) + model(v.flip(3), task_id=0)) / 2 for v in (x, down, up)]
        expected = mirrored[0] / 2 + (mirrored[1] + mirrored[2]) / 4
        torch.testing.assert_close(logits(model, x, 0, test_flip=True, test_shift=1), expected)
        plain = model(x, task_id=0) / 2 + (model(down, task_id=0) + model(up, task_id=0)) / 4
        torch.testing.assert_close(logits(model, x, 0, test_flip=False, test_shift=1), plain)
        assert not torch.allclose(expected, logits(model, x, 0, test_flip=True), atol=1e-2)  # the shift matters
    arrays = make_synthetic(5, 8, 3, 60, 40, seed=2)
    shifted = TaskDataset(arrays, 0, image_size=8, seed=0, name="s", val_size=0, test_flip=True, test_shift=1)
    xs, ys = shifted.tensors("test")
    with torch.no_grad():
        answers = logits(model, xs, 0, test_flip=True, test_shift=1)
    assert evaluate(model, shifted) == answers.argmax(1).eq(ys).sum().item() / len(ys)


def test_lookahead_pulls_the_weights_back_late_in_the_task_and_never_touches_frozen_ones():
    layer = torch.nn.Linear(3, 2)
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    model = torch.nn.Sequential(layer, frozen)
    before = frozen.weight.clone()
    look = Lookahead(model, decay=0.5, total=10)
    slow = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(1.0)
    look.update(4)  # not a multiple of 5: nothing happens
    torch.testing.assert_close(layer.weight, slow + 1.0)
    look.update(5)  # d = 0.5 · (5/10)³ = 1/16: slow ← slow + 15/16 · (fast − slow), and fast ← slow
    torch.testing.assert_close(layer.weight, slow + 15 / 16)
    with torch.no_grad():
        layer.weight.add_(1.0)
    look.apply()  # the end: the network takes the slow weights, not its last iterate
    torch.testing.assert_close(layer.weight, slow + 15 / 16)
    assert torch.equal(frozen.weight, before)


def test_a_task_trained_with_lookahead_ends_on_slow_weights_and_stays_frozen():
    arrays = make_synthetic(3, 8, 3, 120, 30, seed=1)
    base = SMOKE.replace(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), epochs={"default": 2},
                         batch_size=16, growth={"default": ((2, 2), (4,))})
    data = [TaskDataset(arrays, t, image_size=8, seed=t, name=f"t{t}", val_size=10) for t in range(2)]
    kept = {}
    for decay in (0.0, 0.77):
        torch.manual_seed(0)
        model = MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), num_classes=3,
                                         image_size=8, dropout=0.0)
        method = get_method("synapticnet")(base.replace(lookahead=decay), "cpu")
        train_task(model, data[0], base.replace(lookahead=decay), hooks=method, progress=False)
        kept[decay] = model.convs[0].blocks[0].unit.weight.detach().clone()
    assert not torch.equal(kept[0.0], kept[0.77])  # Lookahead changed what the task keeps
    x = images(3, size=8)
    before = model.eval()(x, task_id=0).detach().clone()
    model.grow(num_classes=3, grow_conv_channels=(2, 2), grow_hidden=(4,))
    train_task(model, data[1], base.replace(lookahead=0.77), hooks=method, progress=False)
    assert torch.equal(model.convs[0].blocks[0].unit.weight, kept[0.77])
    assert torch.equal(model.eval()(x, task_id=0), before)  # zero forgetting, Lookahead included


def test_batches_enter_the_network_in_channels_last_layout_with_the_same_result():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**STAGES).eval()
    x = images(5)
    fast = to_device(x, "cpu")
    assert fast.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(model(fast, task_id=0), model(x, task_id=0), rtol=1e-4, atol=1e-5)


# ---- mixed precision -------------------------------------------------------------------------
def test_precision_setting_chooses_the_training_dtype():
    from synapticnet.engine import native_bfloat16, training_dtype

    assert training_dtype(SMOKE, "cpu") is None  # float32: no autocast
    assert training_dtype(SMOKE.replace(precision="bfloat16"), "cpu") is torch.bfloat16
    auto = training_dtype(SMOKE.replace(precision="auto"), "cpu")
    assert auto is (torch.bfloat16 if native_bfloat16("cpu") else None)
    with pytest.raises(ValueError, match="precision"):
        SMOKE.replace(precision="float16")


def test_mixed_precision_training_learns_and_keeps_old_tasks_bitwise():
    """bfloat16 autocast (emulated where the CPU lacks it: slow, but the same arithmetic) changes how a task
    trains, never a frozen one: weights stay float32 and only the newest task's get gradients."""
    arrays = make_synthetic(3, 8, 3, 120, 30, seed=1)
    profile = SMOKE.replace(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), epochs={"default": 3},
                            batch_size=16, precision="bfloat16", growth={"default": ((2, 2), (4,))})
    data = [TaskDataset(arrays, t, image_size=8, seed=t, name=f"t{t}", val_size=10) for t in range(2)]
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), num_classes=3,
                                     image_size=8, dropout=0.0)
    method = get_method("synapticnet")(profile, "cpu")
    start = model.convs[0].blocks[0].unit.weight.detach().clone()
    train_task(model, data[0], profile, hooks=method, progress=False)
    assert model.convs[0].blocks[0].unit.weight.dtype == torch.float32
    assert not torch.equal(model.convs[0].blocks[0].unit.weight, start)  # it trained
    x = images(7, size=8)
    before = model.eval()(x, task_id=0).detach().clone()
    model.grow(num_classes=3, grow_conv_channels=(2, 2), grow_hidden=(4,))
    train_task(model, data[1], profile, hooks=method, progress=False)
    assert torch.equal(model.eval()(x, task_id=0), before)


def test_batch_norm_without_learned_scale_keeps_every_gamma_at_one_while_the_shifts_learn():
    arrays = make_synthetic(3, 8, 3, 120, 30, seed=1)
    profile = SMOKE.replace(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), epochs={"default": 1},
                            batch_size=16, batch_norm_scale=False)
    data = TaskDataset(arrays, 0, image_size=8, seed=0, name="t0", val_size=10)
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), num_classes=3,
                                     image_size=8, dropout=0.0)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine]
    shifts = [m.bias.detach().clone() for m in norms]
    train_task(model, data, profile, hooks=get_method("synapticnet")(profile, "cpu"), progress=False)
    assert norms and all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    assert any(not torch.equal(m.bias, b) for m, b in zip(norms, shifts))  # β still learns
    with pytest.raises(ValueError, match="batch_norm_scale"):
        SMOKE.replace(batch_norm_scale="no")


def correlated_images(n: int, channels: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    """Smooth random images: neighbouring pixels and channels strongly correlated, as in photographs."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.avg_pool2d(torch.randn(n, 1, size + 2, size + 2, generator=g), 3, 1)
    return base.expand(-1, channels, -1, -1) + 0.3 * torch.randn(n, channels, size, size, generator=g)


def test_whitening_filters_decorrelate_the_patches_of_the_images_they_came_from():
    x = correlated_images(200)
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), image_size=8, mode="isolate",
                                     whiten=True)
    whiten_task(model, x)
    weight = model.whitening.blocks[0].unit.weight
    half = weight.shape[0] // 2
    assert weight.shape == (24, 3, 2, 2) and torch.equal(weight[half:], -weight[:half])  # +v and −v
    y = torch.nn.functional.conv2d(x, weight[:half])  # every 2×2 patch, no padding
    y = y.permute(1, 0, 2, 3).reshape(half, -1).double()
    moment = y @ y.T / y.shape[1]
    assert torch.allclose(moment, torch.eye(half, dtype=moment.dtype), atol=0.02)  # uncorrelated, unit variance
    # Before whitening the patches were far from it: neighbouring pixels are strongly correlated.
    patches = x.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    assert (patches.T @ patches / len(patches) - torch.eye(12, dtype=torch.float64)).abs().max() > 0.5


def test_grey_images_get_whitening_filters_only_along_directions_they_vary_in():
    grey = correlated_images(100, channels=1).expand(-1, 3, -1, -1).contiguous()  # one image in three channels
    model = MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), image_size=8, mode="isolate",
                                     whiten=True)
    whiten_task(model, grey)
    nonzero = model.whitening.blocks[0].unit.weight.flatten(1).abs().sum(1) > 0
    assert int(nonzero.sum()) == 8  # 4 grey 2×2 directions, ±; the 8 colour directions the images lack are zero


def test_whitening_is_each_tasks_own_never_trains_and_keeps_old_tasks_bitwise(tmp_path):
    arrays = make_synthetic(3, 8, 3, 120, 30, seed=1)
    profile = SMOKE.replace(conv_channels=(4, 4), pool_after=(0,), hidden=(8,), epochs={"default": 1}, mode="isolate",
                            batch_size=16, growth={"default": ((4, 4), (8,))}, whiten=True, image_size=8)
    data = [TaskDataset(arrays, t, image_size=8, seed=t, name=f"t{t}", val_size=10) for t in range(2)]
    method = get_method("synapticnet")(profile, "cpu")
    torch.manual_seed(0)
    model = method.build(["t0", "t1"], 3)
    method.before_task(model, data, 0)
    whitened = model.whitening.blocks[0].unit.weight.clone()
    bias = model.whitening.blocks[0].unit.bias.detach().clone()
    train_task(model, data[0], profile, hooks=method, progress=False)
    assert torch.equal(model.whitening.blocks[0].unit.weight, whitened)  # the filters never train ...
    assert not torch.equal(model.whitening.blocks[0].unit.bias, bias)  # ... the biases do
    x = images(3, size=8)
    before = model.eval()(x, task_id=0).detach().clone()
    method.next_task(model, data[1])
    method.before_task(model, data, 1)
    assert not torch.equal(model.whitening.blocks[1].unit.weight, whitened)  # task 1's own images, its own filters
    train_task(model, data[1], profile, hooks=method, progress=False)
    assert torch.equal(model.eval()(x, task_id=0), before)  # zero forgetting, whitening included
    assert model.num_parameters(0) == model.parameters_per_task()[0]  # a column counts its own whitening
    model.save(tmp_path / "m.pt")
    loaded = MultiTaskConvSynapticNet.load(tmp_path / "m.pt")
    assert torch.equal(loaded.eval()(x, task_id=1), model(x, task_id=1))
    assert not any(b.unit.weight.requires_grad for b in loaded.whitening.blocks)


def test_whitening_is_refused_where_a_task_would_not_have_its_own_column():
    with pytest.raises(ValueError, match="whiten"):
        SMOKE.replace(mode="reuse", whiten=True)
    with pytest.raises(ValueError, match="whiten"):
        MultiTaskConvSynapticNet(conv_channels=(4, 4), pool_after=(1,), image_size=8, mode="isolate", whiten=True)
    with pytest.raises(ValueError, match="whitening"):
        get_method("finetune")(SMOKE.replace(mode="isolate", whiten=True), "cpu")
    with pytest.raises(ValueError, match="no whitening layer"):
        whiten_task(MultiTaskConvSynapticNet(**STAGES), images(0))


def test_identity_init_makes_a_new_columns_first_filters_copy_their_inputs_and_spares_old_tasks():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(in_channels=3, conv_channels=(4, 6, 5, 3), pool_after=(1,), hidden=(8,),
                                     num_classes=3, image_size=IMAGE, dropout=0.0, mode="reuse")
    x = images(4)
    assert identity_init_task(model) == 3 + 4 + 5 + 3  # min(filters, own inputs) per layer
    conv = model.convs[0].blocks[0].unit
    assert torch.equal(conv(x)[:, :3], x)  # the first filters pass the image through (no conv bias: BatchNorm)
    assert not torch.equal(conv(x)[:, 3], torch.zeros_like(x[:, 0]))  # the others stay random
    model.eval()
    before = model(x, task_id=0).detach().clone()
    frozen = [b.unit.weight.clone() for b in (c.blocks[0] for c in model.convs)]
    model.grow(num_classes=3, grow_conv_channels=(2, 3, 4, 5), grow_hidden=(4,))
    identity_init_task(model)
    assert all(torch.equal(c.blocks[0].unit.weight, w) for c, w in zip(model.convs, frozen))
    assert torch.equal(model(x, task_id=0), before)
    block = model.convs[1].blocks[1]  # task 1 reads task 0's 4 frozen channels, then its own 2
    w = block.unit.weight
    assert torch.equal(w[:2, :4], torch.zeros_like(w[:2, :4]))  # identity filters read nothing old
    maps = torch.randn(2, 6, IMAGE, IMAGE)
    assert torch.allclose(torch.nn.functional.conv2d(maps, w, padding=1)[:, :2], maps[:, 4:])
    with pytest.raises(ValueError, match="needs a network with task convolutions"):
        identity_init_task(MultiTaskConvSynapticNet(conv_channels=(), hidden=(8,), num_classes=3, image_size=IMAGE))
    # the references start the same way: the baselines' shared network and every separate network
    profile = SMOKE.replace(conv_channels=(4, 6), pool_after=(0,), hidden=(8,), identity_init=True, image_size=IMAGE)
    for name in ("ewc", "separate"):
        net = get_method(name)(profile, "cpu").build(["t0", "t1"], 3)
        first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        assert torch.equal(first(x)[:, :3], x), name
    with pytest.raises(ValueError, match="identity_init"):
        SMOKE.replace(identity_init=1)
    with pytest.raises(ValueError, match="identity_init = True without conv_channels"):
        SMOKE.replace(identity_init=True, conv_channels=(), growth={"default": ((), (8,))})


def test_batch_norm_shifts_get_their_own_learning_rate_but_the_same_decay_per_step():
    from synapticnet.engine import make_optimizer
    model = MultiTaskConvSynapticNet(**STAGES)
    profile = SMOKE.replace(lr=0.2, weight_decay=1e-3, norm_bias_lr=64.0)
    groups = make_optimizer(model, profile).param_groups
    shifts = {id(m.bias) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine}
    assert len(groups) == 2 and {id(p) for p in groups[1]["params"]} == shifts
    assert groups[1]["lr"] == pytest.approx(0.2 * 64) and groups[1]["lr"] * groups[1]["weight_decay"] == \
        pytest.approx(groups[0]["lr"] * groups[0]["weight_decay"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(make_optimizer(model, profile.replace(norm_bias_lr=1.0)).param_groups) == 1  # the default: one group
    with pytest.raises(ValueError, match="norm_bias_lr"):
        SMOKE.replace(norm_bias_lr=0)
