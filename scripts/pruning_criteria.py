"""Which units should compaction remove: ``|γ|`` or ablation? ``make criteria``.

Trains task 0 of Split CIFAR-10 at the growth front's settings once per seed, ranks its units
both ways, compacts to each fraction of the front's rule, fine-tunes, and compares validation
accuracy paired by seed (:mod:`synapticnet.experiments.criteria`). Writes
``figures/pruning_criteria.json`` (``--smoke``: synthetic stand-ins into ``build/criteria/``).

Usage: ``python scripts/pruning_criteria.py [--seeds 0,1,2,3,4] [--smoke]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from synapticnet.arguments import script, seeds
from synapticnet.experiments.criteria import criteria_study
from synapticnet.stats import format_difference
from synapticnet.storage import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default="0,1,2,3,4")
    parser.add_argument("--smoke", action="store_true", help="synthetic stand-ins, smoke profile, into build/criteria")
    args = parser.parse_args()
    result = criteria_study(seeds=args.seeds, profile="smoke" if args.smoke else "cpu",
                            data_root=os.environ.get("SYNAPTICNET_DATA"))
    result["command"] = "python scripts/pruning_criteria.py --seeds " + ",".join(map(str, args.seeds))
    out = (Path("build/criteria") if args.smoke else Path("figures")) / "pruning_criteria.json"
    save_json(result, out)
    for fraction, d in result["differences"].items():
        print(f"×{fraction}: ablation − |γ| (points, paired): right after {format_difference(d['val_right_after'])}, "
              f"after the fine-tune {format_difference(d['val_after_finetune'])}")
    print("wrote", out)


if __name__ == "__main__":
    script(main)
