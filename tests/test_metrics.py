"""Metrics on hand-made accuracy matrices, with the answers worked out by hand."""

import pytest

from synapticnet.metrics import average_accuracy, backward_transfer, forgetting, summarize

# Three tasks. Task 0: 0.9 -> 0.6 -> 0.5; task 1: 0.8 -> 0.7; task 2: 0.9.
FORGETFUL = [
    [0.9, None, None],
    [0.6, 0.8, None],
    [0.5, 0.7, 0.9],
]


def test_average_accuracy_uses_the_last_row():
    assert average_accuracy(FORGETFUL) == pytest.approx((0.5 + 0.7 + 0.9) / 3)


def test_bwt_compares_final_with_just_learned():
    # ((0.5 - 0.9) + (0.7 - 0.8)) / 2 = -0.25
    assert backward_transfer(FORGETFUL) == pytest.approx(-0.25)


def test_forgetting_uses_the_best_earlier_accuracy():
    # Task 0 peaked at 0.9 -> 0.5 (0.4); task 1 peaked at 0.8 -> 0.7 (0.1). Mean 0.25.
    assert forgetting(FORGETFUL) == pytest.approx(0.25)


def test_forgetting_and_bwt_differ_when_a_task_improves_then_drops():
    # Task 0: 0.5, then 0.9 (positive transfer), then 0.6. BWT sees +0.1, forgetting sees 0.3.
    R = [[0.5, None, None], [0.9, 0.8, None], [0.6, 0.8, 0.7]]
    assert backward_transfer(R) == pytest.approx((0.1 + 0.0) / 2)
    assert forgetting(R) == pytest.approx((0.3 + 0.0) / 2)


def test_no_forgetting_gives_exact_zeros():
    R = [[0.9, None, None], [0.9, 0.8, None], [0.9, 0.8, 0.7]]
    assert summarize(R) == {"average_accuracy": pytest.approx(0.8), "bwt": 0.0, "forgetting": 0.0}
    assert backward_transfer(R) == 0.0 and forgetting(R) == 0.0  # exact, not approximate


def test_single_task_has_no_transfer():
    assert summarize([[0.7]]) == {"average_accuracy": 0.7, "bwt": None, "forgetting": None}


@pytest.mark.parametrize(
    "R, match",
    [([], "empty"), ([[0.5, None]], "2x2|1x1"), ([[0.5], [0.4]], "2x2"), ([[1.5]], r"R\[0\]\[0\]"),
     ([[0.5, None], [None, 0.5]], r"R\[1\]\[0\]")],
)
def test_malformed_matrices_are_rejected(R, match):
    with pytest.raises(ValueError, match=match):
        summarize(R)


def test_forward_transfer_compares_each_new_task_with_its_single_task_reference():
    from synapticnet.metrics import forward_transfer

    # Diagonal 0.9, 0.8, 0.9; references 0.95 (task 0, ignored), 0.7, 0.95:
    # ((0.8 - 0.7) + (0.9 - 0.95)) / 2 = 0.025
    assert forward_transfer(FORGETFUL, [0.95, 0.7, 0.95]) == pytest.approx(0.025)
    # Task 0's reference plays no part: nothing precedes task 0.
    assert forward_transfer(FORGETFUL, [0.1, 0.7, 0.95]) == pytest.approx(0.025)
    # Forgetting after a task is learned does not touch FWT (only the diagonal counts).
    assert forward_transfer([[0.9, None], [0.0, 0.8]], [0.9, 0.8]) == pytest.approx(0.0)
    assert forward_transfer([[0.9]], [0.9]) is None


def test_forward_transfer_refuses_a_reference_of_the_wrong_length_or_range():
    from synapticnet.metrics import forward_transfer

    with pytest.raises(ValueError, match="one reference accuracy per task: 3 tasks, 2 given"):
        forward_transfer(FORGETFUL, [0.9, 0.8])
    with pytest.raises(ValueError, match=r"reference\[1\] must be an accuracy in \[0, 1\], got 80"):
        forward_transfer(FORGETFUL, [0.9, 80, 0.9])


def test_summarize_adds_fwt_only_with_a_reference():
    assert "fwt" not in summarize(FORGETFUL)
    assert summarize(FORGETFUL, reference=[0.9, 0.7, 0.95])["fwt"] == pytest.approx(0.025)
