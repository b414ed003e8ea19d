"""The accuracy–parameter front (issue: growth that pays for itself): ``make front``.

Runs every configuration of :data:`synapticnet.experiments.front.CONFIGS` on both streams for five
seeds (claims are paired by seed, with 95 % intervals: fewer than five seeds make none), writes
``figures/growth_front.json`` after every point (an interrupted run continues where it stopped),
then draws ``figures/growth_front.png`` and prints the targets' verdicts. ``--smoke`` runs a tiny version on synthetic stand-ins into build/.

``--sweep-sparsity 0,0.01,0.03,0.1`` instead chooses network slimming's λ for the front's compaction
points on validation accuracy (``figures/front_sparsity.json``).

Usage: ``python scripts/growth_front.py [--seeds 0,1,2,3,4] [--streams split_cifar10,...] [--smoke]
[--sweep-sparsity L1,L2,...]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synapticnet.experiments import SMOKE_STREAMS, STREAMS, front_figure, run_front, targets
from synapticnet.experiments.front import CONFIGS, pick_sweep, sparsity_sweep
from synapticnet.plots import save_figure
from synapticnet.storage import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=None, help="default: 0,1,2,3,4 (the front), 0,1 (--sweep-sparsity)")
    parser.add_argument("--streams", default=",".join(STREAMS))
    parser.add_argument("--smoke", action="store_true", help="synthetic stand-ins, smoke profile, into build/front")
    parser.add_argument("--configs", default=None, metavar="LABEL,...",
                        help="run only these configurations (default: all of synapticnet.experiments.front.CONFIGS)")
    parser.add_argument("--sweep-sparsity", metavar="L1,L2,...",
                        help="instead of the front: choose network slimming's λ on validation (seeds 0,1 unless "
                             "--seeds is given) and write <folder>/front_sparsity.json")
    parser.add_argument("--sweep-pick", metavar="F1,F2,...",
                        help="instead of the front: choose the picking masks' learning-rate factor on validation "
                             "(seeds 0,1 unless --seeds is given) and write <folder>/front_pick.json")
    args = parser.parse_args()
    if args.sweep_pick:
        folder = Path("build/front") if args.smoke else Path("figures")
        seeds = [int(s) for s in (args.seeds or "0,1").split(",")]
        result = pick_sweep(args.streams.split(",")[0], [float(v) for v in args.sweep_pick.split(",")], seeds=seeds,
                            profile="smoke" if args.smoke else "cpu",
                            runs_dir=folder / "runs" if args.smoke else "runs/front_pick")
        result["command"] = "python scripts/growth_front.py --sweep-pick " + args.sweep_pick + \
            f" --streams {args.streams.split(',')[0]}"
        save_json(result, folder / "front_pick.json")
        print(f"chosen factor = {result['chosen']:g} (edge of the grid: {result['edge']}); wrote {folder / 'front_pick.json'}")
        return
    if args.sweep_sparsity:
        folder = Path("build/front") if args.smoke else Path("figures")
        seeds = [int(s) for s in (args.seeds or "0,1").split(",")]
        stream = args.streams.split(",")[-1]
        result = sparsity_sweep(stream, [float(v) for v in args.sweep_sparsity.split(",")], seeds=seeds,
                                profile="smoke" if args.smoke else "cpu",
                                runs_dir=folder / "runs" if args.smoke else "runs/front_sparsity")
        result["command"] = "python scripts/growth_front.py --sweep-sparsity " + args.sweep_sparsity
        save_json(result, folder / "front_sparsity.json")
        print(f"chosen λ = {result['chosen']:g} ({result['rule']}); wrote {folder / 'front_sparsity.json'}")
        return
    streams = {s: (SMOKE_STREAMS if args.smoke else STREAMS)[s] for s in args.streams.split(",")}
    folder = Path("build/front") if args.smoke else Path("figures")
    out = folder / "growth_front.json"
    configs = CONFIGS
    if args.configs:
        known = {c.label: c for c in CONFIGS}
        unknown = [label for label in args.configs.split(",") if label not in known]
        if unknown:
            parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(known)}")
        configs = tuple(known[label] for label in args.configs.split(","))
    front = run_front(out, streams=streams, configs=configs,
                      seeds=[int(s) for s in (args.seeds or "0,1,2,3,4").split(",")],
                      profile="smoke" if args.smoke else "cpu", runs_dir=folder / "runs" if args.smoke else "runs/front")
    front["targets"] = targets(front)
    save_json(front, out)
    save_figure(front_figure(front), folder / "growth_front.png")
    print(json.dumps(front["targets"], indent=1))


if __name__ == "__main__":
    main()
