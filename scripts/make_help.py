"""The Makefile's ``make help``, its times written from measurements.

A time in the help is a measurement, not a hope: this script renders the help lines from
``synapticnet/expected_times.json`` (the notebooks' measured wall times) and the results JSON of the
studies that record their own time, and writes them between ``help:`` and the next blank line of the
Makefile. ``scripts/update_readme.py --makefile Makefile`` calls it after every run that records a time;
``tests/test_prose_numbers.py`` checks that the committed help is what this script renders.

Only the standard library: ``make help`` never waits for PyTorch, and the prose check imports it.

Usage: ``python scripts/make_help.py [--makefile Makefile] [--check]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINES = "04_forgetting_baselines.ipynb"  # make baselines runs it alone; make reproduce runs the others


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def time_totals(root: Path = ROOT) -> dict[str, float]:
    """Measured minutes: every notebook per budget summed, ``make reproduce`` (cpu, all but 04), ``make baselines``
    (04 on cpu), and the studies that record their time. A name is missing when its measurement is."""
    times = _load(root / "synapticnet" / "expected_times.json") or {}
    notebooks = times.get("notebooks", {})
    totals: dict[str, float] = {}
    for profile in ("student", "cpu"):
        seconds = [r[profile]["seconds"] for r in notebooks.values() if profile in r]
        if seconds:
            totals[f"{profile} (all notebooks)"] = sum(seconds) / 60
    cpu = {name: r["cpu"]["seconds"] for name, r in notebooks.items() if "cpu" in r}
    if cpu:
        totals["reproduce"] = sum(s for name, s in cpu.items() if name != BASELINES) / 60
    if BASELINES in cpu:
        totals["baselines"] = cpu[BASELINES] / 60
    front = _load(root / "figures" / "growth_front.json")
    if front:
        totals["front"] = sum(run.get("train_seconds", 0.0) + run.get("compaction_seconds", 0.0)
                              for stream in front["streams"].values() for config in stream["configs"]
                              for run in config.get("runs", [])) / 60
    permuted = _load(root / "figures" / "permuted_mnist.json")
    if permuted:
        means = [c["train_seconds_mean"] for c in permuted["configs"] if c.get("runs")]
        if means:
            totals["pmnist fastest"], totals["pmnist slowest"] = min(means) / 60, max(means) / 60
    paired = _load(root / "figures" / "ablation_paired.json")
    if paired:
        totals["ablation"] = (paired["seconds_total"] + paired.get("recheck_seconds_total", 0.0)) / 60
    longer = _load(root / "figures" / "ablation_longer.json")
    if longer and "ablation" in totals:
        totals["ablation"] += longer["budgets"][-1]["seconds_total"] / 60
    original = _load(root / "figures" / "original_run.json")
    if original:
        totals["original"] = original["wall_seconds"] / 60
    anchor = _load(root / "figures" / "anchor_airbench94.json")
    if anchor:
        totals["anchor"] = sum(row["wall_seconds"] for row in anchor["rows"]) / 60
    return totals


def _minutes(totals: dict[str, float], name: str, text: str) -> str:
    """``text`` with ``{}`` filled by the measured minutes of ``name``; ``not measured yet`` without one."""
    return text.format(f"{totals[name]:.1f}") if name in totals else "not measured yet"


def help_lines(root: Path = ROOT) -> list[str]:
    """The ``make help`` text, one line per target (without the ``@echo``)."""
    t = time_totals(root)
    shared = " beside other jobs, an upper bound"
    notebooks = (_load(root / "synapticnet" / "expected_times.json") or {}).get("notebooks", {})
    cpu_shared = {name: bool(r.get("cpu", {}).get("shared")) for name, r in notebooks.items()}
    reproduce_shared = shared if any(v for name, v in cpu_shared.items() if name != BASELINES) else ""
    baselines_shared = shared if cpu_shared.get(BASELINES) else ""
    original_shared = shared if (_load(root / "figures" / "original_run.json") or {}).get("shared_machine") else ""
    baselines = _load(root / "figures" / "04_baselines.json") or {}
    seeds = len(baselines.get("seeds", [])) or "several"
    front = _load(root / "figures" / "growth_front.json") or {"streams": {}}
    front_seeds = max((len(c.get("seeds", [])) for s in front["streams"].values() for c in s["configs"]), default=0)
    front_size = f", {len(front['streams'])} streams x {front_seeds} seeds" if front_seeds else ""
    criteria_seeds = len((_load(root / "figures" / "pruning_criteria.json") or {}).get("seeds", []))
    criteria_size = f", {criteria_seeds} seeds" if criteria_seeds else ""
    anchor_runs = len((_load(root / "figures" / "anchor_airbench94.json") or {}).get("rows", []))
    anchor_seeds = f" for {anchor_runs} seeds" if anchor_runs else ""
    longer_times = (_load(root / "figures" / "ablation_longer.json") or {}).get("times")
    lines = [
        ("test", "unit tests + notebooks in smoke mode (offline, synthetic data, all cores)"),
        ("test-cpus", "unit tests under three CPU kernel sets (ATEN_CPU_CAPABILITY)"),
        ("reproduce", "re-run the notebooks on the cpu budget and regenerate figures/ (all but 04; "
                      + _minutes(t, "reproduce", "{} min measured" + reproduce_shared) + ")"),
        ("baselines", f"notebook 04 on the cpu budget: nine methods x {seeds} seeds + validation sweeps ("
                      + _minutes(t, "baselines", "{} min measured" + baselines_shared) + ")"),
        ("student", "every notebook on the student budget, as a student runs it ("
                    + _minutes(t, "student (all notebooks)", "{} min in all, measured") + ")"),
        ("bench", "benchmark scripts -> figures/bench/*.json (training throughput, gating cost)"),
        ("ablation", "fast-training ingredients added to the recipe one at a time, paired by seed, validation"
                     + (f", some of them again with {longer_times}x the epochs" if longer_times else "") + " ("
                     + _minutes(t, "ablation", "{} min of training measured, summed over its runs") + "; resumable)"),
        ("front", f"accuracy-parameter front of growth vs separate networks{front_size} ("
                  + _minutes(t, "front", "{} min of training measured, summed over its runs, 1 thread" + shared)
                  + "; resumable)"),
        ("criteria", f"which units compaction should remove: |gamma| vs ablation{criteria_size} (1 thread)"),
        ("pmnist", "Permuted MNIST under GPM's protocol vs published accuracy/capacity ("
                   + (f"{t['pmnist fastest']:.1f}-{t['pmnist slowest']:.1f} min of training per configuration and "
                      "seed, measured, 1 thread" if "pmnist fastest" in t else "not measured yet") + ")"),
        ("original", "the original design's recipe: train/test-image accuracy per task ("
                     + _minutes(t, "original", "{} min measured, 1 thread" + original_shared) + ")"),
        ("anchor", "airbench94's own training script on the offline CIFAR-10 copy, for scale ("
                   + _minutes(t, "anchor", "{} min measured" + anchor_seeds) + "; needs its file: ANCHOR_SOURCE= or "
                   "internet)"),
        ("lab", "open JupyterLab (notebooks run the quick student budget unless SYNAPTICNET_PROFILE names another)"),
        ("clean", "remove build files (not figures/)"),
    ]
    return [f"make {target:<10s} {text}" for target, text in lines]


def render(makefile: str, root: Path = ROOT) -> str:
    """``makefile`` with the recipe of its ``help:`` target replaced by the generated echo lines."""
    lines = makefile.split("\n")
    try:
        start = lines.index("help:") + 1
    except ValueError:
        raise SystemExit("the Makefile has no 'help:' target to fill") from None
    end = start
    while end < len(lines) and lines[end].startswith("\t"):
        end += 1
    echo = ["\t@echo " + json.dumps(line, ensure_ascii=False).replace("$", "$$") for line in help_lines(root)]
    return "\n".join([*lines[:start], *echo, *lines[end:]])


def update(makefile: Path, root: Path = ROOT) -> bool:
    """Rewrite the help of ``makefile``; True when it changed."""
    text = makefile.read_text(encoding="utf-8")
    new = render(text, root)
    if new != text:
        makefile.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--makefile", type=Path, default=ROOT / "Makefile")
    parser.add_argument("--check", action="store_true", help="exit 1 if the help is not what would be written")
    args = parser.parse_args(argv)
    if args.check:
        text = args.makefile.read_text(encoding="utf-8")
        stale = render(text) != text
        print(f"{args.makefile}: help {'is stale: run scripts/make_help.py' if stale else 'up to date'}")
        return 1 if stale else 0
    print(f"{args.makefile}: help {'updated' if update(args.makefile) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
