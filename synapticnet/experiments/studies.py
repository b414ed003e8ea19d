"""Studies of SynapticNet's own design choices (notebook 05).

* :func:`growth_study` — how much should each new task grow? Final accuracy and
  parameters for multiples of the profile's growth; ``0`` means *no new units at all*,
  only a new head reading the frozen features of the old tasks (needs ``mode="reuse"``).
* :func:`trigger_study` — a fixed, generous growth per task vs a small start plus the
  automatic growth trigger (:class:`~synapticnet.profiles.GrowthTrigger`, which widens
  a task while its *validation* accuracy is below a threshold): accuracy, parameters, time.
* :func:`distillation_study` — the exact default (old units frozen, BWT = 0 bit for
  bit) against the distillation option (``method="synapticnet_distill"`` in
  :func:`synapticnet.run.run`): old units' *weights* stay trainable
  under a distillation loss on their old heads, so a new task can adapt the features it
  reuses (forward transfer) at the price of changing old tasks' outputs. **The option
  gives up the bitwise zero-forgetting guarantee**; its BatchNorm statistics stay frozen.

Every study runs the one runner (:func:`synapticnet.run.run`) once per
setting and returns plain rows (dicts) for a table or a figure, plus the full results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..engine import TrainingDiverged
from ..profiles import GrowthTrigger, Profile, get_profile
from ..run import _differing_settings, fresh_run_dir, run, run_sequence


def scaled_growth(profile: Profile, factor: float) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The profile's growth table with every entry multiplied by ``factor`` (rounded)."""
    return {fam: (tuple(int(round(factor * c)) for c in conv), tuple(int(round(factor * h)) for h in hidden))
            for fam, (conv, hidden) in profile.growth.items()}


def _row(label: Any, results: dict[str, Any]) -> dict[str, Any]:
    R = results["accuracy_matrix"]
    diagonal = [R[i][i] for i in range(1, len(R))]  # accuracy of each new task right after learning it
    return dict(setting=label, average_accuracy=results["average_accuracy"], bwt=results["bwt"],
                forgetting=results["forgetting"], new_task_accuracy=sum(diagonal) / len(diagonal) if diagonal else None,
                params_total=results["params_total"], train_seconds=results["train_seconds_total"],
                final_accuracy=results["final_accuracy"])


def growth_study(factors: Sequence[float], tasks: Sequence[str], profile: Profile | str, out_dir: str | os.PathLike,
                 data_root: str | os.PathLike | None = None, seed: int = 0, progress: bool = False,
                 unavailable: dict[str, str] | None = None) -> dict[str, Any]:
    """One SynapticNet run per growth multiplier. A factor of 0 needs ``profile.mode == "reuse"``."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if 0 in factors and profile.mode != "reuse":
        raise ValueError("growth factor 0 (no new units) only works in reuse mode: "
                         "use profile.replace(mode='reuse')")
    rows, runs = [], {}
    for f in factors:
        out = fresh_run_dir(Path(out_dir) / f"growth_x{f:g}")
        r = run_sequence(tasks, profile.replace(growth=scaled_growth(profile, f)), data_root=data_root, out_dir=out,
                         seed=seed, progress=progress, unavailable=unavailable)
        runs[f] = r
        rows.append(dict(_row(f, r), factor=f))
    return dict(study="growth", factors=list(factors), rows=rows, runs=runs, mode=profile.mode)


def _reused(results: dict[str, Any] | None, tasks: Sequence[str], profile: Profile, seed: int,
            what: str) -> dict[str, Any] | None:
    """``results`` if it is a finished run of exactly this setting (else a ``ValueError``)."""
    if results is None:
        return None
    same = (results.get("complete") and list(results["tasks"]) == list(tasks) and results["seed"] == seed
            and not _differing_settings(results["profile_settings"], profile.to_dict()))
    if not same:
        raise ValueError(f"the {what} results passed in are not a finished run of these tasks, seed and "
                         "profile settings; leave them out to run the setting here")
    return results


def trigger_study(tasks: Sequence[str], profile: Profile | str, out_dir: str | os.PathLike,
                  trigger: GrowthTrigger, start_factor: float = 0.25, data_root: str | os.PathLike | None = None,
                  seed: int = 0, progress: bool = False, unavailable: dict[str, str] | None = None,
                  manual: dict[str, Any] | None = None) -> dict[str, Any]:
    """Manual growth (the profile's) vs ``start_factor`` × that growth plus the automatic trigger.

    ``manual``: the results of the manual setting if they exist already (for example the
    ×1 run of :func:`growth_study` with the same profile and seed); it is then not run again.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    settings = {
        "manual": profile,
        "automatic": profile.replace(growth=scaled_growth(profile, start_factor), growth_trigger=trigger),
    }
    done = {"manual": _reused(manual, tasks, profile, seed, "manual")}
    rows, runs = [], {}
    for label, p in settings.items():
        r = done.get(label) or run_sequence(tasks, p, data_root=data_root, seed=seed, progress=progress,
                                            out_dir=fresh_run_dir(Path(out_dir) / f"trigger_{label}"),
                                            unavailable=unavailable)
        runs[label] = r
        widened = sum(1 for d in r["growth_decisions"] if d["action"] == "widen")
        rows.append(dict(_row(label, r), widenings=widened))
    return dict(study="trigger", start_factor=start_factor, trigger=dict(vars(trigger)), rows=rows, runs=runs)


def distillation_study(tasks: Sequence[str], profile: Profile | str, out_dir: str | os.PathLike,
                       lambdas: Sequence[float] = (0.0, 1.0, 10.0), temperature: float = 2.0,
                       data_root: str | os.PathLike | None = None, seed: int = 0, progress: bool = False,
                       unavailable: dict[str, str] | None = None, frozen: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
    """Frozen (exact) SynapticNet vs the distillation option at several weights λ.

    λ = 0 means old weights are free (plain fine-tuning of everything the new task
    touches); larger λ holds old heads' outputs closer to what they were. Reuse mode is
    required: in isolate mode a new task never touches old units, so there is nothing
    to trade. ``frozen``: the results of the frozen setting if they exist already (same
    profile and seed); it is then not run again. A λ whose training diverges (NaN/inf
    loss) gives a row with ``diverged`` set to the reason and every metric ``None``.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if profile.mode != "reuse":
        raise ValueError("the distillation option needs profile.replace(mode='reuse'): in isolate mode "
                         "new tasks do not read old units, so freeing them changes nothing")
    rows, runs = [], {}
    r = _reused(frozen, tasks, profile, seed, "frozen") or run_sequence(
        tasks, profile, data_root=data_root, out_dir=fresh_run_dir(Path(out_dir) / "frozen"), seed=seed,
        progress=progress, unavailable=unavailable)
    runs["frozen (exact)"] = r
    rows.append(_row("frozen (exact)", r))
    for lam in lambdas:
        label = f"distill λ={lam:g}"
        try:
            r = run(tasks, "synapticnet_distill", profile, data_root=data_root,
                             out_dir=fresh_run_dir(Path(out_dir) / f"distill_{lam:g}"), seed=seed, progress=progress,
                             unavailable=unavailable, lwf_lambda=lam, temperature=temperature)
        except TrainingDiverged as error:  # a stiff distillation term can blow up at the profile's learning rate
            print(f"{label}: diverged ({str(error).split(';')[0]}); recorded as a row without results")
            rows.append(dict(setting=label, lwf_lambda=lam, diverged=str(error).split(";")[0],
                             **{k: None for k in _row(label, runs["frozen (exact)"]) if k != "setting"}))
            continue
        runs[label] = r
        rows.append(dict(_row(label, r), lwf_lambda=lam, diverged=None))
    return dict(study="distillation", temperature=temperature, rows=rows, runs=runs)
