"""The CLI's promise on bad input, as one table: every case must stop with

* exit code 2,
* exactly one non-empty line on stderr, ``gentransfer: error: <problem>; fix: <fix>``,
* no traceback (an exception other than ``GentransferError`` escaping :func:`main` is a failure),
* and the working folder byte-identical before and after (every file and its bytes, every folder):
  no new ``--out`` folder, no half-written run, no finished run emptied by ``--overwrite``.

Most cases call :func:`gentransfer.cli.main` in-process (fast). Two tests need real processes
and are marked ``slow``: a second ``--overwrite`` run into a folder another process is writing,
and ``--resume`` of a SIGKILLed run with other data of the same shape.

The table holds the project's earlier bad-input cases (ids ``wf-*``: the 31 of
``tests/test_cli_workflow.py::BAD``; ``fd-*``: the 7 of ``tests/test_cli_foundation.py``; ``de-*``:
the 14 table cases of ``tests/test_data_errors.py`` for ``load_table``, driven through the CLI)
and the cases of the adversarial review (``loss-*``, ``half-*``, ``resume-*``, ``silent-*``, ``tb-*``)
and of the review of limits and process faults (``df-*``: 16-bit and 32-bit images, lora on other
widths, size settings, seeds, subnormal data, outputs that are inputs, ignored flags, a full or
read-only disk, simulated by atomic writes that fail with that ``errno``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from gentransfer.cli import main
from gentransfer.errors import GentransferError

PREFIX = "gentransfer: error:"
CLI = [sys.executable, "-m", "gentransfer.cli"]
TRAIN = ["--steps", "5", "--eval-every", "5"]
HIDDEN = ["--hidden", "8"]
N = 60  # rows of the source and target data: enough for --strategy auto (20% >= 10 rows)


# -- command builders (paths are relative to the test's own working folder) -----------------------

def fs(*extra: str, data: str = "src.npz", out: str = "new") -> list[str]:
    """fit-source, tiny; ``extra`` comes last so it overrides the defaults (argparse keeps the last)."""
    return ["fit-source", "--data", data, "--family", "flow", "--out", out, *TRAIN, *HIDDEN, *extra]


def fs_config(toml: str, *extra: str, data: str = "src.npz") -> list[str]:
    """fit-source whose training settings come from a TOML file (no --steps flag: flags win)."""
    return ["fit-source", "--config", toml, "--data", data, "--family", "flow", "--out", "new",
            "--eval-every", "5", *HIDDEN, *extra]


def ft(*extra: str, data: str = "tgt.npz", source: str = "src", strategy: str = "scratch",
       out: str = "new") -> list[str]:
    return ["fit-target", "--source", source, "--data", data, "--strategy", strategy, "--out", out, *TRAIN, *extra]


def sm(*extra: str, model: str = "tgt", cond: str | None = "cond.npz", out: str = "s.npz", n: str = "2") -> list[str]:
    return ["sample", "--model", model, "--n", n, *(["--cond", cond] if cond else []), "--out", out, *extra]


def ev(real: str, fake: str, *extra: str) -> list[str]:
    return ["evaluate", "--real", real, "--fake", fake, *extra]


# -- shared fixtures: data files and three finished runs, built once ------------------------------

def _npy_bytes_claiming(shape: tuple[int, ...]) -> bytes:
    """A .npy header (format 1.0) that claims ``shape`` of float64, followed by a few bytes only."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"  # magic+version+len = 10 bytes; total % 64 == 0
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + b"\x00" * 64


def _write_data(d: Path) -> None:
    rng = np.random.default_rng(0)

    def xzzc(n: int, shift: float = 0.0):
        z, zc = rng.normal(size=(n, 3)), rng.normal(size=(n, 1))
        x = np.c_[z[:, :1] + zc, z[:, 1:2] - z[:, 2:3]] + 0.1 * rng.normal(size=(n, 2)) + shift
        return x, z, zc

    x, z, zc = xzzc(N)
    np.savez(d / "src.npz", x=x, z=z, zc=zc)
    xo, zo, zco = xzzc(N, shift=3.0)
    np.savez(d / "other.npz", x=xo, z=zo, zc=zco)  # the same shape as src.npz, other values
    xt, zt, zct = xzzc(N, shift=0.5)
    np.savez(d / "tgt.npz", x=xt, z=zt, zc=zct)
    np.savez(d / "cond.npz", z=zt[:3], zc=zct[:3])
    np.savez(d / "few30.npz", x=xt[:30], z=zt[:30], zc=zct[:30])
    np.savez(d / "two.npz", x=xt[:2], z=zt[:2], zc=zct[:2])
    np.savez(d / "real.npz", x=rng.normal(size=(40, 2)))
    np.savez(d / "fake.npz", x=rng.normal(size=(30, 2)) + 1.0)
    with open(d / "data.csv", "w") as fh:
        fh.write("x1,x2,z1,z2,z3,zc1\n")
        for row in np.c_[x, z, zc]:
            fh.write(",".join(repr(float(v)) for v in row) + "\n")

    labels = np.arange(N) % 3
    xl = labels[:, None] + 0.1 * rng.normal(size=(N, 2))
    np.savez(d / "labels.npz", x=xl, z=labels)
    for name, bad in (("lab2.5", 2.5), ("lab-1", -1), ("lab3", 3), ("lab1e9", 1e9), ("lab7", 7)):
        z_bad = labels.astype(np.float64)
        z_bad[4] = bad
        np.savez(d / f"{name}.npz", x=xl, z=z_bad)
    np.savez(d / "badlabel.npz", z=np.array([1, 5]))

    # wf-* (tests/test_cli_workflow.py::_prepare)
    bad = dict(x=xt.copy(), z=zt.copy(), zc=zct.copy())
    bad["x"][3, 0] = np.nan
    np.savez(d / "nan.npz", **bad)
    bad = dict(x=xt.copy(), z=zt.copy(), zc=zct.copy())
    bad["zc"][0, 0] = np.inf
    np.savez(d / "inf.npz", **bad)
    np.savez(d / "empty.npz", x=np.zeros((0, 2)), z=np.zeros((0, 3)))
    np.savez(d / "mismatch.npz", x=xt, z=zt[:-1], zc=zct)
    np.savez(d / "no_z.npz", x=xt)
    np.savez(d / "z_width.npz", x=xt, z=zt[:, :2], zc=zct)
    (d / "dup.csv").write_text("a,a,b\n1,2,3\n")
    (d / "bad.parquet").write_bytes(b"PAR1")
    (d / "garbage.npz").write_bytes(b"garbage")
    np.savez(d / "cond_width.npz", z=rng.normal(size=(3, 4)), zc=rng.normal(size=(3, 1)))
    (d / "unknown.toml").write_text('family = "flow"\nlearning_rate = 0.1\n')
    (d / "version.toml").write_text('gentransfer_config = 7\nfamily = "flow"\n')
    (d / "syntax.toml").write_text("family = \n")
    (d / "emptyroot").mkdir()

    # fd-* (tests/test_cli_foundation.py)
    np.savez(d / "a3x2.npz", x=np.zeros((3, 2)))
    np.savez(d / "b3x4.npz", x=np.zeros((3, 4)))
    np.savez(d / "nan1.npz", x=np.array([[np.nan, 1.0]]))

    # de-* (tests/test_data_errors.py::test_bad_npz / test_bad_csv)
    np.savez(d / "de_nan.npz", x=np.array([[1.0, np.nan]]))
    np.savez(d / "de_inf.npz", x=np.array([[1.0, np.inf], [0, 0]]))
    np.savez(d / "de_rows.npz", x=np.zeros((3, 2)), z=np.zeros((4, 1)))
    np.savez(d / "de_empty.npz", x=np.zeros((0, 2)))
    np.savez(d / "de_nox.npz", z=np.zeros((3, 1)))
    np.savez(d / "de_extra.npz", x=np.zeros((3, 2)), w=np.zeros(3))
    np.savez(d / "de_y.npz", x=np.zeros((3, 2)), y=np.array([0.5, 1, 2]))
    for name, text in (("dup2", "a,a\n1,2\n"), ("header_only", "a,b\n"), ("blank", ""), ("nonnum", "a,b\n1,inf\n"),
                       ("fields", "a,b\n1,2,3\n"), ("nancsv", "a,b\n1,nan\n")):
        (d / f"de_{name}.csv").write_text(text)

    # review cases
    huge = dict(x=x.copy(), z=z, zc=zc)
    huge["x"][7, 1] = 1e308
    np.savez(d / "x1e308.npz", **huge)
    np.savez(d / "big200.npz", x=rng.uniform(1e200, 1e201, size=(20, 2)))
    np.savez(d / "big300.npz", x=rng.uniform(1e299, 1e300, size=(20, 2)))
    np.savez(d / "complex.npz", x=x + 1j * rng.normal(size=x.shape), z=z, zc=zc)
    np.savez(d / "one_row_a.npz", x=np.zeros((1, 2)))
    np.savez(d / "one_row_b.npz", x=np.ones((1, 2)))
    with zipfile.ZipFile(d / "header1e12.npz", "w") as zf:
        zf.writestr("x.npy", _npy_bytes_claiming((10**12, 2)))
    for name, text in (("steps_str", 'steps = "fifty"\n'), ("steps_float", "steps = 50.7\n"),
                       ("lr_str", 'steps = 5\nlr = "0.01"\n'), ("steps_list", "steps = [1, 2]\n"),
                       ("steps_bool", "steps = true\n"), ("zcols_str", 'steps = 5\nz_columns = "z1,z2"\n')):
        (d / f"{name}.toml").write_text(text)
    (d / "binary.toml").write_bytes(bytes(range(256)) * 4)

    # images and the unconditional latent route (issue 16)
    from PIL import Image

    def png(path: Path, size: int = 8, mode: str = "L") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        a = rng.integers(0, 256, size=(size, size, 3) if mode == "RGB" else (size, size), dtype=np.uint8)
        Image.fromarray(a, mode=mode).save(path)

    for c in ("a", "b"):
        for i in range(6):
            png(d / "imgs" / c / f"{i}.png")
            png(d / "img_unknown" / ("zzz" if c == "b" else c) / f"{i}.png")
    png(d / "img_sizes" / "a" / "0.png")
    png(d / "img_sizes" / "a" / "1.png", size=16)
    png(d / "img_text" / "a" / "0.png")
    (d / "img_text" / "a" / "notes.txt").write_text("not an image")
    png(d / "img_channels" / "a" / "0.png")
    png(d / "img_channels" / "a" / "1.png", mode="RGB")
    png(d / "img_empty_class" / "a" / "0.png")
    (d / "img_empty_class" / "b").mkdir()
    png(d / "img_corrupt" / "a" / "0.png")
    (d / "img_corrupt" / "a" / "1.png").write_bytes(b"\x89PNG but not really")
    np.savez(d / "img_range.npz", x=rng.uniform(0, 2, size=(12, 1, 8, 8)))

    # df-*: the review of limits and process faults
    np.savez(d / "wide.npz", x=np.c_[xt, xt[:, :1] ** 2], z=zt, zc=zct)  # x 3 columns; the source's 2
    np.savez(d / "nozc.npz", x=xt, z=zt)  # no zc; the source has 1 column
    np.savez(d / "sub.npz", x=rng.normal(size=(N, 2)) * 1e-323)  # subnormal: the spread underflows
    np.savez(d / "subz.npz", x=x, z=rng.normal(size=(N, 3)) * 1e-320, zc=zc)
    for name, a in (("img_int32", np.full((8, 8), 70000, np.int32)), ("img_float", np.full((8, 8), 0.5, np.float32))):
        for c in ("a", "b"):  # 32-bit images: TIFF content under a .png name (PNG itself stops at 16 bits)
            (d / name / c).mkdir(parents=True)
            Image.fromarray(a).save(d / name / c / "0.png", format="TIFF")


@contextlib.contextmanager
def _chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


FIXTURE_SOURCE = fs(out="src")  # reused verbatim by the --resume cases
FIXTURE_LABELS = fs("--n-classes", "3", data="labels.npz", out="lab")
FIXTURE_IMAGES = fs("--family", "diffusion", data="imgs", out="img")
FIXTURE_LATENT = fs("--latent-dim", "2", data="real.npz", out="lat")
FIXTURE_PLAIN = fs(data="real.npz", out="plain")


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny models on a shared 2-core machine: one thread is faster than two that wait on each other
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Data files and three finished runs: ``src`` (flow, z 3 columns, zc 1), ``tgt`` (--strategy auto
    from ``src``: model/, metrics.json, transfer_report.json, candidates/) and ``lab`` (class labels)."""
    d = tmp_path_factory.mktemp("cli-errors-base")
    _write_data(d)
    with _chdir(d):
        for argv in (FIXTURE_SOURCE, FIXTURE_LABELS, ft(strategy="auto", out="tgt"), FIXTURE_IMAGES, FIXTURE_LATENT,
                     FIXTURE_PLAIN):
            assert main(argv) == 0, argv
    for part in ("model", "metrics.json", "transfer_report.json", "candidates", "config.json", "scaling.json"):
        assert (d / "tgt" / part).exists(), f"the finished target run lacks {part}"
    return d


@pytest.fixture
def work(base, tmp_path, monkeypatch) -> Path:
    """This test's own copy of everything, as the current folder."""
    w = tmp_path / "work"
    shutil.copytree(base, w, symlinks=True)
    monkeypatch.chdir(w)
    yield w
    for p in [w, *w.rglob("*")]:  # undo read-only folders so the tmp folder can be removed
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)


# -- the working folder, exactly ------------------------------------------------------------------

def snapshot(root: Path) -> tuple[dict[str, bytes], frozenset[str]]:
    files: dict[str, bytes] = {}
    dirs: set[str] = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            files[rel] = b"-> " + os.readlink(p).encode()
        elif p.is_dir():
            dirs.add(rel)
        else:
            files[rel] = p.read_bytes()
    return files, frozenset(dirs)


def snapshot_diff(before, after) -> str:
    (fb, db), (fa, da) = before, after
    parts = []
    for label, names in (("files removed", sorted(fb.keys() - fa.keys())),
                         ("files added", sorted(fa.keys() - fb.keys())),
                         ("files changed", sorted(k for k in fb.keys() & fa.keys() if fb[k] != fa[k])),
                         ("folders removed", sorted(db - da)), ("folders added", sorted(da - db))):
        if names:
            parts.append(f"{label}: {names[:12]}{' ...' if len(names) > 12 else ''}")
    return "; ".join(parts)


# -- running the CLI in-process ---------------------------------------------------------------------

QUIET_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@contextlib.contextmanager
def _memory_cap(extra_bytes: int = 3 << 30):
    """Cap this process's address space for a call that may try to allocate terabytes."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        yield
        return
    cap = vm + extra_bytes if hard == resource.RLIM_INFINITY else min(vm + extra_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_main(argv: list[str], capsys, *, memory_cap: bool = False) -> tuple[int | None, str, str | None]:
    """``(exit code, stderr as the CLI would print it, escaped exception or None)``.

    ``exit code`` is ``None`` when an exception escaped ``main`` (the real CLI prints a traceback).
    Warnings the interpreter would print by default are appended to stderr, one line each.
    """
    capsys.readouterr()
    escaped, code = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _memory_cap() if memory_cap else contextlib.nullcontext():
                code = main(argv)
        except SystemExit as stop:  # argparse
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except GentransferError as err:  # main should have caught it
            escaped = f"{type(err).__name__} escaped main uncaught: {err}"
        except BaseException as err:  # noqa: BLE001 - anything else is a traceback on the CLI
            if isinstance(err, KeyboardInterrupt):
                raise
            tb = err.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb is not None else ""
            escaped = f"traceback: {type(err).__name__}: {str(err)[:300]}{where}"
    err_text = capsys.readouterr().err
    for w in caught:
        if not issubclass(w.category, QUIET_BY_DEFAULT):
            err_text += f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n"
    return code, err_text, escaped


# -- the table ------------------------------------------------------------------------------------

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    needle: str | None = None  # words the one line must hold (only where the fix is settled)
    setup: Setup | None = None
    memory_cap: bool = False
    disk_error: int | None = None  # every atomic write fails with this errno (ENOSPC: a full disk)
    needs_data: bool = False  # reads the real MNIST / USPS files: skipped without them, outside CI


def copy_run(src: str, dst: str, edit: Callable[[Path], None]) -> Setup:
    def setup(w: Path) -> None:
        shutil.copytree(w / src, w / dst)
        edit(w / dst)
    return setup


def truncate_weights(run: Path) -> None:
    p = run / "model" / "model.safetensors"
    p.write_bytes(p.read_bytes()[:100])


def nan_weights(run: Path) -> None:
    from safetensors.torch import load_file, save_file

    p = run / "model" / "model.safetensors"
    state = load_file(str(p))
    save_file({k: (v.clone().fill_(float("nan")) if v.is_floating_point() else v) for k, v in state.items()}, str(p))


def model_config_extra_key(run: Path) -> None:
    p = run / "model" / "config.json"
    meta = json.loads(p.read_text())
    meta["config"]["surprise"] = 1
    p.write_text(json.dumps(meta, indent=2))


def edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        data = json.loads((run / name).read_text())
        change(data)
        (run / name).write_text(json.dumps(data))
    return edit


def existing_out(w: Path) -> None:
    (w / "taken").mkdir()
    (w / "taken" / "keep.txt").write_text("precious")
    (w / "taken.npz").write_bytes(b"precious")


def file_as_dir(w: Path) -> None:
    (w / "afile").write_text("i am a file")


def run_in_cwd(w: Path) -> None:
    """The current folder itself holds a finished run (for --out "")."""
    for child in (w / "tgt").iterdir():
        (shutil.copytree if child.is_dir() else shutil.copy2)(child, w / child.name)
    (w / "keep.txt").write_text("precious")


def old_report(w: Path) -> None:
    (w / "old.html").write_text("<html>a report the user keeps</html>")


def old_scores(w: Path) -> None:
    (w / "old.json").write_text('{"scores": "the user keeps them"}')


def folder_named_npz(w: Path) -> None:
    (w / "samples.npz").mkdir()
    (w / "samples.npz" / "keep.txt").write_text("precious")


def read_only_folder(w: Path) -> None:
    ro = w / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / ".probe").write_bytes(b"")
    except OSError:
        return
    (ro / ".probe").unlink()
    ro.chmod(0o755)
    pytest.skip(f"a read-only folder is writable here (euid {os.geteuid()}): cannot test it")


WF = [  # tests/test_cli_workflow.py::BAD, in its order, on this file's data (z has 3 columns)
    Case("wf00-missing-data", fs(data="missing.npz"), "data file not found"),
    Case("wf01-unsupported-format", fs(data="bad.parquet"), "unsupported data format"),
    Case("wf02-not-npz", fs(data="garbage.npz"), "not a readable .npz"),
    Case("wf03-nan", fs(data="nan.npz"), "NaN or inf"),
    Case("wf04-inf-target", ft(data="inf.npz"), "NaN or inf"),
    Case("wf05-empty", fs(data="empty.npz"), "is empty"),
    Case("wf06-row-mismatch", fs(data="mismatch.npz"), "rows but"),
    Case("wf07-dup-csv", fs(data="dup.csv"), "duplicate column names"),
    # data without z fit a plain model (issue 16); what stays an error is describing a z that is not there
    Case("wf08-no-z", fs("--n-classes", "3", data="no_z.npz"), "no shared conditions z, but --n-classes"),
    Case("wf08b-no-z-target-of-conditional-source", ft(data="no_z.npz"), "no shared conditions z"),
    Case("wf09-family-gan", [*fs()[:4], "gan", *fs()[5:]], "invalid choice: 'gan'"),
    Case("wf10-missing-csv", fs("--z-columns", "q", data="source.csv"), "data file not found"),
    Case("wf11-strategy-freeze", ft(strategy="freeze"), "invalid choice: 'freeze'"),
    Case("wf12-z-width", ft(data="z_width.npz", strategy="freeze-shared"), "shared block has 3"),
    Case("wf13-auto-few-rows", ft(data="few30.npz", strategy="auto"), "too few for the validation split"),
    Case("wf14-source-nowhere", ft(source="nowhere"), "not a gentransfer run folder"),
    Case("wf15-no-out", ["fit-target", "--source", "src", "--data", "tgt.npz", "--strategy", "scratch", *TRAIN],
         "--out is required"),
    Case("wf16-sample-n-0", sm(n="0"), "positive integer"),
    Case("wf17-sample-n-neg", sm(n="-3"), "positive integer"),
    Case("wf18-sample-no-cond", sm(cond=None), "needs conditions"),
    Case("wf19-sample-out-txt", sm(out="s.txt"), "must end in .npz"),
    Case("wf20-cond-width", sm(cond="cond_width.npz"), "'z' has 4 columns but the model expects 3"),
    Case("wf21-corrupt-weights", sm(model="broken"), "cannot read weights",
         setup=copy_run("tgt", "broken", truncate_weights)),
    Case("wf22-corrupt-config", sm(model="broken2"), "not valid JSON",
         setup=copy_run("tgt", "broken2", lambda r: (r / "config.json").write_text("{oops"))),
    Case("wf23-toml-unknown", ["fit-source", "--config", "unknown.toml", "--data", "src.npz", "--out", "new"],
         "unknown keys ['learning_rate']"),
    Case("wf24-toml-version", ["fit-source", "--config", "version.toml", "--data", "src.npz", "--out", "new"],
         "config version 7"),
    Case("wf25-toml-syntax", ["fit-source", "--config", "syntax.toml", "--data", "src.npz", "--out", "new"],
         "not valid TOML"),
    Case("wf26-existing-out", fs(out="taken"), "not a gentransfer run", setup=existing_out),
    Case("wf27-sample-existing-out", sm(out="taken.npz"), "already exists", setup=existing_out),
    Case("wf28-out-under-file", fs(out="afile/sub"), "cannot write to --out", setup=file_as_dir),
    Case("wf29-evaluate-no-x", ev("real.npz", "cond.npz"), "no 'x' data"),
    Case("wf30-unknown-class-label", sm(model="lab", cond="badlabel.npz"), "unknown class label 5"),
]

FD = [  # tests/test_cli_foundation.py::test_cli_errors_are_one_line_exit_2 and test_data_info_on_missing_root
    Case("fd0-evaluate-missing", ev("missing.npz", "missing.npz"), "data file not found"),
    Case("fd1-evaluate-nan", ev("nan1.npz", "nan1.npz"), "NaN or inf"),
    Case("fd2-evaluate-width", ev("a3x2.npz", "b3x4.npz"), "width"),
    Case("fd3-evaluate-metric-kl", ev("a3x2.npz", "a3x2.npz", "--metric", "kl"), "invalid choice"),
    Case("fd4-nonsense-command", ["nonsense"], "invalid choice"),
    Case("fd5-simulate-target-restarts-0", ["simulate", "unconditional", "--target-restarts", "0"],
         "target_restarts must be >= 1"),
    Case("fd6-data-info-missing-root", ["data", "info", "--root", "emptyroot"], "MNIST file not found"),
    Case("fd7-digits-eval-size-too-small", ["digits", "conditional", "--eval-size", "50"], "eval_size must be"),
    Case("fd8-digits-eval-size-unconditional", ["digits", "unconditional", "--strategies", "scratch",
                                                 "--eval-size", "1000"], "conditional setting"),
]

DE = [  # tests/test_data_errors.py: test_bad_npz, test_bad_csv, test_unknown_csv_column, through the CLI
    # (its missing / unsupported / broken-file cases are wf00, wf01, wf02)
    Case("de-npz-nan", ev("de_nan.npz", "real.npz"), "NaN or inf in 1 rows"),
    Case("de-npz-inf", ev("de_inf.npz", "real.npz"), "NaN or inf"),
    Case("de-npz-rows", ev("de_rows.npz", "real.npz"), "'z' has 4 rows but 'x' has 3"),
    Case("de-npz-empty", ev("de_empty.npz", "real.npz"), "empty"),
    Case("de-npz-no-x", ev("de_nox.npz", "real.npz"), "no 'x'"),
    Case("de-npz-extra-array", ev("de_extra.npz", "real.npz"), "unexpected arrays"),
    Case("de-npz-y-not-whole", ev("de_y.npz", "real.npz"), "whole numbers"),
    Case("de-csv-dup", ev("de_dup2.csv", "real.npz"), "duplicate column"),
    Case("de-csv-header-only", ev("de_header_only.csv", "real.npz"), "no data rows"),
    Case("de-csv-blank", ev("de_blank.csv", "real.npz"), "is empty"),
    Case("de-csv-non-numeric", ev("de_nonnum.csv", "real.npz"), "infinite values"),
    Case("de-csv-fields", ev("de_fields.csv", "real.npz"), "3 fields"),
    Case("de-csv-nan", ev("de_nancsv.csv", "real.npz"), "missing values in b (1)"),
    Case("de-csv-unknown-column", fs("--z-columns", "q", data="data.csv"), "no columns ['q']"),
]

LOSS = [  # a finished run in --out must survive a refused --overwrite
    Case("loss-overwrite-auto-lr-0", ft("--overwrite", "--lr", "0", strategy="auto", out="tgt")),
    Case("loss-overwrite-target-bad-label", ft("--overwrite", source="lab", data="lab7.npz", out="tgt")),
    Case("loss-overwrite-source-bad-label", fs("--overwrite", "--n-classes", "3", data="lab7.npz", out="lab")),
    Case("loss-out-empty-string-overwrite", ft("--overwrite", out=""), setup=run_in_cwd),
]

HALF = [  # a refused run must not leave config.json / scaling.json in a new --out
    Case("half-source-too-few-rows", fs(data="two.npz")),
    Case("half-target-too-few-rows", ft(data="two.npz")),
    Case("half-label-2.5", fs("--n-classes", "3", data="lab2.5.npz")),
    Case("half-label-neg-1", fs("--n-classes", "3", data="lab-1.npz")),
    Case("half-label-eq-n-classes", fs("--n-classes", "3", data="lab3.npz")),
    Case("half-label-1e9", fs("--n-classes", "3", data="lab1e9.npz")),
    Case("half-n-classes-0", fs("--n-classes", "0", data="labels.npz")),
    Case("half-n-classes-1", fs("--n-classes", "1", data="labels.npz")),
    Case("half-steps-neg-5", fs("--steps", "-5")),
    Case("half-steps-0", fs("--steps", "0")),
    Case("half-lr-0", fs("--lr", "0")),
    Case("half-lr-neg-1", fs("--lr", "-1")),
    Case("half-lr-nan", fs("--lr", "nan")),
    Case("half-lr-inf", fs("--lr", "inf")),
    Case("half-batch-size-0", fs("--batch-size", "0")),
    Case("half-val-fraction-1.5", fs("--val-fraction", "1.5")),
    Case("half-val-fraction-neg-0.1", fs("--val-fraction", "-0.1")),
    Case("half-val-fraction-1", fs("--val-fraction", "1")),
    Case("half-patience-neg-1", fs("--patience", "-1")),
    Case("half-eval-every-0", fs("--eval-every", "0")),
    Case("half-target-lr-0", ft("--lr", "0")),
    Case("half-target-steps-0", ft("--steps", "0")),
]

RESUME = [  # a refused --resume of a finished 5-step run must not rewrite its config.json
    Case("resume-refused-keeps-config", [*FIXTURE_SOURCE, "--resume", "--steps", "7"]),
]

SILENT = [  # results that look like success
    Case("silent-x-1e308-at-fit", fs(data="x1e308.npz")),
    Case("silent-nan-weights-sample", sm(model="nanrun"), setup=copy_run("tgt", "nanrun", nan_weights)),
    Case("silent-complex-npz", fs(data="complex.npz")),
]

TB = [  # tracebacks (or silent acceptance) instead of one line
    Case("tb-toml-steps-string", fs_config("steps_str.toml")),
    Case("tb-toml-steps-float", fs_config("steps_float.toml")),
    Case("tb-toml-lr-string", fs_config("lr_str.toml")),
    Case("tb-toml-steps-list", fs_config("steps_list.toml")),
    Case("tb-toml-binary-file", fs_config("binary.toml")),
    Case("tb-toml-steps-bool", fs_config("steps_bool.toml")),
    Case("tb-hidden-neg-5", fs("--hidden", "-5")),
    Case("tb-n-classes-neg-3", fs("--n-classes", "-3", data="labels.npz")),
    Case("tb-embed-dim-0", fs("--embed-dim", "0")),
    Case("tb-hidden-0", fs("--hidden", "0")),
    Case("tb-model-config-extra-key-fit-target", ft(source="srcx"),
         setup=copy_run("src", "srcx", model_config_extra_key)),
    Case("tb-model-config-extra-key-sample", sm(model="tgtx"), setup=copy_run("tgt", "tgtx", model_config_extra_key)),
    Case("tb-scaling-wrong-width-sample", sm(model="tgtw"),
         setup=copy_run("tgt", "tgtw", edit_json("scaling.json", lambda s: s["x"].update(mean=[0.0, 0.0, 0.0])))),
    Case("tb-scaling-wrong-type-sample", sm(model="tgtt"),
         setup=copy_run("tgt", "tgtt", edit_json("scaling.json", lambda s: s.update(x="oops")))),
    Case("tb-scaling-wrong-type-fit-target", ft(source="srct"),
         setup=copy_run("src", "srct", edit_json("scaling.json", lambda s: s.update(z=[1, 2])))),
    Case("tb-npz-header-claims-1e12-rows", ev("header1e12.npz", "real.npz"), memory_cap=True),
    Case("tb-sample-out-existing-folder-overwrite", sm("--overwrite", out="samples.npz"), setup=folder_named_npz),
    Case("tb-sample-out-existing-folder", sm(out="samples.npz"), setup=folder_named_npz),
    Case("tb-sample-out-read-only-folder", sm(out="ro/s.npz"), setup=read_only_folder),
    Case("tb-sample-n-too-large", sm(n=str(10**13)), memory_cap=True),
    Case("tb-evaluate-floor-one-row", ev("one_row_a.npz", "one_row_b.npz", "--floor")),
    Case("tb-z-columns-duplicate", fs("--z-columns", "z1,z1", data="data.csv")),
    Case("tb-column-in-x-and-z", fs("--x-columns", "x1,z1", "--z-columns", "z1,z2,z3", data="data.csv")),
    Case("tb-toml-z-columns-string", fs_config("zcols_str.toml", data="data.csv")),
    Case("tb-z-columns-for-npz", fs("--z-columns", "z1,z2,z3"), "CSV"),
]

EV = [  # evaluate --model RUN --data TEST (issue 16)
    Case("ev-model-without-data", ["evaluate", "--model", "src"], "needs --data"),
    Case("ev-model-and-real", ["evaluate", "--model", "src", "--data", "tgt.npz", "--real", "real.npz"],
         "use one of the two forms"),
    Case("ev-neither-form", ["evaluate", "--real", "real.npz"], "needs --real and --fake"),
    Case("ev-model-not-a-run", ["evaluate", "--model", "nowhere", "--data", "tgt.npz"], "not a gentransfer run"),
    Case("ev-data-without-z", ["evaluate", "--model", "src", "--data", "real.npz"], "needs conditions 'z'"),
    Case("ev-data-z-width", ["evaluate", "--model", "src", "--data", "labels.npz"],
         "'z' has 1 columns but the model expects 3"),
    Case("ev-data-three-rows", ["evaluate", "--model", "src", "--data", "two.npz"], "too few to score"),
    Case("ev-out-exists", ["evaluate", "--model", "src", "--data", "tgt.npz", "--out", "old.json"], "already exists",
         setup=old_scores),
    Case("ev-bounds-typo", fs("--bounds", "0-16"), "is not auto, none or LO:HI"),
    Case("ev-bounds-too-narrow", fs("--bounds", "0:1"), "outside --bounds"),
    Case("rp-out-not-html", ["report", "src", "--out", "report.txt"], "must end in .html"),
    Case("rp-out-exists", ["report", "src", "--out", "old.html"], "already exists", setup=old_report),
    Case("rp-not-a-run", ["report", "src", "nowhere", "--out", "new.html"], "not a finished gentransfer run"),
    Case("rp-data-missing", ["report", "src", "--data", "missing.npz", "--out", "new.html"], "data file not found"),
]

IMG = ["--family", "diffusion"]
IM = [  # image data from the command line (issue 16): each one line, nothing written
    Case("im-mixed-sizes", fs(*IMG, data="img_sizes"), "mixed sizes"),
    Case("im-non-image-file", fs(*IMG, data="img_text"), "not a PNG file"),
    Case("im-mixed-channels", fs(*IMG, data="img_channels"), "mixed channels"),
    Case("im-empty-class-folder", fs(*IMG, data="img_empty_class"), "holds no images"),
    Case("im-class-unknown-to-source", ft(source="img", data="img_unknown"), "'zzz' is unknown to the source"),
    Case("im-corrupt-png", fs(*IMG, data="img_corrupt"), "not a readable image"),
    Case("im-flow-family", fs(data="imgs"), "pass --family diffusion"),
    Case("im-pixels-out-of-range", fs(*IMG, data="img_range.npz"), "outside [0, 1]"),
    Case("im-table-target-of-image-source", ft(source="img", data="tgt.npz"), "fitted on images"),
    Case("im-image-target-of-table-source", ft(source="src", data="imgs"), "fitted on a table"),
    Case("im-sample-to-csv", sm(model="img", cond=None, out="s.csv"), "generates images"),
]

UC = [  # the unconditional latent route, P_U (issue 16)
    Case("uc-latent-dim-with-z", fs("--latent-dim", "2"), "has conditions"),
    Case("uc-latent-dim-zero", fs("--latent-dim", "0", data="real.npz"), "latent_dim must be >= 1"),
    Case("uc-lora-on-latent-source", ft(source="lat", data="fake.npz", strategy="lora"), "lora is not offered"),
    Case("uc-target-with-z-of-latent-source", ft(source="lat", data="tgt.npz"), "has conditions"),
    Case("uc-sample-latent-with-cond", sm(model="lat"), "takes no conditions"),
]

EX = [  # data export: the digits benchmark's images as files
    Case("ex-out-exists", ["data", "export", "usps-fit", "--out", "src.npz", "--format", "npz"], "already exists"),
    Case("ex-npz-without-suffix", ["data", "export", "usps-fit", "--out", "u.png", "--format", "npz"],
         "must end in .npz"),
    Case("ex-n-zero", ["data", "export", "mnist", "--out", "m", "--n", "0"], "--n must be >= 1"),
    Case("ex-n-above-the-split", ["data", "export", "usps-heldout", "--out", "u", "--n", "99999"],
         "more than the 2188 images", needs_data=True),
]

PR = [  # what the digits benchmark's recipe needs from the command line: UNet settings, seeds, device
    Case("pr-warm-start-on-finetune", ft("--warm-start", strategy="finetune"), "applies to freeze-shared"),
    Case("pr-refit-without-auto", ft("--refit", strategy="finetune"), "--refit refits the strategy --strategy auto"),
    Case("gw-guard-by-w1-without-auto", ft("--guard-by", "w1", strategy="finetune"),
         "--guard-by w1 is how auto chooses"),
    Case("gw-guard-by-unknown", ft("--guard-by", "nll", strategy="auto"), "invalid choice"),
    Case("gw-guard-by-w1-on-images", ft("--guard-by", "w1", source="img", data="imgs", strategy="auto"),
         "--guard-by w1 scores table rows"),
    Case("gw-guard-by-w1-on-latent", ft("--guard-by", "w1", source="lat", data="fake.npz", strategy="auto"),
         "(W1 already)"),
    Case("pr-init-seed-negative", fs("--init-seed", "-1"), "init_seed must be an integer in 0..2^62"),
    Case("pr-target-init-seed-negative", ft("--init-seed", "-1"), "init_seed must be an integer in 0..2^62"),
    Case("pr-init-seed-2-64", fs("--init-seed", str(2**64)), "init_seed must be an integer in 0..2^62"),
    Case("pr-seed-2-64", fs("--seed", str(2**64)), "seed must be at most 2^62"),
    Case("pr-device-unknown", fs("--device", "tpu"), "invalid choice"),
    Case("pr-sample-device-unknown", sm("--device", "tpu"), "invalid choice"),
    Case("pr-unet-setting-on-a-table", fs(*IMG, "--layers-per-block", "2"), "is a table"),
    Case("pr-unet-setting-on-flow", fs("--attention"), "apply to the diffusion family only"),
    Case("pr-hidden-and-widths", fs(*IMG, "--block-out-channels", "8,16,16", data="imgs"), "both set"),
    Case("pr-widths-zero", fs(*IMG, "--block-out-channels", "0,8", data="imgs"), "widths >= 1"),
    Case("pr-widths-not-divisible", fs(*IMG, "--norm-num-groups", "3", data="imgs"), "not all divisible"),
    Case("pr-norm-groups-zero", fs(*IMG, "--norm-num-groups", "0", data="imgs"), "norm_num_groups must be >= 1"),
    Case("pr-digits-seed-negative", ["digits", "conditional", "--seeds", "-1"], "seeds must be in"),
    Case("pr-digits-device-unknown", ["digits", "conditional", "--device", "tpu"], "unknown device"),
]
if not torch.cuda.is_available():  # a machine without a GPU refuses --device cuda up front
    PR += [Case("pr-cuda-without-gpu", fs("--device", "cuda"), "no CUDA GPU"),
           Case("pr-target-cuda-without-gpu", ft("--device", "cuda"), "no CUDA GPU")]

EVM = ["evaluate", "--model", "src", "--data", "tgt.npz"]
ENOSPC, EROFS = errno.ENOSPC, errno.EROFS
DF = [  # the review of limits and process faults
    # 1. images whose pixel scale is unknown (16-bit PNGs are read: tests/test_images.py)
    Case("df-image-32-bit-integer", fs(*IMG, data="img_int32"), "32-bit"),
    Case("df-image-32-bit-float", fs(*IMG, data="img_float"), "32-bit"),
    # 2. lora freezes every source weight: a head of other shapes would start random and stay so
    Case("df-lora-other-x-width", ft(data="wide.npz", strategy="lora"), "x has 3 modelled columns, the source's 2"),
    Case("df-lora-other-zc-width", ft(data="nozc.npz", strategy="lora"), "zc has 0 columns, the source's 1"),
    # 3. size settings: caps, the parameter count, and the data's own sizes
    Case("df-hidden-1e7", fs("--hidden", "10000000"), "hidden must be at most", memory_cap=True),
    Case("df-embed-dim-1e9", fs("--embed-dim", "1000000000"), "embed_dim must be at most", memory_cap=True),
    Case("df-widths-1e8", fs(*IMG, "--block-out-channels", "8,100000000", data="imgs"),
         "block_out_channels must be", memory_cap=True),
    Case("df-layers-per-block-1e5", fs(*IMG, "--layers-per-block", "100000", data="imgs"),
         "layers_per_block must be at most", memory_cap=True),
    Case("df-parameters-above-cap", fs("--hidden", "40000", "--depth", "4"), "parameters", memory_cap=True),
    Case("df-n-classes-1e8", fs("--n-classes", "100000000", data="labels.npz"), "labels in labels.npz run 0..2",
         memory_cap=True),
    Case("df-latent-dim-above-columns", fs("--latent-dim", "100000", data="real.npz"), "2 modelled columns",
         memory_cap=True),
    Case("df-sample-steps-1e12", fs("--family", "diffusion", "--sample-steps", "1000000000000"),
         "sample_steps must be at most 10000", memory_cap=True),
    # 4. one seed type for every command
    Case("df-sample-seed-2-64", sm("--seed", str(2**64)), "seed must be at most 2^62"),
    Case("df-sample-seed-negative", sm("--seed", "-5"), "seed must be >= 0"),
    Case("df-sample-seed-text", sm("--seed", "1e3"), "seed must be an integer"),
    Case("df-evaluate-floor-seed-negative", ev("real.npz", "fake.npz", "--floor", "--seed", "-5"), "seed must be >= 0"),
    Case("df-evaluate-sliced-seed-2-64", ev("real.npz", "fake.npz", "--metric", "sliced-w1", "--seed", str(2**64)),
         "seed must be at most 2^62"),
    Case("df-evaluate-model-seed-negative", [*EVM, "--seed", "-1"], "seed must be >= 0"),
    Case("df-report-seed-2-64", ["report", "src", "--out", "new.html", "--seed", str(2**64)],
         "seed must be at most 2^62"),
    Case("df-export-seed-negative", ["data", "export", "usps-fit", "--out", "u.npz", "--format", "npz", "--n", "20",
                                     "--seed", "-1"], "seed must be >= 0"),
    Case("df-fit-source-seed-negative", fs("--seed", "-1"), "seed must be >= 0"),
    Case("df-fit-target-seed-2-64", ft("--seed", str(2**64)), "seed must be at most 2^62"),
    Case("df-demo-seed-negative", ["demo", "--seed", "-1", "--out", "d"], "seed must be >= 0"),
    # 5. columns whose spread underflows
    Case("df-subnormal-x", fs(data="sub.npz"), "too little to standardise"),
    Case("df-subnormal-z", fs(data="subz.npz"), "too little to standardise"),
    # 6. an --out that is an input, or lies in a run folder
    Case("df-sample-out-is-cond", sm("--overwrite", out="cond.npz"), "is the --cond file"),
    Case("df-sample-out-in-run", sm(out="tgt/s.npz"), "inside the run folder"),
    Case("df-evaluate-out-txt", [*EVM, "--out", "scores.txt"], "must end in .json"),
    Case("df-evaluate-out-run-config", [*EVM, "--out", "src/config.json", "--overwrite"], "inside the run folder"),
    # 8. flags that were accepted and ignored
    Case("df-warm-start-auto-plain-source", ft("--warm-start", source="plain", data="fake.npz", strategy="auto"),
         "no shared part"),
    Case("df-bounds-on-images", fs(*IMG, "--bounds", "0.2:0.3", data="imgs"), "holds images"),
    Case("df-bounds-on-image-target", ft("--bounds", "none", source="img", data="imgs"), "holds images"),
    # 9. a full disk, a read-only one
    Case("df-fit-source-disk-full", fs(), "No space left on device", disk_error=ENOSPC),
    Case("df-fit-source-overwrite-disk-full", fs("--overwrite", out="src"), "No space left", disk_error=ENOSPC),
    Case("df-fit-target-auto-disk-full", ft(strategy="auto"), "No space left", disk_error=ENOSPC),
    Case("df-sample-disk-full", sm(), "No space left", disk_error=ENOSPC),
    Case("df-evaluate-out-disk-full", [*EVM, "--out", "s.json"], "No space left", disk_error=ENOSPC),
    Case("df-report-disk-full", ["report", "src", "--out", "new.html"], "No space left", disk_error=ENOSPC),
    Case("df-report-read-only-disk", ["report", "src", "--out", "new.html"], "Read-only file system",
         disk_error=EROFS),
    Case("df-report-out-read-only-folder", ["report", "src", "--out", "ro/r.html"], "not a writable folder",
         setup=read_only_folder),
    Case("df-evaluate-out-read-only-folder", [*EVM, "--out", "ro/s.json"], "not a writable folder",
         setup=read_only_folder),
    # 10. evaluate --real / --fake: the column flags and --out apply
    Case("df-evaluate-real-fake-unknown-column", ev("data.csv", "data.csv", "--x-columns", "nosuch"),
         "no columns ['nosuch']"),
    Case("df-evaluate-real-fake-out-exists", ev("real.npz", "fake.npz", "--out", "old.json"), "already exists",
         setup=old_scores),
    Case("df-evaluate-real-fake-out-disk-full", ev("real.npz", "fake.npz", "--out", "s.json"), "No space left",
         disk_error=ENOSPC),
]

PO = [  # pooled: one model on the source's rows and the target's (issue 30)
    Case("po-pooled-without-source-data", ft(strategy="pooled"), "pass --source-data FILE"),
    Case("po-source-data-on-finetune", ft("--source-data", "src.npz", strategy="finetune"),
         "--source-data gives a pooled model the source's rows"),
    Case("po-source-data-other-width", ft("--source-data", "real.npz", strategy="pooled"),
         "has no shared conditions z"),
    Case("po-source-data-missing", ft("--source-data", "nosuch.npz", strategy="pooled"), "nosuch.npz"),
    Case("po-pooled-on-latent-source", ft("--source-data", "real.npz", source="lat", data="fake.npz",
                                          strategy="pooled"), "pooled is not offered"),
    Case("po-pooled-on-images", ft("--source-data", "imgs", source="img", data="imgs", strategy="pooled"),
         "pooled is offered for tables"),
]

CASES = WF + FD + DE + LOSS + HALF + RESUME + SILENT + TB + EV + IM + UC + EX + PR + DF + PO
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def check_one_line(code, err: str, escaped: str | None, needle: str | None) -> list[str]:
    problems = []
    if escaped:
        problems.append(escaped)
    elif code != 2:
        problems.append(f"exit code {code}, expected 2")
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].strip():
        problems.append(f"stderr has {len(lines)} lines, expected exactly one")
    if not err.startswith(PREFIX) or "; fix:" not in (lines[0] if lines else ""):
        problems.append(f"stderr is not '{PREFIX} <problem>; fix: <fix>'")
    if "Traceback" in err:
        problems.append("stderr holds a traceback")
    if needle and needle.lower() not in err.lower():
        problems.append(f"the error does not mention {needle!r}")
    return problems


def fail_writes(monkeypatch, code: int) -> None:
    """Every atomic write (run files, checkpoints, samples, scores, reports) fails with ``code``."""
    import importlib
    import pkgutil

    import gentransfer.files

    # gentransfer imports its modules lazily: load every one first, so that none binds the refusing
    # writer during the command (and keeps it past this test)
    for info in pkgutil.walk_packages(gentransfer.__path__, "gentransfer."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    real = gentransfer.files.atomic_write_bytes

    def refuse(path, data):
        raise OSError(code, os.strerror(code), str(path))

    for name, module in list(sys.modules.items()):
        if name.startswith("gentransfer") and getattr(module, "atomic_write_bytes", None) is real:
            monkeypatch.setattr(module, "atomic_write_bytes", refuse)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, work: Path, capsys, monkeypatch, request):
    if case.needs_data:
        request.getfixturevalue("real_data_root")
    if case.setup:
        case.setup(work)
    if case.disk_error is not None:
        fail_writes(monkeypatch, case.disk_error)
    before = snapshot(work)
    code, err, escaped = run_main(case.argv, capsys, memory_cap=case.memory_cap)
    problems = check_one_line(code, err, escaped, case.needle)
    changed = snapshot_diff(before, snapshot(work))
    if changed:
        problems.append(f"the working folder changed ({changed})")
    assert not problems, (f"gentransfer {' '.join(case.argv)}\n  - " + "\n  - ".join(problems)
                          + f"\n  stderr: {err.strip()[:800]!r}")


def test_evaluate_w1_on_huge_values_is_the_scaled_distance(work, capsys):
    """Once printed 0.0 (POT overflowed): now solved at unit scale and scaled back."""
    from gentransfer.metrics import wasserstein1

    code = main(["evaluate", "--real", "big200.npz", "--fake", "big300.npz", "--metric", "w1"])
    assert code == 0
    value = json.loads(capsys.readouterr().out)["value"]
    a, b = np.load(work / "big200.npz")["x"], np.load(work / "big300.npz")["x"]
    assert value == pytest.approx(wasserstein1(a / 1e300, b / 1e300) * 1e300, rel=1e-9) and value > 1e299


def test_table_is_complete():
    assert len(WF) == 32 and len(FD) == 9 and len(DE) == 14 and len(HALF) == 22 and len(EV) == 14
    assert len(IM) == 11 and len(UC) == 5 and len(EX) == 4 and len(DF) == 44


# -- cases that need real processes ------------------------------------------------------------------

def _popen(argv: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([*CLI, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _checkpoints(root: Path) -> dict[str, int]:
    found = {}
    for p in root.rglob("train_state.safetensors"):
        with contextlib.suppress(OSError):
            found[str(p)] = p.stat().st_mtime_ns
    return found


def _wait_for_new_checkpoint(proc: subprocess.Popen, root: Path, old: dict[str, int], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the first run ended (exit {proc.returncode}) before it wrote a checkpoint: {err[-800:]}")
        now = _checkpoints(root)
        if any(old.get(k) != v for k, v in now.items()):
            return
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    pytest.fail("the first run wrote no training checkpoint within 120 s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


@pytest.mark.slow
def test_concurrent_overwrite_is_refused_SUBPROCESS(work, capsys):
    """CONCURRENCY (real processes): while one ``--overwrite`` run holds ``tgt``, a second
    ``--overwrite`` into the same folder must be refused: exit 2, one line; it must not also run
    and silently lose one of the two results."""
    first = _popen(ft("--overwrite", "--steps", "1000000", "--eval-every", "100", "--patience", "1000000",
                      "--checkpoint-every", "5", "--batch-size", "16", out="tgt"), work)
    try:
        _wait_for_new_checkpoint(first, work, _checkpoints(work))
        code, err, escaped = run_main(ft("--overwrite", out="tgt"), capsys)
        still_running = first.poll() is None
    finally:
        _stop(first)
    assert still_running, "the first run had ended before the second started: the test proved nothing"
    problems = check_one_line(code, err, escaped, None)
    assert not problems, "second concurrent --overwrite:\n  - " + "\n  - ".join(problems) + f"\n  stderr: {err!r}"


@pytest.mark.slow
def test_resume_with_other_data_of_same_shape_is_refused_SUBPROCESS(work, capsys):
    """A fit-source killed (SIGKILL) after its first checkpoint, then resumed with another data
    file of the same shape: must be refused (exit 2, one line) and leave the folder as it was."""
    argv = fs("--steps", "1000", "--eval-every", "100", "--patience", "1000000", "--checkpoint-every", "5",
              "--batch-size", "16", out="killed")
    proc = _popen(argv, work)
    try:
        _wait_for_new_checkpoint(proc, work, _checkpoints(work))
    finally:
        _stop(proc)
    assert not (work / "killed" / "metrics.json").exists(), "the run finished before it was killed"
    resumed = [*argv[:2], "other.npz", *argv[3:], "--resume"]
    assert resumed[2] == "other.npz" and argv[2] == "src.npz"
    before = snapshot(work)
    code, err, escaped = run_main(resumed, capsys)
    problems = check_one_line(code, err, escaped, None)
    changed = snapshot_diff(before, snapshot(work))
    if changed:
        problems.append(f"the working folder changed ({changed})")
    assert not problems, "--resume with other data:\n  - " + "\n  - ".join(problems) + f"\n  stderr: {err!r}"


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_weights_SUBPROCESS(work, capsys):
    """The same command plus --resume continues the killed run from its staging folder and ends
    with the weights of an uninterrupted run; only then does --out appear."""
    flags = ("--steps", "300", "--eval-every", "50", "--patience", "1000", "--checkpoint-every", "5",
             "--batch-size", "16")
    argv = fs(*flags, out="killed")
    proc = _popen(argv, work)
    try:
        _wait_for_new_checkpoint(proc, work, _checkpoints(work))
    finally:
        _stop(proc)
    assert not (work / "killed").exists() and (work / ".killed.partial").is_dir()
    assert main([*argv, "--resume"]) == 0
    assert main(fs(*flags, out="clean")) == 0
    capsys.readouterr()
    assert not (work / ".killed.partial").exists()
    a = (work / "killed" / "model" / "model.safetensors").read_bytes()
    assert a == (work / "clean" / "model" / "model.safetensors").read_bytes()


# -- what the review of limits found silently ignored, now honoured -----------------------------------

def test_evaluate_real_fake_honours_the_column_flags_and_out(work, capsys):
    """``evaluate --real/--fake`` compares only the x columns named, and ``--out`` keeps the JSON."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=40).tolist()
    for name, shift in (("one.csv", 0.0), ("two.csv", 100.0)):
        (work / name).write_text("a,b\n" + "".join(f"{u!r},{u + shift!r}\n" for u in a))
    assert main(ev("one.csv", "two.csv", "--x-columns", "a", "--out", "a.json")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["value"] == 0.0 and json.loads((work / "a.json").read_text()) == printed
    assert main(ev("one.csv", "two.csv")) == 0
    assert json.loads(capsys.readouterr().out)["value"] > 99


def test_every_seed_in_range_is_taken(work, capsys):
    """The shared seed type's upper end is a valid seed of every command (POT's sliced W1 takes 32 bits)."""
    top = str(2**62)
    assert main(ev("real.npz", "fake.npz", "--metric", "sliced-w1", "--seed", top)) == 0
    assert main(ev("real.npz", "fake.npz", "--floor", "--seed", top)) == 0
    assert main(sm("--seed", top, out="top.npz")) == 0
    assert main(["evaluate", "--model", "src", "--data", "tgt.npz", "--seed", top]) == 0
