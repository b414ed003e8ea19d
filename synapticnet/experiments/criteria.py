"""Which units should compaction remove? Two rankings of the same trained task, paired by seed.

Compaction keeps the "most important" fraction of a task's units and fine-tunes what is left
(:class:`~synapticnet.profiles.Compaction`). The ranking decides which units those are:

* ``|γ|`` — :func:`synapticnet.pruning.unit_importance`: a filter's BatchNorm scale (a dense
  neuron's incoming × outgoing weight norm). Free, but after a short training every ``|γ|`` is
  still close to its initial 1 (notebook 06), so it may say little;
* ``ablation`` — :func:`synapticnet.pruning.ablation_importance`: the rise in validation loss
  when the unit alone is silenced. One validation pass per unit, but it asks the network.

:func:`criteria_study` trains task 0 of a stream (the front's ``conv-reuse ×1`` settings and
budget) once per seed, then for each ranking and each of :data:`FRACTIONS` compacts a copy,
measures validation accuracy right after and after the front rule's fine-tune (the
same fine-tune, from the same random state, for both rankings) — each once as it is and once after
re-estimating the task's BatchNorm statistics (:func:`synapticnet.methods.synapticnet.recalibrate_norms`):
removing units leaves the statistics of the units behind them stale. Differences are paired by seed
(:func:`synapticnet.stats.paired_difference`). Validation splits only: this chooses a criterion.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..engine import evaluate, seed_everything, task_seed, train_task
from ..methods import get_method
from ..methods.synapticnet import finetune_profile, recalibrate_norms
from ..profiles import Profile
from ..pruning import ablation_importance, compaction_sizes, unit_importance
from ..run import load_task_data
from ..stats import paired_difference
from .front import CONFIGS, SMOKE_STREAMS, STREAMS, front_budget

FRACTIONS = (0.25, 0.5, 0.75)  # the front's rule tries 0.25 and 0.5; the cpu profile's rule 0.5 and 0.75
RECALIBRATE_BATCHES = 16  # BatchNorm recalibration after the removal: 16 training batches (2,048 images at batch 128)
KEYS = ("val_right_after", "val_after_finetune", "val_recalibrated", "val_recalibrated_finetune")
CRITERIA: dict[str, Callable[[Any, Any], Any]] = {
    "|γ|": lambda model, data: unit_importance(model),
    "ablation": lambda model, data: ablation_importance(model, data, "val"),
}


def criteria_study(stream: str = "split_cifar10", seeds: Sequence[int] = (0, 1, 2, 3, 4),
                   profile: Profile | str = "cpu", data_root: str | os.PathLike | None = None,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Rank task 0's units by each of :data:`CRITERIA`, compact, fine-tune; compare on validation.

    Returns ``{"rows": [{seed, criterion, fraction, val_full, val_right_after, val_after_finetune,
    val_recalibrated, val_recalibrated_finetune, score_seconds}], "differences": {fraction: {key: …}},
    "recalibration": {fraction: {criterion: {"before_finetune", "after_finetune"}}}}`` — ``differences``
    are ablation minus ``|γ|``, ``recalibration`` recalibrated minus not, in points, paired by seed, with
    95 % intervals.
    """
    base = front_budget(stream, profile)
    tasks = (SMOKE_STREAMS if base.name == "smoke" else STREAMS)[stream]
    config = next(c for c in CONFIGS if c.label == "conv-reuse ×1 + compaction")
    rule = config.rule()
    trained_with = config.profile(base).replace(compaction=None)  # the front's point, without compaction itself
    rows = []
    for seed in seeds:
        data = load_task_data(tasks, base, data_root, seed)[0]
        hooks = get_method("synapticnet")(trained_with)
        seed_everything(task_seed(seed, 0))
        model = hooks.build([data.name], data.num_classes)
        train_task(model, data, trained_with, progress=False, hooks=hooks)
        full = evaluate(model, data, "val")
        finetune = finetune_profile(trained_with.replace(compaction=rule), data)
        finetune_hooks = get_method("synapticnet")(finetune)  # the gradient mask, as compact_task fine-tunes
        for name, rank in CRITERIA.items():
            start = time.perf_counter()
            scores = rank(model, data)
            seconds = time.perf_counter() - start
            for fraction in sorted(FRACTIONS):
                row = dict(seed=seed, criterion=name, fraction=fraction, val_full=100 * full, score_seconds=seconds)
                for recalibrated in (False, True):
                    candidate = copy.deepcopy(model)
                    candidate.compact(*compaction_sizes(candidate, fraction), scores=scores)
                    if recalibrated:
                        recalibrate_norms(candidate, data, RECALIBRATE_BATCHES, trained_with.batch_size)
                    key = "recalibrated" if recalibrated else "right_after"
                    row[f"val_{key}"] = 100 * evaluate(candidate, data, "val")
                    seed_everything(task_seed(seed, 0) + 1)  # the same fine-tune for every ranking
                    report = train_task(candidate, data, finetune, progress=False, hooks=finetune_hooks)
                    # train_task ends with the candidate's validation pass
                    row[f"val_{key}_finetune" if recalibrated else "val_after_finetune"] = 100 * report.val_accuracy
                rows.append(row)
                log(f"seed {seed} {name:>8} ×{fraction:g}: val right after {row['val_right_after']:.2f} %, "
                    f"fine-tuned {row['val_after_finetune']:.2f} %; recalibrated {row['val_recalibrated']:.2f} %, "
                    f"then fine-tuned {row['val_recalibrated_finetune']:.2f} % (full width {100 * full:.2f} %)")
    pick = {(c, f): {r["seed"]: r for r in rows if r["criterion"] == c and r["fraction"] == f}
            for c in CRITERIA for f in FRACTIONS}
    differences = {f"{f:g}": {key: paired_difference([pick["ablation", f][s][key] for s in seeds],
                                                     [pick["|γ|", f][s][key] for s in seeds]).to_dict()
                              for key in KEYS} for f in sorted(FRACTIONS)}
    recalibration = {f"{f:g}": {c: {
        "before_finetune": paired_difference([pick[c, f][s]["val_recalibrated"] for s in seeds],
                                             [pick[c, f][s]["val_right_after"] for s in seeds]).to_dict(),
        "after_finetune": paired_difference([pick[c, f][s]["val_recalibrated_finetune"] for s in seeds],
                                            [pick[c, f][s]["val_after_finetune"] for s in seeds]).to_dict()}
        for c in CRITERIA} for f in sorted(FRACTIONS)}
    return dict(stream=stream, task=tasks[0], seeds=list(seeds), budget=base.to_dict(), settings=config.label,
                fractions=list(FRACTIONS),
                rule=dict(fractions=list(rule.fractions), finetune_share=rule.finetune_share),
                recalibrate_batches=RECALIBRATE_BATCHES, rows=rows, differences=differences,
                recalibration=recalibration)
