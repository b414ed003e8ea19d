"""Regenerate the results section of README.md from the JSON files in figures/.

Results are data: the tables in the README are never typed by hand. This script reads
``figures/03_results.json`` (the four-task run) and, when present, the original recipe's run
(``figures/original_run.json``, ``make original``), the baseline
comparison written by notebook 04 (``figures/04_baselines.json``) and the growth studies of
notebook 05 (``figures/05_studies.json``), the accuracy–parameter front of ``make front``
(``figures/growth_front.json``) and the benchmark ratios of ``make bench``
(``figures/bench/*.json``), and rewrites the part of README.md between
``<!-- results:start -->`` and ``<!-- results:end -->``.

Every number it reads must be finite: a results file holding ``NaN`` or ``Infinity`` (a
diverged run, a bug) stops the script with one line naming the file and the key, and the
README is left as it was — ``nan %`` is never published.

Usage: ``python scripts/update_readme.py [--readme README.md] [--figures figures]``
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from synapticnet.experiments.original import HOW_WE_KNOW, ORIGINAL_NOTEBOOK, ORIGINAL_REPORTED, ORIGINAL_REPOSITORY
from synapticnet.arguments import existing_file
from synapticnet.plots import display_name, markdown_table
from synapticnet.data.transforms import ERASE_AREA
from synapticnet.profiles import ERASE_PROBABILITY, family
from synapticnet.stats import format_difference, format_mean_std

START, END = "<!-- results:start -->", "<!-- results:end -->"
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (offline copy)",
          "cifar100": "CIFAR-100"}


class NonFiniteResult(ValueError):
    """A results file holds NaN or ±Infinity where a number is published."""


def non_finite_keys(value: Any, where: str = "") -> list[str]:
    """The key paths (``summary[2].bwt``) of every NaN/±Infinity in a parsed JSON document."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [where or "(top level)"]
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in non_finite_keys(v, f"{where}.{key}" if where else str(key))]
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in non_finite_keys(v, f"{where}[{i}]")]
    return []


def load(path: Path) -> Any:
    """Read a results JSON file, refusing any non-finite number in it.

    ``json`` reads ``NaN``, ``Infinity`` and overflowing literals such as ``1e999`` as
    floats that would be published as ``nan`` / ``+inf``; a results file that holds one
    comes from a broken run and must be fixed or re-run, not published.

    Raises:
        NonFiniteResult: one line naming the file, the first offending key and its value.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    bad = non_finite_keys(data)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise NonFiniteResult(f"{path}: {bad[0]}{more} is not a finite number (NaN or Infinity); re-run what "
                              "wrote it or fix the file — the README was not changed")
    return data


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def copy_cost_note(path: Path) -> str | None:
    """What the lossy offline CIFAR-10 copy costs (``scripts/cifar10_copy_cost.py``), in one table note."""
    if not path.exists():
        return None
    m = load(path)["mean"]
    return (f"offline JPEG copy: trained on 4,000 JPEG vs exact images, tested on 1,000 exact ones, "
            f"{m['trained_jpeg_tested_exact']:.2f} vs {m['trained_exact_tested_exact']:.2f} % (2 seeds; one standard "
            f"error ≈ 1.5 points) — [`cifar10_copy_cost.json`](figures/cifar10_copy_cost.json)")


def anchor_note(path: Path) -> str | None:
    """airbench94, the fast-training anchor, run on the offline copy (``scripts/anchor_airbench94.py``): the
    accuracy a held-out CIFAR-10 target should be read against here, in one table note."""
    if not path.exists():
        return None
    a = load(path)
    if not _is_offline_copy({"data": [a.get("data", {})]}):  # exact and JPEG images: only the offline copy has them
        return None
    m, rows = a["mean_test"], a["rows"]
    seeds = ", ".join(str(r["seed"]) for r in rows)
    minutes = max(r["wall_seconds"] for r in rows) / 60
    return (f"for scale: airbench94, a fast CIFAR-10 recipe ({a['published_test_accuracy']:.2f} % on the original test "
            f"set), scores {m['all']:.2f} % on this copy's test images (exact ones, 0–999: {m['exact']:.2f} %; "
            f"JPEG ones: {m['jpeg']:.2f} %), seed{'s' if len(rows) > 1 else ''} {seeds}, {rows[0]['epochs']:g} epochs, "
            f"up to {minutes:.1f} min a seed here — [`anchor_airbench94.json`](figures/anchor_airbench94.json)")


def four_task_section(r: dict[str, Any], others: dict[str, dict[str, Any]] | None = None,
                      copy_note: str | None = None, original: dict[str, Any] | None = None,
                      anchor: str | None = None) -> str:
    """Per task and profile: the original README's number (measured on training images), ours on the task's
    training images and ours on its test images — the ``long`` run, the cpu headline ``r``, the ``student`` run
    and the original recipe's run (``original``: ``figures/original_run.json``), those that exist — then what the
    original measured and how we know, then each run's facts. CIFAR-10's rows carry ``copy_note`` (what the
    offline copy costs) and ``anchor`` (what airbench94 scores on it)."""
    others = others or {}
    runs = {**{name: run for name, run in others.items() if name != "student"}, "cpu": r,
            "student": others.get("student")}  # long (and its other seeds), cpu, student
    runs = {name: run for name, run in runs.items() if run is not None}
    accuracies = {name: (run.get("train_accuracy") or {}, run["final_accuracy"]) for name, run in runs.items()}
    if original is not None:
        accuracies["original"] = ({row["task"]: row["train_accuracy"] / 100 for row in original["rows"]},
                                  {row["task"]: row["test_accuracy"] / 100 for row in original["rows"]})
    rows = []
    for name, claim in ORIGINAL_REPORTED.items():
        note = ""
        if name in r.get("unavailable_tasks", {}):
            note = "not run: dataset not available offline"
        elif name not in r["tasks"]:
            note = "not in this run"
        title = TITLES[name] if name != "cifar10" or _is_offline_copy(r) else "CIFAR-10"
        notes = [note]
        if name == "cifar10" and _is_offline_copy(r) and not note:
            notes = [copy_note or "", anchor or ""]
        if note.startswith("not run"):  # one row: no profile has it
            rows.append({"task": title, "original README, training images (%)": f"{claim:.2f}", "run": None,
                         "ours, training images (%)": None, "ours, test images (%)": None, "note": note})
            continue
        for k, (profile, (train, test)) in enumerate(accuracies.items()):
            rows.append({"task": title, "original README, training images (%)": f"{claim:.2f}",
                         "run": f"`{profile}`", "ours, training images (%)": pct(train.get(name)),
                         "ours, test images (%)": pct(test.get(name)),
                         "note": (notes[k] or None) if k < len(notes) else None})
    facts = [_facts(run) for run in runs.values()] + ([_original_facts(original)] if original is not None else [])
    missing = [f"`{name}`" for name, run in runs.items() if run.get("train_accuracy") is None]
    return "\n".join([
        "## Results (measured, `make reproduce`, `make original`)",
        "",
        "![Accuracy matrix](figures/03_accuracy_matrix.png)",
        "",
        markdown_table(rows),
        "",
        *([f"Training-image accuracy not measured yet for {', '.join(missing)}: those committed runs predate it "
           "(every run records it now; re-run them to fill the column).", ""] if missing else []),
        _what_the_original_measured(),
        "",
        *[f"* {line}" for line in facts],
        "",
        "Generated from [`figures/03_results.json`](figures/03_results.json) (and `figures/long/`, "
        "`figures/student/`: `make reproduce PROFILE=long NOTEBOOKS=notebooks/03_four_task_run.ipynb`, "
        "`make student NOTEBOOKS=notebooks/03_four_task_run.ipynb`"
        + "".join(f"; `{name}`: `python -m synapticnet run --profile long --seed {run['seed']} --tasks "
                  f"{','.join(run['tasks'])}`, its `results.json` kept as "
                  f"`figures/long/03_results_seed{run['seed']}.json`"
                  for name, run in runs.items() if name.startswith("long (seed"))
        + ") and [`figures/original_run.json`](figures/original_run.json) (`make original`) by "
        "`scripts/update_readme.py`.",
    ])


def _what_the_original_measured() -> str:
    """The table's first number, explained: which images the original scored, and where that is read."""
    return (f"**Which images each number is measured on.** The original README's numbers are accuracies on the "
            f"images each task was trained on, as its notebook (`{ORIGINAL_NOTEBOOK}` in "
            f"[{ORIGINAL_REPOSITORY}](https://github.com/{ORIGINAL_REPOSITORY})) shows: "
            + " ".join(HOW_WE_KNOW)
            + " Our runs record both: every task's accuracy on its own training images after the last task (the "
              "original's protocol) and on its held-out test images (never trained on). The `original` rows are the "
              "original design's own recipe run through this package (`make original`), so its two columns show "
              "what that design reaches on each kind of image.")


def _original_facts(o: dict[str, Any]) -> str:
    """One line about the original recipe's run: time, parameters (ours and the original's way of counting)."""
    m = o["machine"]
    shared = " on a shared machine (other work was running: an upper bound)" if o.get("shared_machine") else ""
    return (f"`original`: the original design's recipe (Adam at 1e-3, batch 64, no augmentation, "
            f"{' / '.join(str(row['epochs']) for row in o['rows'])} epochs), seed {o['seed']}, device `{m['device']}` "
            f"({m['cpu_threads']} CPU thread{'' if m['cpu_threads'] == 1 else 's'}, {m['training_precision']}; "
            f"torch {m['torch']}); training time {o['train_seconds_total'] / 60:.1f} min, the whole run "
            f"{o['wall_seconds'] / 60:.1f} min{shared}; {o['params_total']:,} parameters after {len(o['tasks'])} "
            f"tasks (the weights each task's column uses; the original's weight matrices, which also keep the "
            f"masked connections between tasks, hold {o['original_params_same_tasks']:,} for these tasks and "
            f"{o['original_params_reported']:,} after its four); BWT {_plain(o['bwt'])}."
            + (f" Not run: {', '.join(o['unavailable_tasks'])} (dataset not available offline)."
               if o.get("unavailable_tasks") else ""))


def _facts(r: dict[str, Any]) -> str:
    """One line about a run: profile, seed, hardware, time, size, metrics, compaction."""
    line = (
        f"`{r['profile']}`: seed {r['seed']}, device `{r['device']}` ({r.get('cpu_threads')} CPU thread{'' if r.get('cpu_threads') == 1 else 's'}, "
        f"{r.get('training_precision', 'float32')} training; {r.get('machine') or 'torch ' + r['torch']}); training time "
        f"{r['train_seconds_total'] / 60:.1f} min; {r['params_total']:,} parameters after {len(r['tasks'])} tasks; "
        f"average accuracy {pct(r['average_accuracy'])} %, BWT {_plain(r['bwt'])}, forgetting {_plain(r['forgetting'])}."
    )
    if r.get("compaction"):
        kept = " / ".join("full width" if d["chosen_fraction"] is None else f"×{d['chosen_fraction']:g}"
                          for d in r["compaction"])
        settings = r.get("profile_settings", {})
        points = 100 * r["compaction"][0]["tolerance"]
        line += (f" Mode {settings.get('mode')!r}; automatic compaction (tolerance {points:g} point"
                 f"{'' if points == 1 else 's'} of validation accuracy) kept {kept} of each task's units.")
    elif r.get("profile_settings", {}).get("mode"):
        line += f" Mode {r['profile_settings']['mode']!r}, every task at full width (no compaction)."
    if r.get("profile_settings", {}).get("whiten"):
        line += " Each task's column starts with a fixed whitening layer computed from its own training images."
    if r.get("profile_settings", {}).get("identity_init"):
        line += " Each task's convolutions start as partly the identity (their first filters copy their inputs)."
    return line


def _plain(value: float | None) -> str:
    """BWT / forgetting in percentage points; an exact zero says so."""
    if value is None:
        return "—"
    return "0.0 (exactly)" if value == 0 else f"{100 * value:+.2f} pp"


def _is_offline_copy(r: dict[str, Any]) -> bool:
    """The CIFAR-10 used here is the approximate offline copy when its checksum says so."""
    offline = "0d276ce26b0592d0f448cbec1477b429578210fd1c13db3f75136d7663c43e45"
    return any(d.get("name") == "cifar10" and d.get("file_sha256", d.get("sha256")) == offline for d in r.get("data", []))


def _pm(mean: float | None, std: float | None, signed: bool = False) -> str:
    """``mean ± std`` in percent (points); ``mean`` alone when ``std`` is None (one seed); — when the metric does
    not apply."""
    if mean is None:
        return "—"
    value = f"{100 * mean:{'+' if signed else ''}.2f}"
    return value if std is None else f"{value} ± {100 * std:.2f}"


def baselines_section(path: Path) -> str | None:
    """The method comparison of notebook 04 (mean ± std over seeds), if it was run."""
    if not path.exists():
        return None
    data = load(path)
    def std(s: dict[str, Any], key: str) -> float | None:  # no "± 0.00" for a method left with one seed
        return None if len(s.get("seeds") or data["seeds"]) < 2 else s.get(f"{key}_std")

    rows = [{"method": s["method"] + _fewer_seeds(s.get("seeds"), data["seeds"]),
             "average accuracy (%)": _pm(s["average_accuracy"], std(s, "average_accuracy")),
             "BWT (points)": _pm(s.get("bwt"), std(s, "bwt"), signed=True),
             **({"FWT (points)": _pm(s.get("fwt"), std(s, "fwt"), signed=True)}
                if any("fwt" in t for t in data["summary"]) else {}),
             "forgetting (points)": _pm(s.get("forgetting"), std(s, "forgetting")),
             "parameters": s.get("params_total"),
             "train s": None if s.get("train_seconds_total") is None else round(s["train_seconds_total"], 1)}
            for s in data["summary"]]
    skipped = data.get("unavailable_tasks") or {}
    return "\n".join([
        "### Against the baselines (notebook 04, `make baselines`)",
        "",
        f"![Methods](figures/04_methods.png)",
        "",
        markdown_table(rows),
        "",
        f"Tasks {' → '.join(data['tasks'])}"
        + (f" ({', '.join(skipped)} not available here)" if skipped else "")
        + f"; {data['budget']}; mean ± std over seeds {data['seeds']}; hyper-parameters chosen on the "
        f"validation split: {_hyper(data.get('hyper', {}), data.get('sweeps', {}))}. From [`{path.as_posix()}`]({path.as_posix()}).",
    ])


def _fewer_seeds(kept: list[int] | None, seeds: list[int]) -> str:
    """" (seed 0 only: diverged on 1, 2)" for a method whose runs diverged on some seeds (its ± is then over fewer)."""
    if kept is None or list(kept) == list(seeds):
        return ""
    lost = [s for s in seeds if s not in kept]
    return (f" (seed{'s' if len(kept) > 1 else ''} {', '.join(map(str, kept))} only: diverged on "
            f"{', '.join(map(str, lost))})")


EDGE_WORDS = {"low": "the lowest value of its grid that trained", "high": "the highest value of its grid that trained",
              "only": "the only value of its grid that trained"}


def _hyper(hyper: dict[str, dict[str, Any]], sweeps: dict[str, dict[str, Any]] | None = None) -> str:
    """``ewc ewc_lambda=100 (the highest value of its grid that trained)``: each choice, and where a sweep chose on
    its grid's edge (the best value may lie outside the grid), that it did."""
    def edge(method: str) -> str:
        s = (sweeps or {}).get(method)
        if not s:
            return ""
        from synapticnet.experiments import grid_edge  # imported here: it loads torch

        side = s["edge_side"] if "edge_side" in s else \
            grid_edge(s["values"], s["val_average_accuracy"], s["values"].index(s["chosen"]))  # written before edges
        return f" ({EDGE_WORDS[side]})" if side else ""

    return ", ".join(f"{m} {k}={v:g}{edge(m)}" for m, kv in hyper.items() for k, v in kv.items()) or "none"


def studies_section(path: Path) -> str | None:
    """The three growth studies of notebook 05 in one table (one seed), if they were run."""
    if not path.exists():
        return None
    data = load(path)
    studies = [("growth per task", [*data["growth"]["rows"], data["growth"]["isolate_row"]]),
               ("manual vs trigger", data["trigger"]["rows"]),
               ("freeze vs distil", data["distillation"]["rows"])]
    rows = [{"study": study, "setting": r["setting"],
             "average accuracy (%)": pct(r.get("average_accuracy")),
             "new tasks when learned (%)": pct(r.get("new_task_accuracy")),
             "BWT (points)": "—" if r.get("bwt") is None else f"{100 * r['bwt']:+.2f}",
             "parameters": r.get("params_total"),
             "train s": None if r.get("train_seconds") is None else round(r["train_seconds"], 1),
             "note": "diverged" if r.get("diverged") else None}
            for study, rs in studies for r in rs]
    skipped = data.get("unavailable_tasks") or {}
    return "\n".join([
        "### Growth studies (notebook 05)",
        "",
        "![Growth](figures/05_growth.png)",
        "",
        markdown_table(rows),
        "",
        f"Tasks {' → '.join(data['tasks'])}"
        + (f" ({', '.join(skipped)} not available here)" if skipped else "")
        + f"; {data['budget']}; seed {data['seed']}. The trigger starts each new task at "
        f"×{data['trigger']['start_factor']:g} growth and widens while validation accuracy is below its target. "
        f"From [`{path.as_posix()}`]({path.as_posix()}).",
    ])


def front_section(path: Path) -> str | None:
    """The accuracy–parameter front (``make front``): every configuration with its per-seed spread, and the
    paired differences (with 95 % intervals) on which every claim rests."""
    if not path.exists():
        return None
    data = load(path)
    rows, notes = [], []
    verdicts = data.get("targets", {})
    if any("params_target_met" not in v for v in verdicts.values()):  # written by an earlier version: recompute
        from synapticnet.experiments import targets

        verdicts = targets(data)
    stale = sorted(stream for stream, entry in data["streams"].items() if _stale_budget(stream, entry.get("budget")))
    for stream, entry in data["streams"].items():
        verdict = verdicts.get(stream) or {}
        paired = {c["config"]: c for c in verdict.get("comparisons", [])}
        for c in sorted(entry["configs"], key=lambda c: (c["family"] != "separate", c["params"])):
            row = paired.get(c["label"])
            bits = statistics.fmean(r.get("mask_bits", 0) for r in c["runs"]) if c.get("runs") else 0
            rows.append({"stream": stream, "configuration": c["label"], "parameters": c["params"],
                         "+ mask bits ÷ 32": f"{round(c['params'] + bits / 32):,}" if bits else "",
                         "average accuracy (%)": format_mean_std(c["avg_acc_mean"], c["avg_acc_std"], len(c["seeds"]),
                                                                 scale=1.0),
                         "− separate ×1, paired (points, 95 % CI)": format_difference(row["vs_separate_x1"]) if row else "",
                         "− separate at equal parameters": format_difference(row["vs_separate_curve"]) if row else "",
                         "seeds": len(c["seeds"])})
        if not verdict:
            continue
        if verdict["params_target_met"] is None:
            claim = f"not shown (needs ≥ {verdict['min_seeds']} seeds and separate ×1; this front has {verdict['seeds']})"
        elif verdict["params_target_met"]:
            claim = "reached by " + ", ".join(
                f"{h} ({max(paired[h]['params_ratio'], paired[h].get('params_ratio_with_masks', 0)):.2f}×)"
                for h in verdict["params_target_hits"])
        else:
            claim = "**no configuration reaches it**"
        gains = ", ".join(verdict["gain_shown"]) or "none shown"
        time = verdict.get("compaction_time_ratio")
        medians = [r["time_ratio_median"] for r in verdict.get("comparisons", []) if r.get("time_ratio_median")]
        options = "; ".join(
            f"{a['config']} − {a['without']}: {format_difference(a['difference'])}, "
            f"{a['params_ratio']:.2f}× the parameters, {a['time_ratio']:.2f}× the training time"
            for a in verdict.get("ablations", []))
        notes.append(f"**{stream}**: ≤ {verdict['params_limit']:g}× the parameters of separate ×1 and not below it "
                     f"(interval's lower end ≥ −{abs(verdict.get('params_target_low', -0.3)):g} points): {claim}. Above the separate curve at equal parameters "
                     f"(whole interval above 0): {gains}."
                     + ("" if time is None else f" A run with compaction took up to {time:.2f}× its time without it"
                        + (f" (medians per configuration {min(medians):.2f}–{max(medians):.2f}×; times measured "
                           "beside other jobs)" if medians else "") + ".")
                     + ("" if not options else f" Each option against the same configuration without it (paired): "
                                               f"{options}."))
    return "\n".join([
        "### Does growth pay for itself? (`make front`)",
        "",
        "![Accuracy-parameter front](figures/growth_front.png)",
        "",
        markdown_table(rows),
        "",
        "Separate networks (one per task, the same layers and training recipe) are the reference. Differences are "
        "*paired*: seed s of a configuration minus seed s of the reference (same data split), mean and Student-t "
        "95 % interval over seeds; a claim is made only where the interval supports it. " + " ".join(notes)
        + f" Hyper-parameters fixed in advance or chosen on validation splits. From [`{path.as_posix()}`]"
        f"({path.as_posix()}).",
        *criteria_note(path.parent / "pruning_criteria.json"),
        *([] if not stale else [
            "",
            f"**Measured with an earlier training recipe** ({', '.join(stale)}): the budget recorded in the JSON is "
            "not the one `front_budget` gives today, so these numbers describe the old recipe, not the current one. "
            "`make front` measures them again."]),
    ])


def criteria_note(path: Path) -> list[str]:
    """Which units compaction should remove (``make criteria``): ablation against |γ|, and what re-estimating
    BatchNorm statistics after the removal adds — paired by seed."""
    if not path.exists():
        return []
    data = load(path)
    rows = data["rows"]
    mean = lambda key, c, f: statistics.fmean(r[key] for r in rows if r["criterion"] == c  # noqa: E731
                                              and f"{r['fraction']:g}" == f)
    parts = []
    for f, d in data["differences"].items():
        recal = data.get("recalibration", {}).get(f, {}).get("|γ|")
        parts.append(
            f"×{f}: |γ| {mean('val_after_finetune', '|γ|', f):.2f} %, ablation {mean('val_after_finetune', 'ablation', f):.2f} % "
            f"after the fine-tune (ablation − |γ| {format_difference(d['val_after_finetune'])})"
            + ("" if recal is None else
               f"; recalibrated first, |γ| {mean('val_recalibrated_finetune', '|γ|', f):.2f} % and ablation "
               f"{mean('val_recalibrated_finetune', 'ablation', f):.2f} % "
               f"(|γ| recalibrated − not, before the fine-tune {format_difference(recal['before_finetune'])}, "
               f"after it {format_difference(recal['after_finetune'])})"))
    full = statistics.fmean(r["val_full"] for r in rows)
    return ["", f"**Which units to remove** (`make criteria`, task 0 of {data['stream']}, seeds {data['seeds']}, "
            f"validation accuracy at full width {full:.2f} %), ranking by |γ| or by ablation (validation-loss rise "
            "when a unit alone is silenced), with or without re-estimating the task's BatchNorm statistics after "
            "the removal; differences paired by seed — " + "; ".join(parts)
            + f". From [`{path.as_posix()}`]({path.as_posix()})."]


def _stale_budget(stream: str, recorded: dict[str, Any] | None) -> bool:
    """Was this stream of the front trained with other settings than the current front budget? (A front from
    before a recipe change must say so.)"""
    if not recorded:
        return True
    from synapticnet.experiments import front_budget

    current = front_budget(stream, recorded.get("name", "cpu")).to_dict()
    keys = ("conv_channels", "pool_after", "batch_size", "lr", "label_smoothing", "augmentation", "warmup", "precision")
    return any(recorded.get(k) != current.get(k) for k in keys)


def bench_section(bench: Path) -> str | None:
    """What task gating costs and whether the data path keeps up (``make bench``), if it was run.

    Ratios of times measured side by side in one run: absolute times on a shared 2-core
    machine are noise, ratios are what the benchmarks are for.
    """
    layers_path, data_path = bench / "layers.json", bench / "data_path.json"
    if not layers_path.exists():
        return None
    layers = load(layers_path)
    conv, model, old = layers["conv_step"], layers["model_step"], layers["old_task_inference"]
    rows = [
        {"measurement": "`TaskConv2d` train step (one task) vs plain `Conv2d` + BatchNorm, same width",
         "ratio": f"{conv['ratio_single_task_vs_plain']:.2f}", "setup": conv["setup"]},
        {"measurement": "newest task's step in a grown `TaskConv2d` vs a plain layer of the whole width",
         "ratio": f"{conv['ratio_newest_task_vs_plain']:.2f}", "setup": conv["setup"]},
        {"measurement": "newest task's model train step vs a plain CNN of the same total width",
         "ratio": f"{model['ratio_vs_plain']:.2f}", "setup": model["setup"]},
        {"measurement": "task 0 inference on the grown model vs task 0's network alone",
         "ratio": f"{old['ratio_grown_task0_vs_alone']:.2f}", "setup": old["setup"]},
        {"measurement": "task 0 inference on the grown model vs computing every unit",
         "ratio": f"{old['ratio_grown_task0_vs_all_units']:.2f}", "setup": old["setup"]},
    ]
    if "pick_step" in layers:
        rows.append({"measurement": "newest task's train step with picking masks vs without",
                     "ratio": f"{layers['pick_step']['ratio_masks_vs_none']:.2f}", "setup": layers["pick_step"]["setup"]
                     + (", one thread beside other jobs" if layers.get("shared") else "")})
    if data_path.exists():
        data = load(data_path)
        for case in data["cases"].values():
            rows.append({"measurement": f"data path vs training step, {case['title']} (images/s)",
                         "ratio": f"{case['ratio']:.0f}×",
                         "setup": f"{case['data_images_per_second']:,.0f} vs {case['train_images_per_second']:,.0f} "
                                  f"images/s, batch {data['batch_size']}, {data['augmentation']}"})
    return section(
        "What gating costs (`make bench`)", rows,
        f"Ratios of median times measured side by side in one run (torch {layers['torch']}, "
        f"{layers['threads']} threads). Time ratios: below 1 is faster than the plain counterpart (the "
        f"design asks for ≤ 1.05 in the first row). Data rows: images/s of the data path over the "
        f"training step's (the design asks for ≥ 10×). From "
        f"[`figures/bench/`](figures/bench/) by `scripts/bench_layers.py` and `scripts/bench_data.py`.",
    )


def throughput_section(path: Path) -> str | None:
    """Training throughput of the recipe's networks and what each CPU option buys (``scripts/bench_train.py``)."""
    if not path.exists():
        return None
    data = load(path)
    rows = []
    for name, c in data["cases"].items():
        ips = c["images_per_second"]
        compiled = c["torch_compile"]
        rows.append({
            "profile": f"`{name}`", "precision": c.get("precision", "float32"),
            "plain `nn.Sequential` (images/s)": f"{ips['plain']:,.0f}",
            "SynapticNet task 0 / plain": f"{c['gated_over_plain_task0']:.2f}",
            "SynapticNet task 2 / plain": f"{c['gated_over_plain_task2']:.2f}",
            "GFLOP/s (share of matmul peak)": f"{c['achieved_gflops']:.0f} ({100 * c['utilisation_of_matmul_peak']:.0f} %)",
            "with the whitening layer: GFLOP/s (share), speed": (
                f"{w['achieved_gflops']:.0f} ({100 * w['utilisation_of_matmul_peak']:.0f} %), "
                f"{w['speed_over_without']:.2f}×" if (w := c.get("whitened_column")) else "—"),
            "vs float32": f"{c['precision_speedup_over_float32']:.2f}×" if "precision_speedup_over_float32" in c else "—",
            "channels_last speed-up": f"{c['channels_last_speedup']:.2f}×",
            "batch 512 / 128 vs recipe's": f"{c['batch_512_over_batch']:.2f} / {c['batch_128_over_batch']:.2f}",
            "2 threads vs 1": "—" if c["two_threads_over_one"] is None else f"{c['two_threads_over_one']:.2f}×",
            "`torch.compile`": (f"{compiled['speedup_over_eager']:.2f}× (compile {compiled['compile_seconds']:.0f} s)"
                                if compiled.get("status") == "ok" else compiled.get("status", "—")),
            "data path share of a step": f"{100 * c['data_path_share_of_step']:.1f} %",
        })
    return section(
        "Training throughput (`make bench`)", rows,
        f"One training step (forward, backward, SGD) at each profile's batch size, cases interleaved in one run, "
        f"medians ({data['threads']} threads, torch {data['machine']['torch']}). SynapticNet's gated network against the "
        f"same layers as a plain `nn.Sequential` (the design asks for ≥ 0.95); task 2 is the third task of a network grown twice. "
        + (f"Processor: {data['machine']['processor']}. " if data["machine"].get("processor") else "")
        + f"Matmul peak of this machine (best of five 2048² products): {data['matmul_peak_gflops']:.0f} GFLOP/s in float32"
        + (f", {data['matmul_peak_gflops_bfloat16']:.0f} in bfloat16" if "matmul_peak_gflops_bfloat16" in data else "")
        + "; utilisation is against the peak of the precision the recipe trains in. "
        "From [`figures/bench/train.json`](figures/bench/train.json) by `scripts/bench_train.py`.",
    )


def ablation_section(path: Path) -> str | None:
    """What each piece of the per-task recipe is worth, on validation splits (``make ablation``)."""
    if not path.exists():
        return None
    data = load(path)
    tasks = data["tasks"]
    rows = []
    for r in data["rows"]:
        row = {"variant": r["variant"] + ("" if r["seed"] == 0 else f" (seed {r['seed']})")}
        for t in tasks:
            row[f"{t} val (%)"] = f"{r['val_accuracy'][t]:.2f}"
        rows.append(row)
    return section(
        "The training recipe, piece by piece (`python scripts/ablation.py`)", rows,
        f"Each dataset trained alone with the cpu profile's recipe, one technique removed or added; "
        f"{data['n_train']:,} training and {data['val_size']:,} validation images per dataset, epochs "
        f"{', '.join(f'{k} {v}' for k, v in data['epochs'].items() if k != 'default')}; validation accuracy only "
        "(the test splits are never read). One seed per row: the recipe's second seed shows the noise to read the "
        "differences against. Speed is measured by `make bench`, not here (these runs shared the machine with other "
        "work). From [`figures/ablation.json`](figures/ablation.json).",
        image="![ablation](figures/ablation.png)",
    )


def bundles(variants: dict[str, dict[str, Any]]) -> str:
    """The settings behind every ingredient that changes more than one (``"label: lr 0.375, momentum 0.85. "``)."""
    def setting(key: str, value: Any) -> str:
        return f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
    return "".join(f"{label.removeprefix('+ ')}: {', '.join(setting(k, v) for k, v in changes.items())}. "
                   for label, changes in variants.items() if len(changes) > 1)


def machines(data: dict[str, Any]) -> str:
    """Where the paired runs were made: pairs are pairs only on one machine (two processors round differently)."""
    names = data.get("machines", [])
    if len(names) == 1:
        return f" Every run on one machine ({names[0]}), so that the two runs of a pair round alike."
    return f" Runs from {len(names)} machines: {'; '.join(names)}." if names else ""


def paired_ablation_section(path: Path) -> str | None:
    """The fast-training ingredients, each added alone to the recipe, paired by seed (``make ablation``)."""
    if not path.exists():
        return None
    data = load(path)
    tasks = data["tasks"]
    rows = [{"ingredient": "recipe (cpu profile): mean validation accuracy (%)",
             **{display_name(t): f"{data['recipe_mean'][t]:.2f}" for t in tasks}}]
    again = data.get("recheck", {})
    for label, gains in data["gains"].items():
        rows.append({"ingredient": f"{label}: gain (points, 95 % interval)",
                     **{display_name(t): (format_difference(g) if isinstance(g, dict) else "— (cannot change it)")
                        + (f"; seeds {data['recheck_seeds'][0]}–{data['recheck_seeds'][-1]}: "
                           f"{format_difference(again[label][t])}" if t in again.get(label, {}) else "")
                        for t, g in gains.items()}})
    again_over = {(o["ingredient"], o["over"]): o["gains"] for o in data.get("recheck_over", [])}
    for over in data.get("over", []):
        label, pair_again = over["ingredient"], again_over.get((over["ingredient"], over["over"]), {})
        rows.append({"ingredient": f"{label}: gain over {over['over'].removeprefix('+ ')} (points, 95 % interval)",
                     **{display_name(t): "" for t in tasks},
                     **{display_name(t): format_difference(g)
                        + (f"; seeds {data['recheck_seeds'][0]}–{data['recheck_seeds'][-1]}: "
                           f"{format_difference(pair_again[t])}" if t in pair_again else "")
                        for t, g in over["gains"].items()}})
    seeds = sorted({r["seed"] for r in data["runs"]})
    erasing = (f", and random erasing (Zhong et al., 2017: each training image loses a random rectangle of "
               f"{100 * ERASE_AREA[0]:g}–{100 * ERASE_AREA[1]:g} % of its area with probability {ERASE_PROBABILITY:g}; "
               "not airbench94's)") if "+ random erasing" in data.get("variants", {}) else ""
    rechecked = (f" Every gain whose interval lies above zero was measured again on seeds "
                 f"{', '.join(map(str, data['recheck_seeds']))}, never run before ({data['recheck_seconds_total'] / 60:.1f} "
                 "min of training): the second number in its cell.") if again else ""
    return section(
        "Fast-training ingredients, paired by seed (`make ablation`)", rows,
        f"Each ingredient of airbench94 (Keller Jordan, 2024){erasing} added to the cpu profile's recipe, alone "
        f"unless its row names two; a row 'gain over' compares two rows' runs, seed by seed; each dataset "
        f"trained alone on {data['n_train']:,} training images, scored on {data['val_size']:,} validation images "
        f"(the test splits are never read), epochs "
        f"{', '.join(f'{display_name(k)} {v}' for k, v in data['epochs'].items() if k != 'default')}; "
        f"seeds {', '.join(map(str, seeds))}, each paired with the recipe's run of the same seed. "
        f"{bundles(data.get('variants', {}))}"
        "'Cannot change it': the ingredient does not apply to how that task trains (no flips for digits; "
        "test-time shifts only for tasks trained with shifts), so it was not run. "
        f"{data['seconds_total'] / 60:.1f} min of training in all ({'/'.join(map(str, data['cpu_threads']))} "
        f"thread(s) per run).{rechecked}{machines(data)} "
        "From [`figures/ablation_paired.json`](figures/ablation_paired.json).",
        image="![paired ablation](figures/ablation_paired.png)",
    )


def longer_ablation_section(path: Path) -> str | None:
    """Do the ingredients' gains last over more steps (``python scripts/ablation.py --paired --longer N``)?"""
    if not path.exists():
        return None
    data = load(path)
    tasks, budgets = data["tasks"], data["budgets"]
    column = lambda t, b: f"{display_name(t)}, {b['epochs'][family(t)]} epochs"  # noqa: E731
    rows = [{"comparison": "recipe (cpu profile): mean validation accuracy (%)",
             **{column(t, b): f"{b['recipe_mean'][t]:.2f}" for t in tasks for b in budgets}}]
    for k, comparison in enumerate(budgets[0]["comparisons"]):
        label, base = comparison["ingredient"], comparison["over"]
        over = "" if base == "recipe (cpu profile)" else f" over {base.removeprefix('+ ')}"
        rows.append({"comparison": f"{label}{over}: gain (points, 95 % interval)",
                     **{column(t, b): (format_difference(g) if (g := b["comparisons"][k]["gains"].get(t)) else "")
                        for t in tasks for b in budgets}})
    long = budgets[-1]
    steps = {r["task"]: r["steps"] for r in data.get("runs", []) if r.get("steps") is not None}
    lengths = lambda b: ", ".join(f"{display_name(t)} {b['epochs'][family(t)]}" for t in tasks)  # noqa: E731
    long_steps = (f"; {', '.join(f'{steps[t]:,}' for t in tasks)} steps at batch {data['recipe']['batch_size']}"
                  if all(t in steps for t in tasks) else "")
    return section(
        f"Does a gain last? The same ingredients with {data['times']}× the epochs "
        f"(`python scripts/ablation.py --paired --longer {data['times']}`)", rows,
        "The ingredients that change where training starts, airbench94's others that did not lose on CIFAR-10 at the "
        "short budget, and random erasing, each on the datasets where its row has numbers: the same "
        f"{data['n_train']:,} training and {data['val_size']:,} validation images and the same seeds "
        f"({', '.join(map(str, long['seeds']))}) as the paired ablation above, whose runs are the shorter columns "
        f"(epochs {lengths(budgets[0])}); the longer columns train {data['times']} times as many epochs "
        f"({lengths(long)}{long_steps}). Each gain is paired by seed "
        f"with a 95 % interval. {long['seconds_total'] / 60:.1f} min of training for the longer runs "
        f"({'/'.join(map(str, data['cpu_threads']))} thread(s) per run).{machines(long)} "
        "From [`figures/ablation_longer.json`](figures/ablation_longer.json).",
        image="![longer ablation](figures/ablation_longer.png)",
    )


def permuted_section(path: Path) -> str | None:
    """Permuted MNIST under GPM's protocol (``make pmnist``): ours beside the published points, with sources."""
    if not path.exists():
        return None
    data = load(path)
    rows = [{"method": a["label"], "average accuracy (%)": f"{a['accuracy']:.2f}",
             "capacity (%)": f"{100 * a['capacity']:.1f}", "WSN's count: weights / + mask bits ÷ 32 (%)": "",
             "source": a["source"]} for a in data["anchors"]]
    for c in data["configs"]:
        if not c.get("runs"):
            continue
        n = len(c["runs"])
        rows.append({"method": f"**SynapticNet {c['label']}**" if c["method"] == "synapticnet" else f"**{c['label']}** (ours)",
                     "average accuracy (%)": format_mean_std(c["avg_acc_mean"], c["avg_acc_std"], n, scale=1.0),
                     "capacity (%)": f"{100 * c['capacity_mean']:.1f}",
                     "WSN's count: weights / + mask bits ÷ 32 (%)": "" if c.get("capacity_wsn_mean") is None else
                     f"{100 * c['capacity_wsn_mean']:.1f} / {100 * c['capacity_wsn_with_masks_mean']:.1f}",
                     "source": f"this repository, {n} seed{'s' if n > 1 else ''} ({', '.join(map(str, c['seeds']))}), "
                               f"{c['train_seconds_mean'] / 60:.1f} min of training each"})
    ref = data["reference_network"]
    return section(
        "Permuted MNIST beside published results (`make pmnist`)", rows,
        f"{len(data['tasks'])} tasks, the protocol of GPM (Saha et al., 2021): a {ref['params']:,}-parameter MLP "
        f"{'-'.join(map(str, [ref['input'][0] * ref['input'][1] * ref['input'][2], *ref['hidden'], ref['num_classes']]))}, "
        "plain SGD at lr 0.01, batch 10, 5 epochs per task, 10 % of the training set held out for validation; "
        "capacity is parameters relative to one such network; WSN's count is connection weights (no biases, no "
        "heads) relative to one bias-free network, then with picking masks' bits added at 32 bits a weight (runs "
        "made before it was recorded show none). Published numbers are quoted as tabulated in the "
        "sources named (not re-run here); our differences from the protocol are listed in "
        "`synapticnet/experiments/permuted.py`. From [`figures/permuted_mnist.json`](figures/permuted_mnist.json).",
        image="![Permuted MNIST](figures/permuted_mnist.png)",
    )


def section(title: str, rows: list[dict[str, Any]], caption: str, image: str | None = None) -> str:
    """A results subsection: ``### title``, an optional figure, the table, and the caption saying where it came from."""
    figure = [image, ""] if image else []
    return "\n".join([f"### {title}", "", *figure, markdown_table(rows), "", caption])


def task_inference_section(path: Path) -> str | None:
    """Notebook 07: task identification and class-incremental accuracy per scorer, per stream."""
    if not path.exists():
        return None
    from synapticnet.task_inference import SCORER_TITLES

    data = load(path)
    streams = data["streams"]
    scorers = ["oracle", *next(iter(streams.values()))["task_id_accuracy"]]
    rows = []
    for scorer in scorers:
        row = {"scorer": SCORER_TITLES[scorer]}
        for stream, r in streams.items():
            tid = r["task_id_accuracy"].get(scorer)
            row[f"{stream}: task identified (%)"] = "—" if scorer == "oracle" else pct(tid)
            row[f"{stream}: class-incremental (%)"] = pct(r["task_inference"]["class_incremental_accuracy"][scorer])
        rows.append(row)
    baselines = "; ".join(f"{name}: {pct(v)} %" for stream in data.get("class_incremental_baselines", {}).values()
                          for name, v in stream.items())
    findings = data.get("findings", data.get("targets", {}))  # "targets" in records written before

    def says(key: str, yes: str, no: str) -> str:
        return {True: yes, False: no}.get(findings.get(key), f"not measured whether {yes}")

    identified = says("task_id_99_on_mnist_fashion_cifar10", "identifies the task of at least 99 % of test images",
                      "identifies the task of fewer than 99 % of test images")
    return section(
        "Without the task id (notebook 07)", rows,
        f"Profile `{data['profile']}` (reduced, see the notebook), seed {data['seed']}; default scorer "
        f"`{data['default_scorer']}`. Class-incremental baselines on Split CIFAR-10: {baselines or 'not run'}. "
        f"On MNIST → Fashion-MNIST → CIFAR-10 the default scorer {identified}; on Split CIFAR-10 its "
        f"class-incremental accuracy {says('above_replay_on_split_cifar10', 'is above replay', 'is not above replay')}. From "
        f"[`{path.as_posix()}`]({path.as_posix()}).",
        image="![Task inference](figures/07_cost.png)",
    )


def times_section(path: Path) -> str | None:
    """Measured wall time of every notebook per budget (``synapticnet/expected_times.json``), with the T4 estimate."""
    if not path.exists():
        return None
    from synapticnet.workspace import SLOWEST_MACHINE_FACTOR, T4_EFFECTIVE_TFLOPS, t4_minutes

    data = load(path)
    rate = data.get("machine", {}).get("cpu_train_tflops")
    rows, totals, shared = [], {"student": 0.0, "cpu": 0.0}, False
    for name, record in sorted(data.get("notebooks", {}).items()):
        row = {"notebook": name}
        for profile in ("student", "cpu"):
            seconds = record.get(profile, {}).get("seconds")
            row[f"{profile} (min, measured)"] = (None if seconds is None else
                                                 f"{seconds / 60:.1f}" + (" (shared)" if record[profile].get("shared") else ""))
            totals[profile] += seconds or 0.0
            shared = shared or bool(record.get(profile, {}).get("shared"))
        long = record.get("long", {}).get("seconds")
        row["long (min, measured)"] = None if long is None else round(long / 60, 1)
        cpu = record.get("cpu", {}).get("seconds")
        row["cpu budget on a T4 (min, estimated)"] = None if cpu is None or not rate else round(t4_minutes(cpu, rate), 1)
        rows.append(row)
    machine = data.get("machine", {})
    own = data.get("notebooks", {}).get("04_forgetting_baselines.ipynb", {}).get("cpu", {}).get("seconds", 0.0)
    entries = [e for record in data.get("notebooks", {}).values() for e in record.values()]
    named = sorted({e["processor"] for e in entries if e.get("processor")})
    unnamed = sum(not e.get("processor") for e in entries)
    processors = (f" ({'; '.join(named)}" + (f"; {unnamed} of the {len(entries)} times older than the record of "
                                              "the processor" if unnamed else "") + ")") if named else ""
    return section(
        "Run times (measured per notebook: `make reproduce`, `make baselines`, `make student`)", rows,
        f"Measured on a {machine.get('cpus', '?')}-core CPU{processors} (Python {machine.get('python', '?')}); "
        "totals: student "
        f"{totals['student'] / 60:.1f} min, cpu {totals['cpu'] / 60:.1f} min — of which `make baselines` (notebook 04) "
        f"{own / 60:.1f} min and `make reproduce` the other {(totals['cpu'] - own) / 60:.1f} min. Machines of this kind "
        f"differ by up to {SLOWEST_MACHINE_FACTOR:g}× (every notebook prints its expected time as that range). "
        + ("*(shared)*: measured while other jobs ran on the machine, so an upper bound. " if shared else "")
        + (f"T4 column: an estimate, not a measurement — the same FLOPs at an assumed {T4_EFFECTIVE_TFLOPS:g} TFLOP/s "
           f"instead of this CPU's measured {rate * 1000:.0f} GFLOP/s "
           f"(`{machine.get('cpu_train_tflops_from', 'figures/bench/flops.json').split(':')[0]}`). " if rate else "")
        + f"From [`synapticnet/expected_times.json`](synapticnet/expected_times.json); every notebook prints its row "
        "up front.",
    )


def render(figures: Path, times: Path | None = None) -> str:
    main = figures / "03_results.json"
    others = {p: load(figures / p / "03_results.json") for p in ("long", "student")
              if (figures / p / "03_results.json").exists()}  # and the long run's other seeds (CLI runs)
    others |= {f"long (seed {run['seed']})": run
               for run in map(load, sorted((figures / "long").glob("03_results_seed*.json")))}
    sections = [
        four_task_section(load(main), others,
                          copy_cost_note(figures / "cifar10_copy_cost.json"),
                          load(figures / "original_run.json") if (figures / "original_run.json").exists() else None,
                          anchor_note(figures / "anchor_airbench94.json"))
        if main.exists() else None,
        baselines_section(figures / "04_baselines.json"),
        studies_section(figures / "05_studies.json"),
        front_section(figures / "growth_front.json"),
        permuted_section(figures / "permuted_mnist.json"),
        task_inference_section(figures / "07_task_inference.json"),
        paired_ablation_section(figures / "ablation_paired.json"),
        longer_ablation_section(figures / "ablation_longer.json"),
        ablation_section(figures / "ablation.json"),
        throughput_section(figures / "bench" / "train.json"),
        bench_section(figures / "bench"),
        times_section(times if times is not None else figures.parent / "synapticnet" / "expected_times.json"),
    ]
    parts = [part for part in sections if part]  # a section whose results are not there yet is left out
    if not parts:
        return "*No results yet: run `make reproduce`.*"
    return "\n\n".join(parts)


def update(readme: Path, figures: Path) -> bool:
    """Rewrite the results block; return True when the file changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} … {END} block to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{render(figures)}\n{END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README's results block; exit 1 with one line if a results file holds NaN/Infinity."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", type=existing_file(".md"), default=Path("README.md"))
    parser.add_argument("--figures", type=Path, default=Path("figures"))
    parser.add_argument("--makefile", type=existing_file(""), default=None,
                        help="also rewrite this Makefile's help with the measured times (scripts/make_help.py)")
    args = parser.parse_args(argv)
    try:
        changed = update(args.readme, args.figures)
    except NonFiniteResult as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
    if args.makefile is not None:
        import importlib.util

        spec = importlib.util.spec_from_file_location("make_help", Path(__file__).resolve().parent / "make_help.py")
        make_help = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make_help)
        print(f"{args.makefile}: help {'updated' if make_help.update(args.makefile) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
