"""The accuracy–parameter front (issue: growth that pays for itself): ``make front``.

Runs every configuration of :data:`synapticnet.experiments.front.CONFIGS` on both streams for five
seeds (claims are paired by seed, with 95 % intervals: fewer than five seeds make none), writes
``figures/growth_front.json`` after every point (an interrupted run continues where it stopped),
then draws ``figures/growth_front.png`` and prints the targets' verdicts. ``--smoke`` runs a tiny version on synthetic stand-ins into build/.

``--sweep-sparsity 0,0.01,0.03,0.1`` instead chooses network slimming's λ for the front's compaction
points on validation accuracy (``figures/front_sparsity.json``); ``--sweep-pick 1,10,100,1000`` the picking
masks' learning-rate factor (``figures/front_pick.json``). ``--configs`` runs some configurations only.

Usage: ``python scripts/growth_front.py [--seeds 0,1,2,3,4] [--streams split_cifar10,...] [--smoke]
[--sweep-sparsity L1,L2,...]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synapticnet.arguments import names, numbers, script, seeds
from synapticnet.experiments import SMOKE_STREAMS, STREAMS, front_figure, run_front, targets
from synapticnet.experiments.front import CONFIGS, pick_sweep, sparsity_sweep
from synapticnet.plots import save_figure
from synapticnet.storage import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default=None,
                        help="default: 0,1,2,3,4 (the front), 0,1 (--sweep-sparsity, --sweep-pick)")
    parser.add_argument("--streams", type=names(sorted({*STREAMS, *SMOKE_STREAMS}), "stream"),
                        default=",".join(STREAMS), help=f"comma-separated, of {', '.join(STREAMS)}")
    parser.add_argument("--configs", type=names([c.label for c in CONFIGS], "configuration"), default=None,
                        metavar="LABEL,...", help="run only these configurations (default: all of "
                                                  "synapticnet.experiments.front.CONFIGS)")
    parser.add_argument("--smoke", action="store_true", help="synthetic stand-ins, smoke profile, into build/front")
    parser.add_argument("--sweep-sparsity", type=numbers, metavar="L1,L2,...",
                        help="instead of the front: choose network slimming's λ on validation (seeds 0,1 unless "
                             "--seeds is given) and write <folder>/front_sparsity.json")
    parser.add_argument("--sweep-pick", type=numbers, metavar="F1,F2,...",
                        help="instead of the front: choose the picking masks' learning-rate factor on validation "
                             "(seeds 0,1 unless --seeds is given; the first stream) and write <folder>/front_pick.json")
    args = parser.parse_args()
    folder = Path("build/front") if args.smoke else Path("figures")
    profile = "smoke" if args.smoke else "cpu"
    if args.sweep_pick:
        stream = args.streams[0]
        result = pick_sweep(stream, args.sweep_pick, seeds=args.seeds or [0, 1], profile=profile,
                            runs_dir=folder / "runs" if args.smoke else "runs/front_pick")
        result["command"] = (f"python scripts/growth_front.py --sweep-pick {','.join(f'{v:g}' for v in args.sweep_pick)} "
                             f"--streams {stream}")
        save_json(result, folder / "front_pick.json")
        print(f"chosen factor = {result['chosen']:g} ({result['rule']}); wrote {folder / 'front_pick.json'}")
        return
    if args.sweep_sparsity:
        result = sparsity_sweep(args.streams[-1], args.sweep_sparsity, seeds=args.seeds or [0, 1], profile=profile,
                                runs_dir=folder / "runs" if args.smoke else "runs/front_sparsity")
        result["command"] = "python scripts/growth_front.py --sweep-sparsity " + ",".join(f"{v:g}" for v in args.sweep_sparsity)
        save_json(result, folder / "front_sparsity.json")
        print(f"chosen λ = {result['chosen']:g} ({result['rule']}); wrote {folder / 'front_sparsity.json'}")
        return
    streams = {s: (SMOKE_STREAMS if args.smoke else STREAMS)[s] for s in args.streams}
    configs = CONFIGS if args.configs is None else tuple(c for label in args.configs for c in CONFIGS if c.label == label)
    out = folder / "growth_front.json"
    front = run_front(out, streams=streams, configs=configs, seeds=args.seeds or [0, 1, 2, 3, 4], profile=profile,
                      runs_dir=folder / "runs" if args.smoke else "runs/front")
    front["targets"] = targets(front)
    save_json(front, out)
    save_figure(front_figure(front), folder / "growth_front.png")
    print(json.dumps(front["targets"], indent=1))


if __name__ == "__main__":
    script(main)
