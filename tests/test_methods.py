"""Methods as plug-ins: the registry, every method on a smoke stream, GEM/A-GEM projections,
the class-incremental option and its accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synapticnet import experiments as E
from synapticnet.methods import REGISTRY, Method, get_method, register
from synapticnet.methods.agem import agem_project
from synapticnet.methods.base import class_incremental_accuracy, class_offsets, head_loss
from synapticnet.methods.gem import GEM, gem_project, shared_parameters
from synapticnet.methods.networks import MultiHeadCNN
from synapticnet.profiles import SMOKE
from synapticnet.run import load_task_data, run_baseline

TASKS = ["synthetic_mnist", "synthetic_cifar10"]
TINY = SMOKE.replace(n_train=120, val_size=40, max_steps_per_task=4, batch_size=32)
# Small memories so that GEM's and A-GEM's memory passes stay cheap in the smoke runs.
SMALL = {"replay": {"memory_per_task": 20}, "gem": {"memory_per_task": 20}, "agem": {"memory_per_task": 20}}


@pytest.fixture(scope="module")
def datasets():
    return load_task_data(TASKS, TINY, None, 0)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_method_runs_a_smoke_stream(name, datasets, tmp_path):
    r = run_baseline(name, datasets, profile=TINY, out_dir=tmp_path, progress=False, device="cpu",
                     **SMALL.get(name, {}))
    assert r["method"] == name and r["complete"] and r["scenario"] == "task-incremental"
    assert r["hyper"] == {**REGISTRY[name].defaults, **SMALL.get(name, {})}
    matrix = r["accuracy_matrix"]
    assert len(matrix) == (1 if name == "joint" else 2)
    # row i holds every task seen so far (joint's one row: all of them)
    seen = [len(TASKS)] if name == "joint" else [1, 2]
    assert all(0.0 <= a <= 1.0 for row, n in zip(matrix, seen) for a in row[:n])


def test_experiments_exports_follow_the_registry():
    assert E.METHODS == tuple(REGISTRY)
    assert {"gem", "agem"} <= set(E.METHODS)
    assert E.DEFAULTS["gem"] == GEM.defaults and E.SWEPT["agem"] == "memory_per_task"


def test_unknown_method_is_a_one_line_error_listing_the_known_ones():
    with pytest.raises(ValueError) as error:
        get_method("si")
    message = str(error.value)
    assert "\n" not in message and "unknown method 'si'" in message
    assert all(name in message for name in REGISTRY)
    with pytest.raises(ValueError, match="unknown method"):
        run_baseline("si", [], profile=TINY, out_dir="/nonexistent")


def test_unknown_hyper_parameter_is_an_error():
    with pytest.raises(ValueError, match=r"gem has no hyper-parameter\(s\) \['lam'\]"):
        GEM(TINY, lam=1.0)


def test_register_a_new_method_and_run_it_by_name(datasets, tmp_path, monkeypatch):
    monkeypatch.setattr("synapticnet.methods.base.REGISTRY", dict(REGISTRY))
    from synapticnet.methods import base

    calls = []

    @register
    class Counting(Method):
        name = "counting"

        def after_task(self, model, datasets, i):
            calls.append(i)

    assert base.get_method("counting") is Counting
    r = run_baseline("counting", datasets, profile=TINY, out_dir=tmp_path, progress=False, device="cpu")
    assert calls == [0, 1] and r["method"] == "counting"

    class Other(Method):
        name = "counting"
    with pytest.raises(ValueError, match="already taken"):
        register(Other)
    assert "counting" not in REGISTRY  # the real registry was left alone


# --------------------------------------------------------------------------------------
# GEM and A-GEM projections
# --------------------------------------------------------------------------------------
def test_gem_projection_on_known_qp_solutions():
    g = torch.tensor([1.0, -1.0], dtype=torch.float64)
    # one constraint, violated: the answer is g minus its component along g_1
    assert torch.allclose(gem_project(g, torch.tensor([[0.0, 1.0]], dtype=torch.float64)),
                          torch.tensor([1.0, 0.0], dtype=torch.float64), atol=1e-5)
    # two orthogonal constraints, both violated: the closest point of the cone is its apex
    both = gem_project(-torch.ones(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    assert torch.allclose(both, torch.zeros(2, dtype=torch.float64), atol=1e-5)
    # nothing violated: g itself, untouched
    assert gem_project(g, torch.tensor([[1.0, 0.0]], dtype=torch.float64)) is g


def test_gem_projection_is_not_against_any_memory_gradient():
    rng = np.random.default_rng(0)
    G = torch.from_numpy(rng.normal(size=(6, 40)))
    for trial in range(20):
        g = torch.from_numpy(rng.normal(size=40)) - 2 * G[trial % 6]  # at least one conflict
        assert (G @ g < 0).any()
        for margin in (0.0, 0.5):
            z = gem_project(g, G, margin)
            # ≥ 0 up to the tiny ridge (1e-6 × the largest ‖g_k‖²) that keeps the QP solvable
            assert (G @ z >= -1e-4 * G.norm(dim=1) * z.norm()).all()
            assert (z - g).norm() > 0


def test_gem_step_gradient_does_not_conflict_with_memory_gradients_in_a_network(datasets):
    torch.manual_seed(0)
    gem = GEM(TINY, memory_per_task=16)
    model = gem.build(TASKS, 10)
    gem.after_task(model, datasets, 0)
    model.add_head(10)
    params = shared_parameters(model, 2, False)
    G = gem.memory_gradients(model, params, 1)
    # a current gradient that points straight against the old task's, plus noise
    torch.manual_seed(1)
    start = 0
    for p in params:
        p.grad = -G[0, start:start + p.numel()].view_as(p) + 0.01 * torch.randn_like(p)
        start += p.numel()
    torch.manual_seed(2)  # the same dropout masks in both memory passes
    gem.after_backward(model, 1)
    assert gem.projections == 1
    z = torch.cat([p.grad.reshape(-1) for p in params])
    torch.manual_seed(2)
    G = gem.memory_gradients(model, params, 1)  # same weights, same memory, same masks
    assert (G @ z >= -1e-3 * G.norm(dim=1) * z.norm()).all()
    assert (G @ z).min() > (G @ -G[0]).max()


def test_agem_projection_on_hand_made_vectors():
    g = torch.tensor([1.0, -2.0, 0.0])
    assert torch.equal(agem_project(g, torch.tensor([0.0, 1.0, 0.0])), torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(agem_project(g, torch.tensor([1.0, 1.0, 0.0])), torch.tensor([1.5, -1.5, 0.0]))
    agree = torch.tensor([1.0, 0.0, 3.0])
    assert agem_project(g, agree) is g  # ⟨g, g_ref⟩ = 1 ≥ 0: unchanged


# --------------------------------------------------------------------------------------
# The class-incremental option and its accuracy
# --------------------------------------------------------------------------------------
class FixedLogits(torch.nn.Module):
    """Logits chosen by hand: ``table[task_id]`` per example, whatever the input."""

    def __init__(self, table: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.table = table

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        return self.table[task_id][: len(x)]


class FixedTask:
    def __init__(self, labels: list[int], num_classes: int = 2, inputs: torch.Tensor | None = None) -> None:
        self.labels, self.num_classes = torch.tensor(labels), num_classes
        self.inputs = torch.zeros(len(labels), 1) if inputs is None else inputs

    def eval_batches(self, split: str, batch_size: int):
        yield self.inputs, self.labels


def test_class_incremental_accuracy_on_a_hand_made_two_task_model():
    # 4 outputs: task 0's classes 0, 1 and task 1's classes 2, 3. Both tasks' test splits hold
    # the same 3 (identical) inputs, so every example of a task sees the same 4 logits per row.
    head0 = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    head1 = torch.tensor([[1.0, 0.0], [0.0, 9.0], [0.0, 6.0]])
    model = FixedLogits({0: head0, 1: head1})
    # row argmax over [head0 | head1]: 0 (class 0 of task 0), 3 (class 1 of task 1), 3 (class 1 of task 1)
    task0, task1 = FixedTask([0, 1, 0]), FixedTask([0, 1, 1])
    # task 0 correct: only example 0 (its other rows are won by task 1's head); task 1 correct: examples 1, 2
    assert class_incremental_accuracy(model, [task0, task1], "cpu") == pytest.approx(3 / 6)
    # with the task given, task 0 would be 3/3: the class-incremental score is lower
    assert (head0.argmax(1) == task0.labels).float().mean() == 1.0


def test_class_incremental_loss_uses_all_seen_heads_with_offset_labels():
    torch.manual_seed(0)
    model = MultiHeadCNN((4,), (8,), (3, 2), image_size=8)
    method = get_method("replay")(TINY, class_incremental=True)
    x, y = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 0, 1, 1])
    features = model.features(x)
    assert class_offsets(model, 2) == [0, 3]
    expected = torch.nn.functional.cross_entropy(torch.cat([model.heads[0](features), model.heads[1](features)], 1),
                                                 y + 3, label_smoothing=TINY.label_smoothing)
    assert torch.allclose(head_loss(method, model, features, y, 1, 2, True), expected)
    head_loss(method, model, features, y, 1, 2, True).backward()
    assert model.heads[0].weight.grad.abs().sum() > 0  # the old head is pushed down: one shared softmax
    model.zero_grad()
    head_loss(method, model, model.features(x), y, 1, 2, False).backward()
    assert model.heads[0].weight.grad is None or model.heads[0].weight.grad.abs().sum() == 0


@pytest.mark.parametrize("name", ["replay", "gem"])
def test_class_incremental_option_is_recorded_and_scored(name, datasets, tmp_path):
    r = run_baseline(name, datasets, profile=TINY, out_dir=tmp_path, progress=False, device="cpu",
                     class_incremental=True, memory_per_task=20)
    assert r["scenario"] == "class-incremental" and r["hyper"]["class_incremental"] is True
    assert 0.0 <= r["class_incremental_accuracy"] <= 1.0


def test_class_incremental_accuracy_of_a_shared_network_runs_its_body_once_per_batch():
    # A MultiHeadCNN's heads all read the same features: one body pass per batch must give the
    # same score as one full forward pass per head (the generic path), with 1/len(heads) the body passes.
    torch.manual_seed(0)
    model = MultiHeadCNN(conv_channels=(4,), hidden=(8,), num_classes=(2, 2, 2), in_channels=1, image_size=8).eval()
    x = torch.randn(12, 1, 8, 8)
    tasks = [FixedTask([0, 1] * 6, inputs=x) for _ in range(3)]
    calls = []
    model.body.register_forward_hook(lambda *_: calls.append(1))
    score = class_incremental_accuracy(model, tasks, "cpu")
    assert len(calls) == 3  # one batch per task, one body pass each (not 3 x 3)
    with torch.no_grad():
        logits = torch.cat([model(x, task_id=k) for k in range(3)], dim=1).argmax(1)
    expected = sum((logits == torch.tensor([0, 1] * 6) + 2 * t).sum().item() for t in range(3)) / 36
    assert score == pytest.approx(expected)
