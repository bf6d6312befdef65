"""The command line: one-line errors with exit 2, and evaluate on .npz files."""

import json
import subprocess
import sys

import numpy as np
import pytest

from gentransfer.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gentransfer.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_subcommands():
    out = run_cli("--help")
    assert out.returncode == 0
    for cmd in ("data", "evaluate", "demo"):
        assert cmd in out.stdout


def test_package_runs_as_a_module():
    """``python -m gentransfer`` is the tool where its entry point is not installed (a GPU machine
    reached through PYTHONPATH): the same parser, the same one-line error with exit 2."""
    out = subprocess.run([sys.executable, "-m", "gentransfer", "digits", "conditional", "--n-target", "7"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "n_target" in out.stderr


def test_evaluate_w1_and_floor(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "real.npz", x=rng.normal(size=(200, 2)))
    np.savez(tmp_path / "fake.npz", x=rng.normal(size=(100, 2)) + 3.0)
    real, fake = str(tmp_path / "real.npz"), str(tmp_path / "fake.npz")
    assert main(["evaluate", "--real", real, "--fake", fake, "--floor"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metric"] == "w1" and result["n_fake"] == 100 and result["floor_n"] == 100
    assert result["value"] > 2.5 > 1.0 > result["floor_w1"]


@pytest.mark.parametrize("metric", ["mmd", "sliced-w1"])
def test_evaluate_other_metrics(tmp_path, capsys, metric):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "a.npz", x=rng.normal(size=(100, 3)))
    np.savez(tmp_path / "b.npz", x=rng.normal(size=(100, 3)) + 1.0)
    a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    assert main(["evaluate", "--real", a, "--fake", b, "--metric", metric]) == 0
    assert json.loads(capsys.readouterr().out)["value"] > 0.1


@pytest.mark.parametrize(
    "setup,args,needle",
    [
        (None, ["evaluate", "--real", "missing.npz", "--fake", "missing.npz"], "data file not found"),
        ("nan", ["evaluate", "--real", "bad.npz", "--fake", "bad.npz"], "NaN or inf"),
        ("width", ["evaluate", "--real", "a.npz", "--fake", "b.npz"], "width"),
        (None, ["evaluate", "--real", "a.npz", "--fake", "b.npz", "--metric", "kl"], "invalid choice"),
        (None, ["nonsense"], "invalid choice"),
        (None, ["simulate", "unconditional", "--target-restarts", "0"], "target_restarts must be >= 1"),
    ],
)
def test_cli_errors_are_one_line_exit_2(tmp_path, setup, args, needle):
    if setup == "nan":
        np.savez(tmp_path / "bad.npz", x=np.array([[np.nan, 1.0]]))
    if setup == "width":
        np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)))
        np.savez(tmp_path / "b.npz", x=np.zeros((3, 4)))
    args = [str(tmp_path / a) if a.endswith(".npz") else a for a in args]
    out = run_cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "fix:" in lines[0]
    assert "Traceback" not in out.stderr


def test_data_info_on_missing_root(tmp_path):
    out = run_cli("data", "info", "--root", str(tmp_path))
    assert out.returncode == 2 and "MNIST file not found" in out.stderr and "Traceback" not in out.stderr
