"""``python -m synapticnet run --method NAME``: every registered method by name, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synapticnet.__main__ import build_parser, interrupted_message, main
from synapticnet.methods import REGISTRY
from synapticnet.storage import load_json

TWO = ["--profile", "smoke", "--tasks", "synthetic_mnist,synthetic_cifar10", "--quiet"]


def method_help() -> str:
    run = next(a for a in build_parser()._subparsers._group_actions[0].choices.values())
    return next(a.help for a in run._actions if "--method" in a.option_strings)


def test_help_lists_exactly_the_registered_methods():
    listed = method_help().split(": ", 1)[1].split(" (default")[0].split(", ")
    assert listed == list(REGISTRY)
    text = subprocess.run([sys.executable, "-m", "synapticnet", "run", "--help"], capture_output=True, text=True,
                          check=True).stdout
    assert "--method NAME" in text and "agem" in " ".join(text.split())


def test_unknown_method_is_a_one_line_error_with_exit_2(tmp_path, capsys):
    assert main(["run", "--method", "si", "--out", str(tmp_path), *TWO]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown method 'si'" in err and all(name in err for name in REGISTRY)
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("args, words", [
    (["--method", "gem", "--param", "lam=3"], "gem has no hyper-parameter(s) ['lam']"),
    (["--param", "memory_per_task=3"], "synapticnet has no hyper-parameter(s) ['memory_per_task']"),
    (["--method", "gem", "--param", "memory_per_task=0"], "gem: hyper-parameter memory_per_task=0 is out of range"),
    (["--method", "replay", "--param", "class_incremental=maybe"], "class_incremental='maybe' must be a boolean"),
])
def test_method_options_that_cannot_work_are_one_line_errors(args, words, tmp_path, capsys):
    assert main(["run", *args, "--out", str(tmp_path), *TWO]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


def test_param_needs_key_equals_value(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--method", "ewc", "--param", "ewc_lambda", "--out", str(tmp_path), *TWO])
    assert stop.value.code == 2 and "expected KEY=VALUE" in capsys.readouterr().err


def test_interrupted_baseline_offers_resume_like_synapticnet(tmp_path):
    """Every method resumes now: the printed command repeats method and hyper-parameters, plus --resume."""
    args = build_parser().parse_args(["run", "--method", "ewc", "--param", "ewc_lambda=10", "--out", str(tmp_path),
                                      *TWO])
    message = interrupted_message(args, "smoke", str(tmp_path))
    assert "nothing saved" in message and message.endswith("--resume")
    assert "--method ewc --param ewc_lambda=10" in message
    (tmp_path / "checkpoint.pt").write_bytes(b"")  # a finished first task
    message = interrupted_message(args, "smoke", str(tmp_path))
    assert "the last finished task is saved" in message and message.endswith("--resume")
    assert "--method ewc --param ewc_lambda=10" in message


def test_a_baseline_through_the_cli_writes_the_same_keys_as_synapticnet(tmp_path):
    assert main(["run", "--out", str(tmp_path / "sn"), *TWO]) == 0
    assert main(["run", "--method", "agem", "--param", "memory_per_task=20", "--out", str(tmp_path / "agem"),
                 *TWO]) == 0
    sn, agem = load_json(tmp_path / "sn" / "results.json"), load_json(tmp_path / "agem" / "results.json")
    assert set(sn) <= set(agem)
    assert agem["method"] == "agem" and agem["hyper"]["memory_per_task"] == 20
    assert (tmp_path / "sn" / "checkpoint.pt").is_file() and (tmp_path / "agem" / "checkpoint.pt").is_file()
