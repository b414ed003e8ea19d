"""Figures for notebooks 04 (baselines) and 05 (growth studies), the growth front and Permuted MNIST.

Like :mod:`synapticnet.plots`: every function takes plain data (results dicts, study
rows, sweep dicts), returns a matplotlib ``Figure`` and draws nothing else.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..plots import FULL_WIDTH_IN, display_name, panel_grid, styled, wrap_title


@styled
def methods_figure(summary: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Bars: final average accuracy and BWT per method, with ± std error bars over seeds.

    ``summary`` rows come from :func:`synapticnet.experiments.mean_std` (``method``,
    ``average_accuracy``, ``average_accuracy_std``, ``bwt``, ``bwt_std``, ``seeds``).
    """
    labels = [f"{display_name(r['method'])} (n={len(r.get('seeds') or [1])})" for r in summary]
    x = np.arange(len(summary))
    fig, axes = plt.subplots(2, 1, figsize=(FULL_WIDTH_IN, 7.6), layout="constrained")
    for ax, key, label in ((axes[0], "average_accuracy", "final average accuracy (%)"),
                           (axes[1], "bwt", "backward transfer, BWT (points)")):
        values = np.array([np.nan if r.get(key) is None else 100 * r[key] for r in summary])
        errors = np.array([0.0 if r.get(key + "_std") is None else 100 * r[key + "_std"] for r in summary])
        colours = ["#3182bd" if "synapticnet" in str(r["method"]) else "#9ecae1" for r in summary]
        ax.bar(x, np.nan_to_num(values), yerr=errors, color=colours, capsize=4)
        for xi, v, e in zip(x, values, errors):
            # the label sits beyond the end of the error bar (and its cap), a few points away,
            # so neither the bar nor the error bar can touch it
            up = np.isnan(v) or v >= 0
            y = 0 if np.isnan(v) else (v + e if up else v - e)
            ax.annotate("n/a" if np.isnan(v) else f"{v:.1f}", (xi, y), xytext=(0, 5 if up else -5),
                        textcoords="offset points", ha="center", va="bottom" if up else "top")
        # room for the labels beyond the longest bars, on both sides of 0 (BWT's bars all point down,
        # but a 0.0 or n/a label above the axis still needs space)
        ends = [v + e for v, e in zip(np.nan_to_num(values), errors)] + [v - e for v, e in zip(np.nan_to_num(values), errors)]
        low, high = min(0.0, *ends), max(0.0, *ends)
        pad = 0.14 * max(high - low, 1.0)
        ax.set_ylim(low - (pad if low < 0 else 0), high + pad)
        ax.set_xticks(x, labels, rotation=35, ha="right", rotation_mode="anchor")
        ax.set_ylabel(label)
        ax.axhline(0, color="black", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(wrap_title(title, 80))
    return fig


@styled
def accuracy_over_time_grid(runs: Mapping[str, Mapping[str, Any]], title: str, columns: int = 2) -> Figure:
    """One panel per method in a grid: every task's test accuracy after each training stage.

    ``runs`` is ``{method: results}`` (one seed). Panels share both axes; the x axis names
    the stage ("after <task>"), one line per task, one legend for the figure. A grid of
    ``columns`` panels per row keeps the text readable where one long strip would not.
    """
    names = list(runs)
    rows = max(1, -(-len(names) // columns))
    columns = min(columns, max(len(names), 1))
    fig, axes = plt.subplots(rows, columns, figsize=(FULL_WIDTH_IN, 3.0 * rows + 1.2), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    tasks: list[str] = []
    for ax, name in zip(axes.flat, names):
        results = runs[name]
        R = results["accuracy_matrix"]
        tasks = [display_name(t) for t in results.get("task_titles") or results.get("tasks")
                 or [f"task {j}" for j in range(len(R[-1]))]]
        for j, task in enumerate(tasks):
            xs = [i for i in range(len(R)) if len(R[i]) > j and R[i][j] is not None]
            ax.plot(xs, [100 * R[i][j] for i in xs], marker="o", label=task, color=f"C{j}")
        ax.set_title(display_name(name))
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)", fontsize=10)
    for ax in axes.flat[:len(names)]:
        ax.set_xticks(range(len(tasks)), [f"after\n{t}" for t in tasks], rotation=30, ha="right")
        ax.tick_params(labelbottom=True)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), frameon=False)
    fig.suptitle(title)
    return fig


@styled
def sweep_figure(sweeps: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """One panel per sweep: validation average accuracy against the swept value (chosen one marked).

    A value that diverged (score ``None``) keeps its place on the axis, marked "diverged"."""
    rows, columns = panel_grid(len(sweeps), 3.4)
    fig, axes = plt.subplots(rows, columns, figsize=(FULL_WIDTH_IN, 3.2 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(sweeps):]:
        ax.axis("off")
    for ax, s in zip(axes.flat, sweeps):
        xs = np.arange(len(s["values"]))
        ys = [np.nan if a is None else 100 * a for a in s["val_average_accuracy"]]  # None: diverged
        ax.plot(xs, ys, marker="o")
        best = s["values"].index(s["chosen"])
        ax.plot([xs[best]], [ys[best]], marker="*", markersize=14, color="#e6550d", label="chosen")
        failed = [x for x, y in zip(xs, ys) if np.isnan(y)]
        if failed:
            low = np.nanmin(ys)
            ax.plot(failed, [low] * len(failed), marker="x", linestyle="none", color="#de2d26", label="diverged")
        ax.set_xticks(xs, [f"{v:g}" if isinstance(v, float) else str(v) for v in s["values"]],
                      rotation=30 if len(xs) > 4 else 0)
        ax.set_xlabel(display_name(s["param"]))
        ax.set_title(display_name(s["method"]))
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[:, 0]:
        ax.set_ylabel("validation average\naccuracy (%)")
    fig.suptitle(title)
    return fig


@styled
def tradeoff_figure(rows: Sequence[Mapping[str, Any]], title: str, x: str = "params_total",
                    y: str = "average_accuracy", label: str = "setting", extra: Sequence[Mapping[str, Any]] = ()
                    ) -> Figure:
    """Scatter + line of ``y`` against ``x`` over study rows (e.g. accuracy vs parameters).

    ``extra`` rows (other methods, e.g. baselines) are drawn as separate labelled points.
    """
    fig, ax = plt.subplots(figsize=(FULL_WIDTH_IN - 0.4, 4.2))
    scale_x = 1e-6 if x == "params_total" else 1.0
    xs = [scale_x * r[x] for r in rows]
    ys = [100 * r[y] for r in rows]
    ax.plot(xs, ys, marker="o", color="#3182bd", label="reuse mode, by growth per task")
    for r, xi, yi in zip(rows, xs, ys):
        ax.annotate(display_name(r[label]), (xi, yi), textcoords="offset points", xytext=(4, 4))
    for r in extra:
        ax.plot([scale_x * r[x]], [100 * r[y]], marker="s", linestyle="none", label=display_name(r[label]))
    ax.margins(x=0.1, y=0.08)  # room for the point labels
    ax.set_xlabel("parameters (millions)" if x == "params_total" else x)
    ax.set_ylabel("final average accuracy (%)" if y == "average_accuracy" else y)
    ax.grid(alpha=0.3)
    if extra:
        ax.legend()
    ax.set_title(wrap_title(title))
    return fig


@styled
def transfer_forgetting_figure(rows: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Each setting as a point: new tasks' accuracy when learned (x) vs BWT (y, 0 = no forgetting).

    Rows without results (``new_task_accuracy`` or ``bwt`` None, e.g. diverged) appear only in the legend."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH_IN - 0.4, 4.6))
    for r in rows:
        if r.get("new_task_accuracy") is None or r.get("bwt") is None:  # e.g. a diverged setting: nothing to draw
            why = "diverged" if r.get("diverged") else "no result"
            ax.plot([], [], marker="x", linestyle="none", color="grey", label=f"{display_name(r['setting'])} ({why})")
            continue
        ax.plot([100 * r["new_task_accuracy"]], [100 * r["bwt"]], marker="o", linestyle="none",
                label=display_name(r["setting"]))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("accuracy of each new task right after learning it (%)\n→ more learned")
    ax.set_ylabel("BWT (points)  ↑ less forgetting")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(wrap_title(title))
    return fig


@styled
def settings_figure(rows: Sequence[Mapping[str, Any]], title: str, label: str = "setting",
                    metrics: Sequence[tuple[str, str, float]] = (
                        ("average_accuracy", "final average accuracy (%)", 100.0),
                        ("params_total", "parameters (millions)", 1e-6),
                        ("train_seconds", "training time (s)", 1.0))) -> Figure:
    """One panel per metric ``(key, axis label, scale)``, one bar per row (e.g. manual vs automatic growth)."""
    grid_rows, columns = panel_grid(len(metrics), 3.4)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(FULL_WIDTH_IN, 3.4 * grid_rows + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    names = [textwrap.fill(display_name(r[label]), 12, break_long_words=False, break_on_hyphens=False) for r in rows]
    x = np.arange(len(rows))
    for ax, (key, axis_label, scale) in zip(axes.flat, metrics):
        values = [np.nan if r.get(key) is None else scale * r[key] for r in rows]
        ax.bar(x, np.nan_to_num(values), color=["#3182bd", "#fd8d3c", "#74c476", "#9e9ac8"][: len(rows)])
        for xi, v in zip(x, values):
            ax.text(xi, 0 if np.isnan(v) else v, "n/a" if np.isnan(v) else f"{v:.3g}", ha="center", va="bottom")
        ax.set_xticks(x, names)
        ax.set_ylabel(axis_label)
        ax.margins(y=0.12)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(wrap_title(title, 80))
    return fig


# Configuration families of the front (its label without the growth factor): colour and marker, each distinct.
FRONT_STYLES: dict[str, tuple[str, str]] = {
    "reuse": ("#1f77b4", "o"), "conv-reuse": ("#ff7f0e", "s"), "conv-reuse + masks": ("#9467bd", "P"),
    "conv-reuse + compaction": ("#d62728", "D"), "conv-reuse + masks + compaction": ("#8c564b", "X"),
    "isolate + compaction": ("#2ca02c", "v"), "isolate": ("#17becf", "<"), "reuse + compaction": ("#e377c2", ">"),
}
_SPARE_STYLES = [("#bcbd22", "h"), ("#7f7f7f", "p"), ("#e377c2", "*"), ("#17becf", "d")]


def front_family(label: str) -> tuple[str, float]:
    """``(family, growth)`` of a front configuration's label: ``"conv-reuse ×0.25 + masks"`` →
    ``("conv-reuse + masks", 0.25)``; no ``×`` factor: growth 1."""
    words = label.split()
    growth = next((float(w[1:]) for w in words if w.startswith("×")), 1.0)
    return " ".join(w for w in words if not w.startswith("×")), growth


def front_style(family: str, seen: Sequence[str] = ()) -> tuple[str, str]:
    """Colour and marker of a family (:data:`FRONT_STYLES`; an unknown one gets a spare style by its place)."""
    if family in FRONT_STYLES:
        return FRONT_STYLES[family]
    unknown = [f for f in seen if f not in FRONT_STYLES]
    return _SPARE_STYLES[(unknown.index(family) if family in unknown else 0) % len(_SPARE_STYLES)]


def _growths(values: Sequence[float]) -> str:
    return " → ".join(f"×{g:g}" for g in sorted(values))


@styled
def front_figure(front: Mapping[str, Any], level: float = 0.95) -> Figure:
    """The accuracy–parameter front, two panels per stream on one parameter axis (log scale).

    Top: final average test accuracy (mean over seeds, thin bars ± std) against parameters. Separate
    networks (the references) are the grey line through their widths; every SynapticNet family (kind of
    reuse and options) has its own colour and marker, its growth factors joined in order (a larger marker:
    more growth). Bottom: what the text argues with — each configuration minus the separate networks *of
    the same seed* at equal parameters (the separate curve read at its parameter count), mean and ``level``
    interval over seeds (:func:`synapticnet.experiments.front.comparisons`). A configuration pays only
    where its whole interval lies above zero; a hollow marker lies outside the separate networks' range
    (it is compared with the nearest end). ``front`` is the ``growth_front.json`` document.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from .front import comparisons

    streams = list(front["streams"].items())
    fig, axes = plt.subplots(2 * len(streams), 1, figsize=(FULL_WIDTH_IN, 4.6 * len(streams) + 1.6), squeeze=False,
                             layout="constrained", gridspec_kw=dict(height_ratios=[2.6, 1.5] * len(streams)))
    axes = axes[:, 0]
    families = list(dict.fromkeys(front_family(c["label"])[0] for _, e in streams for c in e["configs"]
                                  if c["family"] != "separate"))
    handles: dict[str, Any] = {}
    for k, (stream, entry) in enumerate(streams):
        top, bottom = axes[2 * k], axes[2 * k + 1]
        bottom.sharex(top)
        configs = entry["configs"]
        refs = sorted((c for c in configs if c["family"] == "separate"), key=lambda c: c["params"])
        if refs:
            top.errorbar([c["params"] for c in refs], [c["avg_acc_mean"] for c in refs],
                         yerr=[c["avg_acc_std"] for c in refs], color="0.45", marker="^", markersize=7, capsize=2,
                         elinewidth=0.8)
            handles.setdefault("separate " + _growths([c["width"] for c in refs]),
                               Line2D([], [], color="0.45", marker="^", markersize=8))
            for c in refs:
                top.annotate(f"×{c['width']:g}", (c["params"], c["avg_acc_mean"]), textcoords="offset points",
                             xytext=(0, -17), ha="center", color="0.3")
        rows = {r["config"]: r for r in comparisons(dict(entry), level)}
        bottom.axhline(0, color="0.45", lw=1.2)
        for family in families:
            points = sorted((c for c in configs if c["family"] != "separate" and front_family(c["label"])[0] == family),
                            key=lambda c: c["params"])
            if not points:
                continue
            colour, marker = front_style(family, families)
            growths = [front_family(c["label"])[1] for c in points]
            sizes = [6 + 2 * np.log2(max(g, 0.125) / 0.25) for g in growths]  # ×0.25: 6, ×0.5: 8, ×1: 10
            top.plot([c["params"] for c in points], [c["avg_acc_mean"] for c in points], color=colour, lw=1, alpha=0.6)
            for c, size in zip(points, sizes):
                top.errorbar([c["params"]], [c["avg_acc_mean"]], yerr=[c["avg_acc_std"]], color=colour, marker=marker,
                             markersize=size, markeredgecolor="black", markeredgewidth=0.6, capsize=2,
                             elinewidth=0.8, linestyle="none")
                r = rows.get(c["label"])
                d = r and r["vs_separate_curve"]
                if d and d.get("low") is not None:
                    inside = r["within_reference_range"]
                    bottom.errorbar([c["params"]], [d["mean"]], yerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]],
                                    color=colour, marker=marker, markersize=size, capsize=3, linestyle="none",
                                    markeredgecolor=colour if not inside else "black", markeredgewidth=1.2 if not inside
                                    else 0.6, markerfacecolor=colour if inside else "white")
            kind, _, options = family.partition(" + ")  # "conv-reuse ×0.25 → ×0.5 + masks"
            name = f"{kind} {_growths(growths)}" + (f" + {options}" if options else "")
            handles.setdefault(name, Line2D([], [], color=colour, marker=marker, markersize=8, markeredgecolor="black",
                                            markeredgewidth=0.6, lw=1 if len(points) > 1 else 0))
        n = max((len(c["seeds"]) for c in configs), default=0)
        tasks = len(entry.get("task_titles") or entry.get("tasks") or [])
        top.set_title(f"{display_name(stream)}: {tasks} tasks, {n} seed{'s' if n != 1 else ''}", loc="left")
        top.set_ylabel("average\naccuracy (%)")
        bottom.set_ylabel("minus separate\n(points)")
        top.tick_params(labelbottom=False)
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.grid(alpha=0.3, which="both")
    axes[-1].set_xlabel("parameters after the last task (log scale)")
    handles["hollow: beyond separate's range"] = Line2D(
        [], [], color="0.3", marker="o", markerfacecolor="white", markersize=8, lw=0)
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(f"Accuracy against parameters; below, minus separate networks\nof the same seed at equal "
                 f"parameters (mean, {100 * level:g} % interval over seeds)")
    return fig


# Where the published points' labels go (offset in points, alignment): WSN, PackNet, GPM and SupSup sit close together.
_ANCHOR_LABEL_PLACES = {"WSN": (0, 7, "center"), "PackNet": (0, -13, "center"), "GPM": (0, -13, "center"),
                        "SupSup": (6, -3, "left"), "one network per task": (0, 7, "center")}


@styled
def permuted_figure(table: Mapping[str, Any]) -> Figure:
    """Permuted MNIST: average accuracy after the last task against capacity (log x).

    Published points (``table["anchors"]``, grey squares) are labelled with their method; each of
    our configurations is a point with ± std error bars over seeds on both axes (capacity varies
    only where compaction decides per run). Capacity is parameters ÷ one network of the protocol's
    shape, in percent. ``table`` is the ``permuted_mnist.json`` document
    (:func:`synapticnet.experiments.permuted.run_permuted`).
    """
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(FULL_WIDTH_IN, 5.2))
    for a in table.get("anchors", []):
        ax.plot([100 * a["capacity"]], [a["accuracy"]], marker="s", color="0.55", linestyle="none")
        dx, dy, ha = _ANCHOR_LABEL_PLACES.get(a["label"], (5, 4, "left"))
        ax.annotate(a["label"], (100 * a["capacity"], a["accuracy"]), textcoords="offset points", xytext=(dx, dy),
                    ha=ha, color="0.35")
    for i, c in enumerate(c for c in table.get("configs", []) if c.get("runs")):
        n = len(c["runs"])
        ax.errorbar([100 * c["capacity_mean"]], [c["avg_acc_mean"]], yerr=[c["avg_acc_std"]],
                    xerr=[100 * c["capacity_std"]], color=f"C{i}", marker="o", markersize=7, capsize=3,
                    linestyle="none", markeredgecolor="black", markeredgewidth=0.5,
                    label=f"{c['label']} (n={n})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} %"))
    ref = table.get("reference_network", {})
    shape = "-".join(map(str, [int(np.prod(ref.get("input", [0]))), *ref.get("hidden", []), ref.get("num_classes", "?")]))
    ax.set_xlabel(f"capacity: parameters ÷ one {shape} network (log scale)")
    ax.set_ylabel("average test accuracy after the last task (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", title="ours (mean ± std over seeds)")
    ax.margins(x=0.12, y=0.08)  # room for the labels
    ax.set_title(f"Permuted MNIST, {len(table.get('tasks', []))} tasks; grey squares: published\n"
                 f"{table.get('budget_label', '')}")  # the label says SYNTHETIC for stand-in data
    fig.tight_layout()
    return fig
