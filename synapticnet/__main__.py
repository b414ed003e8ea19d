"""Command line: ``python -m synapticnet run --profile cpu --out runs/cpu``.

Runs the continual sequence without Jupyter (e.g. on a GPU box over ssh) and writes
``OUT/results.json`` and ``OUT/checkpoint.pt``. Errors in the arguments or the data
are reported in one readable line (exit code 2), not as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .profiles import PROFILES, REAL_TASKS, default_profile_name

EPILOG = """\
examples:
  python -m synapticnet run --profile smoke --out runs/smoke
  SYNAPTICNET_DATA=../shared/data python -m synapticnet run --profile cpu \\
      --tasks mnist,fashion_mnist,cifar10 --out runs/cpu
  python -m synapticnet run --profile cpu --out runs/cpu --resume   # after an interruption

datasets are looked up in --data, else $SYNAPTICNET_DATA, else ./data; each one is read
from <root>/<name>.npz when present, otherwise through torchvision (downloading it).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synapticnet",
        description="SynapticNet: continual learning without forgetting, by task-gated growth.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="learn a sequence of tasks and write results.json",
        description="Learn a sequence of tasks one after another (grow, train, evaluate every task seen so "
                    "far), saving a checkpoint and the results after every task.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profiles = ", ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
    run.add_argument("--profile", choices=list(PROFILES), default=None,
                     help=f"sizes and epochs ({profiles}). Default: full with a GPU, else cpu")
    run.add_argument("--tasks", default=None,
                     help=f"comma-separated datasets in order (default: the profile's, e.g. {','.join(REAL_TASKS)}; "
                          "the smoke profile uses the synthetic_* stand-ins)")
    run.add_argument("--data", default=None, metavar="ROOT", help="data root (default: $SYNAPTICNET_DATA or ./data)")
    run.add_argument("--out", default=None, metavar="DIR", help="output directory (default: runs/<profile>)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out after its last finished task")
    run.add_argument("--no-download", action="store_true",
                     help="never download: fail with instructions if a dataset is not in the data root")
    run.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data import DataError  # imported late: `--help` stays instant
    from .engine import TrainingDiverged
    from .run import run_sequence

    profile = args.profile or default_profile_name()
    try:
        results = run_sequence(
            tasks=args.tasks, profile=profile, data_root=args.data, out_dir=args.out or f"runs/{profile}",
            seed=args.seed, resume=args.resume, device=args.device, progress=not args.quiet,
            download=not args.no_download,
        )
    except (ValueError, DataError, TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if results["average_accuracy"] is not None:
        print(f"average accuracy {100 * results['average_accuracy']:.2f}%, BWT {results['bwt']}, "
              f"forgetting {results['forgetting']}, parameters {results['params_total']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
