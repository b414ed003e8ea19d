"""The notebooks follow the house conventions, and the runner strips volatile metadata.

Executing the notebooks is nbval's job (``make test-notebooks``); these checks are about
structure that silently rots: the papermill ``parameters`` cell, the smoke switch, the
Colab badge pointing at the right file, the repository URL defined once, exercises.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load_runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lessons_exist_in_order():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    # the environment is parsed strictly by the package (synapticnet.workspace.env_profile), not ad hoc
    env = "from synapticnet.workspace import env_profile, env_smoke"
    assert env in first.source and "SMOKE_TEST = env_smoke()" in first.source
    assert "PROFILE = env_profile()" in first.source
    assert 'os.environ.get("CI")' not in first.source and 'os.environ.get("SYNAPTICNET_SMOKE"' not in first.source
    assert "google.colab" in first.source  # installs the package only on Colab,
    assert 'importlib.util.find_spec("synapticnet") is None' in first.source  # and only when it is missing,
    assert first.source.index("pip") < first.source.index(env)  # before the first import from it
    assert "colab-badge.svg" in nb.cells[0].source  # where it points: tests/test_workspace.py (the repository's ref)
    assert sum("REPO_URL =" in c.source for c in code) == 1, "the repository URL is defined once"
    assert sum("REPO_REF =" in c.source for c in code) == 1, "and the version Colab installs, once"
    text = "\n".join(c.source for c in nb.cells)
    assert "## Exercises" in text and "<details>" in text
    assert "/work/" not in text and "shared/data" not in text, "no machine-specific paths in notebooks"
    assert "workspace(" in text, "output folders come from synapticnet.workspace (never above the working folder)"
    assert not re.search(r"Path\([\"']\.\./", "\n".join(c.source for c in code)), "no hard-coded ../ output paths"
    assert f'expected_times("{path.name}")' in text, "each notebook prints its expected run time up front"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(path):
    """`papermill --help-notebook` lists only lines it can parse (one `=` per line, no `==`)."""
    import papermill

    assert {"SMOKE_TEST", "PROFILE", "DATA_ROOT", "SEED"} <= set(papermill.inspect_notebook(str(path)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_injected_parameters_cell_overrides_the_defaults(path):
    """A committed `PROFILE = "cpu"` cell would beat the notebook's own default on a Colab GPU."""
    nb = nbformat.read(path, as_version=4)
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_run_without_settings_uses_the_student_budget(path, monkeypatch):
    """Opened in Jupyter or Colab and run top to bottom: the quick budget, unless the environment names another."""
    first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    for name in ("SYNAPTICNET_PROFILE", "SYNAPTICNET_SMOKE", "CI"):
        monkeypatch.delenv(name, raising=False)
    namespace: dict = {}
    exec(compile(first.source, "parameters cell", "exec"), namespace)  # not on Colab: it installs nothing
    assert namespace["PROFILE"] == "student" and not namespace["SMOKE_TEST"]
    monkeypatch.setenv("SYNAPTICNET_PROFILE", "cpu")
    exec(compile(first.source, "parameters cell", "exec"), namespace)
    assert namespace["PROFILE"] == "cpu"


def test_the_runner_asks_for_cpu_unless_told_otherwise(monkeypatch):
    """make reproduce / make baselines / run_notebooks.py: the committed results come from cpu, by name."""
    runner = load_runner()
    seen = []

    def stop(paths, profile, as_student):  # the first step that knows the profile: stop there, nothing runs
        seen.append(profile)
        raise SystemExit("stop before running")

    monkeypatch.setattr(runner, "check_writable", stop)
    monkeypatch.delenv("PROFILE", raising=False)
    for name in ("SYNAPTICNET_PROFILE", "SYNAPTICNET_SMOKE", "CI"):  # the notebooks' own default is not used
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="stop before running"):
        runner.main([str(NOTEBOOKS[0])])
    monkeypatch.setenv("PROFILE", "student")  # the Makefile's PROFILE=student
    with pytest.raises(SystemExit, match="stop before running"):
        runner.main([str(NOTEBOOKS[0])])
    assert seen == ["cpu", "student"] and runner.default_profile() == "cpu"


def test_make_reproduce_and_baselines_pass_cpu_by_name():
    """`make -n` prints the commands without running them: the profile is spelled out, whatever the environment."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PROFILE", "MAKEFLAGS", "MFLAGS")}
    for target in ("reproduce", "baselines"):
        out = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, env=env,
                             check=True).stdout
        assert "scripts/run_notebooks.py --profile cpu " in out, out
        picked = subprocess.run(["make", "-n", "-C", str(ROOT), target, "PROFILE=student"], capture_output=True,
                                text=True, env=env, check=True).stdout
        assert "scripts/run_notebooks.py --profile student " in picked, picked


def test_runner_rewrites_only_the_run_time_line_of_the_first_cell(tmp_path):
    """After a run records a time, the committed notebook's first cell states it (one line changes)."""
    from synapticnet import workspace as W

    runner = load_runner()
    copy = tmp_path / NOTEBOOKS[2].name
    copy.write_text(NOTEBOOKS[2].read_text())
    record = {"machine": {"cpus": 2}, "notebooks": {copy.name: {"student": {"seconds": 66.0, "profile": "student"},
                                                                "cpu": {"seconds": 600.0, "profile": "cpu"}}}}
    assert runner.update_time_lines([copy], record) == [copy]
    before, after = NOTEBOOKS[2].read_text().splitlines(), copy.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1 and "about 1.1 min with the quick" in changed[0][1]
    assert W.TIME_LINE_MARK in changed[0][1]
    assert runner.update_time_lines([copy], record) == []  # nothing left to change


def test_runner_writes_smoke_runs_outside_the_committed_notebooks():
    runner = load_runner()
    path = NOTEBOOKS[0]
    assert runner.output_path(path, "cpu") == path
    for profile in ("smoke", "student", "full"):  # only the reference profile replaces committed notebooks
        other = runner.output_path(path, profile)
        assert other != path and other.is_relative_to(ROOT / "build" / profile)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_carry_no_volatile_metadata(path):
    nb = json.loads(path.read_text())
    assert "papermill" not in nb["metadata"] and "widgets" not in nb["metadata"]
    for cell in nb["cells"]:
        assert not {"execution", "papermill", "ExecuteTime"} & set(cell["metadata"])


def test_runner_strips_timestamps_but_keeps_outputs_and_tags():
    runner = load_runner()
    nb = nbformat.v4.new_notebook(metadata={"papermill": {"duration": 3.2}, "widgets": {"state": {}},
                                            "kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"], "papermill": {"duration": 1},
                                                        "execution": {"iopub.status.busy": "2026-01-01"}})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells = [cell]
    runner.strip_metadata(nb)
    assert set(nb.metadata) == {"kernelspec"}
    assert nb.cells[0].metadata == {"tags": ["parameters"]}
    assert nb.cells[0].outputs[0]["text"] == "hello\n"


def test_runner_rejects_unknown_profile_and_missing_notebook(capsys):
    runner = load_runner()
    with pytest.raises(SystemExit):
        runner.main(["--profile", "gpu"])
    assert "unknown profile 'gpu'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        runner.main(["--profile", "smoke", "notebooks/99_missing.ipynb"])
    assert "no such file: notebooks/99_missing.ipynb" in capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_hold_no_machine_paths(path):
    """Outputs print paths relative to the notebook (../figures), never the machine's folders."""
    nb = nbformat.read(path, as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    found = re.findall(r"(?<![\w.])/(?:work|home|root|tmp|Users)/[^\s\"']*", outputs)
    assert not found, f"absolute paths in the outputs: {sorted(set(found))[:5]}"


def test_committed_results_hold_no_machine_paths():
    for path in sorted((ROOT / "figures").rglob("*.json")):
        found = re.findall(r"\"/(?:work|home|root|tmp|Users)/[^\"]*\"", path.read_text())
        assert not found, f"{path.name} records machine paths: {found[:3]}"
