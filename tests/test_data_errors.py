"""Bad data files: each raises one DataError naming the file and the fix."""

import bz2
import gzip
import hashlib
import shutil
import struct

import h5py
import numpy as np
import pytest

from gentransfer.data import load_mnist, load_table, load_usps
from gentransfer.data.download import install_verified, verify_mnist_file, verify_usps_libsvm_file
from gentransfer.data.mnist import MNIST_FILES, read_idx
from gentransfer.data.usps import USPS_COUNTS, read_usps_libsvm
from gentransfer.errors import DataError


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "fix:" in text
    return text


def _write_idx_gz(path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    """A valid-layout MNIST folder with 5 tiny images (wrong checksums, by construction)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for (_split, kind), (name, _) in MNIST_FILES.items():
        if kind == "images":
            _write_idx_gz(folder / name, rng.integers(0, 256, (5, 28, 28)), 2051)
        else:
            _write_idx_gz(folder / name, np.arange(5), 2049)
    return tmp_path


def test_missing_mnist_names_file_and_fix(tmp_path):
    with pytest.raises(DataError) as err:
        load_mnist("train", root=tmp_path)
    text = _one_line(err)
    assert "train-images-idx3-ubyte.gz" in text and "gentransfer data download" in text


def test_wrong_checksum_is_refused(tiny_mnist):
    with pytest.raises(DataError, match="wrong content"):
        load_mnist("test", root=tiny_mnist)


def test_valid_layout_loads_when_unverified(tiny_mnist):
    x, y = load_mnist("test", root=tiny_mnist, verify=False)
    assert x.shape == (5, 1, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]


def test_truncated_idx(tiny_mnist):
    path = tiny_mnist / "mnist" / MNIST_FILES[("test", "images")][0]
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as fh:
        fh.write(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_mnist("test", root=tiny_mnist, verify=False)


def test_non_idx_bytes():
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(b"PK\x03\x04 this is a zip file, not IDX")


def test_not_gzip(tiny_mnist):
    path = tiny_mnist / "mnist" / MNIST_FILES[("test", "labels")][0]
    path.write_bytes(b"plain text")
    with pytest.raises(DataError, match="not a readable gzip"):
        load_mnist("test", root=tiny_mnist, verify=False)


def test_h5_without_expected_groups(tmp_path):
    (tmp_path / "usps").mkdir()
    with h5py.File(tmp_path / "usps" / "usps.h5", "w") as fh:
        fh.create_dataset("images", data=np.zeros((3, 256)))
    with pytest.raises(DataError) as err:
        load_usps("train", root=tmp_path, verify=False)
    assert "train/data" in _one_line(err)


def test_h5_wrong_checksum(tmp_path):
    (tmp_path / "usps").mkdir()
    with h5py.File(tmp_path / "usps" / "usps.h5", "w") as fh:
        fh.create_dataset("train/data", data=np.zeros((3, 256), np.float32))
        fh.create_dataset("train/target", data=np.zeros(3, np.int32))
    with pytest.raises(DataError, match="SHA-256"):
        load_usps("train", root=tmp_path)
    x, y = load_usps("train", root=tmp_path, verify=False)
    assert x.shape == (3, 1, 16, 16) and y.tolist() == [0, 0, 0]


def _write_libsvm(path, x01: np.ndarray, digits: np.ndarray) -> None:
    lines = []
    for row, d in zip(x01, digits, strict=True):
        feats = " ".join(f"{i + 1}:{2 * v - 1:.6f}" for i, v in enumerate(row))
        lines.append(f"{d + 1} {feats}")
    with bz2.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def test_libsvm_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((4, 256)).round(4)
    digits = np.array([0, 9, 3, 3])
    path = tmp_path / "usps.bz2"
    _write_libsvm(path, x, digits)
    got_x, got_y = read_usps_libsvm(path)
    assert got_y.tolist() == [0, 9, 3, 3]
    assert np.abs(got_x - x).max() < 1e-5


def test_libsvm_used_when_no_h5(tmp_path):
    (tmp_path / "usps").mkdir()
    _write_libsvm(tmp_path / "usps" / "usps.t.bz2", np.full((2, 256), 0.25), np.array([1, 2]))
    with pytest.raises(DataError, match="class counts"):
        load_usps("test", root=tmp_path)
    x, y = load_usps("test", root=tmp_path, verify=False)
    assert float(x.mean()) == pytest.approx(0.25) and y.tolist() == [1, 2]


def test_libsvm_garbage_line(tmp_path):
    path = tmp_path / "usps.bz2"
    with bz2.open(path, "wt") as fh:
        fh.write("1 1:0.5 2:oops\n")
    with pytest.raises(DataError, match="line 1"):
        read_usps_libsvm(path)


# --- verify-and-move of `gentransfer data download`, with local files only -------------------

def test_install_verified_moves_good_mnist_file(real_data_root, tmp_path):
    name, md5 = MNIST_FILES[("test", "labels")]
    tmp = tmp_path / "download.part"
    shutil.copy(real_data_root / "mnist" / name, tmp)
    dest = install_verified(tmp, tmp_path / "mnist" / name, lambda p: verify_mnist_file(p, md5))
    assert dest.is_file() and not tmp.exists()
    assert hashlib.md5(gzip.open(dest).read()).hexdigest() == md5


def test_install_verified_keeps_existing_file_on_bad_download(tmp_path):
    name, md5 = MNIST_FILES[("test", "labels")]
    dest = tmp_path / name
    dest.write_bytes(b"the good old file")
    tmp = tmp_path / "download.part"
    _write_idx_gz(tmp, np.arange(7), 2049)  # valid IDX, wrong content
    with pytest.raises(DataError, match="MD5"):
        install_verified(tmp, dest, lambda p: verify_mnist_file(p, md5))
    assert dest.read_bytes() == b"the good old file" and not tmp.exists()


def test_usps_libsvm_verification_by_class_counts(tmp_path):
    counts = USPS_COUNTS["test"]
    digits = np.repeat(np.arange(10), counts)
    path = tmp_path / "usps.t.bz2"
    _write_libsvm(path, np.zeros((len(digits), 256)), digits)
    verify_usps_libsvm_file(path, "test")  # exact counts pass
    with pytest.raises(DataError, match="class counts"):
        verify_usps_libsvm_file(path, "train")


# --- generic user tables ----------------------------------------------------------------------

def test_npz_table(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.ones((6, 3)), z=np.arange(6.0), y=np.arange(6))
    t = load_table(p)
    assert t.x.shape == (6, 3) and t.z.shape == (6, 1) and t.y.dtype == np.int64 and len(t) == 6


def test_csv_table_roles(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,c,label\n1,2,3,0\n4,5,6,1\n")
    t = load_table(p, z=["c"], y="label")
    assert t.x.tolist() == [[1, 2], [4, 5]] and t.z.tolist() == [[3], [6]] and t.y.tolist() == [0, 1]


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"x": np.array([[1.0, np.nan]])}, "NaN or inf in 1 rows"),
        ({"x": np.array([[1.0, np.inf], [0, 0]])}, "NaN or inf"),
        ({"x": np.zeros((3, 2)), "z": np.zeros((4, 1))}, "'z' has 4 rows but 'x' has 3"),
        ({"x": np.zeros((0, 2))}, "empty"),
        ({"z": np.zeros((3, 1))}, "no 'x'"),
        ({"x": np.zeros((3, 2)), "w": np.zeros(3)}, "unexpected arrays"),
        ({"x": np.zeros((3, 2)), "y": np.array([0.5, 1, 2])}, "whole numbers"),
    ],
)
def test_bad_npz(tmp_path, arrays, match):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataError, match=match) as err:
        load_table(p)
    assert str(p) in _one_line(err)


@pytest.mark.parametrize(
    "text,match",
    [
        ("a,a\n1,2\n", "duplicate column"),
        ("a,b\n", "no data rows"),
        ("", "is empty"),
        ("a,b\n1,inf\n", "infinite values"),  # text is a category (tests/test_mixed_types.py); inf is no value
        ("a,b\n1,2,3\n", "3 fields"),
        ("a,b\n1,nan\n", "missing values in b"),
    ],
)
def test_bad_csv(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        load_table(p)


def test_unknown_csv_column(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"no columns \['q'\]"):
        load_table(p, z=["q"])


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_table(tmp_path / "nope.npz")
    p = tmp_path / "d.parquet"
    p.write_bytes(b"PAR1")
    with pytest.raises(DataError, match="unsupported data format"):
        load_table(p)
    q = tmp_path / "broken.npz"
    q.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_table(q)
