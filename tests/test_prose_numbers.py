"""Numbers in prose are data (scripts/prose_numbers.py): every number with a unit in hand-written text is backed by a
results JSON, a profile setting or synapticnet/published.json — and a wrong one is caught."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


prose = _load("prose_numbers")
make_help = _load("make_help")


@pytest.fixture(scope="module")
def findings() -> list:
    return prose.check(ROOT)[0]


def _report(found: list) -> str:
    return "numbers in prose that no JSON, setting or published source backs (scripts/prose_numbers.py):\n" + \
        "\n".join(f"  {f}" for f in found)


def test_readme_makefile_and_profiles_state_only_backed_numbers(findings):
    found = [f for f in findings if not f.where.startswith("notebooks/")]
    assert not found, _report(found)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_markdown_states_only_backed_numbers(findings, notebook):
    found = [f for f in findings if f.where.startswith(f"notebooks/{notebook} ")]
    assert not found, _report(found)


# --- the matcher ---------------------------------------------------------------------------------------


def _units(text: str) -> list[tuple[str, str]]:
    return [(number.text, number.kind) for number, _, _ in prose.numbers_with_units(text)]


def test_numbers_are_read_with_their_units_ranges_and_intervals():
    assert _units("isolate ×1 (155k) 75.10 % on 3 seeds, 2.6–4.5 min each") == [
        ("1", "ratio"), ("155k", "count"), ("75.10", "percent"), ("3", "seeds"), ("2.6", "minutes"), ("4.5", "minutes")]
    assert _units("−1.60 [−2.49, −0.71] at ×0.5; interval −0.45 to +0.07") == [
        ("−1.60", "points"), ("−2.49", "points"), ("−0.71", "points"), ("0.5", "ratio"), ("−0.45", "points"), ("+0.07", "points")]
    assert _units("63.05 / 63.39 / 59.69 % over three seeds at batch 128, 5 epochs/task") == [
        ("63.05", "percent"), ("63.39", "percent"), ("59.69", "percent"), ("three", "seeds"), ("128", "batch"),
        ("5", "epochs")]


def test_identifiers_sizes_versions_and_code_are_not_numbers_with_units():
    text = ("CIFAR-10 on a T4, two 3×3 convolutions, 3 × 32 × 32 values, ¼ + 2 × ⅜ = 1, dropout 0.1, "
            "MLP 784-100-100-10, torch 2.14.1, `batch_size=128 %`, "
            "[link](figures/x_5%.json) <!-- 30 min --> one line, BWT = 0.80 − 0.99 = −0.19")
    assert _units(text) == []


def _pools(**values: list[float]) -> list[dict]:
    pools = {}
    for kind, vs in values.items():
        pools[kind] = prose.Pool()
        for v in vs:
            pools[kind].add(v, f"test: {v}")
    return [pools]


def _backed(text: str, pools: list[dict]) -> list[bool]:
    return [prose.backed_by(number, pools) is not None for number, _, _ in prose.numbers_with_units(text)]


def test_a_number_matches_a_value_at_its_printed_precision():
    pools = _pools(percent=[0.7510], points=[2.45], ratio=[0.35], seconds=[5478.0], seeds=[5])
    assert _backed("75.10 %, 75.1 %, 75 %, 75.12 %, 75.2 %", pools) == [True, True, False, False, False]
    assert _backed("2.45 points below, 2.5 points, −2.45 points", pools) == [True, True, True]
    assert _backed("×0.35, 0.35×, ×0.4, ×0.5", pools) == [True, True, True, False]  # 0.35 prints as 0.4
    assert _backed("91.3 min, 91 min, 90 min, 1.5 h, five seeds, 3 seeds", pools) == [
        True, False, False, True, True, False]


def test_a_whole_number_is_read_as_exact():
    pools = _pools(seconds=[1776.0, 1800.0])  # 29.6 and 30.0 minutes
    assert _backed("about 30 min", pools) == [True]
    assert _backed("about 30 min", _pools(seconds=[1776.0])) == [False]  # 29.6 min does not make "about 30"


def test_times_come_only_from_totals_and_means_not_from_one_run():
    pools: dict = defaultdict(prose.Pool)
    prose._add_document(pools, {"wall_seconds": 600.0, "runs": [{"train_seconds": 1800.0}], "train_seconds_per_task": [120.0],
                                "avg_acc_mean": 75.1, "params_ratio": 0.45}, "x.json")
    assert _backed("10.0 min, 30.0 min, 2.0 min", [pools]) == [True, False, False]
    assert _backed("75.10 %, 0.45×, 75.10 min", [pools]) == [True, True, False]


def test_points_come_from_differences_and_a_ratio_never_backs_a_percentage():
    pools: dict = defaultdict(prose.Pool)
    prose._add_document(pools, {"vs_separate_x1": {"mean": -2.45, "low": -3.21, "high": -1.69,
                                                   "differences": [-1.23, -4.56]},
                                "params_ratio": 0.65, "bwt": -0.6094, "average_accuracy": 0.751}, "x.json")
    assert _backed("2.45 points below (interval −3.21 to −1.69), 60.94 points, 0.65×, 75.10 %", [pools]) == [True] * 6
    assert _backed("1.23 points, 65.00 %, 0.65 points, 75.10 points", [pools]) == [False, False, False, False]


def test_a_printed_number_backs_prose_in_its_own_unit_only():
    pools: dict = defaultdict(prose.Pool)
    prose._add_printed_line(pools, "seed 0 separate: average accuracy 75.10%, 155,334 parameters, 15 s, 7.6 min", "out")
    assert _backed("75.10 %, 155,334 parameters, 15 s, 7.6 min, 15 minutes, 75.10 min, about two minutes",
                   [pools]) == [True, True, True, True, False, False, False]


# --- the failure on a planted wrong number ------------------------------------------------------------------


def _copy_tree(tmp_path: Path, notebook: str) -> Path:
    """What the check reads, in a temporary folder: README, Makefile, one notebook, the JSON and the settings."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "synapticnet").mkdir()
    for name in ("README.md", "Makefile"):
        shutil.copy(ROOT / name, root / name)
    shutil.copy(ROOT / "notebooks" / notebook, root / "notebooks" / notebook)
    for name in ("expected_times.json", "published.json", "workspace.py", "profiles.py"):
        shutil.copy(ROOT / "synapticnet" / name, root / "synapticnet" / name)
    (root / "figures").symlink_to(ROOT / "figures", target_is_directory=True)
    return root


def _first_unbacked(start: float, step: float, unit: str, pools: list[dict], decimals: int) -> str:
    """The first value from ``start`` on (by ``step``) that no source backs, printed with its unit: a planted wrong
    number that cannot be right by chance."""
    for k in range(1, 1000):
        text = f"{start + k * step:.{decimals}f}{unit}"
        if not any(_backed(text, pools)):
            return text
    raise AssertionError("every nearby value is backed")


def test_a_planted_wrong_number_fails_the_check_with_file_cell_and_context(tmp_path, findings):
    notebook = "05_growth_studies.ipynb"
    root = _copy_tree(tmp_path, notebook)
    by_file = prose.sources(root)
    scoped = [by_file[prose.SHARED], prose.notebook_pools(root / "notebooks" / notebook),
              *(by_file[f] for f in prose.notebook_files(root / "notebooks" / notebook, root, list(by_file)))]
    isolate = 100 * json.loads((root / "figures" / "05_studies.json").read_text())["growth"]["isolate_row"][
        "average_accuracy"]
    right = f"{isolate:.2f} %"  # isolate ×1 in figures/05_studies.json
    assert all(_backed(right, scoped))
    wrong = _first_unbacked(round(isolate, 2), 0.01, " %", scoped, 2)
    nb = json.loads((root / "notebooks" / notebook).read_text(encoding="utf-8"))
    cell = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
    nb["cells"][cell]["source"] = [*nb["cells"][cell]["source"], f"\n\nSeparate networks reach {right}, reuse {wrong}."]
    (root / "notebooks" / notebook).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    everything = list(by_file.values())
    minutes = _first_unbacked(29.0, 1.0, " min", everything, 0)
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    (root / "Makefile").write_text(makefile.replace("(not figures/)", f"(not figures/; about {minutes})"), encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "at 1.97× the" in readme and "(not figures/)" in makefile  # the sentences the test plants into
    ratio = _first_unbacked(1.37, 0.01, "×", everything, 2)  # a ratio no results file holds (not 1.97)
    (root / "README.md").write_text(readme.replace("at 1.97× the", f"at {ratio} the", 1), encoding="utf-8")
    before = {str(f) for f in findings}  # what the committed tree already reports (notebooks not yet rewritten)

    found = [f for f in prose.check(root)[0] if str(f) not in before]
    assert any(f.where.startswith(f"notebooks/{notebook} cell {cell} line") and f.number == wrong and
               "reuse" in f.context for f in found)
    assert any(f.where.startswith("Makefile:") and f.number == minutes for f in found)
    assert any(f.where.startswith("README.md:") and f.number == ratio for f in found)
    assert len(found) == 3
    assert prose.main(["--root", str(root)]) == 1


# --- the generated help, the published numbers ----------------------------------------------------------------


def test_the_makefile_help_is_what_make_help_writes_from_the_measurements():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert make_help.render(text, ROOT) == text, "run: python scripts/make_help.py (or make reproduce/student/...)"


def test_make_help_states_the_measured_totals(tmp_path):
    times = json.loads((ROOT / "synapticnet" / "expected_times.json").read_text(encoding="utf-8"))
    cpu = {name: r["cpu"]["seconds"] for name, r in times["notebooks"].items() if "cpu" in r}
    totals = make_help.time_totals(ROOT)
    assert totals["baselines"] == pytest.approx(cpu["04_forgetting_baselines.ipynb"] / 60)
    assert totals["reproduce"] == pytest.approx((sum(cpu.values()) - cpu["04_forgetting_baselines.ipynb"]) / 60)
    lines = make_help.help_lines(ROOT)
    assert any(line.startswith("make baselines") and f"{totals['baselines']:.1f} min" in line for line in lines)
    assert any(line.startswith("make reproduce") and f"{totals['reproduce']:.1f} min" in line for line in lines)
    (tmp_path / "Makefile").write_text("all:\n\techo\n\nhelp:\n\t@echo old ~25 min\n\nclean:\n\trm -rf build\n")
    assert make_help.update(tmp_path / "Makefile", ROOT)
    written = (tmp_path / "Makefile").read_text()
    assert "~25 min" not in written and written.startswith("all:\n\techo\n\nhelp:\n\t@echo \"make test ")
    assert written.endswith("\n\nclean:\n\trm -rf build\n")


def test_published_numbers_have_a_value_a_unit_and_a_source():
    numbers = json.loads((ROOT / "synapticnet" / "published.json").read_text(encoding="utf-8"))["numbers"]
    assert all({"value", "unit", "what", "key", "source"} <= set(n) and n["source"] for n in numbers)
    assert len({n["key"] for n in numbers}) == len(numbers)
    assert {"permuted_mnist/WSN/accuracy", "original/mnist", "original/parameters"} <= {n["key"] for n in numbers}
