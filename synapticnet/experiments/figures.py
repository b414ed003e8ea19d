"""Figures for notebooks 04 (baselines) and 05 (growth studies), the growth front and Permuted MNIST.

Like :mod:`synapticnet.plots`: every function takes plain data (results dicts, study
rows, sweep dicts), returns a matplotlib ``Figure`` and draws nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# How a figure names what the code calls by identifier (a name not listed is shown as it is).
DISPLAY_NAMES = {"synapticnet": "SynapticNet", "finetune": "fine-tuning", "ewc": "EWC", "replay": "replay",
                 "lwf": "LwF", "gem": "GEM", "agem": "A-GEM", "separate": "separate networks",
                 "joint": "joint training", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "ewc_lambda": "EWC λ", "lwf_lambda": "LwF λ", "memory_per_task": "memory per task (images)"}


def display_name(name: Any) -> str:
    """The name a reader sees for a method, task or hyper-parameter identifier (``"agem"`` → ``"A-GEM"``)."""
    return DISPLAY_NAMES.get(str(name), str(name))


def methods_figure(summary: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Bars: final average accuracy and BWT per method, with ± std error bars over seeds.

    ``summary`` rows come from :func:`synapticnet.experiments.mean_std` (``method``,
    ``average_accuracy``, ``average_accuracy_std``, ``bwt``, ``bwt_std``, ``seeds``).
    """
    labels = [f"{display_name(r['method']).replace(' ', chr(10))}\n(n={len(r.get('seeds') or [1])})" for r in summary]
    x = np.arange(len(summary))
    # one panel above the other at about notebook width, so 10-point text stays 10 points on screen
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 0.9 * len(summary) + 1.0), 7.6))
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
                        textcoords="offset points", ha="center", va="bottom" if up else "top", fontsize=10)
        # room for the labels beyond the longest bars, on both sides of 0 (BWT's bars all point down,
        # but a 0.0 or n/a label above the axis still needs space)
        ends = [v + e for v, e in zip(np.nan_to_num(values), errors)] + [v - e for v, e in zip(np.nan_to_num(values), errors)]
        low, high = min(0.0, *ends), max(0.0, *ends)
        pad = 0.14 * max(high - low, 1.0)
        ax.set_ylim(low - (pad if low < 0 else 0), high + pad)
        ax.set_xticks(x, labels, fontsize=10)
        ax.tick_params(axis="y", labelsize=10)
        ax.set_ylabel(label, fontsize=10)
        ax.axhline(0, color="black", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def accuracy_over_time_grid(runs: Mapping[str, Mapping[str, Any]], title: str, columns: int = 3) -> Figure:
    """One panel per method in a grid: every task's test accuracy after each training stage.

    ``runs`` is ``{method: results}`` (one seed). Panels share both axes; the x axis names
    the stage ("after <task>"), one line per task, one legend for the figure. A grid of
    ``columns`` panels per row keeps the text readable where one long strip would not.
    """
    names = list(runs)
    rows = max(1, -(-len(names) // columns))
    columns = min(columns, max(len(names), 1))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows + 1.4), sharex=True, sharey=True,
                             squeeze=False)
    tasks: list[str] = []
    for ax, name in zip(axes.flat, names):
        results = runs[name]
        R = results["accuracy_matrix"]
        tasks = list(results.get("tasks") or [f"task {j}" for j in range(len(R[-1]))])
        for j, task in enumerate(tasks):
            xs = [i for i in range(len(R)) if len(R[i]) > j and R[i][j] is not None]
            ax.plot(xs, [100 * R[i][j] for i in xs], marker="o", label=display_name(task), color=f"C{j}")
        ax.set_title(display_name(name), fontsize=11)
        ax.tick_params(axis="y", labelsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)", fontsize=10)
    for ax in axes.flat[:len(names)]:
        ax.set_xticks(range(len(tasks)), [f"after\n{display_name(t)}" for t in tasks], fontsize=10)
        ax.tick_params(labelbottom=True)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=10, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def sweep_figure(sweeps: Sequence[Mapping[str, Any]], title: str, columns: int = 3) -> Figure:
    """One panel per sweep: validation average accuracy against the swept value (chosen one marked).

    A value that diverged (score ``None``) keeps its place on the axis, marked "diverged". The
    panels fill a grid of ``columns`` per row, so the figure keeps about a notebook's width."""
    columns = max(1, min(columns, len(sweeps)))
    rows = -(-len(sweeps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.1 * columns + 0.3, 2.9 * rows + 0.8), squeeze=False)
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
        ax.set_xticks(xs, [f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in s["values"]], fontsize=10)
        ax.tick_params(axis="y", labelsize=10)
        ax.set_xlabel(display_name(s["param"]), fontsize=10)
        ax.set_title(display_name(s["method"]), fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=10)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation\naverage accuracy (%)", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def tradeoff_figure(rows: Sequence[Mapping[str, Any]], title: str, x: str = "params_total",
                    y: str = "average_accuracy", label: str = "setting", extra: Sequence[Mapping[str, Any]] = ()
                    ) -> Figure:
    """Scatter + line of ``y`` against ``x`` over study rows (e.g. accuracy vs parameters).

    ``extra`` rows (other methods, e.g. baselines) are drawn as separate labelled points.
    """
    fig, ax = plt.subplots(figsize=(6.2, 4))
    scale_x = 1e-6 if x == "params_total" else 1.0
    xs = [scale_x * r[x] for r in rows]
    ys = [100 * r[y] for r in rows]
    ax.plot(xs, ys, marker="o", color="#3182bd")
    for r, xi, yi in zip(rows, xs, ys):
        ax.annotate(str(r[label]), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for r in extra:
        ax.plot([scale_x * r[x]], [100 * r[y]], marker="s", linestyle="none", label=str(r[label]))
    ax.margins(x=0.1, y=0.08)  # room for the point labels
    ax.set_xlabel("parameters (millions)" if x == "params_total" else x)
    ax.set_ylabel("final average accuracy (%)" if y == "average_accuracy" else y)
    ax.grid(alpha=0.3)
    if extra:
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def transfer_forgetting_figure(rows: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Each setting as a point: new tasks' accuracy when learned (x) vs BWT (y, 0 = no forgetting).

    Rows without results (``new_task_accuracy`` or ``bwt`` None, e.g. diverged) appear only in the legend."""
    fig, ax = plt.subplots(figsize=(6.2, 4))
    for r in rows:
        if r.get("new_task_accuracy") is None or r.get("bwt") is None:  # e.g. a diverged setting: nothing to draw
            why = "diverged" if r.get("diverged") else "no result"
            ax.plot([], [], marker="x", linestyle="none", color="grey", label=f"{r['setting']} ({why})")
            continue
        ax.plot([100 * r["new_task_accuracy"]], [100 * r["bwt"]], marker="o", linestyle="none", label=r["setting"])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("accuracy of each new task right after learning it (%)  → more learned")
    ax.set_ylabel("BWT (points)  ↑ less forgetting")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def settings_figure(rows: Sequence[Mapping[str, Any]], title: str, label: str = "setting",
                    metrics: Sequence[tuple[str, str, float]] = (
                        ("average_accuracy", "final average accuracy (%)", 100.0),
                        ("params_total", "parameters (millions)", 1e-6),
                        ("train_seconds", "training time (s)", 1.0))) -> Figure:
    """One panel per metric ``(key, axis label, scale)``, one bar per row (e.g. manual vs automatic growth)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics) + 0.5, 3.4), squeeze=False)
    names = [str(r[label]) for r in rows]
    x = np.arange(len(rows))
    for ax, (key, axis_label, scale) in zip(axes[0], metrics):
        values = [np.nan if r.get(key) is None else scale * r[key] for r in rows]
        ax.bar(x, np.nan_to_num(values), color=["#3182bd", "#fd8d3c", "#74c476", "#9e9ac8"][: len(rows)])
        for xi, v in zip(x, values):
            ax.text(xi, 0 if np.isnan(v) else v, "n/a" if np.isnan(v) else f"{v:.3g}", ha="center", va="bottom",
                    fontsize=8)
        ax.set_xticks(x, names, fontsize=8)
        ax.set_ylabel(axis_label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _front_style(label: str) -> tuple[str, str]:
    """Colour and marker of a front point: hue by kind of reuse, marker by compaction."""
    kind = label.split(" ")[0]
    hues = {"reuse": plt.cm.Blues, "conv-reuse": plt.cm.Oranges, "isolate": plt.cm.Greens}
    growth = next((float(w[1:]) for w in label.replace(",", " ").split() if w.startswith("×")), 1.0)
    shade = 0.45 + 0.5 * min(growth, 1.0)
    if "tolerance 0" in label:
        shade = 0.3
    return hues.get(kind, plt.cm.Purples)(shade), ("D" if "compaction" in label else "o" if kind == "reuse" else "s")


def front_figure(front: Mapping[str, Any]) -> Figure:
    """Average accuracy against parameters (log x), one panel per stream.

    Separate networks (the references) are a grey line through their widths; every
    SynapticNet configuration is a point with a ± std error bar over seeds — blue for
    plain reuse, orange for conv-reuse, green for isolate; diamonds are compacted. A
    configuration earns its complexity only where it sits above and to the left of the
    grey line. ``front`` is the ``growth_front.json`` document.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    streams = list(front["streams"].items())
    fig, axes = plt.subplots(1, len(streams), figsize=(6.2 * len(streams), 5.6), squeeze=False)
    handles = {}
    for ax, (stream, entry) in zip(axes[0], streams):
        configs = entry["configs"]
        refs = sorted((c for c in configs if c["family"] == "separate"), key=lambda c: c["params"])
        if refs:
            handles["separate networks (×0.25 / ×0.5 / ×1)"] = ax.errorbar(
                [c["params"] for c in refs], [c["avg_acc_mean"] for c in refs], yerr=[c["avg_acc_std"] for c in refs],
                color="0.45", marker="^", capsize=3)
            for c in refs:
                ax.annotate(c["label"].replace("separate ", ""), (c["params"], c["avg_acc_mean"]),
                            textcoords="offset points", xytext=(0, -14), ha="center", fontsize=7, color="0.35")
        for c in sorted((c for c in configs if c["family"] != "separate"), key=lambda c: c["label"]):
            colour, marker = _front_style(c["label"])
            handles[c["label"]] = ax.errorbar([c["params"]], [c["avg_acc_mean"]], yerr=[c["avg_acc_std"]],
                                              color=colour, marker=marker, markersize=7, capsize=3, linestyle="none",
                                              markeredgecolor="black", markeredgewidth=0.5)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("parameters after the last task (log scale)")
        ax.set_ylabel("final average test accuracy (%)")
        n = len(configs[0]["seeds"]) if configs else 0
        titles = entry.get("task_titles") or []
        ax.set_title(f"{stream}: {len(titles) or '?'} tasks (mean ± std over {n} seed{'s' if n != 1 else ''})",
                     fontsize=10)
        ax.grid(alpha=0.3, which="both")
    fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * (len(handles) // 4), 1, 1))
    return fig


# Where the published points' labels go (offset in points, alignment): WSN, PackNet, GPM and SupSup sit close together.
_ANCHOR_LABEL_PLACES = {"WSN": (0, 7, "center"), "PackNet": (0, -13, "center"), "GPM": (0, -13, "center"),
                        "SupSup": (6, -3, "left"), "one network per task": (0, 7, "center")}


def permuted_figure(table: Mapping[str, Any]) -> Figure:
    """Permuted MNIST: average accuracy after the last task against capacity (log x).

    Published points (``table["anchors"]``, grey squares) are labelled with their method; each of
    our configurations is a point with ± std error bars over seeds on both axes (capacity varies
    only where compaction decides per run). Capacity is parameters ÷ one network of the protocol's
    shape, in percent. ``table`` is the ``permuted_mnist.json`` document
    (:func:`synapticnet.experiments.permuted.run_permuted`).
    """
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    for a in table.get("anchors", []):
        ax.plot([100 * a["capacity"]], [a["accuracy"]], marker="s", color="0.55", linestyle="none")
        dx, dy, ha = _ANCHOR_LABEL_PLACES.get(a["label"], (5, 4, "left"))
        ax.annotate(a["label"], (100 * a["capacity"], a["accuracy"]), textcoords="offset points", xytext=(dx, dy),
                    ha=ha, fontsize=8, color="0.35")
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
    ax.legend(fontsize=8, loc="best", title="ours (mean ± std over seeds)", title_fontsize=8)
    ax.margins(x=0.12, y=0.08)  # room for the labels
    ax.set_title(f"Permuted MNIST, {len(table.get('tasks', []))} tasks; grey squares: published\n"
                 f"{table.get('budget_label', '')}", fontsize=9)  # the label says SYNTHETIC for stand-in data
    fig.tight_layout()
    return fig
