"""Paired statistics: Student's t against published table values, and intervals on hand-made numbers."""

from __future__ import annotations

import math

import pytest

from synapticnet.stats import paired_difference, t_cdf, t_quantile


@pytest.mark.parametrize("df, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423)])
def test_t_quantile_matches_the_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=2e-4)
    assert t_quantile(0.025, df) == pytest.approx(-expected, abs=2e-4)


def test_t_cdf_is_a_distribution():
    assert t_cdf(0.0, 3) == pytest.approx(0.5)
    assert t_cdf(1e6, 3) == pytest.approx(1.0, abs=1e-6)
    assert t_cdf(-1.0, 5) == pytest.approx(1 - t_cdf(1.0, 5))
    with pytest.raises(ValueError, match="df"):
        t_cdf(1.0, 0)


def test_paired_difference_by_hand():
    # differences 1, 0.5, 1.5: mean 1, std 0.5, half-width t(0.975, 2) * 0.5 / sqrt(3) = 1.2421
    d = paired_difference([85.0, 84.0, 86.0], [84.0, 83.5, 84.5])
    assert (d.mean, d.std, d.n) == (pytest.approx(1.0), pytest.approx(0.5), 3)
    assert d.low == pytest.approx(1.0 - 4.3027 * 0.5 / math.sqrt(3), abs=1e-3)
    assert d.high == pytest.approx(1.0 + 4.3027 * 0.5 / math.sqrt(3), abs=1e-3)
    assert not d.above(0.0) and d.above(-0.3)
    one = paired_difference([1.0], [0.0])
    assert one.to_dict()["low"] is None and not one.above(-100)
    with pytest.raises(ValueError, match="one value of each per seed"):
        paired_difference([1.0, 2.0], [1.0])
