"""The real datasets under the data root: counts, ranges, the paper's split."""

import numpy as np
import pytest
import torch

from gentransfer.data import load_mnist, load_usps, mnist_source, usps_paper_split

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
USPS_TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


@pytest.mark.parametrize(
    "split,n,counts", [("train", 60000, MNIST_TRAIN_COUNTS), ("test", 10000, MNIST_TEST_COUNTS)]
)
def test_mnist_counts_and_range(real_data_root, split, n, counts):
    x, y = load_mnist(split, root=real_data_root)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert torch.bincount(y, minlength=10).tolist() == counts
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


@pytest.mark.parametrize(
    "split,n,counts", [("train", 7291, USPS_TRAIN_COUNTS), ("test", 2007, USPS_TEST_COUNTS)]
)
def test_usps_counts_and_range(real_data_root, split, n, counts):
    x, y = load_usps(split, root=real_data_root)
    assert x.shape == (n, 1, 16, 16)
    assert torch.bincount(y, minlength=10).tolist() == counts
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_mnist_resized_to_usps_size_keeps_ink(real_data_root):
    x28, _ = load_mnist("test", root=real_data_root)
    x16, _ = load_mnist("test", size=16, root=real_data_root)
    assert x16.shape == (10000, 1, 16, 16)
    assert 0.0 <= float(x16.min()) and float(x16.max()) <= 1.0
    # Antialiased resizing preserves the mean intensity (ink) closely.
    assert abs(float(x28.mean()) - float(x16.mean())) < 0.01


def test_paper_split_sizes_and_disjointness(real_data_root):
    s = usps_paper_split(seed=0, root=real_data_root)
    assert (len(s.fit_x), len(s.heldout_x)) == (5103, 2188)
    fit, held = set(s.fit_index.tolist()), set(s.heldout_index.tolist())
    assert not fit & held and fit | held == set(range(7291))
    full, labels = load_usps("train", root=real_data_root)
    assert torch.equal(full[s.heldout_index], s.heldout_x)
    assert torch.equal(labels[s.fit_index], s.fit_y)


def test_paper_split_is_seeded(real_data_root):
    a = usps_paper_split(seed=3, root=real_data_root)
    b = usps_paper_split(seed=3, root=real_data_root)
    c = usps_paper_split(seed=4, root=real_data_root)
    assert torch.equal(a.heldout_x, b.heldout_x)
    assert not torch.equal(a.heldout_x, c.heldout_x)


def test_digit_three_split_matches_paper_size(real_data_root):
    s = usps_paper_split(seed=0, digit=3, root=real_data_root)
    assert set(s.fit_y.tolist()) == {3} and set(s.heldout_y.tolist()) == {3}
    assert len(s.fit_x) + len(s.heldout_x) == 658
    assert 180 <= len(s.heldout_x) <= 215  # the paper's 198, up to the seed


@pytest.mark.parametrize("n", [1000, 5003, 60000])
def test_mnist_source_is_class_balanced(real_data_root, n):
    x, y = mnist_source(n, seed=1, root=real_data_root)
    counts = np.bincount(y.numpy(), minlength=10)
    assert len(x) == n and x.shape[1:] == (1, 16, 16)
    if n == 60000:
        assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    else:
        assert counts.max() - counts.min() <= 1


def test_mnist_source_digit_filter(real_data_root):
    x, y = mnist_source(500, seed=0, digit=3, root=real_data_root)
    assert len(x) == 500 and set(y.tolist()) == {3}
