"""Where notebooks write, the one repository URL, and the expected-time lines they print."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from synapticnet import workspace as W

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIND_SPEC = importlib.util.find_spec  # the real one (tests of the setup cell replace it)


def test_in_a_checkout_only_the_reference_profile_writes_the_committed_figures():
    here = ROOT / "notebooks"
    cpu, student, smoke = (W.workspace(p, cwd=here) for p in ("cpu", "student", "smoke"))
    assert cpu.in_checkout and (cpu.figures, cpu.runs) == (Path("../figures"), Path("../runs"))
    assert student.figures == student.runs == Path("../build/student")
    assert smoke.figures == Path("../build/smoke") and smoke.committed == Path("../figures")
    # From the root itself (a script run from the checkout) the same folders, seen from there.
    assert W.workspace("cpu", cwd=ROOT).figures == Path("figures")


def test_outside_a_checkout_everything_stays_under_the_working_folder(tmp_path):
    """Colab or a notebook copied alone into a folder: never write above it."""
    folder = tmp_path / "course" / "week3"
    folder.mkdir(parents=True)
    for profile in ("smoke", "student", "cpu", "full"):
        ws = W.workspace(profile, cwd=folder)
        assert not ws.in_checkout and ws.root == Path(".")
        for path in (ws.figures, ws.runs, ws.committed):
            assert not path.is_absolute() and ".." not in path.parts, (profile, path)
    assert W.workspace("smoke", cwd=folder).figures == Path("build/smoke")
    assert W.workspace("student", cwd=folder).figures == Path("figures")


def test_a_folder_that_only_looks_like_a_checkout_is_not_one(tmp_path):
    (tmp_path / "synapticnet").mkdir()
    (tmp_path / "synapticnet" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    (tmp_path / "notebooks").mkdir()
    assert not W.workspace("cpu", cwd=tmp_path / "notebooks").in_checkout


def load_set_repo_url():
    spec = importlib.util.spec_from_file_location("set_repo_url", ROOT / "scripts" / "set_repo_url.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def badge_links(text: str) -> list[str]:
    """Where every Colab badge of a notebook cell or the README points."""
    return (re.findall(r'<a href="([^"]*)" target="_parent"><img src="https://colab\.research\.google\.com/assets/'
                       r'colab-badge\.svg"', text)
            + re.findall(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\("
                         r"([^)\s]*)\)", text))


def check_repository_named_consistently(root: Path, url: str, ref: str) -> None:
    """Every file that names the repository names ``url`` at ``ref`` (or, both empty, names none)."""
    script = load_set_repo_url()
    script.ROOT = root
    assert script.current() == (url, ref)
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert f'REPO_URL = "{url}"' in first.source and f'REPO_REF = "{ref}"' in first.source, path.name
        assert badge_links(nb.cells[0].source) == [script.colab_link(url, ref, path.name,
                                                                     "../README.md#opening-in-colab")], path.name
    readme = (root / "README.md").read_text()
    first = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))[0].name
    assert badge_links(readme) == [script.colab_link(url, ref, first, "#opening-in-colab")]
    assert project_urls(root / "pyproject.toml") == ({"Repository": url, "Documentation": f"{url}#readme"} if url else {})


def project_urls(pyproject: Path) -> dict[str, str]:
    """``[project.urls]`` of a pyproject.toml (TOML read with tomllib where Python has it, 3.11+)."""
    text = pyproject.read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the table's key = "value" lines
        table = re.search(r"^\[project\.urls\][^\n]*\n((?:[^\[\n][^\n]*\n|\n)*)", text, re.M)
        return dict(re.findall(r'^(\w+) = "([^"]*)"', table.group(1), re.M)) if table else {}
    return tomllib.loads(text)["project"].get("urls", {})


def test_the_repository_is_named_the_same_everywhere():
    check_repository_named_consistently(ROOT, W.REPO_URL, W.REPO_REF)
    assert bool(W.REPO_URL) == bool(W.REPO_REF), "a published URL needs its pinned ref, and the other way round"


def test_set_repo_url_writes_the_url_and_ref_everywhere(tmp_path):
    """The publishing script on a copy of the files: afterwards every file names the new URL at the ref."""
    script = load_set_repo_url()
    for path in script.files():
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    script.ROOT = tmp_path
    assert script.main(["https://github.com/a-fork/synapticnet.git", "--ref", "v1.2"]) == 0
    check_repository_named_consistently(tmp_path, "https://github.com/a-fork/synapticnet", "v1.2")
    nb = nbformat.read(tmp_path / "notebooks" / NOTEBOOKS[0].name, as_version=4)
    assert ("https://colab.research.google.com/github/a-fork/synapticnet/blob/v1.2/notebooks/" + NOTEBOOKS[0].name
            in nb.cells[0].source)
    with pytest.raises(SystemExit):
        script.main(["git@github.com:a-fork/synapticnet", "--ref", "v1.2"])


# --- the Colab setup cell, executed as Colab would run it ------------------------------------------------------


def run_setup_cell(source: str, monkeypatch, colab: bool = True, installed: bool = False) -> list[list[str]]:
    """Execute a notebook's first code cell as if on Colab (or not); return the commands it ran (none really run)."""
    import subprocess
    import sys
    import types

    commands: list[list[str]] = []
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (FIND_SPEC(name, *a) if installed or name != "synapticnet" else None))
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command))
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setenv("SYNAPTICNET_PROFILE", "smoke")
    exec(compile(source, "setup cell", "exec"), {})
    return commands


def setup_cell(path: Path) -> str:
    return next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code").source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_on_colab_an_unset_repository_stops_the_setup_cell_with_one_line(path, monkeypatch):
    source = setup_cell(path)
    unset = re.sub(r'^(REPO_(?:URL|REF)) = "[^"]*"', r'\1 = ""', source, flags=re.M)
    with pytest.raises(RuntimeError) as info:
        run_setup_cell(unset, monkeypatch)
    message = str(info.value)
    assert "\n" not in message and "scripts/set_repo_url.py" in message and "pip install git+" in message
    # a URL without its pinned ref is refused too: nothing is installed from a branch that moves
    half = re.sub(r'^REPO_URL = "[^"]*"', 'REPO_URL = "https://github.com/you/synapticnet"', unset, flags=re.M)
    with pytest.raises(RuntimeError, match="set_repo_url"):
        run_setup_cell(half, monkeypatch)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_on_colab_a_set_repository_installs_the_pinned_version(path, monkeypatch):
    import sys

    source = re.sub(r'^REPO_URL = "[^"]*"', 'REPO_URL = "https://github.com/you/synapticnet"', setup_cell(path),
                    flags=re.M)
    source = re.sub(r'^REPO_REF = "[^"]*"', 'REPO_REF = "v1.2"', source, flags=re.M)
    assert run_setup_cell(source, monkeypatch) == [
        [sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/you/synapticnet@v1.2"]]
    assert run_setup_cell(source, monkeypatch, installed=True) == []  # once per runtime


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outside_colab_the_setup_cell_installs_nothing_and_refuses_nothing(path, monkeypatch):
    """Local Jupyter, papermill, nbval: whatever the URL, the cell only reads its settings."""
    assert run_setup_cell(setup_cell(path), monkeypatch, colab=False) == []


RECORD = {
    "machine": {"cpus": 2, "cpu_train_tflops": 0.125},
    "notebooks": {"03_x.ipynb": {"cpu": {"seconds": 600.0, "finished": "2026-11-25T19:00:00+00:00", "profile": "cpu"}}},
}


def test_expected_times_print_measurements_and_a_labelled_t4_estimate():
    text = W.expected_times("03_x.ipynb", RECORD)
    # 600 s at 0.125 TFLOP/s = 75 TFLOP; at 2 TFLOP/s that is 37.5 s = 0.6 min.
    assert W.t4_minutes(600.0, 0.125) == pytest.approx(75 / W.T4_EFFECTIVE_TFLOPS / 60)
    # a range: the measured time up to SLOWEST_MACHINE_FACTOR (4×) of it, for slower machines of the kind
    assert ("cpu      10.0–40.0 min on a 2-core CPU (measured 10.0 min on 2026-11-25; machines of this kind differ "
            "up to 4×); on a T4 ≈ 0.6 min (estimated)") in text
    assert "student  not measured yet" in text
    assert "125 GFLOP/s" in text and "assumed 2 TFLOP/s" in text
    assert "not measured yet" in W.expected_times("99_unknown.ipynb", RECORD)


def test_every_notebook_has_measured_cpu_and_student_times_shipped_with_the_package():
    times = W.load_times()
    assert times["machine"]["cpu_train_tflops"] > 0
    for path in NOTEBOOKS:
        record = times["notebooks"].get(path.name, {})
        assert {"cpu", "student"} <= set(record), f"{path.name}: run make reproduce PROFILE=student / cpu"
        assert record["student"]["seconds"] <= 5 * 60, f"{path.name} exceeds the student budget of 5 minutes"


# --- the run-time line at the top of every notebook ------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_opens_with_its_measured_times_as_the_record_says(path):
    """The committed line is exactly what scripts/run_notebooks.py writes from expected_times.json."""
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    lines = [line for line in first.source.split("\n") if W.TIME_LINE_MARK in line]
    assert lines == [W.run_time_line(path.name)], "run: python scripts/run_notebooks.py --time-lines-only"
    record = W.load_times()["notebooks"][path.name]
    for profile in ("student", "cpu"):  # both budgets, from the measurements, and how to switch
        assert f"{record[profile]['seconds'] / 60:.1f} min with" in lines[0], profile
    assert "SYNAPTICNET_PROFILE=cpu" in lines[0] and 'PROFILE = "cpu"' in lines[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_printed_its_expected_times_as_the_record_says(path):
    """The committed printout of expected_times(name) is the record's (a stale T4 rate or time is caught)."""
    printed = [o["text"] for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "stream"
               and f"expected run time of {path.name}:" in o.get("text", "")]
    assert len(printed) == 1, f"{path.name} prints its expected times once, up front"
    assert W.expected_times(path.name) + "\n" in printed[0], "run: python scripts/run_notebooks.py --time-lines-only"


def test_the_run_time_line_states_both_budgets_and_marks_shared_measurements():
    record = {"machine": {"cpus": 2}, "notebooks": {"x.ipynb": {
        "student": {"seconds": 84.0, "profile": "student"},
        "cpu": {"seconds": 2134.8, "profile": "cpu", "shared": True}}}}
    line = W.run_time_line("x.ipynb", record)
    assert "about 1.4 min with the quick `student` budget" in line
    assert "at most 35.6 min with `cpu`" in line  # measured beside other work: an upper bound
    assert "2-core CPU" in line and "up to 4× slower" in line and line.endswith(W.TIME_LINE_MARK)
    assert "not measured yet with the quick `student` budget" in W.run_time_line("y.ipynb", record)


def test_the_run_time_line_is_replaced_in_place_or_inserted_after_the_badge():
    badge = '<a href="x"><img src="https://colab.research.google.com/assets/colab-badge.svg"/></a>'
    cell = f"# 01 · Title\n\n{badge}\n\nIntro."
    inserted = W.with_run_time_line(cell, f"old {W.TIME_LINE_MARK}")
    assert inserted == f"# 01 · Title\n\n{badge}\n\nold {W.TIME_LINE_MARK}\n\nIntro."
    assert W.with_run_time_line(inserted, f"new {W.TIME_LINE_MARK}") == inserted.replace("old", "new")
    assert W.with_run_time_line("# T\nText", f"l {W.TIME_LINE_MARK}") == f"# T\n\nl {W.TIME_LINE_MARK}\nText"


# --- the environment switches: parsed strictly, an explicit profile wins ------------------------------


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("Yes", True), (" ON ", True),
                                             ("0", False), ("false", False), ("NO", False), ("off", False),
                                             ("", None), (None, None)])
def test_boolean_switches_are_parsed_strictly(value, expected):
    environ = {} if value is None else {"SYNAPTICNET_SMOKE": value}
    assert W.env_flag("SYNAPTICNET_SMOKE", default=None, environ=environ) is expected


@pytest.mark.parametrize("value", ["2", "flase", "y", "enabled", "-1"])
def test_a_switch_that_is_not_yes_or_no_is_an_error_naming_the_variable_and_the_choices(value):
    with pytest.raises(ValueError, match=rf"SYNAPTICNET_SMOKE='{value}' is not a yes/no value: .*true.*false"):
        W.env_profile({"SYNAPTICNET_SMOKE": value})
    with pytest.raises(ValueError, match=r"^CI="):
        W.env_profile({"CI": value})


@pytest.mark.parametrize("environ, profile", [
    ({}, "student"),  # nothing set: a notebook run top to bottom takes minutes (make reproduce asks for cpu)
    ({"SYNAPTICNET_SMOKE": "false"}, "student"),  # today: "false" switched smoke ON
    ({"SYNAPTICNET_SMOKE": "no"}, "student"),
    ({"SYNAPTICNET_SMOKE": "off"}, "student"),
    ({"SYNAPTICNET_SMOKE": "1"}, "smoke"),
    ({"CI": "0"}, "student"),  # today: any non-empty CI meant smoke
    ({"CI": "false"}, "student"),
    ({"CI": "true"}, "smoke"),
    ({"CI": "true", "SYNAPTICNET_SMOKE": "0"}, "student"),  # the explicit smoke switch beats CI
    ({"CI": "true", "SYNAPTICNET_PROFILE": "student"}, "student"),  # today: CI overrode it
    ({"SYNAPTICNET_SMOKE": "1", "SYNAPTICNET_PROFILE": "cpu"}, "cpu"),
    ({"SYNAPTICNET_PROFILE": "full"}, "full"),
    ({"SYNAPTICNET_PROFILE": "", "CI": "1"}, "smoke"),  # empty is unset
])
def test_an_explicit_profile_wins_over_ci_and_the_smoke_switch(environ, profile):
    assert W.env_profile(environ) == profile
    assert W.env_smoke(environ) is (profile == "smoke")


def test_an_unknown_profile_is_an_error_listing_the_profiles(monkeypatch):
    with pytest.raises(ValueError, match=r"SYNAPTICNET_PROFILE='gpu' is not a profile; known profiles: smoke, "
                                         r"student, cpu, long, full, original$"):
        W.env_profile({"SYNAPTICNET_PROFILE": "gpu"})
    monkeypatch.setenv("SYNAPTICNET_PROFILE", "CPU")  # os.environ by default; names are exact
    with pytest.raises(ValueError, match="not a profile"):
        W.env_profile()


# --- the notebooks' parameters: checked in one place, one line naming the parameter ----------------------------

GOOD = {"PROFILE": None, "SEED": 0, "SMOKE_TEST": False, "DATA_ROOT": None}


@pytest.mark.parametrize("name, value", [
    ("SEED", "abc"), ("SEED", 2.5), ("SEED", True), ("SEED", -1), ("SEED", 2**32), ("SEED", None),
    ("PROFILE", 5), ("PROFILE", "bogus"), ("PROFILE", "CPU"), ("PROFILE", ""),
    ("SMOKE_TEST", "yes"), ("SMOKE_TEST", 1),
    ("DATA_ROOT", 5), ("DATA_ROOT", ""), ("DATA_ROOT", "  "),
])
def test_a_wrong_notebook_parameter_is_one_line_naming_it_its_value_and_how_to_pass_it(name, value):
    with pytest.raises(ValueError) as error:
        W.check_parameters(**{**GOOD, name: value})
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"notebook parameter {name}={value!r} ({type(value).__name__}) is not ")
    assert f"-p {name} " in message


def test_the_messages_say_what_each_parameter_should_be():
    with pytest.raises(ValueError, match=r"SEED='abc' \(str\) is not an integer in 0 … 4294967295 .*-p SEED 0$"):
        W.check_parameters(PROFILE=None, SEED="abc")
    with pytest.raises(ValueError, match=r"PROFILE=5 \(int\) is not a profile name \(smoke, student, cpu, long, full, "
                                         r"original\).*-p PROFILE cpu$"):
        W.check_parameters(PROFILE=5, SEED=0)


@pytest.mark.parametrize("values", [
    GOOD,
    {"PROFILE": "cpu", "SEED": 2**32 - 1, "SMOKE_TEST": True, "DATA_ROOT": "../data"},
    {"PROFILE": "smoke", "SEED": 3, "SMOKE_TEST": False, "DATA_ROOT": Path("/somewhere")},
    *({**GOOD, "PROFILE": name} for name in ("smoke", "student", "cpu", "long", "full", "original")),
])
def test_good_notebook_parameters_pass(values):
    assert W.check_parameters(**values) is None


def _parameters_and_setup_cells(path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return code[0], code[1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_checks_its_parameters_before_using_them(path):
    """The code cell after the parameters cell (where papermill injects -p values) checks every parameter first."""
    import papermill

    parameters, setup = _parameters_and_setup_cells(path)
    assert "parameters" in parameters.metadata.get("tags", [])
    calls = [line for line in setup.source.splitlines() if line.startswith("check_parameters(")]
    assert len(calls) == 1, "the setup cell calls check_parameters once, at the top level"
    names = set(papermill.inspect_notebook(str(path))) - {"REPO_URL", "REPO_REF"}  # read before the package exists
    assert names == {"PROFILE", "SEED", "SMOKE_TEST", "DATA_ROOT"}, "a new parameter needs a check"
    assert all(f"{name}={name}" in calls[0] for name in names)
    before = setup.source[:setup.source.index(calls[0])]
    assert not re.search(r"\b(PROFILE|SEED|SMOKE_TEST|DATA_ROOT)\b", before), "no parameter is used before the check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
@pytest.mark.parametrize("name, value", [("SEED", "abc"), ("SEED", 2.5), ("PROFILE", 5)])
def test_a_wrong_parameter_stops_each_notebooks_setup_cell_with_the_one_line(path, name, value, monkeypatch):
    """As papermill runs it: the parameters cell, then the injected value, then the setup cell."""
    for variable in ("SYNAPTICNET_PROFILE", "SYNAPTICNET_SMOKE", "CI"):
        monkeypatch.delenv(variable, raising=False)
    parameters, setup = _parameters_and_setup_cells(path)
    namespace: dict = {}
    exec(compile(parameters.source, "parameters cell", "exec"), namespace)  # not on Colab: it installs nothing
    namespace[name] = value
    with pytest.raises(ValueError, match=rf"^notebook parameter {name}={re.escape(repr(value))} "):
        exec(compile(setup.source, "setup cell", "exec"), namespace)


def test_papermill_with_a_wrong_seed_ends_in_the_one_line(tmp_path):
    """End to end, one notebook (about 6 s: a kernel starts and stops at the setup cell)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("papermill")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNAPTICNET_SMOKE": "1", "OMP_NUM_THREADS": "1"}  # this checkout
    done = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "01_task_masking.ipynb"),
                           str(tmp_path / "out.ipynb"), "-p", "SEED", "abc", "--cwd", str(ROOT / "notebooks")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    assert ("ValueError: notebook parameter SEED='abc' (str) is not an integer in 0 … 4294967295 (2**32 - 1); "
            "write e.g. SEED = 0 in the first code cell or pass -p SEED 0") in done.stderr + done.stdout
    assert "task_seed" not in done.stderr + done.stdout  # stopped before the training code
