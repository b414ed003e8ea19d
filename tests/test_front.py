"""The accuracy–parameter front: its JSON schema, resumption and the targets' arithmetic."""

from __future__ import annotations

import pytest

from synapticnet.experiments.front import CONFIGS, SMOKE_STREAMS, FrontConfig, front_budget, run_front, targets
from synapticnet.profiles import SMOKE


def point(label, family, params, acc, std=0.5, pooled_size=None, width=1.0):
    return dict(label=label, family=family, params=params, avg_acc_mean=acc, avg_acc_std=std, seeds=[0, 1, 2],
                pooled_size=pooled_size, width=width)


def test_targets_from_hand_made_numbers():
    front = {"streams": {"s": {"configs": [
        point("separate ×0.25", "separate", 100, 70.0, width=0.25),
        point("separate ×1", "separate", 1000, 80.0),
        point("a", "synapticnet", 400, 79.6),   # within one std (0.5) with 0.4x the parameters: a hit
        point("b", "synapticnet", 600, 85.0),   # 0.6x: too many parameters for the target
        point("c", "synapticnet", 300, 79.0),   # 1 point below: outside one std
    ]}}}
    verdict = targets(front)["s"]
    assert verdict["half_params_target_met"] is True
    assert [h["config"] for h in verdict["hits"]] == ["a"]
    gains = {g["config"]: g for g in verdict["gain_over_separate"]}
    # separate curve at 400 params, linear in log10(params): 70 + 10 * log(4)/log(10)
    assert gains["a"]["separate_at_same_params"] == pytest.approx(70 + 10 * 0.60206, abs=1e-3)
    assert verdict["reuse_gain_target_met"] is True and verdict["best_gain_points"] == pytest.approx(
        85.0 - (70 + 10 * 0.778151), abs=1e-3)
    no_reference = {"streams": {"s": {"configs": [point("a", "synapticnet", 400, 79.6)]}}}
    assert targets(no_reference)["s"]["half_params_target_met"] is None


def test_configs_scale_widths_and_growth_of_the_budget():
    base = front_budget("split_cifar10", "cpu")
    assert base.n_train == 2000 and base.conv_channels == (8, 8, 16, 16, 32, 32)
    half = FrontConfig("x", "separate", width=0.5).profile(base)
    assert half.conv_channels == (4, 4, 8, 8, 16, 16) and half.hidden == (32,)
    conv_reuse = next(c for c in CONFIGS if c.label == "conv-reuse ×0.25").profile(base)
    assert conv_reuse.dense_mode == "isolate" and conv_reuse.growth_for("split_cifar10/1") == ((2, 2, 4, 4, 8, 8), (16,))
    assert len({c.label for c in CONFIGS}) == len(CONFIGS)
    assert {c.family for c in CONFIGS} == {"separate", "synapticnet"}


def test_run_front_writes_the_documented_schema_and_resumes(tmp_path):
    configs = [FrontConfig("separate ×1", "separate"),
               FrontConfig("conv-reuse ×0.5", "synapticnet", growth=0.5, dense_mode="isolate")]
    tiny = SMOKE.replace(n_train=100, val_size=20, max_steps_per_task=2)
    streams = {"split_cifar10": SMOKE_STREAMS["split_cifar10"]}
    lines = []
    out = tmp_path / "front.json"
    front = run_front(out, streams=streams, seeds=[0], configs=configs, profile=tiny, runs_dir=tmp_path / "runs",
                      log=lines.append)
    entry = front["streams"]["split_cifar10"]
    assert len(entry["task_titles"]) == 5 and all("not real data" in t for t in entry["task_titles"])
    for c in entry["configs"]:
        assert {"label", "family", "params", "avg_acc_mean", "avg_acc_std", "seeds"} <= set(c)
        assert c["seeds"] == [0] and 0 <= c["avg_acc_mean"] <= 100
    assert len(lines) == 2
    run_front(out, streams=streams, seeds=[0], configs=configs, profile=tiny, runs_dir=tmp_path / "runs",
              log=lines.append)
    assert len(lines) == 2  # every point was already there: nothing ran again
