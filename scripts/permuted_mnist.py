"""Permuted MNIST under GPM's protocol, next to published accuracy and capacity: ``make pmnist``.

Runs the configurations of :data:`synapticnet.experiments.permuted.CONFIGS` (or those named by
``--configs``) for every seed on the 10 Permuted MNIST tasks, writes ``figures/permuted_mnist.json``
after every run (an interrupted table continues where it stopped), then draws
``figures/permuted_mnist.png`` next to it. The data comes from ``$SYNAPTICNET_DATA`` (default
``data/``). ``--profile smoke`` runs three synthetic tasks of a few steps (into ``build/`` unless ``--out``).

Usage: ``python scripts/permuted_mnist.py [--seeds 0,1,2] [--configs "separate ×1,reuse 40+4"]
[--out figures/permuted_mnist.json] [--profile cpu]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from synapticnet.arguments import names, script, seeds
from synapticnet.experiments.figures import permuted_figure
from synapticnet.experiments.permuted import CONFIGS, run_permuted
from synapticnet.plots import save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--configs", type=names([c.label for c in CONFIGS], "configuration"),
                        default=",".join(c.label for c in CONFIGS),
                        help="comma-separated configuration labels (default: all of "
                             f"{', '.join(c.label for c in CONFIGS)})")
    parser.add_argument("--out", type=Path, default=None,
                        help="the table's JSON; the figure goes next to it as .png "
                             "(default: figures/permuted_mnist.json; smoke: build/permuted_mnist/permuted_mnist.json)")
    parser.add_argument("--profile", choices=("cpu", "student", "smoke"), default="cpu",
                        help="cpu (the protocol; default), student or smoke")
    args = parser.parse_args()
    known, wanted = {c.label: c for c in CONFIGS}, args.configs
    smoke = args.profile == "smoke"
    out = args.out or Path("build/permuted_mnist/permuted_mnist.json" if smoke else "figures/permuted_mnist.json")
    runs_dir = out.parent / "runs" if smoke else Path("runs/permuted_mnist")
    table = run_permuted(out, seeds=args.seeds, configs=[known[label] for label in wanted], profile=args.profile,
                         data_root=os.environ.get("SYNAPTICNET_DATA"), runs_dir=runs_dir)
    print(f"wrote {out} and {save_figure(permuted_figure(table), out.with_suffix('.png'))}")


if __name__ == "__main__":
    script(main)
