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
   (with a T4 estimate from the CPU's measured training rate, :func:`cpu_training_rate`)
   and states in the run-time line of its first markdown cell, rewritten here
   (:func:`update_time_lines`: the committed notebook's one line, whatever the profile).

The profile is ``cpu`` unless ``--profile`` (or ``PROFILE``) names another: this script makes the
committed results, while a notebook opened without settings runs the quick ``student`` budget.

Before anything runs, every place it will write — the figures and runs folders, the
notebooks written back (or ``build/<profile>/``), ``reproduce.json``, the package's
``expected_times.json``, ``build/`` — is checked for write permission (an actual write of a
probe file in each folder); if one is not writable, it stops with one line naming them,
instead of failing after minutes of computation (a read-only checkout).

With ``--as-student`` each notebook runs the way a student's copy does: the package is
installed *non-editable* into ``build/<profile>/site`` (``pip install --no-deps --target``),
each notebook is copied alone into an empty folder ``build/<profile>/as-student/<name>/`` and
executed there with that install first on ``PYTHONPATH``; the run fails if anything was written
outside that folder (the check of issue 14: outputs stay under the notebook's working folder).

Usage::

    python scripts/run_notebooks.py [--profile cpu] [--timeout 3600] [--as-student] [notebooks ...]
    python scripts/run_notebooks.py --time-lines-only   # only the notebooks' run-time lines and printed times
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))  # the checkout's package, also when it is not installed
from synapticnet.arguments import existing_file, positive_int  # noqa: E402
from synapticnet.profiles import PROFILES  # noqa: E402
from synapticnet.folders import probe_writable  # noqa: E402
# REFERENCE_PROFILE (cpu): its outputs are committed, and it is what this script runs unless told otherwise
from synapticnet.workspace import (REFERENCE_PROFILE, TIMES_FILE, expected_times, load_times, run_time_line,  # noqa: E402
                                   with_run_time_line, workspace)
# Long multi-seed studies with their own make target (their time is stated there and in the
# README); `make reproduce` runs every other numbered notebook. An explicit list runs them too.
OWN_TARGET = {"04_forgetting_baselines.ipynb": "make baselines"}
# Results of other profiles that the README sets beside the cpu headline: copied from the run's folder
# to figures/<profile>/ (committed), with the notebook they come from.
PUBLISHED = {"03_four_task_run.ipynb": ("03_results.json", "03_accuracy_matrix.png")}
PUBLISHED_PROFILES = ("student", "long")
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
    """``cpu``, by name: this script makes the committed results. (A notebook opened without settings runs
    ``student`` instead, :func:`synapticnet.profiles.default_profile_name`; so the profile is always passed on.)"""
    return REFERENCE_PROFILE


def output_path(path: Path, profile: str) -> Path:
    """Where the executed notebook goes: in place for the reference profile, else ``build/<profile>/notebooks/``."""
    return path if profile == REFERENCE_PROFILE else ROOT / "build" / profile / "notebooks" / path.name


def reproduce_folder(profile: str) -> Path:
    """Where ``reproduce.json`` goes: ``figures/`` for the reference profile, else ``build/<profile>/``."""
    return ROOT / "figures" if profile == REFERENCE_PROFILE else ROOT / "build" / profile


def planned_writes(paths: list[Path], profile: str, as_student: bool) -> tuple[list[Path], list[Path]]:
    """``(folders, files)`` this run will write: folders get new files, files are rewritten in place.

    Folders: the notebooks' figures and runs folders (:func:`synapticnet.workspace.workspace`
    seen from ``notebooks/``), where executed notebooks go, ``reproduce.json``'s folder and
    ``build/`` (the failed copy of a notebook; the install of ``--as-student``); the package
    folder when ``expected_times.json`` is recorded (and ``notebooks/``, whose run-time lines follow it). Files:
    the committed notebooks written back (or their run-time line rewritten), the two time records and the
    Makefile (its help states the times), where they exist already.
    """
    folders = [reproduce_folder(profile), ROOT / "build"]
    files = [reproduce_folder(profile) / "reproduce.json"]
    if as_student:
        folders.append(ROOT / "build" / profile)
    else:
        ws = workspace(profile, cwd=NOTEBOOKS)
        folders += [NOTEBOOKS / ws.figures, NOTEBOOKS / ws.runs, *(output_path(p, profile).parent for p in paths)]
        files += [output_path(p, profile) for p in paths]
    if profile in ("student", "long", REFERENCE_PROFILE):
        folders += [ROOT / "synapticnet", NOTEBOOKS]
        files += [ROOT / "synapticnet" / TIMES_FILE, *paths, ROOT / "Makefile"]  # make help states the times
    if profile in PUBLISHED_PROFILES and any(p.name in PUBLISHED for p in paths):
        folders.append(ROOT / "figures")  # figures/<profile>/ is created in it
    return _unique(folders), [f for f in _unique(files) if f.exists()]


def _unique(paths: list[Path]) -> list[Path]:
    """``paths`` normalised (no ``..``), each once, in order."""
    return list(dict.fromkeys(Path(os.path.normpath(p)) for p in paths))


def folder_writable(folder: Path) -> bool:
    """Can a new file be created in ``folder`` — or, if it does not exist yet, in its nearest existing parent?

    An actual write (a probe file, created exclusively and removed), so a read-only file
    system is found even when running as root, whom permission bits do not stop.
    """
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        probe_writable(folder)
    except OSError:
        return False
    return True


def file_writable(path: Path) -> bool:
    """Can the existing file ``path`` be rewritten (permission bits, read-only file system)?"""
    return os.access(path, os.W_OK)


def check_writable(paths: list[Path], profile: str, as_student: bool) -> None:
    """Stop with one line before anything runs if a place this run writes to is not writable.

    Raises:
        SystemExit: naming every folder or file that cannot be written.
    """
    folders, files = planned_writes(paths, profile, as_student)
    blocked = [f for f in folders if not folder_writable(f)] + [f for f in files if not file_writable(f)]
    if blocked:
        names = ", ".join(str(b.relative_to(ROOT)) if b.is_relative_to(ROOT) else str(b) for b in blocked)
        raise SystemExit(f"error: not writable: {names} — nothing was run (a read-only checkout? run from a "
                         f"writable copy, or make these writable)")


def processor() -> str:
    """The processor's model name, from ``synapticnet/hardware.py`` loaded by file: importing the package would start
    torch in the runner, which only starts notebooks."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hardware", ROOT / "synapticnet" / "hardware.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.processor()


def record_times(path: Path, name: str, profile: str, seconds: float, shared: bool = False) -> None:
    """Add one notebook's wall time to ``path`` (a JSON record), with the processor it ran on (each time its own:
    times are measured on different days, possibly on different machines). ``shared``: other work ran on the
    machine meanwhile, so the time is an upper bound (the README marks it)."""
    record = json.loads(path.read_text()) if path.exists() else {}
    record.setdefault("notebooks", {})
    entry = dict(seconds=round(seconds, 1), profile=profile, processor=processor(),
                 finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), **({"shared": True} if shared else {}))
    if path.name == TIMES_FILE:  # the package's record: every measured profile of every notebook
        record["notebooks"].setdefault(name, {})[profile] = entry
        rate = cpu_training_rate(ROOT / "figures" / "bench")
        if rate is not None:
            record.setdefault("machine", {}).update(cpu_train_tflops=rate[0], cpu_train_tflops_from=rate[1])
    else:
        record["notebooks"][name] = entry
    record.setdefault("machine", {}).update(platform=platform.platform(), cpus=os.cpu_count(),
                                            python=platform.python_version())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def update_make_help() -> None:
    """Rewrite the Makefile's help from the record just updated (``scripts/make_help.py``), if there is a Makefile."""
    if (ROOT / "Makefile").exists():
        import importlib.util

        spec = importlib.util.spec_from_file_location("make_help", Path(__file__).resolve().parent / "make_help.py")
        make_help = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make_help)
        make_help.update(ROOT / "Makefile", ROOT)


def cpu_training_rate(bench: Path) -> tuple[float, str] | None:
    """This CPU's measured training rate (TFLOP/s) on the cpu profile's network, and where it was read.

    The T4 estimates scale a notebook's measured minutes by this rate, so it must be the rate of the
    steps the notebooks take: ``train.json`` (``make bench``: the recipe's own step, in the precision it
    trains in) when it exists, else ``flops.json`` (``scripts/bench_flops.py``); None without either.
    """
    train = bench / "train.json"
    if train.exists():
        gflops = json.loads(train.read_text()).get("cases", {}).get("cpu", {}).get("achieved_gflops")
        if gflops:
            return gflops / 1000, "figures/bench/train.json: cases.cpu.achieved_gflops"
    flops = bench / "flops.json"
    if flops.exists():
        return json.loads(flops.read_text())["cpu_train_tflops"], "figures/bench/flops.json: cpu_train_tflops"
    return None


def update_time_lines(paths: list[Path], times: dict | None = None) -> list[Path]:
    """Write each notebook's run-time line (first markdown cell) from ``expected_times.json``; the files changed.

    A markdown cell cannot compute, so the times it states are written here whenever a run records
    one (:func:`synapticnet.workspace.run_time_line`); only that one line of the cell changes.
    """
    import nbformat

    times = load_times() if times is None else times
    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        if first is None:
            continue
        text = with_run_time_line(first.source, run_time_line(path.name, times))
        if text != first.source:
            first.source = text
            staged = path.with_suffix(".ipynb.tmp")
            nbformat.write(nb, staged)
            os.replace(staged, path)
            changed.append(path)
    return changed


def printed_times_span(text: str, notebook: str) -> tuple[int, int] | None:
    """Where ``text`` (a stream output) holds the block ``expected_times(notebook)`` printed: its first line and the
    indented lines after it, as (start, end) character offsets; None if it holds none."""
    start = text.find(f"expected run time of {notebook}:")
    if start < 0:
        return None
    end = text.find("\n", start)
    end = len(text) if end < 0 else end + 1
    while text.startswith("  ", end):  # the block's lines are indented
        nxt = text.find("\n", end)
        end = len(text) if nxt < 0 else nxt + 1
    return start, end


def update_printed_times(paths: list[Path], times: dict | None = None) -> list[Path]:
    """Rewrite the expected times each notebook printed up front (``print(expected_times(name))``) from the record;
    the files changed.

    That output is the record, formatted (:func:`synapticnet.workspace.expected_times`), not a result of the run:
    a notebook prints the record as it was before its own run, whose time is recorded afterwards; and
    when the record changes without a run of this notebook (another notebook's run, a new CPU training rate from
    ``make bench``), the committed printout would state stale times. Nothing else in the notebook changes.
    """
    import nbformat

    times = load_times() if times is None else times
    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        new = expected_times(path.name, times) + "\n"
        dirty = False
        for cell in nb.cells:
            for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                text = output.get("text", "") if output.get("output_type") == "stream" else ""
                span = printed_times_span(text, path.name)
                if span is not None and text[span[0]:span[1]] != new:
                    output["text"] = text[:span[0]] + new + text[span[1]:]
                    dirty = True
        if dirty:
            staged = path.with_suffix(".ipynb.tmp")
            nbformat.write(nb, staged)
            os.replace(staged, path)
            changed.append(path)
    return changed


def install_copy(profile: str) -> Path:
    """A non-editable install of this checkout in ``build/<profile>/site`` (what ``pip install`` gives a student)."""
    site = ROOT / "build" / profile / "site"
    shutil.rmtree(site, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(ROOT)], check=True)
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)  # setuptools' build folder, not an output
    return site


OUTPUT_FOLDERS = ("figures", "runs", "build", "data", "notebooks")  # where a notebook's outputs could land


def listing(skip: Path) -> dict[Path, float]:
    """Every file of the checkout with its mtime, except ``.git``, ``.venv``, the install and ``skip``."""
    ignored = (ROOT / ".git", ROOT / ".venv", skip)
    found = {}
    for top in ROOT.iterdir():
        if top in ignored:
            continue
        for p in [top] if top.is_file() else top.rglob("*"):
            if p.is_file() and not any(p.is_relative_to(i) for i in ignored) and "site" not in p.parts:
                found[p] = p.stat().st_mtime
    return found


def stray_writes(before: dict[Path, float], after: dict[Path, float]) -> list[str]:
    """Files a run created anywhere, or changed in an output folder (source edits meanwhile are not outputs)."""
    new = [p for p in after if p not in before]
    changed = [p for p in after if p in before and after[p] != before[p]
               and p.relative_to(ROOT).parts[0] in OUTPUT_FOLDERS and p.suffix != ".py"]
    return sorted(str(p.relative_to(ROOT)) for p in new + changed if p.suffix != ".pyc")


def run_as_student(path: Path, profile: str, timeout: int, site: Path) -> float:
    """Run ``path`` copied alone into an empty folder, against the non-editable install; check where it wrote."""
    import papermill as pm

    folder = ROOT / "build" / profile / "as-student" / path.stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(path, folder / path.name)
    before = listing(folder)
    os.environ.update(SYNAPTICNET_HEADLESS="1", SYNAPTICNET_PROFILE=profile,
                      PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    start = time.perf_counter()
    pm.execute_notebook(str(folder / path.name), str(folder / path.name), kernel_name="python3", cwd=str(folder),
                        execution_timeout=timeout, progress_bar=False, log_output=False)
    seconds = time.perf_counter() - start
    stray = [p for p in stray_writes(before, listing(folder)) if not p.startswith(("synapticnet/", "tests/"))]
    if stray:
        raise SystemExit(f"{path.name} wrote outside its folder: {stray[:5]}")
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != path.name)
    print(f"  wrote only under its folder: {len(written)} file(s), e.g. {written[:3]}")
    return seconds


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


def publish(path: Path, profile: str, as_student: bool) -> list[Path]:
    """Copy a student/long run's headline results (:data:`PUBLISHED`) to ``figures/<profile>/``."""
    if profile not in PUBLISHED_PROFILES or path.name not in PUBLISHED:
        return []
    source = (ROOT / "build" / profile / "as-student" / path.stem / "figures") if as_student else \
        (NOTEBOOKS / workspace(profile, cwd=NOTEBOOKS).figures)
    target = ROOT / "figures" / profile
    copied = []
    for name in PUBLISHED[path.name]:
        if (source / name).is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / name, target / name)
            copied.append(target / name)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=existing_file(".ipynb"),
                        help="default: every numbered notebook, in order")
    parser.add_argument("--profile", default=os.environ.get("PROFILE") or None,
                        help=f"smoke, student, cpu, long or full (default: {REFERENCE_PROFILE}, the committed results' "
                             "budget; the notebooks themselves default to student)")
    parser.add_argument("--timeout", type=positive_int, default=3600, help="per-cell timeout in seconds (≥ 1)")
    parser.add_argument("--as-student", action="store_true",
                        help="each notebook alone in an empty folder, against a non-editable install")
    parser.add_argument("--shared", action="store_true",
                        help="other work runs on this machine meanwhile: record the times as shared (upper bounds)")
    parser.add_argument("--time-lines-only", action="store_true",
                        help="run nothing: rewrite each notebook's run-time line and the expected times it printed "
                             "from synapticnet/expected_times.json")
    args = parser.parse_args(argv)
    if args.time_lines_only:
        paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        changed = sorted(set(update_time_lines(paths)) | set(update_printed_times(paths)))
        print(f"{len(changed)} notebook(s) changed" + "".join(f"\n  {p.name}" for p in changed))
        return 0
    profile = args.profile or default_profile()
    if profile not in PROFILES:
        parser.error(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    paths = args.notebooks or [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
                               if profile in ("smoke", "student") or p.name not in OWN_TARGET]
    for name, target in OWN_TARGET.items():
        if not args.notebooks and all(p.name != name for p in paths):  # said only when the default list skips it
            print(f"{name} is not in this run: `{target}` runs it (a long multi-seed study)")
    missing = [p for p in paths if not p.is_file()]
    if missing or not paths:
        parser.error(f"no such notebook(s): {', '.join(map(str, missing))}" if missing else "no notebooks found")

    check_writable([p.resolve() for p in paths], profile, args.as_student)
    folder = reproduce_folder(profile)
    total = 0.0
    site = install_copy(profile) if args.as_student else None
    for path in paths:
        print(f"[{datetime.now():%H:%M:%S}] {path.name} (profile {profile}) ...", flush=True)
        if site is not None:
            seconds = run_as_student(path.resolve(), profile, args.timeout, site)
        else:
            seconds = run_one(path.resolve(), profile, args.timeout)
        total += seconds
        print(f"[{datetime.now():%H:%M:%S}] {path.name} done in {seconds / 60:.1f} min", flush=True)
        record_times(folder / "reproduce.json", path.name, profile, seconds, args.shared)
        for copied in publish(path, profile, site is not None):
            print(f"  published {copied.relative_to(ROOT)}")
        if profile in ("student", "long", REFERENCE_PROFILE):
            record_times(ROOT / "synapticnet" / TIMES_FILE, path.name, profile, seconds, args.shared)
            if site is None:  # the saved notebook printed the record as it was before this run
                update_printed_times([output_path(path.resolve(), profile)])
            update_time_lines([path.resolve()])  # the committed notebook's first cell states the new time
            update_make_help()  # and make help the new totals
    print(f"{len(paths)} notebook(s) in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
