"""synapticnet.pruning: which units of the newest task matter, read through the model's public API."""

from __future__ import annotations

import ast
import copy
import inspect

import pytest
import torch
import torch.nn.functional as F

from synapticnet import MultiTaskConvSynapticNet, pruning

IMAGE = 8
SMALL = dict(in_channels=3, conv_channels=(4, 8), hidden=(16, 12), num_classes=5, image_size=IMAGE, dropout=0.0)
VARIANTS = {"reuse": dict(mode="reuse"), "isolate": dict(mode="isolate"),
            "conv-reuse": dict(mode="reuse", dense_mode="isolate")}


def trained(variant: str) -> MultiTaskConvSynapticNet:
    torch.manual_seed(0)
    model = MultiTaskConvSynapticNet(**SMALL, **VARIANTS[variant])
    for t in range(2):
        if t:
            model.grow(num_classes=3, grow_conv_channels=(2, 4), grow_hidden=(8, 6))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.train()
        for step in range(3):
            x = torch.randn(12, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(10 * t + step))
            opt.zero_grad()
            F.cross_entropy(model(x, task_id=t), torch.arange(12) % model.num_classes(t)).backward()
            model.apply_task_gradient_mask(t)
            opt.step()
    return model.eval()


def reference_importance(model: MultiTaskConvSynapticNet) -> list[torch.Tensor]:
    """The definition, written out: |γ| per filter; per neuron, ‖incoming‖ · ‖outgoing into this task's reader‖."""
    task = model.trainable_task
    scores = [layer.blocks[task].norm.weight.detach().abs() for layer in model.convs]
    for i, layer in enumerate(model.dense):
        block = layer.blocks[task]
        reader = model.dense[i + 1].blocks[task].unit.weight if i + 1 < len(model.dense) else model.heads[task].weight
        own = reader[:, -block.out_units:]  # a reader's inputs end with this task's own units
        scores.append(block.unit.weight.detach().norm(dim=1) * own.detach().norm(dim=0))
    return scores


@pytest.mark.parametrize("variant", VARIANTS)
def test_unit_importance_follows_its_definition(variant):
    model = trained(variant)
    conv, dense = pruning.unit_importance(model)
    assert [len(s) for s in conv + dense] == [2, 4, 8, 6]
    assert all(s.dtype == torch.float32 and s.device.type == "cpu" for s in conv + dense)
    assert all(torch.allclose(a, b) for a, b in zip(conv + dense, reference_importance(model), strict=True))


@pytest.mark.parametrize("variant", VARIANTS)
def test_compact_without_scores_uses_unit_importance(variant):
    model = trained(variant)
    own = copy.deepcopy(model)
    model.compact([1, 2], [3, 2])
    own.compact([1, 2], [3, 2], scores=pruning.unit_importance(own))
    assert model.growth == own.growth
    assert all(torch.equal(v, own.state_dict()[k]) for k, v in model.state_dict().items())


def test_units_to_keep_picks_the_highest_scores_in_their_original_order():
    model = trained("reuse")
    scores = ([torch.tensor([0.1, 0.9]), torch.tensor([3.0, 1.0, 3.0, 2.0])],
              [torch.arange(8.0), torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])])
    keep = pruning.units_to_keep(model, [1, 2], [3, 0], scores)
    assert [k.tolist() for k in keep] == [[1], [0, 2], [5, 6, 7], []]  # ties keep the earlier unit
    with pytest.raises(ValueError, match=r"hidden\[0\] = 9, but task 1 has only 8 units"):
        pruning.units_to_keep(model, [1, 1], [9, 1])


def test_compaction_sizes_round_up_keep_one_and_check_the_fraction():
    model = trained("reuse")
    assert pruning.compaction_sizes(model, 0.25) == ([1, 1], [2, 2])
    assert pruning.compaction_sizes(model, 1.0) == ([2, 4], [8, 6])
    for fraction in (0, 1.5, -0.5, float("nan"), True, "half"):
        with pytest.raises(ValueError, match="fraction must be a number in"):
            pruning.compaction_sizes(model, fraction)


def test_pruning_imports_the_model_for_type_hints_only():
    runtime = [node for node in ast.parse(inspect.getsource(pruning)).body if isinstance(node, ast.ImportFrom)]
    assert not any(node.module == "model" for node in runtime)
    assert not hasattr(MultiTaskConvSynapticNet, "unit_importance")  # moved: pruning.unit_importance(model)


class Images:
    """A task's validation split, as ``ablation_importance`` reads it (``tensors(split)``)."""

    def __init__(self, classes: int) -> None:
        g = torch.Generator().manual_seed(5)
        self.x, self.y = torch.randn(20, 3, IMAGE, IMAGE, generator=g), torch.arange(20) % classes

    def tensors(self, split: str):
        return self.x, self.y


@pytest.mark.parametrize("variant", VARIANTS)
def test_ablation_importance_scores_a_silent_unit_zero_and_changes_nothing(variant):
    model = trained(variant)
    task = model.trainable_task
    data = Images(model.num_classes(task))
    with torch.no_grad():  # unit 1 of the task's second conv layer says nothing: silencing it cannot matter
        model.convs[1].blocks[task].norm.weight[1] = 0.0
        model.convs[1].blocks[task].norm.bias[1] = 0.0
        before = [model(data.x, task_id=t) for t in range(2)]
    conv, dense = pruning.ablation_importance(model, data)
    assert [len(s) for s in conv + dense] == [2, 4, 8, 6]
    assert conv[1][1].item() == 0.0 and sum(s.abs().sum().item() for s in conv + dense) > 0
    assert not model.training  # the mode it was called in
    with torch.no_grad():  # hooks removed, weights untouched
        assert all(torch.equal(b, model(data.x, task_id=t)) for t, b in enumerate(before))


@pytest.mark.parametrize("variant", VARIANTS)
def test_compaction_by_ablation_keeps_older_tasks_bitwise(variant):
    model = trained(variant)
    x = torch.randn(6, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        old = model(x, task_id=0)
    scores = pruning.ablation_importance(model, Images(model.num_classes(1)))
    model.compact(*pruning.compaction_sizes(model, 0.5), scores=scores)
    with torch.no_grad():
        assert torch.equal(old, model(x, task_id=0))
    assert model.parameters_per_task()[1] < trained(variant).parameters_per_task()[1]
