"""Figures and tables are drawn from results dicts alone, deterministically."""

import hashlib

import matplotlib.pyplot as plt

from synapticnet.plots import (accuracy_matrix_figure, accuracy_over_time_figure, comparison_table,
                               markdown_table, parameters_figure, save_figure)

RESULTS = {
    "method": "synapticnet",
    "tasks": ["mnist", "cifar10"],
    "task_titles": ["MNIST", "CIFAR-10"],
    "accuracy_matrix": [[0.99, None], [0.99, 0.75]],
    "final_accuracy": {"mnist": 0.99, "cifar10": 0.75},
    "average_accuracy": 0.87, "bwt": 0.0, "forgetting": 0.0,
    "params_total": 1000, "params_per_task": [600, 400], "params_used_per_task": [600, 1000],
    "train_seconds_total": 12.345,
}


def test_figures_are_byte_identical_when_redrawn(tmp_path):
    digests = []
    for attempt in range(2):
        fig = accuracy_matrix_figure(RESULTS)
        path = save_figure(fig, tmp_path / f"m{attempt}.png")
        plt.close(fig)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_figures_draw_every_task():
    fig = accuracy_over_time_figure({"a": RESULTS, "b": RESULTS})
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)
    plt.close(fig)
    fig = parameters_figure(RESULTS)
    assert len(fig.axes[0].patches) == 6  # three bars per task
    plt.close(fig)
    fig = accuracy_matrix_figure(RESULTS)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["75.0", "99.0", "99.0"]  # the unseen cell stays empty
    plt.close(fig)


def test_comparison_table_in_percent_and_markdown():
    rows = comparison_table({"SynapticNet": RESULTS})
    assert rows == [{"method": "SynapticNet", "mnist": 99.0, "cifar10": 75.0, "average_accuracy": 87.0,
                     "bwt": 0.0, "forgetting": 0.0, "params": 1000, "train_seconds": 12.3}]
    table = markdown_table(rows)
    assert table.splitlines()[2] == "| SynapticNet | 99.0 | 75.0 | 87.0 | 0.0 | 0.0 | 1,000 | 12.3 |"


def test_samples_figure_shows_each_task_as_the_network_sees_it():
    from synapticnet.data import TaskDataset
    from synapticnet.plots import samples_figure
    from synapticnet.data import make_synthetic

    grey = TaskDataset(make_synthetic(3, 28, 1, 30, 9, seed=1), task_id=0, n_train=None, val_size=0)
    colour = TaskDataset(make_synthetic(3, 32, 3, 30, 9, seed=2), task_id=1, n_train=None, val_size=0)
    fig = samples_figure([grey, colour], per_task=4)
    axes = fig.axes
    assert len(axes) == 8
    assert axes[0].images[0].get_array().shape == (32, 32)  # grey: padded 28 -> 32, one channel
    assert axes[4].images[0].get_array().shape == (32, 32, 3)
    assert axes[0].get_title() == str(int(grey.raw("train")[1][0]))
    plt.close(fig)


def test_grouped_bars_figure_labels_every_bar_and_keeps_series_colours():
    from synapticnet.plots import grouped_bars_figure

    panels = {"accuracy (%)": {"MNIST": {"reuse": 99.0, "isolate": 98.5}, "Fashion-MNIST": {"reuse": 90.0, "isolate": 91.0}},
              "parameters (M)": {"whole network": {"reuse": 1.86, "isolate": None}}}
    fig = grouped_bars_figure(panels, title="t", formats={"accuracy (%)": "{:.1f}"})
    left, right = fig.axes
    assert len(left.patches) == 4 and len(right.patches) == 1  # None draws no bar
    assert sorted(t.get_text() for t in left.texts) == ["90.0", "91.0", "98.5", "99.0"]
    assert [t.get_text() for t in right.texts] == ["1.86"]
    assert left.patches[0].get_facecolor() == right.patches[0].get_facecolor()  # "reuse" in both panels
    plt.close(fig)


def test_task_confusion_figure_drops_the_common_prefix_of_task_titles():
    from synapticnet.plots import task_confusion_figure

    titles = ["Split CIFAR-10 task 0: airplane/automobile", "Split CIFAR-10 task 1: bird/cat"]
    fig = task_confusion_figure({"entropy": [[3, 1], [0, 4]]}, titles)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0: airplane/automobile", "1: bird/cat"]
    assert ax.get_title() == "entropy\n87.5 % right"  # 7 of 8 images on the diagonal
    unrelated = task_confusion_figure({"entropy": [[1, 0], [0, 1]]}, ["MNIST", "Fashion-MNIST"])
    assert [t.get_text() for t in unrelated.axes[0].get_xticklabels()] == ["MNIST", "Fashion-MNIST"]


def _texts(fig):
    from matplotlib.text import Text
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_notebook_06_figures_fit_a_notebook_and_stay_readable(tmp_path):
    """06_importance was one long row (2303 px, 7-9 pt text): now a grid at notebook width, every text ≥ 11 pt."""
    import matplotlib.image as mpimg
    import pytest

    from synapticnet.plots import NOTEBOOK_FONT, importance_figure, stacked_parts_figure

    sizes = [8, 8, 16, 16, 32, 32]
    scores = {"no penalty": [[1.0 - 0.01 * i for i in range(n)] for n in sizes],
              "λ = 0.03": [[0.8 - 0.01 * i for i in range(n)] for n in sizes]}
    keeps = {"×0.25": [2, 2, 4, 4, 8, 8], "×0.5": [4, 4, 8, 8, 16, 16]}
    fig = importance_figure(scores, keeps, title="a title\n" + "a long budget label, " * 6)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 6 and len({ax.get_subplotspec().rowspan.start for ax in panels}) == 2  # two rows of three
    assert all(len(ax.lines) == 2 + 2 for ax in panels)  # two networks, two compactions
    assert panels[0].get_title() == "layer 1: 8 filters"
    assert min(t.get_fontsize() for t in _texts(fig)) >= NOTEBOOK_FONT >= 10
    width = mpimg.imread(save_figure(fig, tmp_path / "importance.png")).shape[1]
    plt.close(fig)
    assert width <= 1000  # the old figure was 2303 px wide
    with pytest.raises(ValueError, match="same number"):
        importance_figure({"a": [[1.0]], "b": [[1.0], [2.0]]})

    bars = {"separate ×1": {"whole separate networks": 200_000.0},
            "reuse ×0.25": {"conv ← own": 5_000.0, "dense ← older tasks": 45_000.0}}
    fig = stacked_parts_figure(bars, {"conv ← own": "#9ecae1"}, xlabel="parameters", title="Where they go")
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * 3  # a bar per row for every part (zero where a row lacks it)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["separate ×1", "reuse ×0.25"]
    fig.canvas.draw()
    assert any("," in t.get_text() for t in ax.get_xticklabels())  # 50,000, not 5e4
    assert min(t.get_fontsize() for t in _texts(fig)) >= NOTEBOOK_FONT
    plt.close(fig)
