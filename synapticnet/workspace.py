"""Where a notebook writes, where the project lives, and how long a notebook takes.

A notebook runs in one of two places:

* **a source checkout** (``git clone`` + ``make``): the working folder is ``notebooks/``
  and the repository root is its parent. Figures and their JSON go to ``<root>/figures``
  (the committed results, only for the reference ``cpu`` profile), run folders to
  ``<root>/runs`` (git-ignored), anything else (smoke, student, full runs) to
  ``<root>/build/<profile>`` — a quick run never overwrites the committed figures;
* **anywhere else** — Colab, a notebook downloaded on its own into an empty folder: the
  repository root is not there, so every output goes *under the working folder*
  (``./figures``, ``./runs``, ``./build/smoke``), where Colab's Files pane shows it. A
  notebook never writes above its working folder unless that parent is the checkout.

:func:`workspace` decides once; notebooks print paths relative to their working folder.

:func:`env_profile` reads which profile a notebook runs from the environment, strictly:
``SYNAPTICNET_PROFILE`` (a profile name) wins; else ``SYNAPTICNET_SMOKE`` or, when that is
unset, ``CI`` switch the smoke profile on or off (``true``/``false``, ``yes``/``no``,
``on``/``off``, ``1``/``0``); else ``student``, the quick budget (:func:`~synapticnet.profiles.default_profile_name`):
a notebook run top to bottom with no settings takes minutes. ``make reproduce`` asks for ``cpu``
explicitly. A value it does not understand is an error, never a guess.

:func:`check_parameters` checks the values of a notebook's first code cell (``PROFILE``, ``SEED``…), as
papermill's ``-p NAME value`` or an edited cell give them, and says in one line which one is wrong.

``REPO_URL`` and ``REPO_REF`` are where the project is published and the version (a tag or a
full commit) a notebook on Colab installs. The notebooks' first cell repeats them (it has to
install the package before it can import it) and so do the Colab badges and ``pyproject.toml``;
``tests/test_workspace.py`` fails if they ever differ. Both are empty until
``python scripts/set_repo_url.py URL --ref TAG`` sets them everywhere; until then a notebook's
first cell on Colab stops with one line rather than install from an address nobody here controls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .checks import NO_WORDS, YES_WORDS, yes_no
from .data.datasets import is_checkout
from .profiles import MAX_SEED, PROFILES, REFERENCE_PROFILE, check_seed, default_profile_name

# Where Colab installs the package from, and which version: both written by scripts/set_repo_url.py (empty: not set).
REPO_URL = ""
REPO_REF = ""

# Assumed sustained fp32 throughput of a T4-class GPU on these small convnets: 8.1 TFLOP/s
# peak, of which small layers and batch 128 use about a quarter. An assumption, printed with
# every estimate; the CPU side of the ratio is measured (scripts/bench_flops.py).
T4_EFFECTIVE_TFLOPS = 2.0
# How much slower another 2-core machine of the same kind can be on this workload: the cpu network
# trained at 1,398 images/s on one and about 510 on another (2.7×), and one student notebook took 84 s
# on one and 7.5 min on another (5.3×, a cold non-editable install included). Expected times are
# printed as a range from the measured time to this many times it.
SLOWEST_MACHINE_FACTOR = 4.0


@dataclass(frozen=True)
class Workspace:
    """The folders one notebook run writes to (see the module docstring)."""

    root: Path  # the repository root in a checkout, else the working folder (all paths relative to it)
    figures: Path  # figures + their JSON written by this run
    runs: Path  # run folders (results.json, checkpoints) of this run
    committed: Path  # <root>/figures: the committed reference results (read-only for non-reference runs)
    in_checkout: bool


def find_root(cwd: Path | None = None) -> tuple[Path, bool]:
    """The checkout root if ``cwd`` or its parent is one, else ``cwd`` itself; and which case it is."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    for folder in (cwd, cwd.parent):
        if is_checkout(folder):
            return folder, True
    return cwd, False


def workspace(profile: str, cwd: Path | str | None = None) -> Workspace:
    """The output folders of a notebook run with ``profile`` (``smoke``, ``student``, ``cpu``, ``full``…).

    In a checkout only the reference profile (``cpu``) writes to the committed
    ``figures/`` and ``runs/``; every other profile writes to ``build/<profile>/``. Outside a
    checkout a real run writes to ``./figures`` and ``./runs`` and smoke to ``./build/smoke``.
    Folders are created when first written, not here. Paths are relative to ``cwd`` (so
    what a notebook prints names no machine path): ``../figures`` in a checkout's
    ``notebooks/``, ``figures`` elsewhere.
    """
    here = Path.cwd() if cwd is None else Path(cwd)
    root, in_checkout = find_root(here)
    if profile == "smoke" or (in_checkout and profile != REFERENCE_PROFILE):
        figures = runs = root / "build" / profile
    else:
        figures, runs = root / "figures", root / "runs"

    def rel(path: Path) -> Path:
        return Path(os.path.relpath(path.resolve(), here.resolve()))

    return Workspace(root=rel(root), figures=rel(figures), runs=rel(runs), committed=rel(root / "figures"),
                     in_checkout=in_checkout)


# --- the environment switches ------------------------------------------------------------------

PROFILE_VAR, SMOKE_VAR, CI_VAR = "SYNAPTICNET_PROFILE", "SYNAPTICNET_SMOKE", "CI"
TRUE_WORDS, FALSE_WORDS = (*YES_WORDS, "on"), (*NO_WORDS, "off")  # a switch may also be on/off


def env_flag(name: str, default: bool | None = False, environ: Mapping[str, str] | None = None) -> bool | None:
    """The boolean environment variable ``name``, parsed strictly.

    ``1``/``true``/``yes``/``on`` are true and ``0``/``false``/``no``/``off`` false (any case,
    surrounding blanks ignored); unset or empty gives ``default``. Anything else raises: a
    ``SYNAPTICNET_SMOKE=flase`` must not silently mean either.

    Raises:
        ValueError: naming the variable, its value and the allowed values.
    """
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        return default
    parsed = yes_no(value, (TRUE_WORDS, FALSE_WORDS))
    if parsed is not None:
        return parsed
    raise ValueError(f"{name}={value!r} is not a yes/no value: use one of {', '.join(TRUE_WORDS)} (on) or "
                     f"{', '.join(FALSE_WORDS)} (off), or leave it unset")


def env_profile(environ: Mapping[str, str] | None = None) -> str:
    """The profile a notebook runs with, from the environment (``os.environ`` unless ``environ`` is given).

    1. ``SYNAPTICNET_PROFILE``, if set and non-empty, wins over everything: an explicit
       ``student`` stays ``student`` in CI;
    2. else ``SYNAPTICNET_SMOKE``, if set: true → ``smoke``, false → the default (an
       explicit ``SYNAPTICNET_SMOKE=0`` turns smoke off in CI too);
    3. else ``CI``: true → ``smoke`` (``CI=0`` or ``CI=false`` is not CI);
    4. else the notebooks' default, ``student`` (quick; ``make reproduce`` sets ``cpu``).

    Raises:
        ValueError: an unknown profile name (the message lists the known ones) or a
            switch that is not a yes/no value (see :func:`env_flag`).
    """
    environ = os.environ if environ is None else environ
    name = environ.get(PROFILE_VAR, "").strip()
    if name:
        if name not in PROFILES:
            raise ValueError(f"{PROFILE_VAR}={name!r} is not a profile; known profiles: {', '.join(PROFILES)}")
        return name
    smoke = env_flag(SMOKE_VAR, default=None, environ=environ)
    if smoke is None:
        smoke = env_flag(CI_VAR, default=False, environ=environ)
    return "smoke" if smoke else default_profile_name()


def env_smoke(environ: Mapping[str, str] | None = None) -> bool:
    """``True`` when :func:`env_profile` chooses the smoke profile (synthetic data, seconds per task)."""
    return env_profile(environ) == "smoke"



# --- the notebooks' parameters ------------------------------------------------------------------


def check_parameters(*, PROFILE: object, SEED: object, SMOKE_TEST: object = False,
                     DATA_ROOT: object = None) -> None:
    """Check the values of a notebook's first code cell (its ``parameters`` cell) before anything uses them.

    Papermill (``papermill NB OUT -p SEED 3``) and an edited first cell can give any value any type;
    without this check ``-p SEED abc`` fails deep inside the training code. Each notebook's setup
    cell calls this right after its parameters cell:

    * ``PROFILE``: ``None`` (the default budget) or a profile name (:data:`~synapticnet.profiles.PROFILES`);
    * ``SEED``: an integer in ``0 … 2**32 - 1`` — not a bool, a float or a string (as
      :func:`~synapticnet.profiles.check_seed` accepts);
    * ``SMOKE_TEST``: ``True`` or ``False``;
    * ``DATA_ROOT``: ``None`` (the default data folder) or a non-empty path.

    ``REPO_URL`` and ``REPO_REF`` are not checked here: the first cell reads them to install the
    package, before it can be imported, and only ``scripts/set_repo_url.py`` writes them.

    Raises:
        ValueError: one line naming the parameter, its value, what it should be and how to pass it.
    """
    def bad(name: str, value: object, expected: str, example: object) -> ValueError:
        return ValueError(f"notebook parameter {name}={value!r} ({type(value).__name__}) is not {expected}; "
                          f"write e.g. {name} = {example!r} in the first code cell or pass -p {name} {example}")

    if PROFILE is not None and (not isinstance(PROFILE, str) or PROFILE not in PROFILES):
        raise bad("PROFILE", PROFILE, f"a profile name ({', '.join(PROFILES)})", REFERENCE_PROFILE)
    try:
        check_seed(SEED)  # the one place the seed's range is checked
    except ValueError:
        raise bad("SEED", SEED, f"an integer in 0 … {MAX_SEED} (2**32 - 1)", 0) from None
    if not isinstance(SMOKE_TEST, bool):
        raise bad("SMOKE_TEST", SMOKE_TEST, "True or False", True)
    if DATA_ROOT is not None and (not isinstance(DATA_ROOT, (str, os.PathLike)) or not os.fspath(DATA_ROOT).strip()):
        raise bad("DATA_ROOT", DATA_ROOT, "None or a folder's path", "../data")


# --- expected run times ------------------------------------------------------------------------

TIMES_FILE = "expected_times.json"  # package data, written by scripts/run_notebooks.py after each run


def load_times() -> dict:
    """The measured notebook times shipped with the package (``{}`` if none were recorded)."""
    try:
        return json.loads(resources.files(__package__).joinpath(TIMES_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}


def t4_minutes(cpu_seconds: float, cpu_tflops: float) -> float:
    """A T4 estimate from a CPU measurement: the same FLOPs at :data:`T4_EFFECTIVE_TFLOPS` instead of the CPU's rate.

    ``cpu_tflops`` is the CPU's measured training throughput on this project's network
    (FLOPs counted by ``torch.utils.flop_counter``, divided by the measured step time), so
    ``cpu_seconds * cpu_tflops`` is the notebook's training work in TFLOP. Data loading,
    evaluation and Python overhead are counted at the CPU's rate too, so this errs on the slow side
    only for FLOP-bound work; it is an estimate, not a measurement.
    """
    return cpu_seconds * cpu_tflops / T4_EFFECTIVE_TFLOPS / 60


def expected_times(notebook: str, times: dict | None = None) -> str:
    """Lines saying how long ``notebook`` takes per budget: measured on a CPU, estimated for a T4.

    ``notebook`` is the file name without folder (``"03_four_task_run.ipynb"``). Only
    recorded measurements are printed; a budget never run is said to be unmeasured.
    """
    times = load_times() if times is None else times
    record = times.get("notebooks", {}).get(notebook, {})
    machine = times.get("machine", {})
    rate = machine.get("cpu_train_tflops")
    lines = [f"expected run time of {notebook}:"]
    for profile in ("student", "cpu", "long"):
        if profile not in record:
            if profile != "long":  # long is opt-in and only for notebook 03: said only when measured
                lines.append(f"  {profile:8s} not measured yet")
            continue
        seconds = record[profile]["seconds"]
        line = (f"  {profile:8s} {seconds / 60:.1f}–{SLOWEST_MACHINE_FACTOR * seconds / 60:.1f} min on a "
                f"{machine.get('cpus', '?')}-core CPU (measured {seconds / 60:.1f} min on {record[profile]['finished'][:10]}; "
                f"machines of this kind differ up to {SLOWEST_MACHINE_FACTOR:g}×)")
        if rate:
            line += f"; on a T4 ≈ {t4_minutes(seconds, rate):.1f} min (estimated)"
        lines.append(line)
    if rate:
        lines.append(f"  T4 estimates: the CPU's measured training rate ({rate * 1000:.0f} GFLOP/s on this network) "
                     f"vs an assumed {T4_EFFECTIVE_TFLOPS:g} TFLOP/s on a T4 (a quarter of its fp32 peak)")
    lines.append("  full     GPU only, opt-in (SYNAPTICNET_PROFILE=full): hours, never measured here")
    return "\n".join(lines)


# --- the run-time line at the top of every notebook ------------------------------------------------

# Ends the line scripts/run_notebooks.py writes into each notebook's first markdown cell (how it is found again).
TIME_LINE_MARK = "<!-- written by scripts/run_notebooks.py from synapticnet/expected_times.json -->"


def _measured(record: dict, profile: str) -> str:
    """``"about 1.2 min"`` for a measurement, ``"at most 1.2 min"`` for one taken beside other work."""
    if profile not in record:
        return "not measured yet"
    entry = record[profile]
    return f"{'at most' if entry.get('shared') else 'about'} {entry['seconds'] / 60:.1f} min"


def run_time_line(notebook: str, times: dict | None = None) -> str:
    """The markdown line that opens ``notebook``: its measured times on both budgets and how to switch.

    Written into the notebook's first cell by ``scripts/run_notebooks.py`` whenever a run records a
    time (a markdown cell cannot compute), and checked by ``tests/test_workspace.py`` against
    ``expected_times.json``, so the text always states the last measurement.
    """
    times = load_times() if times is None else times
    record = times.get("notebooks", {}).get(notebook, {})
    cpus = times.get("machine", {}).get("cpus", "?")
    return (f"**Run time:** {_measured(record, 'student')} with the quick `student` budget, which runs unless you "
            f"choose another, and {_measured(record, 'cpu')} with `cpu`, the budget of the committed results "
            f"(measured on a {cpus}-core CPU; machines of this kind can be up to {SLOWEST_MACHINE_FACTOR:g}× slower). "
            f"To switch, write `PROFILE = \"cpu\"` in the first code cell, or set `SYNAPTICNET_PROFILE=cpu` before "
            f"starting Jupyter. {TIME_LINE_MARK}")


def with_run_time_line(markdown: str, line: str) -> str:
    """``markdown`` (a notebook's first cell) with its run-time line replaced by ``line``.

    A cell without one gets it as a paragraph after the Colab badge (else after the title).
    """
    lines = markdown.split("\n")
    marked = [i for i, text in enumerate(lines) if text.rstrip().endswith(TIME_LINE_MARK)]
    if marked:
        lines[marked[0]] = line
        return "\n".join(lines)
    after = next((i for i, text in enumerate(lines) if "colab-badge.svg" in text), 0)
    return "\n".join([*lines[:after + 1], "", line, *lines[after + 1:]])
