"""Figures drawn from results dictionaries (the ``results.json`` of a run).

Every function takes data, returns a matplotlib ``Figure`` and draws nothing else, so
notebooks stay thin and the same figure can be regenerated from the saved JSON alone.
:func:`save_figure` writes PNGs without timestamps, so re-running with the same
results gives byte-identical files.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG with no creation-time metadata (deterministic bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def _labels(results: Mapping[str, Any]) -> list[str]:
    return list(results.get("task_titles") or results["tasks"])


def accuracy_matrix_figure(results: Mapping[str, Any], title: str | None = None) -> Figure:
    """Heatmap of R[i][j]: rows = after training task i, columns = evaluated on task j."""
    R = np.array([[np.nan if v is None else 100 * v for v in row] for row in results["accuracy_matrix"]])
    labels = _labels(results)
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2.5, 1.1 * len(labels) + 1.8))
    image = ax.imshow(R, vmin=0, vmax=100, cmap="viridis")
    for i in range(R.shape[0]):
        for j in range(R.shape[1]):
            if not np.isnan(R[i, j]):
                ax.text(j, i, f"{R[i, j]:.1f}", ha="center", va="center",
                        color="white" if R[i, j] < 60 else "black", fontsize=10)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(R.shape[0]), [f"after {name}" for name in labels[: R.shape[0]]])
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel("trained through task")
    fig.colorbar(image, ax=ax, label="test accuracy (%)", shrink=0.8)
    ax.set_title(title or f"Accuracy matrix — {results.get('method', 'synapticnet')}")
    return fig


def accuracy_over_time_figure(runs: Mapping[str, Mapping[str, Any]] | Mapping[str, Any],
                              title: str = "Accuracy of every task as training proceeds") -> Figure:
    """One line per task: its test accuracy after each training stage.

    ``runs`` is one results dict, or ``{label: results}`` to compare methods (one
    panel each, shared y axis).
    """
    if "accuracy_matrix" in runs:
        runs = {runs.get("method", "synapticnet"): runs}
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs) + 1, 3.6), sharey=True, squeeze=False)
    for ax, (label, results) in zip(axes[0], runs.items()):
        R = results["accuracy_matrix"]
        names = _labels(results)
        for j, name in enumerate(names):
            xs = [i for i in range(len(R)) if len(R[i]) > j and R[i][j] is not None]
            ax.plot(xs, [100 * R[i][j] for i in xs], marker="o", label=name)
        ax.set_xticks(range(len(names)), [f"after\n{n}" for n in names], fontsize=8)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def samples_figure(datasets: Sequence[Any], per_task: int = 8, title: str = "What every task looks like") -> Figure:
    """One row per task: its first ``per_task`` training images, as the network receives them
    (harmonised to one size and channel count, before normalisation), titled with the class index."""
    fig, axes = plt.subplots(len(datasets), per_task, figsize=(0.8 * per_task, 0.95 * len(datasets) + 0.4),
                             squeeze=False)
    for row, ds in zip(axes, datasets):
        images, labels = ds.raw("train")
        for k, ax in enumerate(row):
            ax.axis("off")
            if k < len(labels):
                image = images[k].permute(1, 2, 0).numpy()
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255,
                          interpolation="nearest")
                ax.set_title(str(int(labels[k])), fontsize=7)
        row[0].text(-0.15, 0.5, ds.title + (" (synthetic)" if ds.synthetic else ""), transform=row[0].transAxes,
                    ha="right", va="center", fontsize=8)
    fig.suptitle(title)
    return fig


def parameters_figure(results: Mapping[str, Any], title: str = "Parameters per task") -> Figure:
    """Bars: parameters each task created (stacked total) and parameters each task uses."""
    names = _labels(results)
    created = np.array(results["params_per_task"], dtype=float) / 1e6
    used = np.array(results.get("params_used_per_task", results["params_per_task"]), dtype=float) / 1e6
    x = np.arange(len(created))
    fig, ax = plt.subplots(figsize=(1.5 * len(names) + 3, 3.6))
    ax.bar(x - 0.2, np.cumsum(created), width=0.4, label="network size after the task", color="#9ecae1")
    ax.bar(x - 0.2, created, width=0.4, label="created by the task", color="#3182bd")
    ax.bar(x + 0.2, used, width=0.4, label="used by the task's forward pass", color="#fd8d3c")
    ax.set_xticks(x, names[: len(x)], rotation=20)
    ax.set_ylabel("parameters (millions)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig


def grouped_bars_figure(panels: Mapping[str, Mapping[str, Mapping[str, float | None]]], title: str = "",
                        formats: Mapping[str, str] | None = None) -> Figure:
    """Side-by-side panels of grouped bars, every bar labelled with its value.

    ``panels[panel][group][series] = value``: one panel per key (the key is its title),
    one cluster of bars per group (names wrapped to fit), one colour per series — the
    same colour in every panel. A missing series or ``None`` leaves no bar.
    ``formats[panel]`` formats the bar labels (default ``"{:.3g}"``).
    """
    formats = formats or {}
    series = list(dict.fromkeys(s for groups in panels.values() for bars in groups.values() for s in bars))
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(series)}
    present = {label: [s for s in series if any(bars.get(s) is not None for bars in groups.values())]
               for label, groups in panels.items()}
    sizes = [max(len(groups), 1) * (0.6 + 0.35 * len(present[label])) + 0.8 for label, groups in panels.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(sizes) + 0.5, 4.2), squeeze=False, layout="constrained",
                             gridspec_kw=dict(width_ratios=sizes))
    for ax, (label, groups) in zip(axes[0], panels.items()):
        fmt, shown = formats.get(label, "{:.3g}"), present[label]
        width = 0.8 / max(len(shown), 1)
        for i, s in enumerate(shown):
            xs = [g for g, bars in enumerate(groups.values()) if bars.get(s) is not None]
            values = [list(groups.values())[g][s] for g in xs]
            bars = ax.bar([g + (i - (len(shown) - 1) / 2) * width for g in xs], values, width=width,
                          color=colours[s], label=s)
            ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=7, padding=2)
        ax.set_xticks(range(len(groups)), [textwrap.fill(g, 16) for g in groups], fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.margins(y=0.12)
        ax.grid(axis="y", alpha=0.3)
    handles = {s: h for ax in axes[0] for h, s in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
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


def task_confusion_figure(panels: Mapping[str, Sequence[Sequence[int]]], labels: Sequence[str],
                          title: str = "Which task was inferred?", columns: int = 3) -> Figure:
    """Confusion matrices of inferred tasks, one panel per scorer: ``{scorer: T×T counts}``.

    Row ``i`` = images of task ``i``, column ``j`` = inferred task ``j``; each row is
    shown as percentages of its images (so a perfect detector is a diagonal of 100s).
    The counts come from :func:`synapticnet.task_inference.evaluate_task_inference`
    (``task_confusion``). At most ``columns`` panels per row, every text at 10 pt or more,
    sized to be read at notebook width.
    """
    common = os.path.commonprefix(list(labels)) if len(labels) > 1 else ""
    common = common[: common.rfind(" ") + 1]  # whole words only: "Split CIFAR-10 task " of "… task 0: airplane/…"
    if common:  # the title names the stream; the ticks keep what differs
        labels = [label[len(common):] for label in labels]
    # "0: airplane/automobile" on the rows; its number "0" under the columns
    short = [str(label).split(":")[0] for label in labels] if all(":" in str(label) for label in labels) else labels
    n = len(panels)
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    side = 0.4 * len(labels)  # inches: room for "100" at 10 pt in every cell
    inch = lambda texts: 0.075 * max((len(str(t)) for t in texts), default=1)  # noqa: E731  (10 pt text)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * max(side + 0.4, 2.4) + inch(labels) + 0.5,
                                                  rows * (side + 0.65 * inch(short) + 1.1) + 0.4),
                             squeeze=False, layout="constrained")
    for k, (name, counts) in enumerate(panels.items()):
        ax = axes[k // cols][k % cols]
        C = np.asarray(counts, dtype=float)
        if C.shape != (len(labels), len(labels)):
            raise ValueError(f"panel {name!r} is {C.shape}, expected {len(labels)}×{len(labels)} (one row per task)")
        P = 100 * C / np.maximum(C.sum(axis=1, keepdims=True), 1)
        ax.imshow(P, vmin=0, vmax=100, cmap="Blues")
        for i in range(P.shape[0]):
            for j in range(P.shape[1]):
                ax.text(j, i, f"{P[i, j]:.0f}" if P[i, j] >= 0.5 or P[i, j] == 0 else "<1", ha="center", va="center",
                        color="white" if P[i, j] > 60 else "black", fontsize=10)
        ax.set_xticks(range(len(labels)), short, rotation=40 if short is labels else 0,
                      ha="right" if short is labels else "center", fontsize=10)
        ax.set_yticks(range(len(labels)), labels if k % cols == 0 else [], fontsize=10)
        accuracy = 100 * np.trace(C) / max(C.sum(), 1)
        ax.set_title(f"{name}\n{accuracy:.1f} % right", fontsize=11)
        ax.set_xlabel("inferred task", fontsize=10)
        if k % cols == 0:
            ax.set_ylabel("true task (% of its images)", fontsize=10)
    for k in range(n, rows * cols):  # empty slots of the last row
        fig.delaxes(axes[k // cols][k % cols])
    fig.suptitle(title, fontsize=12)
    return fig


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
    fig, axes = plt.subplots(1, len(panels), figsize=(1.5 + 3.6 * len(panels), 0.9 + 0.32 * len(rows) * len(series)),
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
