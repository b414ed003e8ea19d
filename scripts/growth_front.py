"""The accuracy–parameter front (issue: growth that pays for itself): ``make front``.

Runs every configuration of :data:`synapticnet.experiments.front.CONFIGS` on both streams for three
seeds, writes ``figures/growth_front.json`` after every point (an interrupted run
continues where it stopped), then draws ``figures/growth_front.png`` and prints the
targets' verdicts. ``--smoke`` runs a tiny version on synthetic stand-ins into build/.

Usage: ``python scripts/growth_front.py [--seeds 0,1,2] [--streams split_cifar10,...] [--smoke]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synapticnet.experiments import SMOKE_STREAMS, STREAMS, front_figure, run_front, targets
from synapticnet.plots import save_figure
from synapticnet.storage import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--streams", default=",".join(STREAMS))
    parser.add_argument("--smoke", action="store_true", help="synthetic stand-ins, smoke profile, into build/front")
    args = parser.parse_args()
    streams = {s: (SMOKE_STREAMS if args.smoke else STREAMS)[s] for s in args.streams.split(",")}
    folder = Path("build/front") if args.smoke else Path("figures")
    out = folder / "growth_front.json"
    front = run_front(out, streams=streams, seeds=[int(s) for s in args.seeds.split(",")],
                      profile="smoke" if args.smoke else "cpu", runs_dir=folder / "runs" if args.smoke else "runs/front")
    front["targets"] = targets(front)
    save_json(front, out)
    save_figure(front_figure(front), folder / "growth_front.png")
    print(json.dumps(front["targets"], indent=1))


if __name__ == "__main__":
    main()
