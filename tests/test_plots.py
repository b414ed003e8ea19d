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


# -- readable at notebook width: ≥ 10 pt on the screen, display names, distinct front markers ------------------
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from synapticnet import plots  # noqa: E402
from synapticnet.experiments import figures as F  # noqa: E402

IDENTIFIERS = ("split_cifar10", "mnist_fashion_cifar10", "ewc_lambda", "memory_per_task", "synapticnet_distill",
               "fashion_mnist", "shared_gaussian")


def _run(seed: int, params: float, acc: float) -> dict:
    return dict(seed=seed, params=int(params), avg_acc=acc, train_seconds=10.0)


def _point(label: str, family: str, params: float, acc: float, width: float = 1.0) -> dict:
    runs = [_run(s, params, acc + 0.3 * (s - 2) + (0.2 if s % 2 else -0.1)) for s in range(5)]
    return dict(label=label, family=family, width=width, pooled_size=None, params=int(params), seeds=list(range(5)),
                avg_acc_mean=float(np.mean([r["avg_acc"] for r in runs])),
                avg_acc_std=float(np.std([r["avg_acc"] for r in runs])), runs=runs)


FRONT = {"streams": {stream: {"task_titles": [f"{title} task {t}" for t in range(5)], "configs": [
    _point("separate ×0.25", "separate", 16e3, 77.0, 0.25), _point("separate ×0.5", "separate", 65e3, 81.0, 0.5),
    _point("separate ×1", "separate", 256e3, 84.0), _point("reuse ×0.25", "synapticnet", 135e3, 79.0),
    _point("reuse ×0.5", "synapticnet", 281e3, 80.0), _point("conv-reuse ×0.25", "synapticnet", 89e3, 80.2),
    _point("conv-reuse ×0.25 + masks", "synapticnet", 90e3, 80.3),
    _point("conv-reuse ×1 + compaction", "synapticnet", 70e3, 82.8),
    _point("isolate ×1 + compaction", "synapticnet", 104e3, 83.5)]}
    for stream, title in (("split_cifar10", "Split CIFAR-10"), ("mnist_fashion_cifar10", "MNIST"))}}

SUMMARY = [dict(method=m, average_accuracy=a, average_accuracy_std=0.01, bwt=b, bwt_std=0.01, seeds=[0, 1, 2])
           for m, a, b in (("synapticnet", 0.77, 0.0), ("finetune", 0.55, -0.3), ("ewc", 0.6, -0.2),
                           ("replay", 0.7, -0.05), ("lwf", 0.6, -0.2), ("gem", 0.75, -0.03), ("agem", 0.7, -0.1),
                           ("joint", 0.8, 0.0), ("separate", 0.78, 0.0), ("synapticnet_distill", 0.76, -0.01))]
STUDY = [dict(setting=s, params_total=p, average_accuracy=a, new_task_accuracy=a + 0.05, bwt=-0.01, train_seconds=60.0)
         for s, p, a in (("×0.25", 1e6, 0.7), ("×0.5", 1.5e6, 0.74), ("×1", 2.4e6, 0.76))]
FOUR_TASKS = dict(RESULTS, tasks=["mnist", "fashion_mnist", "cifar10", "cifar100"],
                  task_titles=["MNIST", "Fashion-MNIST", "CIFAR-10", "CIFAR-100"],
                  accuracy_matrix=[[0.99, None, None, None], [0.99, 0.9, None, None], [0.98, 0.9, 0.8, None],
                                   [0.98, 0.9, 0.8, 0.5]],
                  params_per_task=[600, 400, 400, 400], params_used_per_task=[600, 1000, 1400, 1800])
FIGURES = {
    "accuracy_matrix": lambda: plots.accuracy_matrix_figure(FOUR_TASKS),
    "accuracy_over_time": lambda: plots.accuracy_over_time_figure({"synapticnet": FOUR_TASKS, "ewc": FOUR_TASKS,
                                                                   "replay": FOUR_TASKS}),
    "parameters": lambda: plots.parameters_figure(FOUR_TASKS),
    "grouped_bars": lambda: plots.grouped_bars_figure(
        {f"panel {k}": {g: {"reuse": 99.0, "isolate": 98.5, "separate networks": 97.0}
                        for g in ("MNIST", "Fashion-MNIST", "CIFAR-10", "whole network")} for k in range(2)}, "t"),
    "task_confusion": lambda: plots.task_confusion_figure(
        {s: np.eye(5, dtype=int) * 9 + 1 for s in ("entropy", "energy", "shared_gaussian", "softmax", "mahalanobis")},
        [f"Split CIFAR-10 task {t}: airplane/automobile" for t in range(5)]),
    "methods": lambda: F.methods_figure(SUMMARY, "methods"),
    "accuracy_over_time_grid": lambda: F.accuracy_over_time_grid({m: FOUR_TASKS for m in ("ewc", "replay", "lwf")},
                                                                 "grid"),
    "sweeps": lambda: F.sweep_figure([dict(method=m, param=p, values=v, val_average_accuracy=[0.5, None, 0.6, 0.55],
                                           chosen=v[2]) for m, p, v in (("ewc", "ewc_lambda", [1, 10, 100, 1000]),
                                                                        ("replay", "memory_per_task", [50, 100, 200, 400]),
                                                                        ("lwf", "lwf_lambda", [0.1, 0.3, 1.0, 3.0]))],
                                     "sweeps"),
    "tradeoff": lambda: F.tradeoff_figure(STUDY, "trade-off", extra=[dict(STUDY[0], setting="ewc")]),
    "transfer_forgetting": lambda: F.transfer_forgetting_figure(STUDY, "transfer"),
    "settings": lambda: F.settings_figure(STUDY, "settings"),
    "front": lambda: F.front_figure(FRONT),
    "horizontal_bars": lambda: plots.horizontal_bars_figure(
        {p: {plots.display_name(m): {"task identified (%)": 90.0, "class-incremental (%)": 40.0}
             for m in ("shared_gaussian", "mahalanobis", "softmax")} for p in ("accuracy", "cost")}, "t"),
    "importance": lambda: plots.importance_figure({"no penalty": [[1.0, 0.5]] * 6}, {"×0.5": [1] * 6}, title="t"),
    "stacked_parts": lambda: plots.stacked_parts_figure({"separate ×1": {"own": 2e5}, "reuse": {"own": 5e4}}),
    "permuted": lambda: F.permuted_figure(dict(
        anchors=[dict(label="WSN", capacity=0.5, accuracy=96.0), dict(label="one network per task", capacity=10.0,
                                                                       accuracy=97.5)],
        configs=[dict(label="separate ×1", runs=[1, 2], capacity_mean=10.0, capacity_std=0.0, avg_acc_mean=97.0,
                      avg_acc_std=0.2)],
        reference_network=dict(input=[1, 28, 28], hidden=[100, 100], num_classes=10), tasks=["a", "b"],
        budget_label="made-up numbers")),
}


def test_display_pt_is_the_size_text_appears_at_in_a_notebook_column():
    assert plots.display_pt(10, 7.0, dpi=100) == pytest.approx(10 * 100 / 96)  # 700 px: shown as it is
    assert plots.display_pt(10, 7.0, dpi=120) == pytest.approx(10 * 100 / 96)  # 840 px: scaled to 700
    assert plots.display_pt(10, 5.0, dpi=120) == pytest.approx(10 * 120 / 96)  # 600 px: never scaled up
    assert plots.display_pt(8, 18.6, dpi=120) < 3.5  # the old three-panel front: unreadable
    assert plots.display_name("split_cifar10") == "Split CIFAR-10" and plots.display_name("my label") == "my label"


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_readable_at_notebook_width_and_shows_display_names(name):
    fig = FIGURES[name]()
    try:
        for dpi in (plots.INLINE_DPI, plots.SAVE_DPI):
            assert plots.smallest_display_pt(fig, dpi) >= plots.MIN_TEXT_PT, (name, dpi)
        texts = [t.get_text() for t in fig.findobj(plots.Text)]
        assert not [t for t in texts if any(i in t for i in IDENTIFIERS)], name
    finally:
        plt.close(fig)


def test_the_front_gives_every_family_its_own_marker_and_draws_the_paired_intervals():
    from synapticnet.experiments.front import comparisons

    fig = F.front_figure(FRONT)
    try:
        legend = fig.legends[0]
        styles = [(h.get_marker(), h.get_color()) for h in legend.legend_handles]
        assert len(set(styles)) == len(styles) == 7  # separate + five families + the "hollow" key
        labels = [t.get_text() for t in legend.get_texts()]
        assert "conv-reuse ×0.25 + masks" in labels and "reuse ×0.25 → ×0.5" in labels
        top, bottom = fig.axes[0], fig.axes[1]
        rows = comparisons(FRONT["streams"]["split_cifar10"])
        assert len(bottom.containers) == len(rows) == 6  # one interval per configuration against separate networks
        means = sorted(round(float(c.lines[0].get_ydata()[0]), 6) for c in bottom.containers)
        assert means == sorted(round(r["vs_separate_curve"]["mean"], 6) for r in rows)  # drawn at the paired means
        assert top.get_title(loc="left").startswith("Split CIFAR-10: 5 tasks, 5 seeds")
    finally:
        plt.close(fig)


def test_styled_figures_are_shown_in_every_cell_of_a_jupyter_kernel():
    """Styling once restored all of matplotlib's settings: in a kernel the first styled figure was shown, no later one."""
    import nbformat
    from nbclient import NotebookClient

    R = ("dict(accuracy_matrix=[[0.9, None], [0.9, 0.8]], tasks=['a', 'b'], task_titles=['A', 'B'], "
         "params_per_task=[10, 10], params_used_per_task=[10, 20])")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "import matplotlib.pyplot as plt\nfrom synapticnet import plots",
        f"fig = plots.accuracy_matrix_figure({R})", f"fig = plots.parameters_figure({R})",
        "fig, ax = plt.subplots()\nax.plot([1, 2]);")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown = [sum("image/png" in o.get("data", {}) for o in cell.outputs) for cell in nb.cells]
    assert shown == [0, 1, 1, 1]
