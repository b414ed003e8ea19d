"""The maintenance scripts fail safely: no NaN in the README, no half-changed fork, no late failure.

Every script runs on temporary copies (never on this repository's files) or is stopped
before it writes anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_URL = "https://github.com/synapticnet/synapticnet"


def load_script(name: str):
    """A fresh copy of ``scripts/<name>.py`` as a module (its globals may be patched per test)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- item 6: update_readme refuses NaN / Infinity ----------------------------------------------------


def baselines(bwt: float) -> dict:
    row = dict(method="finetune", average_accuracy=0.5, average_accuracy_std=0.01, bwt=bwt, bwt_std=0.02,
               forgetting=0.4, forgetting_std=0.02, params_total=1234, train_seconds_total=5.0)
    return dict(tasks=["mnist", "cifar10"], budget="tiny", seeds=[0, 1], hyper={}, summary=[row])


def test_update_readme_marks_a_method_left_with_fewer_seeds(tmp_path):
    # EWC diverged on seeds 1 and 2: its row says so and shows no "± 0.00" spread over a single seed
    script = load_script("update_readme")
    data = baselines(-0.1)
    data["seeds"] = [0, 1, 2]
    data["summary"] = [dict(data["summary"][0], seeds=[0, 1, 2]),
                       dict(data["summary"][0], method="ewc", seeds=[0], average_accuracy_std=0.0)]
    (tmp_path / "04_baselines.json").write_text(json.dumps(data))
    text = script.baselines_section(tmp_path / "04_baselines.json")
    ewc = next(line for line in text.splitlines() if line.startswith("| ewc"))
    assert "(seed 0 only: diverged on 1, 2)" in ewc and "±" not in ewc
    assert "| finetune | 50.00 ± 1.00 |" in text


@pytest.mark.parametrize("bad, key", [("NaN", "summary[0].bwt"), ("Infinity", "summary[0].bwt"),
                                      ("-Infinity", "summary[0].bwt"), ("1e999", "summary[0].bwt")])
def test_update_readme_refuses_non_finite_numbers_naming_file_and_key(tmp_path, capsys, bad, key):
    script = load_script("update_readme")
    figures, readme = tmp_path / "figures", tmp_path / "README.md"
    figures.mkdir()
    readme.write_text(f"# x\n{script.START}\nold\n{script.END}\n")
    (figures / "04_baselines.json").write_text(json.dumps(baselines(-0.1)).replace("-0.1", bad))
    assert script.main(["--readme", str(readme), "--figures", str(figures)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "04_baselines.json" in err and key in err and "not a finite number" in err
    assert readme.read_text() == f"# x\n{script.START}\nold\n{script.END}\n"  # nothing published

    (figures / "04_baselines.json").write_text(json.dumps(baselines(-0.1)))
    assert script.main(["--readme", str(readme), "--figures", str(figures)]) == 0
    assert "-10.00 ± 2.00" in readme.read_text() and "nan" not in readme.read_text()


# --- set_repo_url validates, and changes all files or none ----------------------------------------------------


@pytest.fixture()
def fork(tmp_path):
    """set_repo_url working on a copy of every file it touches, under ``tmp_path`` (as committed: nothing set)."""
    script = load_script("set_repo_url")
    for path in script.files():
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    script.ROOT = tmp_path
    script.apply(script.plan("", ""))  # start from the unset state whatever this checkout has
    assert script.current() == ("", "")
    return script


def snapshot(script) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in script.files()}


def names_only(script, url: str, ref: str) -> None:
    """Every file names ``url`` at ``ref`` and nothing else: every notebook the same way."""
    assert script.current() == (url, ref)
    for path in script.files():
        text = path.read_text()
        assert OLD_URL not in text, path.name
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)  # still valid JSON
            setup = next(c for c in nb.cells if c.cell_type == "code").source
            assert f'REPO_URL = "{url}"' in setup and f'REPO_REF = "{ref}"' in setup, path.name
            assert f"blob/{ref}/notebooks/{path.name}" in nb.cells[0].source, path.name
    compile((script.ROOT / "synapticnet" / "workspace.py").read_text(), "workspace.py", "exec")  # still imports


@pytest.mark.parametrize("url", ["https://github.com/you/fork\n", "https://github.com/you/fork\r",
                                 "https://github.com/you/fo rk", "https://github.com/you/fork\x00",
                                 "https://github.com/a/..", "https://github.com/a/.", "https://github.com/a/b..c",
                                 "https://github.com/-you/fork", "https://github.com/you-/fork",
                                 "https://github.com/y--ou/fork", "https://github.com/you/fork/extra",
                                 "http://github.com/you/fork", "https://github.com/you/fo\"rk",
                                 "https://github.com/you/" + "x" * 101, "git@github.com:you/fork", ""])
def test_set_repo_url_refuses_malformed_urls_and_changes_nothing(fork, url, capsys):
    before = snapshot(fork)
    with pytest.raises(SystemExit) as info:
        fork.main([url, "--ref", "v1.0"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # argparse: usage line, then "…: error: <one line>"
    assert "error:" in last and ("not https://github.com/OWNER/NAME" in last or "control characters" in last)
    assert snapshot(fork) == before


@pytest.mark.parametrize("ref, why", [("main", "is a branch"), ("HEAD", "is a branch"), ("master", "is a branch"),
                                      ("abc1234", "shortened commit hash"), ("v1..0", "not a tag name"),
                                      ("-v1", "not a tag name"), ("v1/x", "not a tag name"), ("v1 ", "blanks"),
                                      ("v1.lock", "not a tag name"), ("v1\n", "blanks"), ("", "empty")])
def test_set_repo_url_refuses_refs_that_pin_nothing_and_changes_nothing(fork, ref, why, capsys):
    before = snapshot(fork)
    with pytest.raises(SystemExit) as info:
        fork.main(["https://github.com/you/fork", f"--ref={ref}"])
    assert info.value.code == 2 and why in capsys.readouterr().err.strip().splitlines()[-1]
    assert snapshot(fork) == before
    with pytest.raises(SystemExit):  # and a ref is required: a URL alone would install whatever the branch holds
        fork.main(["https://github.com/you/fork"])


def test_set_repo_url_strips_a_trailing_slash_and_names_the_version_in_every_notebook(fork, capsys):
    assert fork.main(["https://github.com/you/my.fork_2-x/", "--ref", "v2.0.1"]) == 0
    names_only(fork, "https://github.com/you/my.fork_2-x", "v2.0.1")
    assert f"(unset) -> https://github.com/you/my.fork_2-x@v2.0.1: {len(fork.files())} file(s) changed" in \
        capsys.readouterr().out
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert fork.main(["https://github.com/you/other", "--ref", commit]) == 0  # a full commit hash pins too
    names_only(fork, "https://github.com/you/other", commit)


def test_set_repo_url_with_a_read_only_file_changes_nothing(fork, monkeypatch):
    before = snapshot(fork)
    locked = fork.files()[-1]
    monkeypatch.setattr(fork, "writable", lambda path: path != locked)  # as root, chmod would not stop a write
    with pytest.raises(SystemExit, match=rf"nothing changed: cannot write notebooks/{locked.name}"):
        fork.main(["https://github.com/you/fork", "--ref", "v1.0"])
    assert snapshot(fork) == before


def test_set_repo_url_that_fails_while_writing_puts_every_file_back(fork, monkeypatch):
    before, real, calls = snapshot(fork), fork.write_atomically, []

    def fails_on_the_fourth(path, text):
        calls.append(path)
        if len(calls) == 4:
            raise PermissionError(13, "Permission denied", str(path))
        real(path, text)

    monkeypatch.setattr(fork, "write_atomically", fails_on_the_fourth)
    with pytest.raises(SystemExit, match=r"could not write .*Permission denied.*nothing changed$"):
        fork.main(["https://github.com/you/fork", "--ref", "v1.0"])
    assert snapshot(fork) == before
    assert not [p for p in Path(fork.ROOT).rglob("*.tmp")]


def test_set_repo_url_run_again_after_an_interrupted_run_fixes_the_rest(fork, capsys):
    url, ref = "https://github.com/you/fork", "v1.0"
    files = fork.files()
    for path in files[:3]:  # killed after workspace.py, pyproject.toml and README.md
        path.write_text(fork.updated(path, path.read_text(), url, ref))
    assert fork.current() == (url, ref)
    assert fork.main([url, "--ref", ref]) == 0
    out = capsys.readouterr().out
    assert f"{len(files) - 3} file(s) changed" in out, out
    names_only(fork, url, ref)
    assert fork.main([url, "--ref", ref]) == 0 and "0 file(s) changed" in capsys.readouterr().out


def test_set_repo_url_stops_before_writing_when_a_file_lost_its_lines(fork):
    """A notebook whose setup cell was rewritten by hand: nothing is changed anywhere, the file is named."""
    before = snapshot(fork)
    notebook = fork.files()[-1]
    notebook.write_text(notebook.read_text().replace("REPO_REF = ", "REF = "))
    before[notebook] = notebook.read_bytes()
    with pytest.raises(SystemExit, match=rf"nothing changed: notebooks/{notebook.name} has no line matching"):
        fork.main(["https://github.com/you/fork", "--ref", "v1.0"])
    assert snapshot(fork) == before


def test_set_repo_url_keeps_file_permissions(fork):
    path = fork.files()[0]
    os.chmod(path, 0o640)
    assert fork.main(["https://github.com/you/fork", "--ref", "v1.0"]) == 0
    assert path.stat().st_mode & 0o777 == 0o640


# --- item 8: run_notebooks checks every output location before running anything ------------------------


@pytest.fixture()
def runner(monkeypatch):
    """scripts/run_notebooks.py that can never run a notebook or install anything here."""
    script = load_script("run_notebooks")

    def never(*args, **kwargs):
        raise AssertionError("a notebook was run although an output folder is not writable")

    for name in ("run_one", "run_as_student", "install_copy", "record_times"):
        monkeypatch.setattr(script, name, never)
    return script


@pytest.mark.parametrize("profile, blocked", [("cpu", "figures"), ("cpu", "notebooks"), ("cpu", "runs"),
                                              ("student", "build/student"), ("smoke", "build")])
def test_run_notebooks_stops_up_front_when_an_output_folder_is_not_writable(runner, monkeypatch, profile, blocked):
    monkeypatch.setattr(runner, "folder_writable", lambda folder: folder != ROOT / blocked)
    notebook = sorted((ROOT / "notebooks").glob("03_*.ipynb"))[0]
    with pytest.raises(SystemExit) as info:
        runner.main(["--profile", profile, str(notebook)])
    message = str(info.value.code)
    assert message.startswith(f"error: not writable: {blocked} ") and "nothing was run" in message
    assert "\n" not in message


def test_run_notebooks_stops_when_a_file_it_rewrites_is_read_only(runner, monkeypatch):
    monkeypatch.setattr(runner, "folder_writable", lambda folder: True)
    monkeypatch.setattr(runner, "file_writable", lambda path: path.name != "expected_times.json")
    with pytest.raises(SystemExit, match="not writable: synapticnet/expected_times.json"):
        runner.main(["--profile", "student", "--as-student"])


def test_the_writability_probe_writes_and_removes_a_file_and_looks_at_the_nearest_existing_folder(tmp_path):
    runner = load_script("run_notebooks")
    assert runner.folder_writable(tmp_path) and runner.folder_writable(tmp_path / "not" / "yet")
    assert list(tmp_path.iterdir()) == []  # the probe is gone, nothing was created
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        try:  # root ignores permission bits: then this part cannot be checked here
            (tmp_path / "ro" / "x").write_text("")
            pytest.skip("running as root: a read-only folder is writable anyway")
        except PermissionError:
            pass
        assert not runner.folder_writable(tmp_path / "ro") and not runner.folder_writable(tmp_path / "ro" / "sub")
    finally:
        os.chmod(tmp_path / "ro", 0o755)


def test_a_saved_notebook_prints_the_time_just_measured(tmp_path):
    """run_notebooks: the expected-times text a notebook printed before its run is replaced by the measured one."""
    import nbformat
    from synapticnet.workspace import expected_times

    module = load_script("run_notebooks")
    record = {"machine": {"cpus": 2},
              "notebooks": {"x.ipynb": {"cpu": {"seconds": 66.0, "profile": "cpu", "finished": "2026-12-01T00:00"}}}}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(expected_times('x.ipynb'))", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="profile cpu\nexpected run time of x.ipynb:\n  cpu 5.8 min\n")])]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert module.update_printed_times([path], record) == [path]
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "profile cpu\n" + expected_times("x.ipynb", record) + "\n"
    assert "1.1 min" in expected_times("x.ipynb", record)
    nb.cells[0].outputs[0]["text"] = "not printed\n"
    nbformat.write(nb, path)
    assert module.update_printed_times([path], record) == []


def test_the_printed_expected_times_are_rewritten_from_the_record_and_nothing_else(tmp_path):
    """run_notebooks --time-lines-only: a notebook's printout of expected_times(name) follows the record (a new CPU
    rate, another measurement) without a run; the text around it and every other output stay as they are."""
    import nbformat
    from synapticnet.workspace import expected_times

    module = load_script("run_notebooks")
    record = {"machine": {"cpus": 2, "cpu_train_tflops": 0.25},
              "notebooks": {"x.ipynb": {"cpu": {"seconds": 600.0, "profile": "cpu", "finished": "2026-12-01T00:00"}}}}
    old = "expected run time of x.ipynb:\n  cpu      9.9 min (old)\n  T4 estimates: 129 GFLOP/s\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(expected_times('x.ipynb'))", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="profile cpu\n" + old + "after\n")]),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="  1\n")])]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert module.update_printed_times([path], record) == [path]
    outputs = [c.outputs[0]["text"] for c in nbformat.read(path, as_version=4).cells]
    assert outputs == ["profile cpu\n" + expected_times("x.ipynb", record) + "\nafter\n", "  1\n"]
    assert "250 GFLOP/s" in outputs[0] and "129" not in outputs[0]
    assert module.update_printed_times([path], record) == []  # nothing left to change


def test_a_long_or_student_headline_is_published_to_figures_of_its_profile(tmp_path, monkeypatch):
    """run_notebooks: notebook 03's results of the long and student profiles are copied to figures/<profile>/
    (the README sets them beside the cpu headline); other notebooks and profiles publish nothing."""
    module = load_script("run_notebooks")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "NOTEBOOKS", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    built = tmp_path / "build" / "long"
    built.mkdir(parents=True)
    (built / "03_results.json").write_text('{"profile": "long"}')
    (built / "03_accuracy_matrix.png").write_bytes(b"png")
    monkeypatch.setattr(module, "workspace", lambda profile, cwd: type("W", (), {"figures": Path("../build") / profile}))
    notebook = Path("03_four_task_run.ipynb")
    copied = module.publish(notebook, "long", as_student=False)
    assert sorted(p.name for p in copied) == ["03_accuracy_matrix.png", "03_results.json"]
    assert (tmp_path / "figures" / "long" / "03_results.json").read_text() == '{"profile": "long"}'
    assert module.publish(notebook, "cpu", as_student=False) == []  # the cpu run writes figures/ itself
    assert module.publish(Path("04_forgetting_baselines.ipynb"), "long", as_student=False) == []


def test_times_measured_beside_other_work_are_marked_shared(tmp_path):
    # a time taken while other jobs ran is an upper bound: the README must say so, per notebook
    script = load_script("update_readme")
    record = {"machine": {"cpus": 2, "python": "3.11"}, "notebooks": {
        "01_a.ipynb": {"cpu": {"seconds": 60.0, "profile": "cpu"}, "student": {"seconds": 30.0, "profile": "student"}},
        "02_b.ipynb": {"cpu": {"seconds": 120.0, "profile": "cpu", "shared": True}}}}
    (tmp_path / "times.json").write_text(json.dumps(record))
    text = script.times_section(tmp_path / "times.json")
    assert "| 02_b.ipynb | — | 2.0 (shared) |" in text and "| 01_a.ipynb | 0.5 | 1.0 |" in text
    assert "upper bound" in text
    record["notebooks"]["02_b.ipynb"]["cpu"].pop("shared")
    (tmp_path / "times.json").write_text(json.dumps(record))
    assert "shared" not in script.times_section(tmp_path / "times.json")
    assert "2-core CPU (Python" in script.times_section(tmp_path / "times.json")  # no processor recorded: none named
    record["notebooks"]["02_b.ipynb"]["cpu"]["processor"] = "AMD EPYC 7B13"
    (tmp_path / "times.json").write_text(json.dumps(record))
    assert "2-core CPU (AMD EPYC 7B13; 2 of the 3 times older than the record of the processor)" in \
        script.times_section(tmp_path / "times.json")


def test_each_notebook_time_records_the_processor_it_was_measured_on(tmp_path, monkeypatch):
    runner = load_script("run_notebooks")
    monkeypatch.setattr(runner, "cpu_training_rate", lambda bench: None)
    path = tmp_path / "times.json"
    runner.record_times(path, "01_a.ipynb", "cpu", 61.04)
    entry = json.loads(path.read_text())["notebooks"]["01_a.ipynb"]
    assert entry["seconds"] == 61.0 and entry["processor"]
    from synapticnet.run import machine

    assert machine().startswith(entry["processor"] + "; torch ")  # the name every run records, read without torch


# -- every script's arguments checked by argparse: one error line, exit 2, no traceback --------------------
@pytest.mark.parametrize("script, argv, says", [
    ("growth_front", ["--seeds", "abc"], "argument --seeds: expected comma-separated seeds"),
    ("growth_front", ["--streams", "bogus"], "unknown stream bogus; known: "),
    ("growth_front", ["--seeds=-1"], "argument --seeds: expected comma-separated seeds"),
    ("growth_front", ["--sweep-sparsity", "abc"], "argument --sweep-sparsity: expected comma-separated numbers"),
    ("permuted_mnist", ["--profile", "bogus"], "argument --profile: invalid choice: 'bogus'"),
    ("permuted_mnist", ["--seeds=-5"], "argument --seeds: expected comma-separated seeds"),
    ("pruning_criteria", ["--seeds", "x"], "argument --seeds: expected comma-separated seeds"),
    ("run_notebooks", ["README.md"], "README.md is not a .ipynb file"),
    ("run_notebooks", ["--timeout=-5"], "argument --timeout: expected a positive integer, got '-5'"),
    ("update_readme", ["--readme", "missing.md"], "argument --readme: no such file: missing.md"),
    ("anchor_airbench94", ["--seeds", "0,x"], "argument --seeds: expected comma-separated seeds"),
    ("anchor_airbench94", ["--source", "missing.py"], "argument --source: no such file: missing.py"),
])
def test_script_arguments_are_checked_with_one_error_line(script, argv, says, monkeypatch, capsys):
    module = load_script(script)
    monkeypatch.setattr("sys.argv", [f"{script}.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        if "argv" in module.main.__code__.co_varnames:
            module.main(argv)
        else:
            module.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and says in err.strip().splitlines()[-1]


def test_a_script_failing_after_its_arguments_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from synapticnet.arguments import script

    def main():
        raise OSError(f"cannot write {tmp_path / 'x.json'}: read-only file system")
    with pytest.raises(SystemExit) as exit_:
        script(main)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: cannot write {tmp_path / 'x.json'}: read-only file system"
    module = load_script("permuted_mnist")
    monkeypatch.setattr("sys.argv", ["permuted_mnist.py", "--profile", "smoke", "--out", "/dev/null/x.json"])
    monkeypatch.setattr(module, "run_permuted", lambda out, **k: __import__("synapticnet.storage").storage.save_json(
        {}, out))
    with pytest.raises(SystemExit) as exit_:
        script(module.main)
    assert exit_.value.code == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("error: ") and "/dev/null" in line


# --- the paired ablation (make ablation) ------------------------------------------------------------


def test_paired_ablation_skips_inert_ingredients_and_pairs_gains_by_seed(tmp_path, monkeypatch):
    ablation = load_script("ablation")
    from synapticnet.profiles import CPU

    recipe = ablation.paired_recipe(CPU, 1000, 200)
    # a test-time shift cannot change Fashion-MNIST, trained without shifts; alternating flips cannot change MNIST
    assert ablation.inert(recipe, recipe.replace(test_shift=1), "fashion_mnist")
    assert not ablation.inert(recipe, recipe.replace(test_shift=1), "cifar10")
    assert ablation.inert(recipe, recipe.replace(alternate_flips=True), "mnist")
    assert not ablation.inert(recipe, recipe.replace(lookahead=0.5), "mnist")  # training changes for every task
    calls = []

    def fake_run(tasks, profile, seed, **_):
        calls.append((tasks[0], profile.lookahead, seed))
        return dict(val_accuracy=[0.5 + 0.01 * seed + (0.02 if profile.lookahead else 0.0)], cpu_threads=1,
                    synthetic_data=False, steps_per_task=[8])

    monkeypatch.setattr(ablation, "run", fake_run)
    monkeypatch.setattr(ablation, "PAIRED_VARIANTS", (("+ Lookahead", dict(lookahead=0.5)),
                                                      ("+ test-time shifts", dict(test_shift=1))))
    records = ablation.paired_ablation(["fashion_mnist"], recipe, (0, 1, 2), tmp_path, None)
    assert len(calls) == 6  # recipe and Lookahead, three seeds each; the shifts are never run
    again = ablation.paired_ablation(["fashion_mnist"], recipe, (0, 1, 2), tmp_path, None)
    assert len(calls) == 6 and again == records  # finished runs are read back, not run again
    summary = ablation.paired_summary(records, ["fashion_mnist"], recipe)
    gain = summary["gains"]["+ Lookahead"]["fashion_mnist"]
    assert gain["differences"] == pytest.approx([2.0, 2.0, 2.0]) and gain["seeds"] == [0, 1, 2]
    assert summary["gains"]["+ test-time shifts"]["fashion_mnist"].startswith("inert")
    assert summary["recipe_mean"]["fashion_mnist"] == 51.0
    # a gain whose interval is above zero is measured again on new seeds: only that ingredient, only those tasks
    claims = ablation.gains_above_zero(summary)
    assert claims == {"+ Lookahead": ["fashion_mnist"]}  # +2 points on every seed
    summary["gains"]["+ Lookahead"]["fashion_mnist"]["low"] = -0.1
    assert ablation.gains_above_zero(summary) == {}
    calls.clear()
    ablation.paired_ablation(["mnist", "fashion_mnist"], recipe, (5,), tmp_path, None, only=claims)
    assert calls == [("fashion_mnist", 0.0, 5), ("fashion_mnist", 0.5, 5)]



def test_committed_ablation_runs_are_reused_only_for_the_same_recipe_and_ingredient(tmp_path, monkeypatch):
    ablation = load_script("ablation")
    from synapticnet.profiles import CPU

    recipe = ablation.paired_recipe(CPU, 1000, 200)
    monkeypatch.setattr(ablation, "PAIRED_VARIANTS", (("+ Lookahead", dict(lookahead=0.5)),
                                                      ("+ identity initialisation", dict(identity_init=True))))
    record = lambda label, seed, machine=ablation.machine(): dict(  # noqa: E731
        variant=label, task="mnist", seed=seed, val_accuracy=90.0, seconds=1.0, cpu_threads=1, synthetic=False,
        machine=machine)
    committed = dict(recipe=recipe.to_dict(), variants={"+ Lookahead": {"lookahead": 0.5},
                                                        "+ identity initialisation": {"identity_init": False}},
                     runs=[record("recipe (cpu profile)", 0), record("+ Lookahead", 0),
                           record("+ identity initialisation", 0), record("+ a removed ingredient", 0),
                           record("+ Lookahead", 1, "another processor; torch 2.14.1; AVX2")],
                     recheck_runs=[record("+ Lookahead", 5)])
    path = tmp_path / "ablation_paired.json"
    path.write_text(json.dumps(committed))
    # the recipe, Lookahead (seeds 0 and 5); not the ingredient whose changes differ, nor the one no longer listed,
    # nor a run made on another machine (its rounding differs: it would not be a pair)
    assert ablation.restore_committed(path, recipe, tmp_path / "runs") == 3
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["v0_mnist_s0.json", "v1_mnist_s0.json",
                                                                     "v1_mnist_s5.json"]
    assert ablation.restore_committed(path, recipe, tmp_path / "runs") == 0  # already there
    assert ablation.restore_committed(path, recipe.replace(lr=0.2), tmp_path / "other") == 0  # another recipe
    assert ablation.restore_committed(tmp_path / "missing.json", recipe, tmp_path / "other") == 0
    # airbench94's optimiser, per 1,024 images and decoupled, in this package's mean-loss terms
    sgd = ablation.airbench_sgd(1024)
    assert sgd["lr"] == pytest.approx(11.5 / (1 + 1 / 0.15)) and sgd["norm_bias_lr"] == 64.0
    assert sgd["lr"] * sgd["weight_decay"] == pytest.approx(0.0153 / (1 + 1 / 0.15), rel=1e-4)  # decay per step
    assert ablation.airbench_sgd(256)["lr"] == pytest.approx(sgd["lr"] / 4)



def test_recheck_measures_claims_on_new_seeds_and_writes_them_with_the_gains_over(tmp_path, monkeypatch):
    ablation = load_script("ablation")
    from synapticnet.profiles import CPU

    recipe = ablation.paired_recipe(CPU, 1000, 200)
    both = ("+ both", dict(lookahead=0.5, test_shift=1))
    monkeypatch.setattr(ablation, "PAIRED_VARIANTS", (("+ Lookahead", dict(lookahead=0.5)), both))
    monkeypatch.setattr(ablation, "OVER", (("+ both", "+ Lookahead"),))
    monkeypatch.setattr(ablation, "run", lambda tasks, profile, seed, **_: dict(
        val_accuracy=[0.5 + 0.01 * seed + 0.02 * bool(profile.lookahead) + 0.01 * bool(profile.test_shift)],
        cpu_threads=1, synthetic_data=False, steps_per_task=[8]))
    runs = tmp_path / "runs"
    ablation.paired_ablation(["cifar10"], recipe, (0, 1, 2), runs, None)
    result = ablation.paired_summary(ablation.finished_runs(runs, (0, 1, 2)), ["cifar10"], recipe)
    assert result["over"][0]["gains"]["cifar10"]["differences"] == pytest.approx([1.0] * 3)
    ablation.save_json(result, tmp_path / "ablation_paired.json")
    ablation.recheck(["cifar10"], recipe, tmp_path, runs, None, seeds=(5, 6))
    saved = json.loads((tmp_path / "ablation_paired.json").read_text())
    assert saved["recheck"]["+ both"]["cifar10"]["seeds"] == [5, 6]
    assert saved["recheck_over"][0]["gains"]["cifar10"]["differences"] == pytest.approx([1.0, 1.0])
    assert {r["seed"] for r in saved["recheck_runs"]} == {5, 6} and all(r["machine"] for r in saved["recheck_runs"])


def test_longer_runs_each_ingredient_on_its_datasets_and_sets_both_budgets_side_by_side(tmp_path, monkeypatch):
    ablation = load_script("ablation")
    from synapticnet.profiles import CPU

    recipe = ablation.paired_recipe(CPU, 1000, 200)
    longer = ablation.longer_recipe(recipe, 4)
    assert longer.epochs == {name: 4 * n for name, n in recipe.epochs.items()} and longer.n_train == 1000
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="whole number of times the epochs"):
            ablation.longer_recipe(recipe, bad)
    calls = []

    def fake_run(tasks, profile, seed, **_):
        erase = "erase" in profile.augmentation_for(tasks[0])
        calls.append((tasks[0], profile.epochs_for(tasks[0]), erase, seed))
        # identity initialisation 1 point ahead of whitening at 6 epochs, 1 point behind at 24; erasing costs a point
        # on the short budget and gains two at 4x it
        start = {(False, False): 0.0, (True, False): 3.0, (False, True): 4.0, (True, True): 3.5}
        long = profile.epochs_for(tasks[0]) == 4 * recipe.epochs_for(tasks[0])
        gain = start[profile.whiten, profile.identity_init] + (-2.0 if profile.identity_init and long else 0.0)
        gain += (2.0 if long else -1.0) if erase else 0.0
        return dict(val_accuracy=[(60.0 + seed + gain) / 100], cpu_threads=1, synthetic_data=False,
                    steps_per_task=[profile.epochs_for(tasks[0]) * 4])

    monkeypatch.setattr(ablation, "run", fake_run)
    seeds, tasks = ablation.PAIRED_SEEDS, ["mnist", "fashion_mnist", "cifar10"]
    # the short budget: the paired ablation's runs, every ingredient on both datasets (alternating flips' are left
    # out of the longer study)
    short_runs = tmp_path / "short"
    ablation.paired_ablation(tasks[1:], recipe, seeds, short_runs, None,
                             only={label: tasks[1:] for label in (*ablation.LONGER_INGREDIENTS, "+ alternating flips")})
    ablation.save_json(dict(epochs=recipe.epochs, runs=ablation.finished_runs(short_runs, seeds)),
                       tmp_path / "ablation_paired.json")
    calls.clear()
    ablation.main_longer(4, tasks, recipe, tmp_path, tmp_path / "long", None, seeds)
    # CIFAR-10: the recipe and every longer ingredient; Fashion-MNIST: the recipe and random erasing; never MNIST;
    # every run at 4x the epochs, 5 seeds each
    assert "+ alternating flips" not in ablation.LONGER_INGREDIENTS
    assert len(calls) == 5 * (len(ablation.LONGER_INGREDIENTS) + 1) + 5 * 2
    assert {(c[0], c[1]) for c in calls} == {("cifar10", 24), ("fashion_mnist", 12)}
    assert {c[2] for c in calls if c[0] == "fashion_mnist"} == {False, True}
    saved = json.loads((tmp_path / "ablation_longer.json").read_text())
    short, long = saved["budgets"]
    assert (short["epochs"]["cifar10"], long["epochs"]["cifar10"], sorted(long["steps"])) == (6, 24, [48, 96])
    pair = lambda budget, a, b, task="cifar10": next(c["gains"][task] for c in budget["comparisons"]  # noqa: E731
                                                     if (c["ingredient"], c["over"]) == (a, b))
    identity, whitening = "+ identity initialisation", "+ whitening first layer"
    assert pair(short, identity, whitening)["differences"] == pytest.approx([1.0] * 5)
    assert pair(long, identity, whitening)["differences"] == pytest.approx([-1.0] * 5)
    assert pair(long, whitening, ablation.RECIPE_LABEL)["mean"] == pytest.approx(3.0)
    for task in ("fashion_mnist", "cifar10"):  # a regulariser: a loss at the short budget, a gain at length
        assert pair(short, "+ random erasing", ablation.RECIPE_LABEL, task)["mean"] == pytest.approx(-1.0)
        assert pair(long, "+ random erasing", ablation.RECIPE_LABEL, task)["mean"] == pytest.approx(2.0)
    for budget in (short, long):  # each ingredient set beside itself on its own datasets only
        assert "fashion_mnist" not in next(c["gains"] for c in budget["comparisons"] if c["ingredient"] == whitening)
    assert "+ alternating flips" not in saved["variants"]
    assert long["recipe_mean"] == {"fashion_mnist": 62.0, "cifar10": 62.0}
    assert (tmp_path / "ablation_longer.png").exists()
    calls.clear()  # every run is finished: nothing runs again
    ablation.main_longer(4, tasks, recipe, tmp_path, tmp_path / "long", None, seeds)
    assert calls == []
    with pytest.raises(SystemExit, match="--longer runs on cifar10 and fashion_mnist"):
        ablation.main_longer(4, ["mnist"], recipe, tmp_path, tmp_path / "long", None, seeds)


# --- the anchor: airbench94's own script, on our data -------------------------------------------------------------


def test_the_anchor_runs_only_the_pinned_airbench_file_with_exactly_the_listed_changes(tmp_path):
    anchor = load_script("anchor_airbench94")
    other = tmp_path / "airbench94.py"
    other.write_text("print('a different file')\n")
    with pytest.raises(ValueError, match="is not legacy/airbench94.py of KellerJordan/cifar10-airbench at f1c599c"):
        anchor.read_source(other)
    # every replacement must find its text exactly as often as listed, or nothing runs
    code = "".join(old * count for old, _, count in anchor.REPLACEMENTS)
    changed = anchor.for_this_machine(code)
    assert "cuda" not in changed and ".half()" not in changed and changed.count("torch.autocast(**AUTOCAST)") == 2
    assert "SCORES.append" in changed and "ARRAYS['x_' + split]" in changed
    with pytest.raises(ValueError, match="expected 3 occurrence.*starter.record.*found 2"):
        anchor.for_this_machine(code.replace("starter.record()", "", 1))
