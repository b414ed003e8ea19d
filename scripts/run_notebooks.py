"""Execute the numbered notebooks headlessly with papermill and write them back.

This is what ``make reproduce`` runs. For every notebook (default: all of
``notebooks/[0-9][0-9]_*.ipynb`` in order) it

1. executes it with papermill (kernel ``python3``, working directory ``notebooks/``,
   a per-cell timeout). The profile reaches the notebook through the environment
   (``SYNAPTICNET_PROFILE``, read by its ``parameters`` cell), not as an injected cell:
   an injected ``PROFILE = "cpu"`` would be committed with the outputs and would then
   override the notebook's own default for every reader — a GPU on Colab included;
2. strips volatile metadata (execution timestamps, papermill durations) so that a re-run
   that computes the same numbers only changes what really changed;
3. replaces the committed notebook atomically, so GitHub shows the outputs of the last
   real run — only after a successful run (a failed run leaves the committed notebook
   untouched and keeps the failed copy in ``build/failed/`` for inspection). Only the
   reference profile (``cpu``) replaces the committed notebooks; any other profile
   (``smoke``, ``student``, ``full``) writes to ``build/<profile>/notebooks/``, and its figures
   to ``build/<profile>/`` (:func:`synapticnet.workspace.workspace`);
4. records the wall time of each notebook in ``figures/reproduce.json`` (or
   ``build/<profile>/reproduce.json``), and for ``student`` and ``cpu`` also in the
   package's ``synapticnet/expected_times.json``, which every notebook prints up front
   (with a T4 estimate from ``figures/bench/flops.json``, see ``scripts/bench_flops.py``).

Usage::

    python scripts/run_notebooks.py [--profile cpu] [--timeout 3600] [notebooks ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
REFERENCE_PROFILE = "cpu"  # = synapticnet.workspace.REFERENCE_PROFILE: its outputs are committed
PROFILES = ("smoke", "student", "cpu", "full")
TIMES_FILE = "expected_times.json"
VOLATILE_CELL_KEYS = ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled")
VOLATILE_NOTEBOOK_KEYS = ("papermill", "widgets", "toc", "varInspector")


def strip_metadata(nb) -> None:
    """Remove run-specific metadata in place (times, durations, widget state)."""
    for key in VOLATILE_NOTEBOOK_KEYS:
        nb.metadata.pop(key, None)
    nb.metadata.get("kernelspec", {}).pop("env", None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("execution", None)


def default_profile() -> str:
    """The package's own default (``cpu``; ``full`` is never chosen without being asked for)."""
    sys.path.insert(0, str(ROOT))
    from synapticnet.profiles import default_profile_name

    return default_profile_name()


def output_path(path: Path, profile: str) -> Path:
    """Where the executed notebook goes: in place for the reference profile, else ``build/<profile>/notebooks/``."""
    return path if profile == REFERENCE_PROFILE else ROOT / "build" / profile / "notebooks" / path.name


def record_times(path: Path, name: str, profile: str, seconds: float) -> None:
    """Add one notebook's wall time to ``path`` (a JSON record), with the machine it ran on."""
    record = json.loads(path.read_text()) if path.exists() else {}
    record.setdefault("notebooks", {})
    entry = dict(seconds=round(seconds, 1), profile=profile,
                 finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if path.name == TIMES_FILE:  # the package's record: every measured profile of every notebook
        record["notebooks"].setdefault(name, {})[profile] = entry
        bench = ROOT / "figures" / "bench" / "flops.json"
        if bench.exists():
            record.setdefault("machine", {})["cpu_train_tflops"] = json.loads(bench.read_text())["cpu_train_tflops"]
    else:
        record["notebooks"][name] = entry
    record.setdefault("machine", {}).update(platform=platform.platform(), cpus=os.cpu_count(),
                                            python=platform.python_version())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def run_one(path: Path, profile: str, timeout: int) -> float:
    """Execute one notebook and write it to :func:`output_path`; returns its wall time in seconds."""
    import nbformat
    import papermill as pm

    os.environ["SYNAPTICNET_HEADLESS"] = "1"  # text progress bars in the saved outputs (engine.progress_bar)
    os.environ["SYNAPTICNET_PROFILE"] = profile  # read by the parameters cell; the kernel inherits it
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / path.name
        try:
            pm.execute_notebook(
                str(path), str(executed), kernel_name="python3",
                cwd=str(NOTEBOOKS), execution_timeout=timeout, progress_bar=False, log_output=False,
            )
        except Exception:
            failed = ROOT / "build" / "failed" / path.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            if executed.exists():
                failed.write_bytes(executed.read_bytes())
                print(f"  the failed run is in {failed.relative_to(ROOT)}", file=sys.stderr)
            raise
        nb = nbformat.read(executed, as_version=4)
        strip_metadata(nb)
        target = output_path(path, profile)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, staged)
        os.replace(staged, target)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every numbered notebook, in order")
    parser.add_argument("--profile", default=os.environ.get("PROFILE") or None,
                        help="smoke, student, cpu or full (default: cpu)")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)
    profile = args.profile or default_profile()
    if profile not in PROFILES:
        parser.error(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    missing = [p for p in paths if not p.is_file()]
    if missing or not paths:
        parser.error(f"no such notebook(s): {', '.join(map(str, missing))}" if missing else "no notebooks found")

    folder = ROOT / "figures" if profile == REFERENCE_PROFILE else ROOT / "build" / profile
    total = 0.0
    for path in paths:
        print(f"[{datetime.now():%H:%M:%S}] {path.name} (profile {profile}) ...", flush=True)
        seconds = run_one(path.resolve(), profile, args.timeout)
        total += seconds
        print(f"[{datetime.now():%H:%M:%S}] {path.name} done in {seconds / 60:.1f} min", flush=True)
        record_times(folder / "reproduce.json", path.name, profile, seconds)
        if profile in ("student", REFERENCE_PROFILE):
            record_times(ROOT / "synapticnet" / TIMES_FILE, path.name, profile, seconds)
    print(f"{len(paths)} notebook(s) in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
