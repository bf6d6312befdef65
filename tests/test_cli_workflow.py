"""Bring-your-own-data CLI: the README walk-through, and a table of bad inputs.

Every bad input gives one line on stderr naming the problem and its fix, exit code 2, no
traceback, and leaves every file already on disk as it was (and creates none).
"""

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gentransfer.cli import main
from gentransfer.simulation import get_design

README = Path(__file__).resolve().parents[1] / "README.md"
FAST = ["--steps", "60", "--eval-every", "20", "--hidden", "16"]


def cli(*args, cwd):
    """``gentransfer ARGS`` run in ``cwd`` in this process (the entry point itself is tested in a
    subprocess by test_cli_foundation.py): its exit code, stdout and stderr."""
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse's usage errors
                code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def design_files(d, rng, n_source: int, n_target: int, n_test: int):
    """source.npz, target.npz and test.npz of the default simulation design in ``d``; returns the design."""
    design = get_design("default")
    for name, n, sampler in (("source", n_source, design.sample_source), ("target", n_target, design.sample_target),
                             ("test", n_test, design.sample_target)):
        x, z, zc = sampler(n, rng)
        np.savez(d / f"{name}.npz", x=x, z=z, zc=zc)
    return design


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Source / target data of the default simulation design, a fitted source and target run."""
    d = tmp_path_factory.mktemp("byod")
    rng = np.random.default_rng(0)
    design = design_files(d, rng, 2000, 200, 300)
    x, z, zc = design.sample_target(5, rng)
    np.savez(d / "cond.npz", z=z, zc=zc)
    labels = rng.integers(0, 3, 300)
    np.savez(d / "labelled.npz", x=labels[:, None] + 0.1 * rng.normal(size=(300, 2)), z=labels)
    np.savez(d / "badlabel.npz", z=np.array([1, 5]))
    assert cli("fit-source", "--data", "labelled.npz", "--family", "flow", "--n-classes", "3", "--out", "lab",
               *FAST, cwd=d).returncode == 0
    assert cli("fit-source", "--data", "source.npz", "--family", "flow", "--out", "src", *FAST, cwd=d).returncode == 0
    out = cli("fit-target", "--source", "src", "--data", "target.npz", "--strategy", "freeze-shared", "--out", "tgt",
              "--steps", "60", "--eval-every", "20", cwd=d)
    assert out.returncode == 0, out.stderr
    return d


def _walkthrough() -> list[str]:
    block = re.search(r"<!-- walkthrough -->\s*```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("gentransfer ")]


def test_readme_walkthrough_runs(workdir, tmp_path):
    for name in ("source", "target", "test", "cond"):
        (tmp_path / f"{name}.npz").write_bytes((workdir / f"{name}.npz").read_bytes())
    commands = _walkthrough()
    assert [c.split()[1] for c in commands] == ["fit-source", "fit-target", "sample", "evaluate"]
    for command in commands:
        out = cli(*shlex.split(command)[1:], cwd=tmp_path)
        assert out.returncode == 0, f"{command}: {out.stderr}"
    assert "held-out loss" in out.stdout or (tmp_path / "target-run" / "transfer_report.json").is_file()
    report = (tmp_path / "target-run" / "transfer_report.json").read_text()
    assert '"chosen"' in report
    samples = np.load(tmp_path / "samples.npz")
    assert samples["x"].shape == (5 * 200, 2) and np.isfinite(samples["x"]).all()


def test_report_says_why_a_source_run_is_not_drawn_against_target_rows(workdir, tmp_path):
    """The source of the default design has a source-only condition: its section says it models the
    source task (it read "Not drawn against ...: 'zc' has 1 columns", as if something were broken)."""
    out = cli("report", "src", "tgt", "--data", "test.npz", "--out", str(tmp_path / "r.html"), cwd=workdir)
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.count("The source run models the source task, so it is not drawn against") == 1
    assert "Not drawn against" not in page
    assert "Real against generated (held-out rows)" in page  # the target run is still drawn


def _block(name: str) -> list[str]:
    block = re.search(rf"<!-- {name} -->\s*```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.startswith("gentransfer ")]


def test_readme_unconditional_walkthrough_runs(tmp_path):
    commands = _block("walkthrough-unconditional")
    assert [c.split()[1] for c in commands] == ["fit-source", "fit-target", "sample", "evaluate"]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "source_x.npz", x=np.c_[rng.normal(0, 1, 1000), rng.gamma(2.0, 1.0, 1000)])
    for name, n in (("target_x", 200), ("test_x", 200)):
        np.savez(tmp_path / f"{name}.npz", x=np.c_[rng.normal(0.5, 1, n), rng.gamma(2.5, 1.0, n)])
    for command in commands:
        out = cli(*shlex.split(command)[1:], cwd=tmp_path)
        assert out.returncode == 0, f"{command}: {out.stderr}"
    assert "| latent-target |" in out.stdout and "| latent-source |" in out.stdout
    assert np.load(tmp_path / "latent-samples.npz")["x"].shape == (500, 2)
    metrics = json.loads((tmp_path / "latent-target" / "metrics.json").read_text())
    assert set(metrics["stages"]) == {"autoencoder", "likelihood"}  # P_U frozen: no prior stage


def _shapes(root: Path, classes: tuple[str, ...], n: int, seed: int) -> None:
    """PNG folders of 8x8 bars: one class per orientation."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            a = np.zeros((8, 8), np.uint8)
            k = rng.integers(1, 7)
            if c == "horizontal":
                a[k, :] = 255
            elif c == "vertical":
                a[:, k] = 255
            else:
                np.fill_diagonal(a, 255)
            Image.fromarray(a).save(root / c / f"{i}.png")


def test_readme_image_walkthrough_runs(tmp_path):
    commands = _block("walkthrough-images")
    assert [c.split()[1] for c in commands] == ["fit-source", "fit-target", "sample"]
    _shapes(tmp_path / "shapes-source", ("diagonal", "horizontal", "vertical"), 30, 0)
    _shapes(tmp_path / "shapes-target", ("horizontal", "vertical"), 12, 1)
    for command in commands:
        out = cli(*shlex.split(command)[1:], cwd=tmp_path)
        assert out.returncode == 0, f"{command}: {out.stderr}"
    samples = np.load(tmp_path / "image-samples.npz")
    assert samples["x"].shape == (12, 1, 8, 8) and samples["x"].min() >= 0 and samples["x"].max() <= 1
    assert sorted(samples["z"][:, 0].tolist()) == [0.0] * 4 + [1.0] * 4 + [2.0] * 4
    assert (tmp_path / "image-samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((tmp_path / "image-target" / "config.json").read_text())
    assert config["classes"] == ["diagonal", "horizontal", "vertical"]
    from gentransfer.pipeline import write_report

    page = write_report([tmp_path / "image-target"], tmp_path / "report.html").read_text()
    assert "<h3>Samples</h3>" in page and page.count("data:image/png;base64,") == 2  # training curve + grid
    from gentransfer.data import load_table

    # with held-out images: real images beside the generated ones, each grid's rows named by class
    page = write_report([tmp_path / "image-target"], tmp_path / "report-data.html",
                        load_table(tmp_path / "shapes-target")).read_text()
    assert page.count("data:image/png;base64,") == 3 and "Scores on" in page


def _snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


def _prepare(d: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    good = dict(np.load(d / "target.npz"))
    if kind == "nan":
        good["x"][3, 0] = np.nan
        np.savez(d / "bad.npz", **good)
    elif kind == "inf":
        good["zc"][0, 0] = np.inf
        np.savez(d / "bad.npz", **good)
    elif kind == "empty":
        np.savez(d / "bad.npz", x=np.zeros((0, 2)), z=np.zeros((0, 10)))
    elif kind == "mismatch":
        np.savez(d / "bad.npz", x=good["x"], z=good["z"][:-1], zc=good["zc"])
    elif kind == "no_z":
        np.savez(d / "bad.npz", x=good["x"])
    elif kind == "z_width":
        np.savez(d / "bad.npz", x=good["x"], z=good["z"][:, :7], zc=good["zc"])
    elif kind == "few_rows":
        np.savez(d / "bad.npz", x=good["x"][:30], z=good["z"][:30], zc=good["zc"][:30])
    elif kind == "dup_csv":
        (d / "bad.csv").write_text("a,a,b\n1,2,3\n")
    elif kind == "unsupported":
        (d / "bad.parquet").write_bytes(b"PAR1")
    elif kind == "not_npz":
        (d / "bad.npz").write_bytes(b"garbage")
    elif kind == "cond_width":
        np.savez(d / "badcond.npz", z=rng.normal(size=(3, 4)), zc=rng.normal(size=(3, 1)))
    elif kind == "toml_unknown":
        (d / "bad.toml").write_text('family = "flow"\nlearning_rate = 0.1\n')
    elif kind == "toml_version":
        (d / "bad.toml").write_text('gentransfer_config = 7\nfamily = "flow"\n')
    elif kind == "toml_syntax":
        (d / "bad.toml").write_text("family = \n")
    elif kind == "corrupt_weights":
        import shutil

        shutil.copytree(d / "tgt", d / "broken", dirs_exist_ok=True)
        w = d / "broken" / "model" / "model.safetensors"
        w.write_bytes(w.read_bytes()[:100])
    elif kind == "corrupt_config":
        import shutil

        shutil.copytree(d / "tgt", d / "broken2", dirs_exist_ok=True)
        (d / "broken2" / "config.json").write_text("{oops")
    elif kind == "existing_out":
        (d / "taken").mkdir(exist_ok=True)
        (d / "taken" / "keep.txt").write_text("precious")
        (d / "taken.npz").write_bytes(b"precious")
    elif kind == "file_as_dir":
        (d / "afile").write_text("i am a file")


BAD = [
    # (setup, arguments, words the one-line error must contain)
    (None, ["fit-source", "--data", "missing.npz", "--family", "flow", "--out", "o"], "data file not found"),
    ("unsupported", ["fit-source", "--data", "bad.parquet", "--family", "flow", "--out", "o"],
     "unsupported data format"),
    ("not_npz", ["fit-source", "--data", "bad.npz", "--family", "flow", "--out", "o"], "not a readable .npz"),
    ("nan", ["fit-source", "--data", "bad.npz", "--family", "flow", "--out", "o"], "NaN or inf"),
    ("inf", ["fit-target", "--source", "src", "--data", "bad.npz", "--strategy", "scratch", "--out", "o"],
     "NaN or inf"),
    ("empty", ["fit-source", "--data", "bad.npz", "--family", "flow", "--out", "o"], "is empty"),
    ("mismatch", ["fit-source", "--data", "bad.npz", "--family", "flow", "--out", "o"], "rows but"),
    ("dup_csv", ["fit-source", "--data", "bad.csv", "--family", "flow", "--out", "o"], "duplicate column names"),
    ("no_z", ["fit-source", "--data", "bad.npz", "--family", "flow", "--out", "o", "--n-classes", "3"],
     "no shared conditions z, but --n-classes"),
    (None, ["fit-source", "--data", "source.npz", "--family", "gan", "--out", "o"], "invalid choice: 'gan'"),
    (None, ["fit-source", "--data", "source.csv", "--family", "flow", "--out", "o", "--z-columns", "q"],
     "data file not found"),
    (None, ["fit-target", "--source", "src", "--data", "target.npz", "--strategy", "freeze", "--out", "o"],
     "invalid choice: 'freeze'"),
    ("z_width", ["fit-target", "--source", "src", "--data", "bad.npz", "--strategy", "freeze-shared", "--out", "o"],
     "shared block has 10"),
    ("few_rows", ["fit-target", "--source", "src", "--data", "bad.npz", "--strategy", "auto", "--out", "o"],
     "too few for the validation split"),
    (None, ["fit-target", "--source", "nowhere", "--data", "target.npz", "--strategy", "scratch", "--out", "o"],
     "not a gentransfer run folder"),
    (None, ["fit-target", "--source", "src", "--data", "target.npz", "--strategy", "scratch"], "--out is required"),
    (None, ["sample", "--model", "tgt", "--n", "0", "--cond", "cond.npz", "--out", "s.npz"], "positive integer"),
    (None, ["sample", "--model", "tgt", "--n", "-3", "--cond", "cond.npz", "--out", "s.npz"], "positive integer"),
    (None, ["sample", "--model", "tgt", "--n", "5", "--out", "s.npz"], "needs conditions"),
    (None, ["sample", "--model", "tgt", "--n", "5", "--cond", "cond.npz", "--out", "s.txt"], "must end in .npz"),
    ("cond_width", ["sample", "--model", "tgt", "--n", "5", "--cond", "badcond.npz", "--out", "s.npz"],
     "'z' has 4 columns but the model expects 10"),
    ("corrupt_weights", ["sample", "--model", "broken", "--n", "5", "--cond", "cond.npz", "--out", "s.npz"],
     "cannot read weights"),
    ("corrupt_config", ["sample", "--model", "broken2", "--n", "5", "--cond", "cond.npz", "--out", "s.npz"],
     "not valid JSON"),
    ("toml_unknown", ["fit-source", "--config", "bad.toml", "--data", "source.npz", "--out", "o"],
     "unknown keys ['learning_rate']"),
    ("toml_version", ["fit-source", "--config", "bad.toml", "--data", "source.npz", "--out", "o"], "config version 7"),
    ("toml_syntax", ["fit-source", "--config", "bad.toml", "--data", "source.npz", "--out", "o"], "not valid TOML"),
    ("existing_out", ["fit-source", "--data", "source.npz", "--family", "flow", "--out", "taken"],
     "not a gentransfer run"),
    ("existing_out", ["sample", "--model", "tgt", "--n", "5", "--cond", "cond.npz", "--out", "taken.npz"],
     "already exists"),
    ("file_as_dir", ["fit-source", "--data", "source.npz", "--family", "flow", "--out", "afile/sub"],
     "cannot write to --out"),
    (None, ["evaluate", "--real", "test.npz", "--fake", "cond.npz"], "no 'x' data"),
    (None, ["sample", "--model", "lab", "--n", "2", "--cond", "badlabel.npz", "--out", "s.npz"],
     "unknown class label 5"),
]


def test_same_seed_same_samples_bit_identical(workdir, tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (a, b):
        assert cli("sample", "--model", str(workdir / "tgt"), "--n", "7", "--cond", str(workdir / "cond.npz"),
                   "--out", str(out), "--seed", "4", cwd=tmp_path).returncode == 0
    assert np.array_equal(np.load(a)["x"], np.load(b)["x"])
    assert np.load(a)["x"].shape == (35, 2)


def test_class_labels_are_a_lookup_embedding(workdir, tmp_path):
    np.savez(tmp_path / "labels.npz", z=np.array([0, 2]))
    out = cli("sample", "--model", str(workdir / "lab"), "--n", "400", "--cond", str(tmp_path / "labels.npz"),
              "--out", str(tmp_path / "s.npz"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    x = np.load(tmp_path / "s.npz")["x"]
    # x is centred on the label (0 vs 2); after 60 training steps the model has moved the two
    # classes apart in the right direction, which a model ignoring z could not
    assert x[400:].mean() - x[:400].mean() > 0.4


@pytest.mark.parametrize("setup,args,needle", BAD, ids=[f"{i:02d}-{b[1][0]}-{b[0]}" for i, b in enumerate(BAD)])
def test_bad_input_one_line_exit_2_nothing_touched(workdir, setup, args, needle):
    if setup:
        _prepare(workdir, setup)
    before = _snapshot(workdir)
    out = cli(*args, cwd=workdir)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert needle in lines[0] and "fix:" in lines[0], lines[0]
    assert _snapshot(workdir) == before
