"""Sample-quality metrics in a feature space: Frechet distance, KID, PRDC, memorisation, accuracy.

Plain functions on arrays (NumPy arrays or CPU tensors). The feature-space metrics take ``n x k``
features, typically the penultimate layer of the USPS classifier
(:func:`gentransfer.metrics.classifier.usps_classifier`, via :func:`classifier_features`);
:func:`memorisation_rate` works on whatever points it is given (flattened pixels or features).
All arithmetic is in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from gentransfer.errors import ConfigError, DataError

__all__ = [
    "classifier_features",
    "conditional_accuracy",
    "frechet_distance",
    "kid",
    "memorisation_rate",
    "prdc",
]

_CHUNK = 1024  # rows per block of a distance matrix: bounds memory at 1024 x m floats


def _as_array(x: object, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} is not numeric ({err})", "pass an array or tensor of numbers") from None
    if not np.isfinite(arr).all():
        raise DataError(f"{name} holds NaN or infinite values", f"drop or repair the non-finite rows of {name}")
    return arr


def _features(x: object, name: str, *, min_rows: int = 1, flatten: bool = False) -> np.ndarray:
    arr = _as_array(x, name)
    if flatten and arr.ndim >= 2:
        arr = arr.reshape(len(arr), -1)
    if arr.ndim != 2:
        raise DataError(f"{name} must be an n x k array, got shape {arr.shape}", "pass one row of features per sample")
    if len(arr) < min_rows:
        raise DataError(f"{name} has {len(arr)} rows, at least {min_rows} are needed", f"pass more samples as {name}")
    return arr


def _same_width(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise DataError(
            f"{names} have different feature sizes: {a.shape[1]} and {b.shape[1]}",
            "compute both with the same feature extractor",
        )


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative rounding clipped)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _cubic_kernel(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """``(x y^T / k + 1)^3``, with products in place of ``**`` (several times faster)."""
    g = x @ y.T
    g /= k
    g += 1.0
    out = g * g
    out *= g
    return out


def _distances(x: np.ndarray, y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    """Euclidean distances ``len(x) x len(y)`` by ``|x|^2 + |y|^2 - 2 x.y`` (BLAS; as scikit-learn, so as ``prdc``)."""
    d2 = (x * x).sum(1)[:, None] + y_sq[None, :] - 2.0 * (x @ y.T)
    np.clip(d2, 0.0, None, out=d2)
    return np.sqrt(d2, out=d2)


def frechet_distance(feat_a: object, feat_b: object) -> float:
    r"""Frechet distance between Gaussian fits of two feature sets (the FID formula).

    .. math::
        \mathrm{FD} = \|\mu_a - \mu_b\|^2 + \operatorname{tr}\Sigma_a + \operatorname{tr}\Sigma_b
        - 2 \operatorname{tr}\big(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}\big)^{1/2}

    with sample means and covariances (``ddof=1``, as pytorch-fid and torchmetrics). The last
    trace equals :math:`\operatorname{tr}(\Sigma_a\Sigma_b)^{1/2}` of the usual formula but is
    computed from two symmetric eigen-decompositions, so it is real and stable for singular
    (rank-deficient) covariances, where ``scipy.linalg.sqrtm`` may return complex noise.

    Args:
        feat_a (array_like, shape (n, k)): Features of the first set, ``n >= 2``.
        feat_b (array_like, shape (m, k)): Features of the second set, ``m >= 2``.

    Returns:
        float: The squared Frechet distance (``>= 0``; rounding below zero is clipped), in squared feature units.
    """
    a, b = _features(feat_a, "feat_a", min_rows=2), _features(feat_b, "feat_b", min_rows=2)
    _same_width(a, b, "feat_a and feat_b")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum()
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(fd, 0.0)


def kid(
    feat_a: object, feat_b: object, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    r"""Kernel inception distance: unbiased MMD² with a cubic polynomial kernel, over random subsets.

    Binkowski et al. (2018), as in torchmetrics and clean-fid: with
    :math:`\kappa(x, y) = (x^\top y / k + 1)^3` and two subsets :math:`X \subset A`, :math:`Y \subset B`
    of ``m`` rows each (drawn without replacement),

    .. math::
        \widehat{\mathrm{MMD}}^2 = \frac{1}{m(m-1)}\sum_{i \ne j} \big[\kappa(x_i, x_j) + \kappa(y_i, y_j)\big]
        - \frac{2}{m^2}\sum_{i, j} \kappa(x_i, y_j),

    averaged over ``subsets`` draws. Unbiased, so it can be slightly negative when the laws agree.
    Its scale follows the features' scale (cubically): compare values computed with one extractor.
    Cost: ``3 * subsets`` products of ``m x k`` by ``k x m`` (4 to 7 s for the defaults, 64
    features, on one busy core with one BLAS thread).

    Args:
        feat_a (array_like, shape (n, k)): Features of the first set, ``n >= 2``.
        feat_b (array_like, shape (m, k)): Features of the second set, ``m >= 2``.
        subsets (int): Number of subset pairs (100 as torchmetrics).
        subset_size (int): Rows per subset (1000 as torchmetrics); reduced to ``min(n, m)`` when larger (as clean-fid).
        seed (int): Seed of the subset draws.

    Returns:
        (mean, std) : tuple of float: Mean and population standard deviation (``ddof=0``, as torchmetrics) of the
            per-subset estimates.
    """
    a, b = _features(feat_a, "feat_a", min_rows=2), _features(feat_b, "feat_b", min_rows=2)
    _same_width(a, b, "feat_a and feat_b")
    if int(subsets) < 1 or int(subset_size) < 2:
        raise ConfigError(
            f"kid needs subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}",
            "pass e.g. subsets=100, subset_size=1000",
        )
    m = min(int(subset_size), len(a), len(b))
    k = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(int(subsets))
    for s in range(int(subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = _cubic_kernel(x, x, k), _cubic_kernel(y, y, k), _cubic_kernel(x, y, k)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[s] = within - 2.0 * kxy.mean()
    return float(values.mean()), float(values.std())


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` to its ``k``-th nearest other row (the row itself counts as the 0-th)."""
    radii, sq = np.empty(len(x)), (x * x).sum(1)
    for start in range(0, len(x), _CHUNK):
        d = _distances(x[start : start + _CHUNK], x, sq)
        d[np.arange(len(d)), np.arange(start, start + len(d))] = 0.0  # exact self-distance
        radii[start : start + _CHUNK] = np.partition(d, k, axis=1)[:, k]
    return radii


def prdc(real_feat: object, fake_feat: object, k: int = 5) -> dict[str, float]:
    r"""Precision, recall, density and coverage of Naeem et al. (2020), as the ``prdc`` package computes them.

    With :math:`r_i` the distance of real point :math:`x_i` to its ``k``-th nearest other real point,
    :math:`s_j` the same for fake point :math:`y_j` among the fakes, and Euclidean distances:

    * precision :math:`= \frac{1}{M}\sum_j \mathbb{1}[\exists i: \|y_j - x_i\| < r_i]`
    * recall :math:`= \frac{1}{N}\sum_i \mathbb{1}[\exists j: \|x_i - y_j\| < s_j]`
    * density :math:`= \frac{1}{kM}\sum_j \sum_i \mathbb{1}[\|y_j - x_i\| < r_i]` (can exceed 1)
    * coverage :math:`= \frac{1}{N}\sum_i \mathbb{1}[\min_j \|x_i - y_j\| < r_i]`

    Strict inequalities, the self-distance counted as the 0-th neighbour, and distances by the
    BLAS expansion, all as in the package (so exact duplicates inside a set shrink its radii).
    Computed in blocks of 1,024 rows: memory stays at ``1024 x max(N, M)`` floats.
    Precision and density are computed over fakes, recall and coverage over reals; coverage in
    particular depends on the set sizes, so compare models at equal ``N`` and ``M``.

    Args:
        real_feat (array_like, shape (N, d)): Features of real samples, ``N > k``.
        fake_feat (array_like, shape (M, d)): Features of generated samples, ``M > k``.
        k (int): Neighbourhood size (5 as in the paper).

    Returns:
        dict: ``{"precision", "recall", "density", "coverage"}`` as floats.
    """
    if int(k) < 1:
        raise ConfigError(f"prdc needs k >= 1, got {k}", "pass k=5 (the paper's choice)")
    k = int(k)
    real = _features(real_feat, "real_feat", min_rows=k + 1)
    fake = _features(fake_feat, "fake_feat", min_rows=k + 1)
    _same_width(real, fake, "real_feat and fake_feat")
    r_real, r_fake = _kth_neighbour_radii(real, k), _kth_neighbour_radii(fake, k)
    fake_hit = np.zeros(len(fake), dtype=bool)
    fake_count = np.zeros(len(fake))
    recall_hits = covered = 0
    fake_sq = (fake * fake).sum(1)
    for start in range(0, len(real), _CHUNK):
        d = _distances(real[start : start + _CHUNK], fake, fake_sq)  # block of reals x all fakes
        radius = r_real[start : start + _CHUNK, None]
        inside = d < radius
        fake_hit |= inside.any(0)
        fake_count += inside.sum(0)
        recall_hits += int((d < r_fake[None, :]).any(1).sum())
        covered += int((d.min(1) < radius[:, 0]).sum())
    return {
        "precision": float(fake_hit.mean()),
        "recall": recall_hits / len(real),
        "density": float(fake_count.mean() / k),
        "coverage": covered / len(real),
    }


def _nearest_distance(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Distance of each row of ``x`` to its nearest row of ``ref``: found by BLAS, then recomputed exactly."""
    out, ref_sq = np.empty(len(x)), (ref * ref).sum(1)
    for start in range(0, len(x), _CHUNK):
        block = x[start : start + _CHUNK]
        nearest = _distances(block, ref, ref_sq).argmin(1)
        out[start : start + _CHUNK] = np.linalg.norm(block - ref[nearest], axis=1)  # exact 0 for copies
    return out


def memorisation_rate(fake: object, train: object, heldout: object, *, quantile: float = 0.05) -> float:
    r"""Fraction of generated samples closer to the training set than real unseen samples typically are.

    With :math:`d(z) = \min_j \|z - t_j\|_2` the Euclidean distance of a flattened sample to its
    nearest training sample and :math:`\tau` the ``quantile`` (default 5th percentile, NumPy's
    linear interpolation) of :math:`d` over the held-out samples,

    .. math::
        \mathrm{rate} = \frac{1}{M}\sum_{j=1}^{M} \mathbb{1}[d(y_j) \le \tau].

    A model that draws fresh samples from the data law scores about ``quantile`` (held-out images
    themselves score ``quantile`` up to one sample); copies of training images score 1 (``<=``
    counts exact copies even when :math:`\tau = 0`). On the USPS paper split (pixels) :math:`\tau`
    is about 0.75, with no held-out image duplicated in the fit part.

    Args:
        fake (array_like, shape (M, ...)): Generated samples (e.g. ``M x 1 x 16 x 16`` images or ``M x k``
            features); flattened per row.
        train (array_like, shape (N, ...)): The samples the generator was trained on, same trailing size.
        heldout (array_like, shape (H, ...)): Real samples from the same law, never trained on, same trailing size.
        quantile (float): Quantile of the held-out nearest-training distances used as the threshold, in (0, 1).

    Returns:
        float: The rate in [0, 1].
    """
    if not 0.0 < float(quantile) < 1.0:
        raise ConfigError(f"quantile must lie in (0, 1), got {quantile}", "pass e.g. quantile=0.05")
    fk = _features(fake, "fake", flatten=True)
    tr = _features(train, "train", flatten=True)
    ho = _features(heldout, "heldout", flatten=True)
    _same_width(fk, tr, "fake and train")
    _same_width(ho, tr, "heldout and train")
    tau = float(np.quantile(_nearest_distance(ho, tr), float(quantile)))
    return float((_nearest_distance(fk, tr) <= tau).mean())


def _images(images: object, classifier: torch.nn.Module) -> torch.Tensor:
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    try:
        param = next(classifier.parameters())
        return x.detach().to(device=param.device, dtype=param.dtype)
    except StopIteration:
        return x.detach().float()


def _batched(classifier: torch.nn.Module, fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}", "pass e.g. batch_size=1024")
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.no_grad():
            return torch.cat([fn(x[i : i + batch_size]).cpu() for i in range(0, len(x), int(batch_size))])
    finally:
        classifier.train(was_training)


def classifier_features(classifier: torch.nn.Module, images: object, *, batch_size: int = 1024) -> np.ndarray:
    """Features of images from ``classifier.features``, in eval mode and without gradients.

    Args:
        classifier (torch.nn.Module): A module with a ``features(x) -> n x k`` method, e.g.
            :func:`~gentransfer.metrics.classifier.usps_classifier`.
        images (array_like or torch.Tensor, shape (n, 1, 16, 16)): Images with pixels in [0, 1].
        batch_size (int): Images per forward pass.

    Returns:
        numpy.ndarray, shape (n, k): float64 features, ready for :func:`frechet_distance`, :func:`kid` and :func:`prdc`.
    """
    if not callable(getattr(classifier, "features", None)):
        raise ConfigError(
            f"{type(classifier).__name__} has no features() method",
            "pass the classifier from gentransfer.metrics.classifier.usps_classifier()",
        )
    x = _images(images, classifier)
    if len(x) == 0:
        raise DataError("no images to embed", "pass at least one image")
    return _batched(classifier, classifier.features, x, batch_size).double().numpy()


def conditional_accuracy(
    classifier: torch.nn.Module, images: object, labels: object, *, batch_size: int = 1024
) -> float:
    """Fraction of images that the classifier assigns to the class they were generated for.

    Args:
        classifier (torch.nn.Module): Maps ``n x 1 x 16 x 16`` images to ``n x C`` logits (e.g.
            ``usps_classifier()``); run in
            eval mode without gradients (its mode is restored afterwards).
        images (array_like or torch.Tensor, shape (n, 1, 16, 16)): Images with pixels in [0, 1], e.g. class-
            conditional samples.
        labels (array_like or torch.Tensor of int, shape (n,)): The class each image was generated (or labelled)
            as, in ``0 .. C-1``.
        batch_size (int): Images per forward pass.

    Returns:
        float: Accuracy in [0, 1] (argmax of the logits equals the label).
    """
    x = _images(images, classifier)
    y = labels.detach().cpu() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if y.ndim != 1 or len(y) != len(x) or len(x) == 0:
        raise DataError(
            f"labels must be a vector with one label per image: got shape {tuple(y.shape)} for {len(x)} images",
            "pass one integer label per image",
        )
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise DataError("labels hold non-integer values", "pass integer class labels")
    pred = _batched(classifier, classifier, x, batch_size).argmax(1)
    return float((pred == y.long()).double().mean())
