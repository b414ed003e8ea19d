"""The guarantee that defines SynapticNet: training a new task never changes an old one.

Small networks and random tensors keep these tests fast; every check is bitwise
(`torch.equal`), not approximate.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from synapticnet import MultiTaskConvSynapticNet, TaskConv2d, TaskLinear
from synapticnet import task_inference as ti

IMAGE = 8
SMALL = dict(in_channels=3, conv_channels=(4, 8), hidden=(16,), num_classes=10, image_size=IMAGE, dropout=0.3)

OPTIMIZERS = {
    "sgd_nesterov_wd": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-2),
    "adamw_wd": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-2),
    "rmsprop": lambda params: torch.optim.RMSprop(params, lr=1e-3),
}


def batch(seed: int, classes: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, IMAGE, IMAGE, generator=g), torch.randint(0, classes, (n,), generator=g)


def train(model: MultiTaskConvSynapticNet, task: int, opt: torch.optim.Optimizer, steps: int = 5) -> None:
    """The plain loop from the issue, in train mode (dropout and BatchNorm active)."""
    model.train()
    classes = model.num_classes(task)
    for step in range(steps):
        x, y = batch(1000 * task + step, classes)
        loss = F.cross_entropy(model(x, task_id=task), y)
        opt.zero_grad()
        loss.backward()
        model.apply_task_gradient_mask(task)
        opt.step()


@torch.no_grad()
def eval_logits(model: MultiTaskConvSynapticNet, task: int) -> torch.Tensor:
    model.eval()
    return model(batch(-1 - task, 1, n=32)[0], task_id=task)


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
@pytest.mark.parametrize("mode", ["reuse", "isolate"])
def test_training_later_tasks_leaves_old_logits_bitwise_identical(make_opt, mode):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL, mode=mode)
    class_counts = [10, 100, 10, 100]
    reference: dict[int, torch.Tensor] = {}
    for task, classes in enumerate(class_counts):
        if task:
            before_grow = {t: eval_logits(model, t) for t in reference}
            assert model.grow(num_classes=classes, grow_conv_channels=(2, 3), grow_hidden=5) == task
            for t, logits in before_grow.items():
                assert torch.equal(eval_logits(model, t), logits), f"grow() changed task {t}"
        untrained = eval_logits(model, task)
        # A fresh optimiser over *all* parameters, frozen ones included, as a user would write it.
        train(model, task, make_opt(model.parameters()))
        assert not torch.equal(eval_logits(model, task), untrained), "the new task did not learn"
        reference[task] = eval_logits(model, task)
        for t in range(task):
            assert torch.equal(eval_logits(model, t), reference[t]), f"training task {task} changed task {t}"
    assert model.num_tasks == 4


@pytest.mark.parametrize("mode", ["reuse", "isolate"])
def test_without_batchnorm_convolutions_have_a_bias_and_old_tasks_stay_bitwise_identical(mode, tmp_path: Path):
    """batch_norm=False (the original design's convolutions): no BatchNorm anywhere, a bias per filter instead;
    freezing stays exact under Adam, and a checkpoint rebuilds the same network."""
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL, mode=mode, batch_norm=False)
    blocks = [block for conv in model.convs for block in conv.blocks]
    assert all(block.norm is None and block.unit.bias is not None for block in blocks)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and m.affine for m in model.modules())
    train(model, 0, OPTIMIZERS["adam"](model.parameters()))
    reference = eval_logits(model, 0)
    model.grow(num_classes=10, grow_conv_channels=(2, 3), grow_hidden=5)
    untrained = eval_logits(model, 1)
    train(model, 1, OPTIMIZERS["adam"](model.parameters()))
    assert not torch.equal(eval_logits(model, 1), untrained)
    assert torch.equal(eval_logits(model, 0), reference)
    model.save(tmp_path / "model.pt")
    again = MultiTaskConvSynapticNet.load(tmp_path / "model.pt")
    assert again.config["batch_norm"] is False
    assert torch.equal(eval_logits(again, 0), reference) and torch.equal(eval_logits(again, 1), eval_logits(model, 1))
    with pytest.raises(ValueError, match="batch_norm must be True or False"):
        MultiTaskConvSynapticNet(**SMALL, batch_norm="no")


def test_one_optimizer_with_momentum_state_for_old_weights_does_not_move_them():
    """Even an optimiser that still holds momentum for old weights leaves them alone."""
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    train(model, 0, opt)
    reference = eval_logits(model, 0)
    frozen = {name: p.clone() for name, p in model.named_parameters()}
    for _ in range(3):
        task = model.grow(num_classes=10)
        opt.add_param_group({"params": model.task_parameters(task)})
        train(model, task, opt)
    assert torch.equal(eval_logits(model, 0), reference)
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name


def test_frozen_batchnorm_statistics_do_not_drift_in_train_mode():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    train(model, 0, OPTIMIZERS["adam"](model.parameters()))
    stats = [b.norm.running_mean.clone() for b in (c.blocks[0] for c in model.convs)]
    model.grow(num_classes=10)
    model.train()
    for seed in range(3):  # forward passes of the new task *and* the old one in train mode
        model(batch(seed, 10)[0] * 5 + 3, task_id=1)
        model(batch(seed, 10)[0] * 5 + 3, task_id=0)
    for conv, old in zip(model.convs, stats):
        assert torch.equal(conv.blocks[0].norm.running_mean, old)
        assert not torch.equal(conv.blocks[1].norm.running_mean, torch.zeros_like(conv.blocks[1].norm.running_mean))


def test_reused_features_are_renormalised_with_the_new_tasks_statistics_then_frozen():
    """The adapter of task 1 learns task 1's statistics of the reused task-0 features;
    once task 2 exists those statistics never move again."""
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=10)
    adapter = model.convs[1].blocks[1].adapter
    assert adapter is not None and adapter.num_features == 4 and adapter.weight is None  # no parameters
    assert model.convs[0].blocks[1].adapter is None  # the image is shared, not reused
    assert model.head_adapters[1].num_features == 16
    model.train()
    model(batch(0, 10)[0] * 3 + 1, task_id=1)
    learned = adapter.running_mean.clone()
    assert not torch.equal(learned, torch.zeros(4))
    model.grow(num_classes=10)
    model.train()
    model(batch(1, 10)[0] * 3 + 1, task_id=2)
    model(batch(1, 10)[0] * 3 + 1, task_id=1)
    assert torch.equal(adapter.running_mean, learned)
    assert sum(p.numel() for p in model.head_adapters.parameters()) == 0


def test_gradient_mask_keeps_only_the_current_task_gradients():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=5)
    model.requires_grad_(True)  # a careless user un-freezes everything ...
    x, y = batch(0, 5)
    F.cross_entropy(model(x, task_id=1), y).backward()
    assert model.convs[0].blocks[0].unit.weight.grad is not None
    model.apply_task_gradient_mask(1)  # ... and the mask still protects task 0
    own = {id(p) for p in model.task_parameters(1)}
    for p in model.parameters():
        assert (p.grad is not None) == (id(p) in own)
    with pytest.raises(ValueError, match="frozen"):
        model.apply_task_gradient_mask(0)


def test_old_task_runs_only_its_own_blocks_and_new_task_records_no_graph_for_frozen_ones():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=10)
    model.grow(num_classes=10)
    calls: list[tuple[int, bool]] = []
    for layer in model.task_layers:
        for k, block in enumerate(layer.blocks):
            block.register_forward_hook(lambda mod, inp, out, k=k: calls.append((k, out.requires_grad)))
    model.eval()
    with torch.no_grad():
        model(batch(0, 10)[0], task_id=0)
    assert {k for k, _ in calls} == {0}, "evaluating task 0 computed units of later tasks"
    calls.clear()
    model.train()
    model(batch(0, 10)[0], task_id=2)
    assert {k for k, _ in calls} == {0, 1, 2}
    assert all(needs_grad == (k == 2) for k, needs_grad in calls), "frozen blocks were recorded for backward"


def test_isolate_mode_new_task_ignores_old_units():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL, mode="isolate")
    model.grow(num_classes=10)
    before = eval_logits(model, 1)
    with torch.no_grad():
        for p in model.task_parameters(0):
            p.add_(1.0)
    assert torch.equal(eval_logits(model, 1), before)
    assert model.num_parameters(1) == model.parameters_per_task()[1]


def test_reuse_mode_counts_old_units_as_used_and_zero_growth_adds_only_a_head():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    task = model.grow(num_classes=7, grow_conv_channels=0, grow_hidden=0)
    assert model.parameters_per_task()[task] == 16 * 7 + 7  # just the head
    assert model.num_parameters(task) == model.num_parameters(0) - (16 * 10 + 10) + 16 * 7 + 7
    assert model.num_parameters() == sum(model.parameters_per_task())
    assert model(batch(0, 7)[0], task_id=task).shape == (16, 7)


def test_grow_accepts_ints_and_per_layer_sizes_and_tags_new_units():
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=3, grow_conv_channels=(1, 0), grow_hidden=2)
    model.grow(num_classes=4, grow_conv_channels=2)
    assert model.convs[0].task_ids.tolist() == [0] * 4 + [1] + [2] * 2
    assert model.convs[1].task_ids.tolist() == [0] * 8 + [2] * 2
    assert model.dense[0].task_ids.tolist() == [0] * 16 + [1] * 2 + [2] * 8  # default: half of task 0
    assert model.heads[2].in_features == 26


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_classes=0), ValueError, "num_classes"),
        (dict(num_classes=10, grow_conv_channels=-1), ValueError, ">= 0"),
        (dict(num_classes=10, grow_conv_channels=(1, 2, 3)), ValueError, "one entry per layer"),
        (dict(num_classes=10, grow_hidden=(4, -2)), ValueError, "one entry per layer"),
        (dict(num_classes=10, grow_conv_channels=(1, -2)), ValueError, r"grow_conv_channels\[1\]"),
        (dict(num_classes=10, grow_hidden=1.5), TypeError, "integer"),
        (dict(num_classes=10, grow_conv_channels="4"), TypeError, "integer"),
    ],
)
def test_rejected_grow_leaves_the_model_untouched(kwargs, error, match):
    model = MultiTaskConvSynapticNet(**SMALL)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match):
        model.grow(**kwargs)
    assert model.num_tasks == 1 and model.growth == []
    assert all(p.requires_grad for p in model.parameters())
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_isolate_mode_rejects_zero_growth_before_changing_anything():
    model = MultiTaskConvSynapticNet(**SMALL, mode="isolate")
    with pytest.raises(ValueError, match="isolate"):
        model.grow(num_classes=10, grow_conv_channels=(2, 0))
    assert model.num_tasks == 1 and all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    "x, task_id, error, match",
    [
        (torch.zeros(2, 3, IMAGE, IMAGE), -1, ValueError, ">= 0"),
        (torch.zeros(2, 3, IMAGE, IMAGE), 1, ValueError, "does not exist"),
        (torch.zeros(2, 3, IMAGE, IMAGE), True, TypeError, "integer"),
        (torch.zeros(2, 1, IMAGE, IMAGE), 0, ValueError, r"\(N, 3, 8, 8\)"),
        (torch.zeros(2, 3, 16, 16), 0, ValueError, r"\(N, 3, 8, 8\)"),
        (torch.zeros(3, IMAGE, IMAGE), 0, ValueError, "unsqueeze"),
        ([[0.0]], 0, TypeError, "torch.Tensor"),
    ],
)
def test_bad_forward_inputs_raise_clear_errors(x, task_id, error, match):
    with pytest.raises(error, match=match):
        MultiTaskConvSynapticNet(**SMALL)(x, task_id=task_id)


def test_constructor_rejects_impossible_shapes():
    with pytest.raises(ValueError, match="divisible"):
        MultiTaskConvSynapticNet(conv_channels=(8, 8, 8), image_size=28)
    with pytest.raises(ValueError, match="mode"):
        MultiTaskConvSynapticNet(mode="share")


def test_layers_check_their_inputs():
    conv = TaskConv2d(3, 4, shared_input=True)
    conv.grow(2)
    assert conv(torch.zeros(1, 3, 5, 5), 1).shape == (1, 6, 5, 5)
    with pytest.raises(ValueError, match="expects 3 input units"):
        conv(torch.zeros(1, 2, 5, 5), 0)
    linear = TaskLinear(6, 4)
    linear.grow(3, in_units=2)
    assert linear(torch.zeros(2, 8), 1).shape == (2, 7)
    with pytest.raises(ValueError, match="task 0 expects 6 input units"):
        linear(torch.zeros(2, 8), 0)
    with pytest.raises(ValueError, match="2-D"):
        linear(torch.zeros(2, 8, 1), 1)


def test_save_and_load_in_a_fresh_process_gives_identical_logits(tmp_path: Path):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    train(model, 0, OPTIMIZERS["adam"](model.parameters()))
    model.grow(num_classes=100, grow_conv_channels=(1, 2), grow_hidden=0)
    train(model, 1, OPTIMIZERS["adam"](model.parameters()))
    model.grow(num_classes=3)
    x = batch(7, 1, n=32)[0]
    model.eval()
    with torch.no_grad():
        expected = [model(x, task_id=t) for t in range(model.num_tasks)]
    torch.save(x, tmp_path / "x.pt")
    model.save(tmp_path / "model.pt")
    script = textwrap.dedent(
        f"""
        import torch
        from synapticnet import MultiTaskConvSynapticNet
        model = MultiTaskConvSynapticNet.load({str(tmp_path / 'model.pt')!r}).eval()
        x = torch.load({str(tmp_path / 'x.pt')!r})
        frozen = [not p.requires_grad for t in range(2) for p in model.task_parameters(t)]
        assert all(frozen) and all(p.requires_grad for p in model.task_parameters(2))
        with torch.no_grad():
            torch.save([model(x, task_id=t) for t in range(model.num_tasks)], {str(tmp_path / 'out.pt')!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1])
    loaded = torch.load(tmp_path / "out.pt")
    assert len(loaded) == 3
    assert all(torch.equal(a, b) for a, b in zip(loaded, expected))
    assert not list(tmp_path.glob("*.tmp")), "save() left a temporary file behind"


def test_loading_something_else_raises_value_error(tmp_path: Path):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable SynapticNet checkpoint"):
        MultiTaskConvSynapticNet.load(text)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a SynapticNet checkpoint"):
        MultiTaskConvSynapticNet.load(other)
    with pytest.raises(FileNotFoundError):
        MultiTaskConvSynapticNet.load(tmp_path / "missing.pt")


def test_torchinfo_summary_per_task_sees_that_tasks_network():
    torchinfo = pytest.importorskip("torchinfo")
    model = MultiTaskConvSynapticNet()
    model.grow(num_classes=100, grow_conv_channels=(16, 32, 64), grow_hidden=(128,))
    small = torchinfo.summary(model.task_view(0), input_size=(1, 3, 32, 32), verbose=0)
    grown = torchinfo.summary(model.task_view(1), input_size=(1, 3, 32, 32), verbose=0)
    assert small.summary_list[0].output_size == [1, 10]
    assert grown.summary_list[0].output_size == [1, 100]
    assert grown.total_mult_adds > small.total_mult_adds > 0
    assert grown.trainable_params == model.parameters_per_task()[1]


@pytest.mark.parametrize("mode", ["reuse", "isolate"])
def test_widen_adds_units_to_the_newest_task_only(mode, tmp_path: Path):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL, mode=mode)
    train(model, 0, OPTIMIZERS["adam"](model.parameters()))
    model.grow(num_classes=100, grow_conv_channels=2, grow_hidden=3)
    train(model, 1, OPTIMIZERS["adam"](model.parameters()))
    old, current = eval_logits(model, 0), eval_logits(model, 1)
    before = model.parameters_per_task()
    assert model.widen(grow_conv_channels=(1, 2), grow_hidden=4) == 1
    assert model.num_tasks == 2
    assert model.convs[1].task_ids.tolist() == [0] * 8 + [1] * 4
    assert torch.equal(eval_logits(model, 0), old)
    # New connections into existing units start at zero: same function up to rounding.
    torch.testing.assert_close(eval_logits(model, 1), current, rtol=1e-5, atol=1e-5)
    assert model.parameters_per_task()[0] == before[0] and model.parameters_per_task()[1] > before[1]
    train(model, 1, OPTIMIZERS["sgd_nesterov_wd"](model.parameters()))  # the widened task trains
    assert torch.equal(eval_logits(model, 0), old)
    model.save(tmp_path / "m.pt")
    loaded = MultiTaskConvSynapticNet.load(tmp_path / "m.pt")
    assert torch.equal(eval_logits(loaded, 1), eval_logits(model, 1))


def test_a_new_task_follows_the_models_train_or_eval_mode():
    model = MultiTaskConvSynapticNet(**SMALL).eval()
    model.grow(num_classes=5)
    assert not any(m.training for m in model.modules())
    model.train().grow(num_classes=5)
    assert all(m.training for m in model.modules())


def _snapshot(model: MultiTaskConvSynapticNet) -> dict:
    """Everything a failed change must leave as it was."""
    return dict(
        checkpoint=repr({k: v for k, v in model.checkpoint().items() if k != "state_dict"}),
        state={k: v.clone() for k, v in model.state_dict().items()},
        params=[(name, p.requires_grad, None if p.grad is None else p.grad.clone()) for name, p in
                model.named_parameters()],
        frozen=[(name, getattr(m, "frozen", None), m.training) for name, m in model.named_modules()],
        ids=[layer.task_ids.tolist() for layer in model.task_layers],
        inputs=[list(layer.in_units_per_task) for layer in model.task_layers],
    )


def _assert_same(before: dict, after: dict) -> None:
    assert before["checkpoint"] == after["checkpoint"]
    assert before["state"].keys() == after["state"].keys()
    assert all(torch.equal(v, after["state"][k]) for k, v in before["state"].items())
    for (n, r, g), (n2, r2, g2) in zip(before["params"], after["params"], strict=True):
        assert (n, r) == (n2, r2) and (g is None) == (g2 is None) and (g is None or torch.equal(g, g2)), n
    for key in ("frozen", "ids", "inputs"):
        assert before[key] == after[key], key


@pytest.mark.parametrize("op", ["grow", "widen", "compact"])
@pytest.mark.parametrize("failing", [1, 2])  # the 2nd or the 3rd task-gated layer fails
@pytest.mark.parametrize("error", [MemoryError, KeyboardInterrupt])
def test_a_change_that_fails_half_way_leaves_the_model_exactly_as_it_was(op, failing, error, monkeypatch, tmp_path):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=4, grow_conv_channels=(2, 3), grow_hidden=5)
    x, y = batch(0, 4)
    F.cross_entropy(model(x, task_id=1), y).backward()  # gradients a failed change must not drop
    before = _snapshot(model)
    calls = []

    def fail(*args, **kwargs):
        raise error("simulated failure while changing a layer")

    layer = model.task_layers[failing]
    monkeypatch.setattr(layer, op, fail)
    for earlier in model.task_layers[:failing]:  # the layers before it really change first
        real = getattr(earlier, op)
        monkeypatch.setattr(earlier, op, lambda *a, real=real, **k: calls.append(1) or real(*a, **k))
    arguments = dict(grow=dict(num_classes=3), widen={}, compact=dict(conv_channels=[1, 2], hidden=[3]))[op]
    with pytest.raises(error, match="simulated"):
        getattr(model, op)(**arguments)
    assert len(calls) == failing  # the failure came after some layers had already changed ...
    _assert_same(before, _snapshot(model))  # ... and all of it was undone
    monkeypatch.undo()
    getattr(model, op)(**arguments)  # the same call now succeeds, and the result round-trips
    model.save(tmp_path / "m.pt")
    loaded = MultiTaskConvSynapticNet.load(tmp_path / "m.pt")
    for t in range(model.num_tasks):
        assert torch.equal(eval_logits(loaded, t), eval_logits(model, t))


def _corrupt(model: MultiTaskConvSynapticNet, **changes) -> dict:
    checkpoint = model.checkpoint()
    if isinstance(changes.get("config"), dict):
        changes["config"] = dict(checkpoint["config"], **changes["config"])
    checkpoint.update(changes)
    return checkpoint


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused(value, tmp_path):
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=3)
    checkpoint = model.checkpoint()
    checkpoint["state_dict"]["convs.1.blocks.1.norm.running_var"][0] = value
    with pytest.raises(ValueError, match=r"holds NaN or inf in convs\.1\.blocks\.1\.norm\.running_var"):
        MultiTaskConvSynapticNet.from_checkpoint(checkpoint)
    torch.save(checkpoint, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"m\.pt holds NaN or inf"):
        MultiTaskConvSynapticNet.load(tmp_path / "m.pt")


@pytest.mark.parametrize("changes, match", [
    (dict(config=dict(conv_channels=[4096, 8])), "units in one block 4,096"),
    (dict(config=dict(num_classes=10**6)), "classes in one head 1,000,000"),
    (dict(config=dict(image_size=1024)), "image_size 1,024"),
    (dict(config=dict(hidden=[8] * 17)), "over 256 growth steps or 16 layers"),
    (dict(growth=[dict(op="grow", num_classes=3, grow_conv_channels=[1, 1], grow_hidden=[1])] * 257),
     "over 256 growth steps"),
    (dict(growth=[dict(op="grow", num_classes=3, grow_conv_channels=[2048, 2048], grow_hidden=[2048])] * 8),
     r"parameters [\d,]+ \(at most 200,000,000\)"),
    # 2048 filters on 512×512 images, flattened into 2048 neurons: over 2·10¹¹ parameters (a terabyte) if built
    (dict(config=dict(conv_channels=[2048], hidden=[2048], image_size=512)), r"parameters 274,"),
])
def test_a_checkpoint_asking_for_an_absurd_network_is_refused_before_allocating_it(changes, match):
    import time

    model = MultiTaskConvSynapticNet(**SMALL)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="is damaged or implausible") as error:
        MultiTaskConvSynapticNet.from_checkpoint(_corrupt(model, **changes))
    assert time.perf_counter() - start < 5.0  # nothing of that size was allocated
    assert "\n" not in str(error.value)
    assert __import__("re").search(match, str(error.value)), str(error.value)


def test_a_checkpoint_that_is_not_a_config_and_growth_record_is_damaged():
    model = MultiTaskConvSynapticNet(**SMALL)
    for changes in (dict(config="oops"), dict(growth=[dict(op="grow", num_classes="many")]), dict(growth=7)):
        with pytest.raises(ValueError, match="damaged"):
            MultiTaskConvSynapticNet.from_checkpoint(_corrupt(model, **changes))


def test_load_reads_a_runs_checkpoint_file_and_folder(tmp_path: Path):
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    train(model, 0, OPTIMIZERS["adam"](model.parameters()))
    model.grow(num_classes=3, grow_conv_channels=(1, 2), grow_hidden=4)
    model.compact([1, 1], [2])
    ti.statistics(model).store(0, *(torch.full((2, 2), float(i)) for i in range(6)))
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": model.checkpoint(), "state": {"finished": 2, "task_inference": {}}}, run / "checkpoint.pt")
    for path in (run / "checkpoint.pt", run, str(run)):
        loaded = MultiTaskConvSynapticNet.load(path)
        assert loaded.task_statistics.fitted_tasks() == [0] and loaded.growth == model.growth
        assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
        assert all(torch.equal(eval_logits(loaded, t), eval_logits(model, t)) for t in range(2))
    with pytest.raises(FileNotFoundError, match="checkpoint.pt"):
        MultiTaskConvSynapticNet.load(tmp_path)  # a folder without a run's checkpoint
    torch.save({"model": "not a checkpoint", "state": {}}, run / "checkpoint.pt")
    with pytest.raises(ValueError, match="not a SynapticNet checkpoint"):
        MultiTaskConvSynapticNet.load(run)


# -- one size bound for grow(), widen() and loading (checked before anything is allocated) -----------------
@pytest.mark.parametrize("op, arguments, match", [
    ("grow", dict(num_classes=3, grow_conv_channels=(2, 3000), grow_hidden=4), "units in one block 3,000"),
    ("grow", dict(num_classes=200_000), "classes in one head 200,000"),
    ("widen", dict(grow_conv_channels=1, grow_hidden=2100), "units in one block 2,108"),
])
def test_grow_and_widen_refuse_a_block_over_the_size_bound_and_change_nothing(op, arguments, match):
    model = MultiTaskConvSynapticNet(**SMALL)
    model.grow(num_classes=3)
    before = _snapshot(model)
    with pytest.raises(ValueError, match=f"{op}\\(\\) asks for too large a network: {match} \\(at most") as error:
        getattr(model, op)(**arguments)
    assert "\n" not in str(error.value)
    _assert_same(before, _snapshot(model))


def test_grow_refuses_a_network_over_the_parameter_bound_before_allocating_it():
    # 2048 new filters on unpooled 256×256 maps, flattened into 2048 neurons: ~2.7·10¹¹ parameters (a terabyte)
    model = MultiTaskConvSynapticNet(conv_channels=(4,), hidden=(8,), image_size=256, pool_after=())
    with pytest.raises(ValueError, match=r"grow\(\) asks for too large a network: parameters 27\d,[\d,]+ \(at most "
                                         r"200,000,000\)"):
        model.grow(num_classes=3, grow_conv_channels=2048, grow_hidden=2048)
    assert model.num_tasks == 1 and model.growth == []


def test_a_checkpoint_is_refused_at_the_first_growth_step_over_the_size_bound(monkeypatch):
    """250 steps of 2,000 units: the replay stops where the bound is crossed, not after replaying them all."""
    model = MultiTaskConvSynapticNet(**SMALL)
    steps = [dict(op="grow", num_classes=3, grow_conv_channels=[2000, 2000], grow_hidden=[2000])] * 250
    replayed, grow = [], MultiTaskConvSynapticNet.grow
    monkeypatch.setattr(MultiTaskConvSynapticNet, "grow", lambda self, **k: replayed.append(1) or grow(self, **k))
    with pytest.raises(ValueError, match=r"is damaged or implausible: it asks for parameters [\d,]+ \(at most 200,000,000\)"):
        MultiTaskConvSynapticNet.from_checkpoint(_corrupt(model, growth=steps))
    assert len(replayed) <= 3, len(replayed)  # of 250


def test_a_checkpoint_whose_weights_are_smaller_than_its_record_is_refused_before_building_it(monkeypatch):
    """The network built for real is never larger than the weights in the file: shapes are compared first."""
    model = MultiTaskConvSynapticNet(**SMALL)
    checkpoint = _corrupt(model, growth=[dict(op="grow", num_classes=3, grow_conv_channels=[512, 512],
                                              grow_hidden=[512])])
    built = []
    init = MultiTaskConvSynapticNet.__init__
    monkeypatch.setattr(MultiTaskConvSynapticNet, "__init__",
                        lambda self, **k: built.append(str(torch.empty(0).device)) or init(self, **k))
    with pytest.raises(ValueError, match=r"damaged: .* \(convs\.0\.task_ids: the record gives \(516,\), "
                                         r"the weights \(4,\)\)"):
        MultiTaskConvSynapticNet.from_checkpoint(checkpoint)
    assert built == ["meta"]  # described on the meta device only, never allocated


def test_the_gradient_mask_notices_an_optimiser_built_before_grow():
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL)
    stale = torch.optim.SGD(model.parameters(), lr=0.1)  # built before grow(): holds none of task 1's parameters
    model.grow(num_classes=3)
    x, y = batch(0, 3)

    def steps(optimizer: torch.optim.Optimizer) -> None:
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(model(x, task_id=1), y).backward()
            model.apply_task_gradient_mask(1)
            optimizer.step()

    with pytest.warns(UserWarning, match=r"task 1's parameters did not change .* Build it after grow\(\)"):
        steps(stale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steps(torch.optim.SGD(model.task_parameters(1), lr=0.1))  # the right optimiser: no warning
