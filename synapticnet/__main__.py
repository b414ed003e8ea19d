"""Command line: ``python -m synapticnet run --profile cpu --out runs/cpu``.

Runs the continual sequence without Jupyter (e.g. on a GPU box over ssh) through the one
runner, :func:`synapticnet.run.run`, and writes ``OUT/results.json`` and ``OUT/checkpoint.pt``.
``--method NAME`` runs any method of :mod:`synapticnet.methods` (default ``synapticnet``;
``--param KEY=VALUE`` sets its hyper-parameters); every method is resumed with ``--resume``
after an interruption. Errors in the arguments or the data,
and files that cannot be written (disk full, folder made read-only), are reported in
one readable line (exit code 2), not as a traceback. Ctrl-C stops with exit code 130
and prints the command that continues the run (``--resume``).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .profiles import MAX_SEED, PROFILES, REAL_TASKS, REFERENCE_PROFILE, check_seed

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130  # 130 = 128 + SIGINT, what a shell reports for Ctrl-C
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

EPILOG = """\
examples:
  python -m synapticnet run --profile smoke --out runs/smoke
  SYNAPTICNET_DATA=../shared/data python -m synapticnet run --profile cpu \\
      --tasks mnist,fashion_mnist,cifar10 --out runs/cpu
  python -m synapticnet run --profile cpu --out runs/cpu --resume   # after an interruption
  python -m synapticnet run --profile cpu --tasks split_cifar10 --out runs/split   # related tasks
  python -m synapticnet run --profile smoke --tasks synthetic_permuted_mnist:3 --out runs/perm
  python -m synapticnet run --profile smoke --method gem --param memory_per_task=50 --out runs/gem

streams (one dataset cut into related tasks, see synapticnet/streams.py) can be used
wherever a dataset can, and mixed with datasets: split_mnist (5 tasks of 2 digits),
split_cifar10 (5 x 2 classes), split_cifar100 (10 x 10 classes), permuted_mnist (5 tasks;
permuted_mnist:N for N). One task alone: split_cifar10/3. synthetic_split_mnist ... are
the same streams on the synthetic stand-ins.

datasets are looked up in --data, else $SYNAPTICNET_DATA, else ./data; each one is read
from <root>/<name>.npz when present, otherwise through torchvision (downloading it).
"""


def seed_arg(text: str) -> int:
    """``--seed``: an integer in ``0 … 2**32 - 1`` (:func:`~synapticnet.profiles.check_seed`), else argparse's one-line error."""
    try:
        return check_seed(int(text.strip()) if text.strip().lstrip("-").isdigit() else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace("seed must be", "the seed must be")) from None


def non_empty(text: str) -> str:
    """A path argument that is not empty (``--out ""`` would silently mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def param_arg(text: str) -> tuple[str, object]:
    """``--param KEY=VALUE``: the value read as a Python literal (``100``, ``0.5``, ``True``), else as text."""
    import ast

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def method_names() -> list[str]:
    """The registered methods (importing the registry imports torch: only called when needed)."""
    from .methods import REGISTRY

    return list(REGISTRY)


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
                     help=f"sizes and epochs ({profiles}). Default: {REFERENCE_PROFILE}, the budget of the README's numbers "
                          "(a notebook defaults to student instead; full only when asked for)")
    run.add_argument("--tasks", default=None,
                     help=f"comma-separated datasets or streams in order (default: the profile's, e.g. "
                          f"{','.join(REAL_TASKS)}; the smoke profile uses the synthetic_* stand-ins). "
                          "Streams: split_mnist, split_cifar10, split_cifar100, permuted_mnist[:N], "
                          "one task as split_cifar10/3 (see below)")
    run.add_argument("--data", type=non_empty, default=None, metavar="ROOT",
                     help="data root (default: $SYNAPTICNET_DATA or ./data)")
    run.add_argument("--out", type=non_empty, default=None, metavar="DIR",
                     help="output directory (default: runs/<profile>; runs/<profile>_<method> for other methods)")
    run.add_argument("--seed", type=seed_arg, default=0, help=f"random seed, 0 … {MAX_SEED} (default 0)")
    run.add_argument("--method", default="synapticnet", metavar="NAME",
                     help=f"the continual-learning method: {', '.join(method_names())} (default synapticnet; "
                          "see synapticnet/methods/)")
    run.add_argument("--param", type=param_arg, action="append", default=[], metavar="KEY=VALUE",
                     help="a hyper-parameter of the method, e.g. --param ewc_lambda=100 (repeatable)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out after its last finished task")
    run.add_argument("--no-download", action="store_true",
                     help="never download: fail with instructions if a dataset is not in the data root")
    run.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def rerun_parts(args: argparse.Namespace, profile: str, out: str) -> list[str]:
    """The command line of this run, word by word (the profile always spelled out: its default
    depends on whether a GPU is there)."""
    parts = ["python", "-m", "synapticnet", "run", "--profile", profile]
    for flag, value in (("--tasks", args.tasks), ("--data", args.data), ("--out", out), ("--device", args.device)):
        if value is not None:
            parts += [flag, value]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    method = getattr(args, "method", "synapticnet")
    if method != "synapticnet":
        parts += ["--method", method]
        for key, value in getattr(args, "param", []):
            parts += ["--param", f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"]
    parts += [flag for flag, on in (("--no-download", args.no_download), ("--quiet", args.quiet)) if on]
    return parts


def resume_command(args: argparse.Namespace, profile: str, out: str) -> str:
    """The command line that continues this run: the same arguments plus ``--resume``."""
    return shlex.join([*rerun_parts(args, profile, out), "--resume"])


def interrupted_message(args: argparse.Namespace, profile: str, out: str) -> str:
    """What Ctrl-C left behind, and the command that continues from there (or starts again)."""
    from .run import CHECKPOINT

    command = resume_command(args, profile, out)
    if (Path(out) / CHECKPOINT).is_file():
        return f"interrupted: the last finished task is saved in {out}; continue with: {command}"
    return f"interrupted before the first task finished (nothing saved in {out} yet); start again with: {command}"


def method_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--method``, or ``None`` (hyper-parameters are checked by the method itself)."""
    names = method_names()
    if args.method not in names:
        return f"unknown method {args.method!r}; known: {', '.join(names)}"
    return None


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP (``kill``, a closed terminal) stop a run as Ctrl-C does: lock removed, the last
    finished task kept, and a message saying how to continue."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit code (0 done, 2 error, 130 interrupted)."""
    args = profile = out = None
    previous = {s: signal.signal(s, _stop_like_ctrl_c) for s in STOP_SIGNALS
                if threading.current_thread() is threading.main_thread()}  # (signals reach the main thread only)
    try:
        args = build_parser().parse_args(argv)
        profile = args.profile or REFERENCE_PROFILE
        default = f"runs/{profile}" if args.method == "synapticnet" else f"runs/{profile}_{args.method}"
        out = args.out or default
        problem = method_problem(args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_ERROR
        return _run(args, profile, out)
    except KeyboardInterrupt:  # also during the first seconds, while torch is imported
        message = interrupted_message(args, profile, out) if args is not None else "interrupted"
        print(f"\n{message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _run(args: argparse.Namespace, profile: str, out: str) -> int:
    from .data import DataError  # imported late: `--help` stays instant
    from .engine import TrainingDiverged
    from .run import CHECKPOINT, run
    from .storage import StorageError

    if args.resume and not (Path(out) / CHECKPOINT).is_file():
        print(f"error: nothing to resume in {out}: it holds no {CHECKPOINT}; run without --resume to start "
              "a new run there", file=sys.stderr)
        return EXIT_ERROR
    try:
        results = run(tasks=args.tasks, method=args.method, profile=profile, data_root=args.data, out_dir=out,
                      seed=args.seed, resume=args.resume, device=args.device, progress=not args.quiet,
                      download=not args.no_download, **dict(args.param))
    except StorageError as error:  # disk full, folder made read-only: the last checkpoint is intact
        print(f"error: {error}; once fixed, continue with: {resume_command(args, profile, out)}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, DataError, TrainingDiverged, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if results["average_accuracy"] is not None:
        print(f"{args.method}: average accuracy {100 * results['average_accuracy']:.2f}%, BWT {results['bwt']}, "
              f"forgetting {results['forgetting']}, parameters {results['params_total']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
