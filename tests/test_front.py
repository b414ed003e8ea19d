"""The accuracy–parameter front: its JSON schema, resumption and the targets' arithmetic."""

from __future__ import annotations

import pytest

from synapticnet.experiments.front import CONFIGS, SMOKE_STREAMS, FrontConfig, front_budget, run_front, targets
from synapticnet.profiles import SMOKE


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
        point("d", "synapticnet", [r + 3 for r in REF], 600, compaction_seconds=4.0),
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
    assert rows["d"]["time_ratio"] == pytest.approx(10 / 6) and verdict["compaction_time_met"] is False


def test_targets_make_no_claim_with_too_few_seeds_or_no_reference():
    three = {"streams": {"s": {"configs": [point("separate ×1", "separate", REF[:3], 1000),
                                            point("a", "synapticnet", [r + 5 for r in REF[:3]], 100)]}}}
    verdict = targets(three)["s"]
    assert verdict["params_target_met"] is None and verdict["gain_shown"] == []
    assert verdict["comparisons"][0]["vs_separate_x1"]["mean"] == pytest.approx(5.0)  # measured, just not claimed
    no_reference = {"streams": {"s": {"configs": [point("a", "synapticnet", REF, 400)]}}}
    assert targets(no_reference)["s"]["params_target_met"] is None


