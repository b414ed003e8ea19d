"""scripts/update_readme.py: README tables come from the JSON the notebooks write."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "update_readme.py"


@pytest.fixture()
def readme_script():
    spec = importlib.util.spec_from_file_location("update_readme", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary_row(method: str, acc: float, bwt: float | None) -> dict:
    return dict(method=method, average_accuracy=acc, average_accuracy_std=0.01, bwt=bwt,
                bwt_std=None if bwt is None else 0.02, forgetting=None if bwt is None else -bwt,
                forgetting_std=None if bwt is None else 0.02, params_total=1234, train_seconds_total=5.04)


def study_row(setting: str, acc: float | None, **extra) -> dict:
    return dict(setting=setting, average_accuracy=acc, new_task_accuracy=acc, bwt=None if acc is None else 0.0,
                params_total=None if acc is None else 99, train_seconds=None if acc is None else 1.0, **extra)


def write_inputs(figures: Path) -> None:
    common = dict(tasks=["mnist", "cifar10"], unavailable_tasks={"cifar100": "offline"}, budget="tiny budget")
    figures.mkdir()
    (figures / "04_baselines.json").write_text(json.dumps(dict(
        common, seeds=[0, 1, 2], hyper={"ewc": {"ewc_lambda": 100}},
        summary=[summary_row("finetune", 0.5, -0.4012), summary_row("joint", 0.8, None)])))
    (figures / "05_studies.json").write_text(json.dumps(dict(
        common, seed=0,
        growth=dict(rows=[study_row("×1", 0.77)], isolate_row=study_row("×1, isolate", 0.75)),
        trigger=dict(start_factor=0.25, rows=[study_row("manual", 0.77), study_row("automatic", 0.76)]),
        distillation=dict(rows=[study_row("distill λ=1", None, diverged="loss became nan")]))))
    def point(label, family, params, acc):
        return dict(label=label, family=family, params=params, avg_acc_mean=acc, avg_acc_std=0.5,
                    val_avg_acc_mean=acc + 1, seeds=[0, 1, 2, 3, 4])

    interval = lambda mean, low, high: dict(mean=mean, low=low, high=high)  # noqa: E731
    (figures / "growth_front.json").write_text(json.dumps(dict(
        streams={"split_cifar10": dict(configs=[point("separate ×1", "separate", 1000, 84.0),
                                                point("conv-reuse ×0.25", "synapticnet", 300, 83.7)])},
        targets={"split_cifar10": dict(
            comparisons=[dict(config="conv-reuse ×0.25", params_ratio=0.3, vs_separate_x1=interval(-0.1, -0.25, 0.05),
                              vs_separate_curve=interval(2.345, 1.2, 3.4))],
            seeds=5, min_seeds=5, params_limit=0.35, params_target_met=True, params_target_hits=["conv-reuse ×0.25"],
            gain_shown=["conv-reuse ×0.25"], compaction_time_ratio=1.31)})))
    (figures / "bench").mkdir()
    step = dict(setup="batch 8")
    (figures / "bench" / "layers.json").write_text(json.dumps(dict(
        torch="2.x", threads=2,
        conv_step=dict(step, ratio_single_task_vs_plain=1.034, ratio_newest_task_vs_plain=0.6),
        model_step=dict(step, ratio_vs_plain=0.4),
        old_task_inference=dict(step, ratio_grown_task0_vs_alone=0.97, ratio_grown_task0_vs_all_units=0.25))))
    (figures / "bench" / "data_path.json").write_text(json.dumps(dict(
        batch_size=128, augmentation="flip", cases={"mnist": dict(
            title="MNIST", ratio=234.4, data_images_per_second=195399.1, train_images_per_second=833.5)})))
    (figures / "bench" / "train.json").write_text(json.dumps(dict(
        matmul_peak_gflops=400.0, threads=2, machine=dict(torch="2.x", processor="AMD EPYC; torch 2.x; AVX512"),
        cases={"cpu": (cpu := dict(
            images_per_second={"plain": 1900.4}, gated_over_plain_task0=0.971, gated_over_plain_task2=0.952,
            precision="bfloat16", precision_speedup_over_float32=1.9,
            achieved_gflops=150.0, utilisation_of_matmul_peak=0.375, channels_last_speedup=1.6,
            batch_512_over_batch=1.02, batch_128_over_batch=0.9, two_threads_over_one=1.8, data_path_share_of_step=0.012,
            torch_compile=dict(status="failed: no compiler"))),
            "long": dict(cpu, whitened_column=dict(achieved_gflops=288.0, utilisation_of_matmul_peak=0.716,
                                                   speed_over_without=0.769))})))
    (figures / "ablation.json").write_text(json.dumps(dict(
        tasks=["mnist"], n_train=1000, val_size=100, epochs={"default": 2, "mnist": 2}, rows=[
            dict(variant="recipe", seed=0, val_accuracy={"mnist": 97.5}, train_seconds={"mnist": 30.0}),
            dict(variant="recipe", seed=1, val_accuracy={"mnist": 97.1}, train_seconds={"mnist": 31.0}),
            dict(variant="− label smoothing", seed=0, val_accuracy={"mnist": 97.0}, train_seconds={"mnist": 29.0})])))
    headline = dict(tasks=["mnist", "cifar10"], final_accuracy={"mnist": 0.9942, "cifar10": 0.8812}, seed=0, device="cpu",
                    cpu_threads=2, torch="2.x", train_seconds_total=600.0, params_total=1000, average_accuracy=0.9377,
                    bwt=0.0, forgetting=0.0, training_precision="bfloat16", profile="cpu", unavailable_tasks={})
    (figures / "03_results.json").write_text(json.dumps(headline))  # a run from before train_accuracy existed
    (figures / "long").mkdir()
    (figures / "long" / "03_results.json").write_text(json.dumps(dict(
        headline, profile="long", final_accuracy={"mnist": 0.995, "cifar10": 0.9101}, train_seconds_total=5000.0,
        machine="AMD EPYC; torch 2.x; AVX512",
        train_accuracy={"mnist": 0.9987, "cifar10": 0.9712})))
    row = lambda task, epochs, train, test, params: dict(  # noqa: E731
        task=task, epochs=epochs, train_accuracy=train, test_accuracy=test, params_used=params, params_created=params)
    (figures / "original_run.json").write_text(json.dumps(dict(
        seed=0, tasks=["mnist", "cifar10"], rows=[row("mnist", 3, 99.71, 99.02, 642506),
                                                  row("cifar10", 10, 97.4, 74.35, 642506)],
        unavailable_tasks={"cifar100": "offline"}, params_total=1285012, original_params_same_tasks=2700000,
        original_params_reported=16217410, bwt=0.0, train_seconds_total=1500.0, wall_seconds=1800.0,
        shared_machine=True, machine=dict(device="cpu", cpu_threads=1, torch="2.x", training_precision="float32"))))


def test_results_block_is_rebuilt_from_json(tmp_path, readme_script):
    figures = tmp_path / "figures"
    write_inputs(figures)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nstale table\n<!-- results:end -->\noutro\n")
    assert readme_script.update(readme, figures)
    text = readme.read_text()
    assert "stale table" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert "| finetune | 50.00 ± 1.00 | -40.12 ± 2.00 | 40.12 ± 2.00 | 1,234 | 5.0 |" in text
    assert "| joint | 80.00 ± 1.00 | — | — |" in text  # joint training has no BWT
    assert "(cifar100 not available here)" in text and "ewc ewc_lambda=100" in text
    assert "| freeze vs distil | distill λ=1 | — | — | — | — | — | diverged |" in text
    assert "| `TaskConv2d` train step (one task) vs plain `Conv2d` + BatchNorm, same width | 1.03 | batch 8 |" in text
    assert "| data path vs training step, MNIST (images/s) | 234× | 195,399 vs 834 images/s" in text
    assert "| split_cifar10 | separate ×1 | 1,000 |  | 84.00 ± 0.50 |  |  | 5 |" in text
    assert "not below it (interval's lower end ≥ −0.3 points): reached by conv-reuse ×0.25 (0.30×)" in text
    assert "| -0.10 [-0.25, +0.05] | +2.35 [+1.20, +3.40] |" in text
    assert "(whole interval above 0): conv-reuse ×0.25" in text and "up to 1.31× its time" in text
    # the headline: per task the original's number (training images), then per run ours on training and on test
    # images (long, cpu, the original recipe; no student run here); a run from before the measure shows —
    assert "| MNIST | 98.89 | `long` | 99.87 | 99.50 | — |" in text
    assert "| MNIST | 98.89 | `cpu` | — | 99.42 | — |" in text
    assert "| CIFAR-10 | 93.62 | `original` | 97.40 | 74.35 | — |" in text
    assert "| CIFAR-10 | 93.62 | `long` | 97.12 | 91.01 | — |" in text
    assert "Training-image accuracy not measured yet for `cpu`:" in text
    assert "loaders with `train=True`" in text and "on those same loaders" in text  # what the original measured
    assert "* `long`: seed 0" in text and "training time 83.3 min" in text
    # the processor where a run records it (two processors round differently), else torch's version
    assert "bfloat16 training; AMD EPYC; torch 2.x; AVX512)" in text and "bfloat16 training; torch 2.x)" in text
    assert ("* `original`: the original design's recipe (Adam at 1e-3, batch 64, no augmentation, 3 / 10 epochs), "
            "seed 0" in text and "the whole run 30.0 min on a shared machine" in text
            and "1,285,012 parameters after 2 tasks" in text
            and "hold 2,700,000 for these tasks and 16,217,410 after its four" in text)
    assert ("| `cpu` | bfloat16 | 1,900 | 0.97 | 0.95 | 150 (38 %) | — | 1.90× | 1.60× | 1.02 / 0.90 | 1.80× "
            "| failed: no compiler | 1.2 % |") in text
    # a whitened profile's column as it trains, and the processor (utilisation depends on it: AMX or not)
    assert "| `long` | bfloat16 | 1,900 | 0.97 | 0.95 | 150 (38 %) | 288 (72 %), 0.77× |" in text
    assert "Processor: AMD EPYC; torch 2.x; AVX512. Matmul peak" in text
    assert "| recipe (seed 1) | 97.10 |" in text and "| − label smoothing | 97.00 |" in text
    assert not readme_script.update(readme, figures)  # second run: nothing changes


def test_readme_without_markers_is_refused(tmp_path, readme_script):
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="results:start"):
        readme_script.update(readme, tmp_path)


def test_the_use_the_package_snippet_runs_as_typed():
    """README "Use the package": the first code block runs as typed and its assertion (task 0 unchanged) holds."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use the package", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "model.task_parameters(" in code and "grow(" in code  # the optimiser is built from the task, after grow()
    namespace: dict = {}
    exec(compile(code, "README.md: Use the package", "exec"), namespace)
    assert namespace["model"].num_tasks == 2


def test_the_headline_names_the_offline_cifar10_copy_by_its_file_checksum(readme_script):
    """results.json keeps the data file's checksum as file_sha256 (sha256 is the content hash of the task's arrays)."""
    offline = "0d276ce26b0592d0f448cbec1477b429578210fd1c13db3f75136d7663c43e45"
    assert readme_script._is_offline_copy({"data": [{"name": "cifar10", "file_sha256": offline, "sha256": "other"}]})
    assert not readme_script._is_offline_copy({"data": [{"name": "cifar10", "file_sha256": "0" * 64}]})


def test_permuted_section_puts_ours_beside_the_sources(tmp_path, readme_script):
    permuted_section = readme_script.permuted_section
    table = dict(tasks=["permuted_mnist/0", "permuted_mnist/1"],
                 reference_network=dict(params=89610, input=[1, 28, 28], hidden=[100, 100], num_classes=10),
                 anchors=[dict(label="WSN", accuracy=96.41, capacity=0.777, source="Kang et al., ICML 2022")],
                 configs=[dict(label="reuse 40+4", method="synapticnet", seeds=[0, 1], avg_acc_mean=95.123,
                               avg_acc_std=0.2, capacity_mean=0.774, train_seconds_mean=300.0, runs=[{}, {}]),
                          dict(label="reuse 36+3 + masks", method="synapticnet", seeds=[0], avg_acc_mean=93.0,
                               avg_acc_std=0.0, capacity_mean=0.639, capacity_wsn_mean=0.6, capacity_wsn_with_masks_mean=0.75,
                               train_seconds_mean=360.0, runs=[{}]),
                          dict(label="isolate 8", method="synapticnet", runs=[])])  # not run yet: no row
    (tmp_path / "permuted_mnist.json").write_text(json.dumps(table))
    text = permuted_section(tmp_path / "permuted_mnist.json")
    assert "| WSN | 96.41 | 77.7 |  | Kang et al., ICML 2022 |" in text
    assert "| **SynapticNet reuse 40+4** | 95.12 ± 0.20 | 77.4 |  | this repository, 2 seeds (0, 1), 5.0 min" in text
    # capacity as WSN counts it, weights and then with the masks' bits; no "±" over one seed
    assert "| **SynapticNet reuse 36+3 + masks** | 93.00 | 63.9 | 60.0 / 75.0 | this repository, 1 seed (0)" in text
    assert "isolate 8" not in text and "89,610-parameter MLP 784-100-100-10" in text
    assert permuted_section(tmp_path / "missing.json") is None


def test_front_section_recomputes_verdicts_written_by_an_earlier_version(tmp_path, readme_script):
    runs = lambda accs: [dict(seed=s, avg_acc=a, params=p, train_seconds=1.0) for s, (a, p) in enumerate(accs)]  # noqa: E731
    point = lambda label, family, accs: dict(label=label, family=family, width=1.0, pooled_size=None,  # noqa: E731
                                             params=accs[0][1], avg_acc_mean=80.0, avg_acc_std=0.5,
                                             seeds=list(range(len(accs))), runs=runs(accs))
    front = dict(streams={"split_cifar10": dict(configs=[
        point("separate ×1", "separate", [(80.0, 1000), (81.0, 1000), (79.0, 1000)]),
        point("conv-reuse ×0.25", "synapticnet", [(80.5, 300), (81.2, 300), (79.9, 300)])])},
        targets={"split_cifar10": dict(hits=[], gain_over_separate=[])})  # the old verdict format
    (tmp_path / "growth_front.json").write_text(json.dumps(front))
    text = readme_script.front_section(tmp_path / "growth_front.json")
    assert "not shown (needs ≥ 5 seeds and separate ×1; this front has 3)" in text
    assert "| +0.53 [-0.34, +1.41] |" in text  # paired over the three seeds: differences 0.5, 0.2, 0.9


def test_copy_cost_note_reads_the_measurement(tmp_path, readme_script):
    mean = dict(trained_exact_tested_exact=69.75, trained_exact_tested_jpeg=67.95, trained_jpeg_tested_exact=68.2,
                trained_jpeg_tested_jpeg=68.65)
    (tmp_path / "cifar10_copy_cost.json").write_text(json.dumps(dict(mean=mean)))
    note = readme_script.copy_cost_note(tmp_path / "cifar10_copy_cost.json")
    assert "tested on 1,000 exact ones, 68.20 vs 69.75 %" in note
    assert readme_script.copy_cost_note(tmp_path / "missing.json") is None


def test_the_anchor_sits_beside_the_copy_cost_on_the_cifar10_rows(tmp_path, readme_script):
    """airbench94 measured on the offline copy: its note reads the JSON, on the second CIFAR-10 row (the copy's
    cost keeps the first); no note where either measurement is missing."""
    checksum = "0d276ce26b0592d0f448cbec1477b429578210fd1c13db3f75136d7663c43e45"
    anchor = dict(published_test_accuracy=94.01, mean_test=dict(all=90.5, exact=93.0, jpeg=90.21),
                  data=dict(name="cifar10", sha256=checksum),
                  rows=[dict(seed=0, wall_seconds=1100.0, epochs=9.9), dict(seed=1, wall_seconds=1090.0, epochs=9.9)])
    (tmp_path / "original.json").write_text(json.dumps(dict(anchor, data=dict(name="cifar10", sha256="0" * 64))))
    assert readme_script.anchor_note(tmp_path / "original.json") is None  # another CIFAR-10: no exact/JPEG split
    (tmp_path / "anchor_airbench94.json").write_text(json.dumps(anchor))
    note = readme_script.anchor_note(tmp_path / "anchor_airbench94.json")
    assert ("airbench94, a fast CIFAR-10 recipe (94.01 % on the original test set), scores 90.50 % on this copy's "
            "test images (exact ones, 0–999: 93.00 %; JPEG ones: 90.21 %), seeds 0, 1, 9.9 epochs, up to 18.3 min a seed here") in note
    assert readme_script.anchor_note(tmp_path / "missing.json") is None
    offline = [dict(name="cifar10", file_sha256=checksum)]
    run = dict(tasks=["cifar10"], final_accuracy={"cifar10": 0.88}, seed=0, device="cpu", torch="2.x",
               train_seconds_total=60.0, params_total=10, average_accuracy=0.88, bwt=0.0, forgetting=0.0,
               profile="cpu", data=offline)
    text = readme_script.four_task_section(run, {"long": dict(run, profile="long")}, "the copy's cost", None, note)
    cifar = [line for line in text.splitlines() if line.startswith("| CIFAR-10 (offline copy)")]
    assert cifar[0].endswith("| the copy's cost |") and "scores 90.50 %" in cifar[1] and cifar[1].startswith(
        "| CIFAR-10 (offline copy) | 93.62 | `cpu` |")
    text = readme_script.four_task_section(run, {"long": dict(run, profile="long")}, None, None, None)
    assert all(line.endswith("| — |") for line in text.splitlines() if line.startswith("| CIFAR-10 (offline copy)"))
    # another seed of the long run: its own rows after the long run's, before cpu, and how it was made
    again = dict(run, profile="long", seed=1, final_accuracy={"cifar10": 0.8912})
    text = readme_script.four_task_section(run, {"long": dict(run, profile="long"), "long (seed 1)": again})
    runs = [line.split(" | ")[2] for line in text.splitlines() if line.startswith("| CIFAR-10 (offline copy)")]
    assert runs == ["`long`", "`long (seed 1)`", "`cpu`"]
    assert "| `long (seed 1)` | — | 89.12 |" in text and "`long`: seed 1," in text
    assert "`python -m synapticnet run --profile long --seed 1 --tasks cifar10`, its `results.json` kept as " \
           "`figures/long/03_results_seed1.json`" in text


def test_no_spread_is_printed_for_a_single_seed(tmp_path, readme_script):
    """A mean over one seed has no measured spread: no "± 0.00" in any generated table, n stays visible."""
    point = lambda label, seeds: dict(label=label, family="separate", params=1000, avg_acc_mean=84.0,  # noqa: E731
                                      avg_acc_std=0.0, seeds=seeds)
    (tmp_path / "growth_front.json").write_text(json.dumps(dict(streams={"split_cifar10": dict(configs=[
        point("separate ×1", [0]), point("separate ×0.5", [0, 1])])})))
    text = readme_script.front_section(tmp_path / "growth_front.json")
    assert "| split_cifar10 | separate ×1 | 1,000 |  | 84.00 |  |  | 1 |" in text
    assert "| split_cifar10 | separate ×0.5 | 1,000 |  | 84.00 ± 0.00 |  |  | 2 |" in text  # two seeds: a measured spread


def test_a_choice_on_the_edge_of_its_sweep_grid_is_said(tmp_path, readme_script):
    """EWC chose λ = 100 next to a λ = 1000 that diverged: the highest value that trained, so the text says so;
    a choice inside its grid gets no note. JSON written before the edge field is read the same way."""
    sweeps = {"ewc": dict(values=[1, 10, 100, 1000], val_average_accuracy=[0.4, 0.44, 0.61, None], chosen=100),
              "lwf": dict(values=[0.1, 0.3, 1.0], val_average_accuracy=[0.5, 0.55, 0.52], chosen=0.3,
                          edge=False, edge_side=None),
              "gem": dict(values=[50, 200], val_average_accuracy=[0.7, 0.6], chosen=50, edge=True, edge_side="low")}
    hyper = {"ewc": {"ewc_lambda": 100}, "lwf": {"lwf_lambda": 0.3}, "gem": {"memory_per_task": 50}}
    assert readme_script._hyper(hyper, sweeps) == (
        "ewc ewc_lambda=100 (the highest value of its grid that trained), lwf lwf_lambda=0.3, "
        "gem memory_per_task=50 (the lowest value of its grid that trained)")


def test_the_committed_results_block_is_what_the_committed_json_gives(readme_script, monkeypatch):
    """The README's generated block is skipped by the prose-number check (scripts/prose_numbers.py) because it is
    written from the JSON: this holds it to that."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text(encoding="utf-8")
    block = text.split(readme_script.START, 1)[1].split(readme_script.END, 1)[0].strip("\n")
    monkeypatch.chdir(root)  # the block names its files relative to the repository, as make runs the script
    assert block == readme_script.render(Path("figures")), "run: python scripts/update_readme.py"


def test_a_run_line_says_whether_compaction_ran(readme_script):
    run = dict(profile="long", seed=0, device="cpu", cpu_threads=2, training_precision="bfloat16", torch="2",
               train_seconds_total=60.0, params_total=10, tasks=["mnist"], average_accuracy=0.9, bwt=0.0,
               forgetting=0.0, profile_settings=dict(mode="isolate"), compaction=[])
    assert readme_script._facts(run).endswith("Mode 'isolate', every task at full width (no compaction).")
    run["compaction"] = [dict(chosen_fraction=0.5, tolerance=0.01)]
    assert "automatic compaction (tolerance 1 point of validation accuracy) kept ×0.5" in readme_script._facts(run)
    run["profile_settings"]["whiten"] = True
    assert readme_script._facts(run).endswith("a fixed whitening layer computed from its own training images.")


def test_the_paired_ablation_section_marks_inert_ingredients_and_gives_intervals(readme_script, tmp_path):
    path = tmp_path / "ablation_paired.json"
    gain = dict(mean=0.5, std=0.2, low=0.25, high=0.75, n=5, level=0.95, differences=[0.5] * 5, seeds=[0, 1, 2, 3, 4])
    path.write_text(json.dumps(dict(
        tasks=["mnist", "cifar10"], n_train=1000, val_size=200, epochs={"default": 2, "mnist": 2, "cifar10": 6},
        recipe_mean={"mnist": 97.0, "cifar10": 66.0}, seconds_total=120.0, cpu_threads=[1],
        gains={"+ alternating flips": {"mnist": "inert: the ingredient cannot change this task's run",
                                       "cifar10": gain}},
        runs=[dict(seed=s) for s in range(5)])))
    text = readme_script.paired_ablation_section(path)
    assert "| + alternating flips: gain (points, 95 % interval) | — (cannot change it) | +0.50 [+0.25, +0.75] |" in text
    assert "seeds 0, 1, 2, 3, 4" in text and "2.0 min of training" in text
    data = json.loads(path.read_text())
    data.update(recheck={"+ alternating flips": {"cifar10": {**gain, "mean": 0.4, "low": 0.1, "high": 0.7}}},
                recheck_seeds=[5, 6, 7, 8, 9], recheck_seconds_total=60.0)
    path.write_text(json.dumps(data))
    text = readme_script.paired_ablation_section(path)
    assert "| +0.50 [+0.25, +0.75]; seeds 5–9: +0.40 [+0.10, +0.70] |" in text and "never run before (1.0 min" in text
    # an ingredient on top of another: its own row; a bundle of settings is spelled out
    data.update(over=[{"ingredient": "+ both", "over": "+ alternating flips",
                       "gains": {"cifar10": {**gain, "mean": -0.3, "low": -0.6, "high": 0.1}}}],
                recheck_over=[{"ingredient": "+ both", "over": "+ alternating flips",
                               "gains": {"cifar10": {**gain, "mean": 0.2, "low": -0.1, "high": 0.5}}}],
                variants={"+ alternating flips": {"alternate_flips": True}, "+ both": {"alternate_flips": True,
                                                                                      "lr": 0.375}})
    path.write_text(json.dumps(data))
    text = readme_script.paired_ablation_section(path)
    assert "| + both: gain over alternating flips (points, 95 % interval) |  | -0.30 [-0.60, +0.10]; seeds 5–9: " \
        "+0.20 [-0.10, +0.50] |" in text
    assert "both: alternate_flips True, lr 0.375. " in text
    data.update(machines=["AMD EPYC; torch 2.14.1; AVX512"])
    path.write_text(json.dumps(data))
    assert "Every run on one machine (AMD EPYC; torch 2.14.1; AVX512)" in readme_script.paired_ablation_section(path)


def test_the_longer_ablation_section_sets_each_comparison_at_both_budgets_side_by_side(readme_script, tmp_path):
    path = tmp_path / "ablation_longer.json"
    assert readme_script.longer_ablation_section(path) is None
    gain = lambda mean: dict(mean=mean, std=0.2, low=mean - 0.5, high=mean + 0.5, n=5, level=0.95,  # noqa: E731
                             differences=[mean] * 5, seeds=[0, 1, 2, 3, 4])
    budget = lambda epochs, identity: dict(  # noqa: E731
        epochs={"default": epochs // 3, "fashion_mnist": epochs // 2, "cifar10": epochs}, seeds=[0, 1, 2, 3, 4],
        recipe_mean={"fashion_mnist": 80.0 + epochs / 2, "cifar10": 60.0 + epochs}, seconds_total=600.0 * epochs / 6,
        machines=["one machine"],
        comparisons=[{"ingredient": "+ whitening first layer", "over": "recipe (cpu profile)",
                      "gains": {"cifar10": gain(3.0)}},
                     {"ingredient": "+ random erasing", "over": "recipe (cpu profile)",
                      "gains": {"fashion_mnist": gain(-0.5), "cifar10": gain(-1.0)}},
                     {"ingredient": "+ identity initialisation", "over": "+ whitening first layer",
                      "gains": {"cifar10": gain(identity)}}])
    runs = [dict(variant="recipe (cpu profile)", task="cifar10", seed=0, steps=960),
            dict(variant="recipe (cpu profile)", task="fashion_mnist", seed=0, steps=480)]
    path.write_text(json.dumps(dict(tasks=["fashion_mnist", "cifar10"], n_train=10_000, val_size=2_000, times=4,
                                    cpu_threads=[1], recipe={"batch_size": 256}, runs=runs,
                                    budgets=[budget(6, 1.25), budget(24, -0.05)])))
    text = readme_script.longer_ablation_section(path)
    # each dataset's two budgets side by side; a cell stays empty where an ingredient did not run
    assert "| comparison | Fashion-MNIST, 3 epochs | Fashion-MNIST, 12 epochs | CIFAR-10, 6 epochs | " \
           "CIFAR-10, 24 epochs |" in text
    assert "| recipe (cpu profile): mean validation accuracy (%) | 83.00 | 92.00 | 66.00 | 84.00 |" in text
    assert "| + whitening first layer: gain (points, 95 % interval) |  |  | +3.00 [+2.50, +3.50] | " in text
    assert "| + random erasing: gain (points, 95 % interval) | -0.50 [-1.00, +0.00] | -0.50 [-1.00, +0.00] | " in text
    assert "| + identity initialisation over whitening first layer: gain (points, 95 % interval) |  |  | " \
           "+1.25 [+0.75, +1.75] | -0.05 [-0.55, +0.45] |" in text
    assert "whose runs are the shorter columns (epochs Fashion-MNIST 3, CIFAR-10 6); the longer columns train 4 " \
           "times as many epochs (Fashion-MNIST 12, CIFAR-10 24; 480, 960 steps at batch 256)" in text
    assert "40.0 min of training" in text
