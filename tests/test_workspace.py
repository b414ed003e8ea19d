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


def repo_url_in_pyproject() -> str:
    match = re.search(r'^Repository = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml needs [project.urls] Repository"
    return match.group(1)


def test_the_repository_url_is_the_same_everywhere():
    url = W.REPO_URL
    assert repo_url_in_pyproject() == url
    colab = "colab.research.google.com/github/" + url.removeprefix("https://github.com/") + "/blob/main/notebooks/"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert f'REPO_URL = "{url}"' in first.source, path.name
        assert colab + path.name in nb.cells[0].source, f"{path.name}: Colab badge names another repository"
    readme = (ROOT / "README.md").read_text()
    badges = re.findall(r"colab\.research\.google\.com/github/[^)\"]+", readme)
    assert badges and all(b.startswith(colab) for b in badges), badges


def test_set_repo_url_rewrites_every_mention(tmp_path):
    """The fork script on a copy of the files: afterwards the consistency test's checks hold for the new URL."""
    spec = importlib.util.spec_from_file_location("set_repo_url", ROOT / "scripts" / "set_repo_url.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for path in script.files():
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    script.ROOT = tmp_path
    assert script.main(["https://github.com/a-fork/synapticnet.git"]) == 0
    assert script.current_url() == "https://github.com/a-fork/synapticnet"
    for path in script.files():
        text = path.read_text()
        assert W.REPO_URL not in text and "github/synapticnet/synapticnet/" not in text, path.name
    nb = nbformat.read(tmp_path / "notebooks" / NOTEBOOKS[0].name, as_version=4)
    assert "colab.research.google.com/github/a-fork/synapticnet/blob/main/notebooks/" in nb.cells[0].source
    with pytest.raises(SystemExit):
        script.main(["git@github.com:a-fork/synapticnet"])


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
    ({}, "cpu"),
    ({"SYNAPTICNET_SMOKE": "false"}, "cpu"),  # today: "false" switched smoke ON
    ({"SYNAPTICNET_SMOKE": "no"}, "cpu"),
    ({"SYNAPTICNET_SMOKE": "off"}, "cpu"),
    ({"SYNAPTICNET_SMOKE": "1"}, "smoke"),
    ({"CI": "0"}, "cpu"),  # today: any non-empty CI meant smoke
    ({"CI": "false"}, "cpu"),
    ({"CI": "true"}, "smoke"),
    ({"CI": "true", "SYNAPTICNET_SMOKE": "0"}, "cpu"),  # the explicit smoke switch beats CI
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
