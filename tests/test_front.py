"""The accuracy–parameter front: its JSON schema, resumption and the targets' arithmetic."""

from __future__ import annotations

import pytest

from synapticnet.experiments.front import (CONFIGS, SMOKE_STREAMS, FrontConfig, choose_sparsity, front_budget,
                                           run_front, targets)
from synapticnet.profiles import SMOKE
from synapticnet.storage import load_json


def point(label, family, accs, params, pooled_size=None, width=1.0, compaction_seconds=None):
    """A front point from per-seed accuracies (one per seed 0, 1, …) and per-seed parameter counts."""
    params = params if isinstance(params, list) else [params] * len(accs)
    runs = [dict(seed=s, avg_acc=a, params=p, train_seconds=10.0,
                 **({} if compaction_seconds is None else dict(compaction_seconds=compaction_seconds)))
            for s, (a, p) in enumerate(zip(accs, params))]
    return dict(label=label, family=family, params=int(sum(params) / len(params)), avg_acc_mean=sum(accs) / len(accs),
                avg_acc_std=0.0, seeds=list(range(len(accs))), pooled_size=pooled_size, width=width, runs=runs)


REF = [80.0, 81.0, 79.0, 80.5, 82.0]  # separate ×1, seeds 0-4: a spread of 3 points


def test_targets_pair_by_seed_and_need_the_interval():
    front = {"streams": {"s": {"configs": [
        point("separate ×0.25", "separate", [70.0, 71.0, 69.0, 70.5, 72.0], 100, width=0.25),
        point("separate ×1", "separate", REF, 1000),
        # follows the reference seed by seed, 0.2 points above: tiny paired interval, a hit at 0.3x
        point("a", "synapticnet", [r + 0.2 for r in REF], 300),
        # the same mean gain, but unpaired noise of ±2 points: the interval reaches far below -0.3
        point("b", "synapticnet", [r + 0.2 + d for r, d in zip(REF, (2, -2, 2, -2, 0))], 300),
        # 1 point below every seed: not a hit
        point("c", "synapticnet", [r - 1 for r in REF], 300),
        # well above, but 0.6x the parameters: too many for a 0.5 target
        point("d", "synapticnet", [r + 3 for r in REF], 600, compaction_seconds=8.0),
        # larger than every separate network: no curve to compare with at its size
        point("e", "synapticnet", [r + 3 for r in REF], 2000),
    ]}}}
    verdict = targets(front)["s"]
    rows = {r["config"]: r for r in verdict["comparisons"]}
    a = rows["a"]["vs_separate_x1"]
    assert a["mean"] == pytest.approx(0.2) and a["low"] == pytest.approx(0.2) and a["n"] == 5
    b = rows["b"]["vs_separate_x1"]
    assert b["mean"] == pytest.approx(0.2) and b["low"] < -1.5 < 1.5 < b["high"]
    assert verdict["params_target_hits"] == ["a"] and verdict["params_target_met"] is True
    # separate curve at 300 params, seed 0: 70 + 10 * log(3)/log(10), linear in log(params)
    assert rows["a"]["vs_separate_curve"]["differences"][0] == pytest.approx(80.2 - (70 + 10 * 0.4771213), abs=1e-6)
    assert rows["a"]["params_ratio"] == pytest.approx(0.3)
    # the separate curve at 300 parameters is 5.2 points below separate ×1: a, b, c and d lie above it
    assert set(verdict["gain_shown"]) == {"a", "b", "c", "d"} and rows["e"]["within_reference_range"] is False
    assert rows["d"]["time_ratio"] == pytest.approx(10 / 2) and verdict["compaction_time_met"] is False


def test_targets_make_no_claim_with_too_few_seeds_or_no_reference():
    three = {"streams": {"s": {"configs": [point("separate ×1", "separate", REF[:3], 1000),
                                            point("a", "synapticnet", [r + 5 for r in REF[:3]], 100)]}}}
    verdict = targets(three)["s"]
    assert verdict["params_target_met"] is None and verdict["gain_shown"] == []
    assert verdict["comparisons"][0]["vs_separate_x1"]["mean"] == pytest.approx(5.0)  # measured, just not claimed
    no_reference = {"streams": {"s": {"configs": [point("a", "synapticnet", REF, 400)]}}}
    assert targets(no_reference)["s"]["params_target_met"] is None




def test_choose_sparsity_takes_the_smallest_networks_that_keep_validation_accuracy():
    row = lambda lam, seed, val, params: dict(sparsity=lam, seed=seed, val_avg_acc=val, params=params)  # noqa: E731
    rows = [row(0.0, 0, 80.0, 1000), row(0.0, 1, 81.0, 1000),
            row(0.01, 0, 80.1, 900), row(0.01, 1, 80.9, 900),
            row(0.1, 0, 79.9, 500), row(0.1, 1, 80.6, 500),   # mean 80.25: 0.25 below, allowed; smallest networks
            row(0.3, 0, 79.0, 300), row(0.3, 1, 80.0, 300)]   # mean 79.5: 1 point below, refused
    assert choose_sparsity(rows) == 0.1
    assert choose_sparsity([row(0.0, 0, 80.0, 1000), row(0.1, 0, 80.0, 1000)]) == 0.0  # no gain: the smaller λ


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
        assert [set(r) >= {"seed", "avg_acc", "params", "train_seconds", "compaction_seconds"} for r in c["runs"]] == [True]
    assert len(lines) == 2
    run_front(out, streams=streams, seeds=[0], configs=configs, profile=tiny, runs_dir=tmp_path / "runs",
              log=lines.append)
    assert len(lines) == 2  # every point was already there: nothing ran again
    run_front(out, streams=streams, seeds=[0], configs=configs[:1], profile=tiny.replace(weight_decay=1e-3),
              runs_dir=tmp_path / "runs", log=lines.append)
    assert len(lines) == 3  # another budget: the stream starts over, the older points are gone
    assert [c["label"] for c in load_json(out)["streams"]["split_cifar10"]["configs"]] == ["separate ×1"]


def test_the_fronts_sparsity_is_the_one_its_sweep_chose():
    """SPARSITY is not typed in freely: it must be what figures/front_sparsity.json chose on validation."""
    import json
    from pathlib import Path

    from synapticnet.experiments.front import SPARSITY

    sweep = Path(__file__).resolve().parents[1] / "figures" / "front_sparsity.json"
    if not sweep.exists():
        pytest.skip("no committed sparsity sweep")
    recorded = json.loads(sweep.read_text())
    assert SPARSITY == recorded["chosen"] == choose_sparsity(recorded["rows"])


def test_criteria_study_pairs_both_rankings_by_seed_on_validation():
    from synapticnet.experiments.criteria import CRITERIA, criteria_study

    result = criteria_study(seeds=(0, 1), profile="smoke", log=lambda _: None)
    fractions = result["fractions"]
    assert len(result["rows"]) == 2 * len(CRITERIA) * len(fractions)
    for fraction in fractions:
        d = result["differences"][f"{fraction:g}"]["val_after_finetune"]
        rows = {(r["criterion"], r["seed"]): r["val_after_finetune"] for r in result["rows"] if r["fraction"] == fraction}
        assert d["differences"] == pytest.approx([rows["ablation", s] - rows["|γ|", s] for s in (0, 1)])
        recal = result["recalibration"][f"{fraction:g}"]["|γ|"]["before_finetune"]
        rows = {r["seed"]: r["val_recalibrated"] - r["val_right_after"] for r in result["rows"]
                if r["fraction"] == fraction and r["criterion"] == "|γ|"}
        assert recal["differences"] == pytest.approx([rows[0], rows[1]])
    # both rankings start from the same trained network: the same full-width accuracy per seed
    assert len({(r["seed"], r["val_full"]) for r in result["rows"]}) == 2
