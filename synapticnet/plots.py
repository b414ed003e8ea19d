"""Figures drawn from results dictionaries (the ``results.json`` of a run).

Every function takes data, returns a matplotlib ``Figure`` and draws nothing else, so
notebooks stay thin and the same figure can be regenerated from the saved JSON alone.
:func:`save_figure` writes PNGs without timestamps, so re-running with the same
results gives byte-identical files.

Every figure is drawn to be read where a student sees it, in a notebook column 700–900 px wide:
at most :data:`FULL_WIDTH_IN` inches wide with text of at least 10 pt (:data:`STYLE`), so that no text
is smaller than :data:`MIN_TEXT_PT` points on the screen (:func:`display_pt`), and every label shows a
display name ("Split CIFAR-10", "EWC"), never an identifier (``split_cifar10``, ``ewc``: :func:`display_name`).
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter
from matplotlib.text import Text

# -- what every figure looks like: text a student can read at notebook width -------------------------------
SAVE_DPI = 120  # save_figure's resolution: the PNGs in figures/
INLINE_DPI = 100  # matplotlib's figure.dpi, at which Jupyter shows a figure inline
NOTEBOOK_WIDTH_PX = 700  # the narrowest notebook column a figure is shown in (700–900 px): the worst case
SCREEN_PX_PER_IN = 96  # a browser shows an image's pixels as CSS pixels, 96 an inch (and 72 points an inch)
MIN_TEXT_PT = 10.0  # the smallest text a figure may show, in points as seen on the screen
FULL_WIDTH_IN = NOTEBOOK_WIDTH_PX / INLINE_DPI  # 7 in: at 100 dpi, the column's width, shown unscaled
STYLE: dict[str, Any] = {  # 10.5 pt text on a figure at most FULL_WIDTH_IN wide: ≥ 10.9 pt on the screen
    "font.size": 10.5, "axes.titlesize": 11.5, "axes.labelsize": 10.5, "xtick.labelsize": 10.5,
    "ytick.labelsize": 10.5, "legend.fontsize": 10.5, "legend.title_fontsize": 10.5, "figure.titlesize": 12.0,
    "figure.dpi": INLINE_DPI, "savefig.dpi": SAVE_DPI,
}


def display_pt(font_pt: float, figure_width_in: float, dpi: float = SAVE_DPI,
               column_px: float = NOTEBOOK_WIDTH_PX) -> float:
    """How large text of ``font_pt`` points looks on the screen when a figure ``figure_width_in`` inches wide,
    drawn at ``dpi``, is shown in a notebook column ``column_px`` wide.

    The image is ``figure_width_in × dpi`` pixels; a notebook scales it down to the column if it is wider
    (never up), and a browser shows image pixels as CSS pixels, 96 an inch, 72 points an inch. So the text
    appears at ``font_pt × min(dpi, column_px / figure_width_in) / 96`` points: 10 pt on a 7-inch figure is
    10.4 pt at 100 or 120 dpi; on a 19-inch figure (three panels side by side) it is 3.8 pt."""
    return font_pt * min(dpi, column_px / figure_width_in) / SCREEN_PX_PER_IN


def smallest_display_pt(fig: Figure, dpi: float = SAVE_DPI, column_px: float = NOTEBOOK_WIDTH_PX) -> float:
    """The smallest text ``fig`` shows, in points on the screen (:func:`display_pt` of the width it is saved
    at, ``bbox_inches="tight"``). Draws the figure first, so that every tick label exists."""
    fig.canvas.draw()
    width = fig.get_tightbbox(fig.canvas.get_renderer()).width  # inches, as save_figure crops it
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return display_pt(min(sizes, default=MIN_TEXT_PT), width, dpi, column_px)


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw a figure under :data:`STYLE`; afterwards the settings :data:`STYLE` names are as they were.

    Only those settings are saved and restored. With ``plt.rc_context``, which restores every setting, a
    Jupyter kernel (matplotlib 3.11, matplotlib-inline 0.2) showed the first styled figure and no figure
    of any later cell (``tests/test_plots.py`` runs such a kernel)."""
    @functools.wraps(draw)
    def styled_draw(*args: Any, **kwargs: Any) -> Figure:
        saved = {key: plt.rcParams[key] for key in STYLE}
        plt.rcParams.update(STYLE)
        try:
            return draw(*args, **kwargs)
        finally:
            plt.rcParams.update(saved)
    return styled_draw


# Identifiers (task, stream, method and option names) as a figure shows them; anything else is shown as it is.
DISPLAY_NAMES: dict[str, str] = {
    "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
    "split_mnist": "Split MNIST", "split_cifar10": "Split CIFAR-10", "permuted_mnist": "Permuted MNIST",
    "mnist_fashion_cifar10": "MNIST → Fashion-MNIST → CIFAR-10",
    "synapticnet": "SynapticNet", "synapticnet_distill": "SynapticNet + distillation", "finetune": "fine-tuning",
    "ewc": "EWC", "replay": "experience replay", "lwf": "LwF", "gem": "GEM", "agem": "A-GEM",
    "joint": "joint training", "separate": "separate networks",
    "shared_gaussian": "shared Gaussian", "mahalanobis": "Mahalanobis", "softmax": "max-softmax",
    "ewc_lambda": "penalty weight λ", "lwf_lambda": "distillation weight λ",
    "memory_per_task": "memory (images per task)", "lr": "learning rate",
}


def display_name(name: object) -> str:
    """``name`` as a figure shows it: ``"split_cifar10"`` → ``"Split CIFAR-10"``, ``"ewc"`` → ``"EWC"``;
    a name it does not know (already a display name, a label) is returned as it is."""
    return DISPLAY_NAMES.get(str(name), str(name))


def panel_grid(n: int, panel_width: float) -> tuple[int, int]:
    """``(rows, columns)`` for ``n`` panels of at least ``panel_width`` inches side by side within
    :data:`FULL_WIDTH_IN`: a figure grows downwards, never wider than the notebook column."""
    columns = max(1, min(n, int(FULL_WIDTH_IN // panel_width)))
    return -(-n // columns), columns


def wrap_title(title: str, width: int = 62) -> str:
    """``title`` with each of its lines wrapped at ``width`` characters, so that a long budget label stays
    inside a figure the width of a notebook (instead of widening it and shrinking every font)."""
    return "\n".join(textwrap.fill(line, width) for line in title.split("\n"))


def _short(name: str, width: int = 14) -> str:
    """A tick label that fits under one bar or panel: the display name, wrapped every ``width`` characters."""
    return textwrap.fill(display_name(name), width, break_long_words=False, break_on_hyphens=False)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = SAVE_DPI) -> Path:
    """Save ``fig`` as PNG with no creation-time metadata (deterministic bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(STYLE):  # tick labels made while drawing get the style too
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def _labels(results: Mapping[str, Any]) -> list[str]:
    return list(results.get("task_titles") or results["tasks"])


@styled
def accuracy_matrix_figure(results: Mapping[str, Any], title: str | None = None) -> Figure:
    """Heatmap of R[i][j]: rows = after training task i, columns = evaluated on task j."""
    R = np.array([[np.nan if v is None else 100 * v for v in row] for row in results["accuracy_matrix"]])
    labels = _labels(results)
    fig, ax = plt.subplots(figsize=(min(FULL_WIDTH_IN, 1.3 * len(labels) + 2.5), 1.1 * len(labels) + 1.8))
    image = ax.imshow(R, vmin=0, vmax=100, cmap="viridis")
    for i in range(R.shape[0]):
        for j in range(R.shape[1]):
            if not np.isnan(R[i, j]):
                ax.text(j, i, f"{R[i, j]:.1f}", ha="center", va="center",
                        color="white" if R[i, j] < 60 else "black")
    ax.set_xticks(range(len(labels)), [_short(n, 18) for n in labels], rotation=30, ha="right")
    ax.set_yticks(range(R.shape[0]), [_short(f"after {name}", 18) for name in labels[: R.shape[0]]])
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel("trained through task")
    fig.colorbar(image, ax=ax, label="test accuracy (%)", shrink=0.8)
    ax.set_title(title or f"Accuracy matrix — {display_name(results.get('method', 'synapticnet'))}")
    return fig


@styled
def accuracy_over_time_figure(runs: Mapping[str, Mapping[str, Any]] | Mapping[str, Any],
                              title: str = "Accuracy of every task as training proceeds") -> Figure:
    """One line per task: its test accuracy after each training stage.

    ``runs`` is one results dict, or ``{label: results}`` to compare methods (one
    panel each, shared y axis).
    """
    if "accuracy_matrix" in runs:
        runs = {runs.get("method", "synapticnet"): runs}
    rows, columns = panel_grid(len(runs), 3.4)
    fig, axes = plt.subplots(rows, columns, figsize=(FULL_WIDTH_IN, 3.4 * rows + 0.6), sharey=True, squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    for ax, (label, results) in zip(axes.flat, runs.items()):
        R = results["accuracy_matrix"]
        names = _labels(results)
        for j, name in enumerate(names):
            xs = [i for i in range(len(R)) if len(R[i]) > j and R[i][j] is not None]
            ax.plot(xs, [100 * R[i][j] for i in xs], marker="o", label=name)
        ax.set_xticks(range(len(names)), [_short(f"after {n}", 12) for n in names], rotation=30, ha="right")
        ax.set_title(display_name(label))
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)")
    handles = {s: h for ax in axes.flat for h, s in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(title)
    return fig


@styled
def samples_figure(datasets: Sequence[Any], per_task: int = 8, title: str = "What every task looks like") -> Figure:
    """One row per task: its first ``per_task`` training images, as the network receives them
    (harmonised to one size and channel count, before normalisation), titled with the class index."""
    fig, axes = plt.subplots(len(datasets), per_task, figsize=(min(0.6 * per_task, FULL_WIDTH_IN - 1.8),
                                                               0.95 * len(datasets) + 0.4), squeeze=False)
    for row, ds in zip(axes, datasets):
        images, labels = ds.raw("train")
        for k, ax in enumerate(row):
            ax.axis("off")
            if k < len(labels):
                image = images[k].permute(1, 2, 0).numpy()
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255,
                          interpolation="nearest")
                ax.set_title(str(int(labels[k])))
        row[0].text(-0.15, 0.5, textwrap.fill(ds.title + (" (synthetic)" if ds.synthetic else ""), 16),
                    transform=row[0].transAxes, ha="right", va="center")
    fig.suptitle(title)
    return fig


@styled
def parameters_figure(results: Mapping[str, Any], title: str = "Parameters per task") -> Figure:
    """Bars: parameters each task created (stacked total) and parameters each task uses."""
    names = _labels(results)
    created = np.array(results["params_per_task"], dtype=float) / 1e6
    used = np.array(results.get("params_used_per_task", results["params_per_task"]), dtype=float) / 1e6
    x = np.arange(len(created))
    fig, ax = plt.subplots(figsize=(min(FULL_WIDTH_IN, 1.5 * len(names) + 3), 3.8))
    ax.bar(x - 0.2, np.cumsum(created), width=0.4, label="network size after the task", color="#9ecae1")
    ax.bar(x - 0.2, created, width=0.4, label="created by the task", color="#3182bd")
    ax.bar(x + 0.2, used, width=0.4, label="used by the task's forward pass", color="#fd8d3c")
    ax.set_xticks(x, [_short(n) for n in names[: len(x)]])
    ax.set_ylabel("parameters (millions)")
    ax.legend()
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig


@styled
def grouped_bars_figure(panels: Mapping[str, Mapping[str, Mapping[str, float | None]]], title: str = "",
                        formats: Mapping[str, str] | None = None) -> Figure:
    """Side-by-side panels of grouped bars, every bar labelled with its value.

    ``panels[panel][group][series] = value``: one panel per key (the key is its title),
    one cluster of bars per group (names wrapped to fit), one colour per series — the
    same colour in every panel. A missing series or ``None`` leaves no bar.
    ``formats[panel]`` formats the bar labels (default ``"{:.3g}"``). Text is at least 10 pt, readable
    at notebook width when the figure is at most about 9 inches wide (two panels of a few groups).
    """
    formats = formats or {}
    series = list(dict.fromkeys(s for groups in panels.values() for bars in groups.values() for s in bars))
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(series)}
    present = {label: [s for s in series if any(bars.get(s) is not None for bars in groups.values())]
               for label, groups in panels.items()}
    sizes = [max(len(groups), 1) * (0.8 + 0.45 * len(present[label])) + 0.8 for label, groups in panels.items()]
    if sum(sizes) + 0.5 <= FULL_WIDTH_IN:  # side by side
        fig, axes = plt.subplots(1, len(panels), figsize=(sum(sizes) + 0.5, 4.4), squeeze=False, layout="constrained",
                                 gridspec_kw=dict(width_ratios=sizes))
    else:  # one panel a row: never wider than the notebook
        fig, axes = plt.subplots(len(panels), 1, figsize=(FULL_WIDTH_IN, 3.4 * len(panels) + 0.8), squeeze=False,
                                 layout="constrained")
        axes = axes.T
    side_by_side = axes.shape[1] > 1 or sum(sizes) + 0.5 <= FULL_WIDTH_IN
    for k, (ax, (label, groups)) in enumerate(zip(axes[0], panels.items())):
        fmt, shown = formats.get(label, "{:.3g}"), present[label]
        width = 0.8 / max(len(shown), 1)
        texts = [fmt.format(v) for bars in groups.values() for v in bars.values() if v is not None]
        bar_in = (sizes[k] if side_by_side else FULL_WIDTH_IN - 0.8) * width / (len(groups) + 0.4)
        upright = 0.6 * STYLE["font.size"] / 72 * max(map(len, texts), default=0) > bar_in  # a label wider than its bar
        for i, s in enumerate(shown):
            xs = [g for g, bars in enumerate(groups.values()) if bars.get(s) is not None]
            values = [list(groups.values())[g][s] for g in xs]
            bars = ax.bar([g + (i - (len(shown) - 1) / 2) * width for g in xs], values, width=width,
                          color=colours[s], label=s)
            ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2, rotation=90 if upright else 0)
        ax.set_xticks(range(len(groups)), [_short(g) for g in groups])
        ax.set_title(label)
        ax.margins(y=0.25 if upright else 0.12)
        ax.grid(axis="y", alpha=0.3)
    handles = {s: h for ax in axes[0] for h, s in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 3), frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def comparison_table(runs: Mapping[str, Mapping[str, Any]], percent: bool = True) -> list[dict[str, Any]]:
    """One row per run: final accuracy per task, average, BWT, forgetting, parameters, time."""
    scale = 100.0 if percent else 1.0
    rows = []
    for label, r in runs.items():
        row: dict[str, Any] = {"method": label}
        for name, acc in r["final_accuracy"].items():
            row[name] = None if acc is None else round(scale * acc, 2)
        for key in ("average_accuracy", "bwt", "forgetting"):
            row[key] = None if r.get(key) is None else round(scale * r[key], 2)
        row["params"] = r.get("params_total")
        row["train_seconds"] = round(r["train_seconds_total"], 1) if r.get("train_seconds_total") is not None else None
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render dict rows as a GitHub-flavoured Markdown table (None shows as —)."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = ["—" if row.get(c) is None else (f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]))
                 for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@styled
def task_confusion_figure(panels: Mapping[str, Sequence[Sequence[int]]], labels: Sequence[str],
                          title: str = "Which task was inferred?") -> Figure:
    """Confusion matrices of inferred tasks, one panel per scorer: ``{scorer: T×T counts}``.

    Row ``i`` = images of task ``i``, column ``j`` = inferred task ``j``; each row is
    shown as percentages of its images (so a perfect detector is a diagonal of 100s).
    The counts come from :func:`synapticnet.task_inference.evaluate_task_inference`
    (``task_confusion``). Panels flow into rows at notebook width.
    """
    common = os.path.commonprefix(list(labels)) if len(labels) > 1 else ""
    common = common[: common.rfind(" ") + 1]  # whole words only: "Split CIFAR-10 task " of "… task 0: airplane/…"
    if common:  # the title names the stream; the ticks keep what differs
        labels = [label[len(common):] for label in labels]
    size = 0.45 * len(labels) + 1.0  # one panel, inches
    rows, columns = panel_grid(len(panels), size)
    short = [label.split(":")[0] for label in labels] if all(":" in label for label in labels) else labels
    fig, axes = plt.subplots(rows, columns, figsize=(FULL_WIDTH_IN, (0.7 * FULL_WIDTH_IN / columns + 1.0) * rows + 0.4),
                             squeeze=False, layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (name, counts) in zip(axes.flat, panels.items()):
        C = np.asarray(counts, dtype=float)
        if C.shape != (len(labels), len(labels)):
            raise ValueError(f"panel {name!r} is {C.shape}, expected {len(labels)}×{len(labels)} (one row per task)")
        P = 100 * C / np.maximum(C.sum(axis=1, keepdims=True), 1)
        ax.imshow(P, vmin=0, vmax=100, cmap="Blues")
        for i in range(P.shape[0]):
            for j in range(P.shape[1]):
                ax.text(j, i, f"{P[i, j]:.0f}" if P[i, j] >= 0.5 or P[i, j] == 0 else "<1", ha="center", va="center",
                        color="white" if P[i, j] > 60 else "black")
        ax.set_xticks(range(len(labels)), short, rotation=40 if short is labels else 0, ha="right" if short is labels
                      else "center")
        ax.set_yticks(range(len(labels)), labels if ax in axes[:, 0] else [])
        accuracy = 100 * np.trace(C) / max(C.sum(), 1)
        ax.set_title(f"{display_name(name)}\n{accuracy:.1f} % right")
        ax.set_xlabel("inferred task")
    for ax in axes[:, 0]:
        ax.set_ylabel("true task (% of its images)")
    fig.suptitle(title)
    return fig


# -- notebook 06: what compaction ranks, and where a new task's parameters go -----------------
# Sized to be shown at notebook width: about 7.5 inches (900 px at save_figure's 120 dpi) and text of at least
# 11 pt, so that it stays at 10 pt or more where the page shows the figure a little smaller than its file.
NOTEBOOK_WIDTH = 7.5
NOTEBOOK_FONT = 11


def importance_figure(scores: Mapping[str, Sequence[Sequence[float]]], keeps: Mapping[str, Sequence[int]] | None = None,
                      ylabel: str = "BatchNorm |γ|", unit: str = "filters", title: str = "", ncols: int = 3) -> Figure:
    """One panel per layer: the importance of its units, largest first, one line per trained network.

    ``scores[network][layer]`` holds one score per unit (e.g. the BatchNorm ``|γ|`` of every
    filter, :func:`synapticnet.pruning.unit_importance`); ``keeps[label][layer]`` how many units a
    compaction keeps there, drawn as a vertical line after that many units (one line style per label,
    named in the legend).
    Panels form a grid of ``ncols`` columns, so the figure fits a notebook's width.
    """
    networks = list(scores)
    n = len(next(iter(scores.values()))) if scores else 0
    if n == 0 or any(len(layers) != n for layers in scores.values()):
        raise ValueError(f"scores must hold the same number (≥ 1) of layers for every network, got "
                         f"{ {name: len(layers) for name, layers in scores.items()} }")
    cols = min(ncols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(NOTEBOOK_WIDTH, 2.5 * rows + 1.2), squeeze=False,
                             layout="constrained")
    colours = ["#3182bd", "#e6550d", "#31a354", "#756bb1"]
    styles = [":", "--", "-.", (0, (5, 1, 1, 1, 1, 1))]
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        for k, name in enumerate(networks):
            ranked = np.sort(np.asarray(scores[name][i], dtype=float))[::-1]
            ax.plot(np.arange(1, len(ranked) + 1), ranked, marker=".", color=colours[k % len(colours)], label=name)
        for k, (label, sizes) in enumerate((keeps or {}).items()):  # a line style per compaction, named in the legend
            ax.axvline(sizes[i] + 0.5, color="0.35", lw=1.2, ls=styles[k % len(styles)], label=f"keeps {label}")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(plt.MaxNLocator(nbins=4, integer=True))
        ax.set_title(f"layer {i + 1}: {len(scores[networks[0]][i])} {unit}", fontsize=NOTEBOOK_FONT)
        ax.tick_params(labelsize=NOTEBOOK_FONT)
        if i % cols == 0:
            ax.set_ylabel(ylabel, fontsize=NOTEBOOK_FONT)
        if i >= n - cols:
            ax.set_xlabel(f"{unit}, largest first", fontsize=NOTEBOOK_FONT)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), fontsize=NOTEBOOK_FONT,
               frameon=False)
    if title:
        fig.suptitle(wrap_title(title, 72), fontsize=NOTEBOOK_FONT + 1)
    return fig


def stacked_parts_figure(bars: Mapping[str, Mapping[str, float]], colours: Mapping[str, str] | None = None,
                         xlabel: str = "parameters", title: str = "") -> Figure:
    """Horizontal stacked bars: ``bars[row][part]`` (one bar per row, top to bottom; parts in first-seen order).

    For "what are a configuration's parameters spent on": every row is a configuration, every
    part a kind of weight. ``colours[part]`` fixes a part's colour (default: matplotlib's cycle).
    """
    parts = list(dict.fromkeys(p for row in bars.values() for p in row))
    colours = {p: (colours or {}).get(p, plt.cm.tab10(i % 10)) for i, p in enumerate(parts)}
    labels = list(bars)
    fig, ax = plt.subplots(figsize=(NOTEBOOK_WIDTH, 0.42 * len(labels) + 2.2), layout="constrained")
    left = np.zeros(len(labels))
    for part in parts:
        values = np.array([bars[label].get(part, 0.0) for label in labels], dtype=float)
        ax.barh(labels, values, left=left, color=colours[part], label=part)
        left += values
    ax.invert_yaxis()
    ax.tick_params(labelsize=NOTEBOOK_FONT)
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))  # 50,000 rather than 5e4
    ax.set_xlabel(xlabel, fontsize=NOTEBOOK_FONT)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncol=2, fontsize=NOTEBOOK_FONT, frameon=False)
    if title:
        ax.set_title(wrap_title(title, 72), fontsize=NOTEBOOK_FONT + 1)
    return fig


@styled
def horizontal_bars_figure(panels: Mapping[str, Mapping[str, Mapping[str, float | None]]], title: str = "",
                           xlabel: str = "", fmt: str = "{:.0f}", xmax: float | None = None) -> Figure:
    """Panels of horizontal grouped bars sharing one list of rows, every bar labelled with its value.

    ``panels[panel][row][series] = value``: one panel per key (the key is its title), the rows
    (e.g. methods, by display name) down the left edge, one colour per series (e.g. two
    metrics), the same in every panel. A missing row, series or ``None`` leaves no bar.
    Every text is 10 pt or more; the figure is sized for notebook width.
    """
    rows = list(dict.fromkeys(r for bars in panels.values() for r in bars))
    series = list(dict.fromkeys(s for bars in panels.values() for values in bars.values() for s in values))
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(series)}
    height = 0.8 / max(len(series), 1)
    fig, axes = plt.subplots(1, len(panels), figsize=(FULL_WIDTH_IN, 0.9 + 0.32 * len(rows) * len(series)),
                             squeeze=False, sharey=True, layout="constrained")
    for ax, (label, bars) in zip(axes[0], panels.items()):
        for i, s in enumerate(series):
            ys = [r for r, name in enumerate(rows) if bars.get(name, {}).get(s) is not None]
            values = [bars[rows[r]][s] for r in ys]
            drawn = ax.barh([r + (i - (len(series) - 1) / 2) * height for r in ys], values, height=height,
                            color=colours[s], label=s)
            ax.bar_label(drawn, labels=[fmt.format(v) for v in values], fontsize=10, padding=2)
        ax.set_yticks(range(len(rows)), rows, fontsize=10)
        ax.set_title(label, fontsize=11)
        ax.tick_params(axis="x", labelsize=10)
        ax.set_xlabel(xlabel, fontsize=10)
        if xmax is not None:
            ax.set_xlim(0, xmax)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].invert_yaxis()  # the first row on top (the panels share this axis)
    handles = {s: h for ax in axes[0] for h, s in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 3), fontsize=10,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig
