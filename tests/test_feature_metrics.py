"""Feature-space metrics against exact answers, and the cached USPS digit classifier."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.spatial.distance import cdist

from gentransfer.errors import ConfigError, DataError
from gentransfer.metrics.classifier import RECIPE, DigitClassifier, classifier_cache_dir, usps_classifier
from gentransfer.metrics.features import (
    classifier_features,
    conditional_accuracy,
    frechet_distance,
    kid,
    memorisation_rate,
    prdc,
)


def exact_moments(n, mean, var, seed):
    """``n`` points whose sample mean is ``mean`` and sample covariance (ddof=1) is ``diag(var)`` exactly."""
    z = np.random.default_rng(seed).normal(size=(n, len(mean)))
    z -= z.mean(0)
    chol = np.linalg.cholesky(np.cov(z, rowvar=False))
    white = z @ np.linalg.inv(chol).T  # sample covariance = identity
    return white * np.sqrt(var) + mean


# --- Frechet distance -------------------------------------------------------------------------


def test_fd_is_zero_for_identical_sets():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, x[::-1].copy()) == pytest.approx(0.0, abs=1e-9)


def test_fd_equals_closed_form_for_diagonal_gaussians():
    mu_a, mu_b = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, -0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 0.25, 0.5])
    a, b = exact_moments(300, mu_a, var_a, 1), exact_moments(200, mu_b, var_b, 2)
    # FD = |mu_a - mu_b|^2 + sum_i (sqrt(var_a_i) - sqrt(var_b_i))^2 for diagonal covariances
    closed = ((mu_a - mu_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    assert closed == pytest.approx(6.0 + 4.0 + 1.0 + 0.0 + 0.5)
    assert frechet_distance(a, b) == pytest.approx(closed, abs=1e-9)


def test_fd_matches_the_sqrtm_formula_for_full_covariances():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(0.3, 1.0, size=(300, 8)) @ rng.normal(size=(8, 8))
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)


def test_fd_handles_singular_covariances():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32))  # rank < dimension
    fd = frechet_distance(a, b)
    assert np.isfinite(fd) and fd > 0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    pad = np.zeros((10, 3))  # constant (dead) features contribute nothing
    assert frechet_distance(np.hstack([a, pad]), np.hstack([a, pad])) == pytest.approx(0.0, abs=1e-8)


def test_fd_rejects_bad_input():
    x = np.zeros((5, 3))
    with pytest.raises(DataError, match="different feature sizes"):
        frechet_distance(x, np.zeros((5, 4)))
    with pytest.raises(DataError, match="at least 2"):
        frechet_distance(x[:1], x)
    with pytest.raises(DataError, match="NaN"):
        frechet_distance(np.full((5, 3), np.nan), x)


# --- KID --------------------------------------------------------------------------------------


def test_kid_is_near_zero_for_one_law_and_positive_for_a_shift():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same, same_sd = kid(a, b, subsets=20, subset_size=300)
    shifted, shifted_sd = kid(a, b + 0.5, subsets=20, subset_size=300)
    assert abs(same) < 0.01 and abs(same) < 3 * same_sd + 1e-3
    assert shifted > 0.05 and shifted > 10 * shifted_sd


def test_kid_single_full_subset_is_the_unbiased_mmd():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 4)), rng.normal(0.2, 1.0, size=(50, 4))
    kern = lambda x, y: (x @ y.T / 4 + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = kern(a, a), kern(b, b), kern(a, b)
    ref = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (50 * 49) - 2 * kxy.mean()
    mean, sd = kid(a, b, subsets=3, subset_size=10_000)  # clipped to 50: every subset is the whole set
    assert mean == pytest.approx(ref, rel=1e-10) and sd == pytest.approx(0.0, abs=1e-12)


def test_kid_is_seeded_and_checks_arguments():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(80, 3)), rng.normal(size=(90, 3))
    assert kid(a, b, subsets=5, subset_size=20, seed=1) == kid(a, b, subsets=5, subset_size=20, seed=1)
    with pytest.raises(ConfigError):
        kid(a, b, subset_size=1)
    with pytest.raises(ConfigError):
        kid(a, b, subsets=0)


# --- precision / recall / density / coverage ---------------------------------------------------


def reference_prdc(real, fake, k):
    """The ``prdc`` package's compute_prdc, transcribed (scipy's cdist in place of sklearn's)."""

    def radii(x):
        d = cdist(x, x)
        idx = np.argpartition(d, k + 1, axis=-1)[..., : k + 1]
        return np.take_along_axis(d, idx, axis=-1).max(axis=-1)

    r_real, r_fake, d = radii(real), radii(fake), cdist(real, fake)
    return {
        "precision": (d < r_real[:, None]).any(axis=0).mean(),
        "recall": (d < r_fake[None, :]).any(axis=1).mean(),
        "density": (1.0 / k) * (d < r_real[:, None]).sum(axis=0).mean(),
        "coverage": (d.min(axis=1) < r_real).mean(),
    }


def test_prdc_identical_sets_are_perfect():
    x = np.random.default_rng(8).normal(size=(200, 5))
    out = prdc(x, x, k=5)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] > 0.5


def test_prdc_far_apart_sets_score_zero():
    rng = np.random.default_rng(9)
    out = prdc(rng.normal(size=(100, 3)), rng.normal(size=(120, 3)) + 1000.0, k=5)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_hand_computed_case():
    # k = 1. Real radii: 0 -> 1, 1 -> 1, 3 -> 2. Fake radii: 0.5 -> 9.5, 10 -> 9.5.
    # Fake 0.5 lies in the balls of reals 0 and 1 (not 3: 2.5 >= 2); fake 10 in none.
    real, fake = np.array([[0.0], [1.0], [3.0]]), np.array([[0.5], [10.0]])
    out = prdc(real, fake, k=1)
    assert out["precision"] == pytest.approx(1 / 2)
    assert out["density"] == pytest.approx((2 + 0) / 2)
    assert out["recall"] == pytest.approx(1.0)  # every real is within 9.5 of fake 0.5
    assert out["coverage"] == pytest.approx(2 / 3)


def test_prdc_matches_the_package_formulas_across_blocks():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(1300, 4)), rng.normal(0.3, 1.2, size=(1100, 4))  # > one 1,024-row block
    out, ref = prdc(real, fake, k=5), reference_prdc(real, fake, 5)
    for key in ("precision", "recall", "density", "coverage"):
        assert out[key] == pytest.approx(ref[key], abs=1e-12), key
    with pytest.raises(ConfigError):
        prdc(real, fake, k=0)
    with pytest.raises(DataError, match="at least 6"):
        prdc(real[:5], fake, k=5)


# --- memorisation -----------------------------------------------------------------------------


def test_memorisation_rate_known_cases():
    rng = np.random.default_rng(11)
    train, heldout, fresh = rng.random((600, 1, 4, 4)), rng.random((400, 1, 4, 4)), rng.random((800, 1, 4, 4))
    assert memorisation_rate(train[:100], train, heldout) == 1.0  # copies
    assert memorisation_rate(heldout, train, heldout) == pytest.approx(0.05, abs=1 / 400 + 1e-12)
    assert memorisation_rate(fresh, train, heldout) == pytest.approx(0.05, abs=0.03)
    assert memorisation_rate(heldout, train, heldout, quantile=0.5) == pytest.approx(0.5, abs=1 / 400 + 1e-12)
    near_copies = train[:100] + 1e-3
    assert memorisation_rate(near_copies, train, heldout) == 1.0
    with pytest.raises(ConfigError):
        memorisation_rate(fresh, train, heldout, quantile=1.0)
    with pytest.raises(DataError, match="different feature sizes"):
        memorisation_rate(fresh.reshape(800, -1)[:, :8], train, heldout)


# --- classifier-based metrics -----------------------------------------------------------------


class FirstPixelClassifier(torch.nn.Module):
    """Logits that put class 1 first when the top-left pixel is > 0.5, else class 0."""

    def features(self, x):
        return x.reshape(len(x), -1)[:, :2]

    def forward(self, x):
        p = x.reshape(len(x), -1)[:, 0]
        return torch.stack([0.5 - p, p - 0.5], 1)


def test_conditional_accuracy_and_features_on_a_hand_made_classifier():
    images = torch.zeros(10, 1, 16, 16)
    images[:4, 0, 0, 0] = 1.0  # class 1
    labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 0, 1])  # 2 of 10 wrong
    model = FirstPixelClassifier().train()
    assert conditional_accuracy(model, images, labels, batch_size=3) == pytest.approx(0.8)
    assert conditional_accuracy(model, images.numpy(), labels.numpy()) == pytest.approx(0.8)
    assert model.training  # mode restored
    feats = classifier_features(model, images, batch_size=4)
    assert feats.shape == (10, 2) and feats.dtype == np.float64
    with pytest.raises(DataError, match="one label per image"):
        conditional_accuracy(model, images, labels[:5])


def test_digit_classifier_shapes():
    model = DigitClassifier()
    x = torch.rand(3, 1, 16, 16)
    assert model.features(x).shape == (3, 64) and model(x).shape == (3, 10)
    assert torch.equal(model.features(x.reshape(3, 256)), model.features(x))
    logits, feats = model(x), model.features(x)
    model.feature_scale.fill_(4.0)  # rescales the features only, never the logits
    assert torch.equal(model(x), logits)
    assert torch.allclose(model.features(x), feats / 4.0)
    with pytest.raises(DataError, match="16 x 16"):
        model(torch.rand(3, 1, 28, 28))


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GENTRANSFER_CACHE", str(tmp_path))
    assert classifier_cache_dir() == tmp_path / "classifier"
    assert classifier_cache_dir(tmp_path / "x") == tmp_path / "x" / "classifier"


@pytest.fixture(scope="module")
def built_cache(real_data_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("classifier-cache")
    usps_classifier(root=real_data_root, cache=cache)
    return cache


def _files(cache):
    folder = classifier_cache_dir(cache)
    return folder / f"{RECIPE}.safetensors", folder / f"{RECIPE}.json"


@pytest.mark.slow
def test_classifier_reaches_95_percent_on_heldout(built_cache, real_data_root):
    from gentransfer.data import usps_paper_split

    weights, meta_path = _files(built_cache)
    meta = json.loads(meta_path.read_text())
    assert meta["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    s = usps_paper_split(seed=0, root=real_data_root)
    model = usps_classifier(root=real_data_root, cache=built_cache)
    acc = conditional_accuracy(model, s.heldout_x, s.heldout_y)
    assert acc >= 0.95
    assert acc == pytest.approx(meta["heldout_accuracy"], abs=1e-12)
    assert not any(p.requires_grad for p in model.parameters())
    assert classifier_features(model, s.heldout_x[:7]).shape == (7, 64)
    fit_feats = classifier_features(model, s.fit_x)
    assert np.sqrt((fit_feats**2).mean()) == pytest.approx(1.0, rel=1e-4)  # the stored feature_scale


@pytest.mark.slow
def test_valid_cache_is_loaded_and_a_bad_checksum_rebuilds(built_cache, real_data_root, tmp_path, monkeypatch):
    import gentransfer.metrics.classifier as clf

    shutil.copytree(classifier_cache_dir(built_cache), classifier_cache_dir(tmp_path))
    weights, _ = _files(tmp_path)
    original = weights.read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("a valid cache must not be retrained")

    with monkeypatch.context() as m:
        m.setattr(clf, "_fit", no_training)
        usps_classifier(root=real_data_root, cache=tmp_path)

    corrupt = bytearray(original)
    corrupt[-5] ^= 0xFF  # flip bits inside the last tensor: still a loadable file, wrong checksum
    weights.write_bytes(bytes(corrupt))
    calls = []
    real_fit = clf._fit
    monkeypatch.setattr(clf, "_fit", lambda *a: calls.append(1) or real_fit(*a))
    usps_classifier(root=real_data_root, cache=tmp_path)
    assert calls == [1]
    assert weights.read_bytes() == original  # a second build from scratch, bit-identical to the first
