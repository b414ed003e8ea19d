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

from synapticnet.arguments import names, numbers, script, seeds
from synapticnet.experiments import SMOKE_STREAMS, STREAMS, front_figure, run_front, targets
from synapticnet.experiments.front import sparsity_sweep
from synapticnet.plots import save_figure
from synapticnet.storage import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default=None,
                        help="default: 0,1,2,3,4 (the front), 0,1 (--sweep-sparsity)")
    parser.add_argument("--streams", type=names(sorted({*STREAMS, *SMOKE_STREAMS}), "stream"),
                        default=",".join(STREAMS), help=f"comma-separated, of {', '.join(STREAMS)}")
    parser.add_argument("--smoke", action="store_true", help="synthetic stand-ins, smoke profile, into build/front")
    parser.add_argument("--sweep-sparsity", type=numbers, metavar="L1,L2,...",
                        help="instead of the front: choose network slimming's λ on validation (seeds 0,1 unless "
                             "--seeds is given) and write <folder>/front_sparsity.json")
    args = parser.parse_args()
    if args.sweep_sparsity:
        folder = Path("build/front") if args.smoke else Path("figures")
        chosen_seeds = args.seeds or [0, 1]
        stream = args.streams[-1]
        result = sparsity_sweep(stream, args.sweep_sparsity, seeds=chosen_seeds,
                                profile="smoke" if args.smoke else "cpu",
                                runs_dir=folder / "runs" if args.smoke else "runs/front_sparsity")
        result["command"] = "python scripts/growth_front.py --sweep-sparsity " + ",".join(f"{v:g}" for v in args.sweep_sparsity)
        save_json(result, folder / "front_sparsity.json")
        print(f"chosen λ = {result['chosen']:g} ({result['rule']}); wrote {folder / 'front_sparsity.json'}")
        return
    streams = {s: (SMOKE_STREAMS if args.smoke else STREAMS)[s] for s in args.streams}
    folder = Path("build/front") if args.smoke else Path("figures")
    out = folder / "growth_front.json"
    front = run_front(out, streams=streams, seeds=args.seeds or [0, 1, 2, 3, 4],
                      profile="smoke" if args.smoke else "cpu", runs_dir=folder / "runs" if args.smoke else "runs/front")
    front["targets"] = targets(front)
    save_json(front, out)
    save_figure(front_figure(front), folder / "growth_front.png")
    print(json.dumps(front["targets"], indent=1))


if __name__ == "__main__":
    script(main)
