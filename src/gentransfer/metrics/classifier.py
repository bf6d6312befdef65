"""A small CNN digit classifier for scoring generated 16x16 digits, trained on the USPS fit split only.

Its penultimate layer is the feature space of the Frechet distance, KID and precision / recall /
density / coverage in :mod:`gentransfer.metrics.features`, and its predictions give the
conditional accuracy of class-conditional samples. It never sees the 2,188 held-out images of
:func:`gentransfer.data.usps_paper_split` (seed 0), so they stay an honest reference set.

The weights are never downloaded. The first call trains the network on the CPU (one thread, a
fixed seed and a fixed batch order: bit-identical weights from run to run on one machine and
PyTorch build) and caches them as ``usps-cnn-v1.safetensors`` with ``usps-cnn-v1.json`` beside it
(the file's SHA-256, the recipe, a fingerprint of the training data, and the held-out accuracy)
in ``<cache>/classifier/``, where ``<cache>`` is the ``cache`` argument, else
``$GENTRANSFER_CACHE``, else ``~/.cache/gentransfer``. A later call loads them when the checksum,
the recipe and the data fingerprint all match, and rebuilds them otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes
from torch import nn

from gentransfer.errors import ConfigError, DataError
from gentransfer.files import atomic_write_bytes
from gentransfer.metrics.features import conditional_accuracy

__all__ = [
    "CACHE_ENV",
    "RECIPE",
    "DigitClassifier",
    "build_usps_classifier",
    "classifier_cache_dir",
    "usps_classifier",
]

CACHE_ENV = "GENTRANSFER_CACHE"
# Name of the architecture + training recipe; change it whenever either changes, so that stale
# cached weights are rebuilt instead of silently reused.
RECIPE = "usps-cnn-v1"
SPLIT_SEED = 0  # the paper split the classifier is fitted on (its held-out part is never seen)
TRAIN_SEED = 0
EPOCHS = 8
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4


class DigitClassifier(nn.Module):
    """Two conv blocks and a 64-unit penultimate layer on ``n x 1 x 16 x 16`` images in [0, 1].

    The penultimate (post-ReLU) activations are divided by the buffer ``feature_scale``, fixed
    after training so that their root-mean-square over the fit images is 1.

    Args:
        width (int): Channels of the first conv layer (the second has twice as many).
        feature_dim (int): Size ``k`` of the penultimate layer returned by :meth:`features`.
        n_classes (int): Number of classes (logits) returned by :meth:`forward`.
    """

    def __init__(self, width: int = 16, feature_dim: int = 64, n_classes: int = 10) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8 x 8
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4 x 4
            nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, n_classes)
        # One constant set after training: the features' root-mean-square over the fit images is 1,
        # so KID's cubic kernel sees x.y / k of order 1 (as with Inception features), not ~25.
        self.register_buffer("feature_scale", torch.ones(()))

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2 and x.shape[1] == 256:
            x = x.reshape(-1, 1, 16, 16)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 16, 16):
            raise DataError(
                f"the digit classifier takes n x 1 x 16 x 16 images, got shape {tuple(x.shape)}",
                "resize the images to 16 x 16 with one channel (gentransfer.data.resize_images)",
            )
        return self.body((x - 0.5) / 0.5)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features.

        Args:
            x (torch.Tensor): ``n x 1 x 16 x 16`` (or ``n x 256``) images with pixels in [0, 1].

        Returns:
            torch.Tensor: ``n x k`` non-negative features (``k = feature_dim``, 64 by default), divided by
                ``feature_scale``.
        """
        return self._body(x) / self.feature_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, ``n x n_classes``, for ``n x 1 x 16 x 16`` images in [0, 1] (``feature_scale`` unused)."""
        return self.head(self._body(x))


def classifier_cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the cached classifier: ``<cache>/classifier``.

    ``<cache>`` is ``cache`` if given, else ``$GENTRANSFER_CACHE`` if set, else ``~/.cache/gentransfer``.
    """
    if cache is None:
        env = os.environ.get(CACHE_ENV)
        base = Path(env).expanduser() if env else Path.home() / ".cache" / "gentransfer"
    else:
        base = Path(cache).expanduser()
    return base / "classifier"


def _data_fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    digest = hashlib.sha256()
    digest.update(x.contiguous().to(torch.float32).numpy().tobytes())
    digest.update(y.contiguous().to(torch.int64).numpy().tobytes())
    return digest.hexdigest()


def _fit(fit_x: torch.Tensor, fit_y: torch.Tensor, seed: int) -> DigitClassifier:
    """Train from scratch on one thread with a seeded init and a seeded batch order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):  # leaves the caller's global generator untouched
            torch.manual_seed(seed)
            model = DigitClassifier()
            order = torch.Generator().manual_seed(seed)
            opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
            steps = EPOCHS * -(-len(fit_x) // BATCH_SIZE)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LEARNING_RATE, total_steps=steps)
            loss_fn = nn.CrossEntropyLoss()
            model.train()
            for _ in range(EPOCHS):
                perm = torch.randperm(len(fit_x), generator=order)
                for start in range(0, len(fit_x), BATCH_SIZE):
                    idx = perm[start : start + BATCH_SIZE]
                    opt.zero_grad(set_to_none=True)
                    loss_fn(model(fit_x[idx]), fit_y[idx]).backward()
                    opt.step()
                    sched.step()
            model.eval()
            with torch.no_grad():
                feats = torch.cat([model.features(fit_x[i : i + 1024]) for i in range(0, len(fit_x), 1024)])
                model.feature_scale.fill_(feats.square().mean().sqrt())
    finally:
        torch.set_num_threads(threads)
    return model


def build_usps_classifier(
    root: str | os.PathLike[str] | None = None, *, seed: int = TRAIN_SEED
) -> tuple[DigitClassifier, dict[str, Any]]:
    """Train the classifier from scratch on the USPS fit split (no cache read or written).

    Args:
        root (path-like, optional): Data root (default: :func:`gentransfer.data.data_root`).
        seed (int): Seed of the initialisation and of the batch order.

    Returns:
        model : DigitClassifier: The trained network, in eval mode.
        info : dict: ``recipe``, ``seed``, ``split_seed``, ``data_sha256`` (fingerprint of the fit images and
            labels), ``heldout_accuracy`` (on the 2,188 held-out images) and ``train_seconds``.
    """
    from gentransfer.data import usps_paper_split  # local: keeps metrics importable on its own

    split = usps_paper_split(seed=SPLIT_SEED, root=root)
    start = time.perf_counter()
    model = _fit(split.fit_x, split.fit_y, seed)
    seconds = time.perf_counter() - start
    info = {
        "recipe": RECIPE,
        "seed": seed,
        "split_seed": SPLIT_SEED,
        "data_sha256": _data_fingerprint(split.fit_x, split.fit_y),
        "heldout_accuracy": conditional_accuracy(model, split.heldout_x, split.heldout_y),
        "train_seconds": round(seconds, 2),
        "torch": torch.__version__,
    }
    return model, info


def _state_bytes(model: nn.Module) -> bytes:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return safetensors_bytes(state, metadata={"recipe": RECIPE})


def _load_cached(folder: Path, data_sha256: str) -> DigitClassifier | None:
    """The cached model if its weights, checksum, recipe and data fingerprint all check out, else None."""
    weights, meta_path = folder / f"{RECIPE}.safetensors", folder / f"{RECIPE}.json"
    try:
        meta = json.loads(meta_path.read_text())
        blob = weights.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("recipe") != RECIPE or meta.get("data_sha256") != data_sha256:
        return None
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        return None
    model = DigitClassifier()
    try:
        model.load_state_dict(safetensors_load(blob))
    except (SafetensorError, RuntimeError, KeyError):
        return None
    return model.eval()


def usps_classifier(
    root: str | os.PathLike[str] | None = None, cache: str | os.PathLike[str] | None = None
) -> DigitClassifier:
    """The USPS digit classifier, loaded from the cache or (re)built there deterministically.

    Args:
        root (path-like, optional): Data root holding ``usps/`` (default: :func:`gentransfer.data.data_root`). The
            fit split
            is read on every call to check the cached weights against the data they were fitted on.
        cache (path-like, optional): Cache base folder; the files live in ``<cache>/classifier/`` (default:
            ``$GENTRANSFER_CACHE``, else ``~/.cache/gentransfer``).

    Returns:
        DigitClassifier: Frozen (``requires_grad=False``), in eval mode, on the CPU. ``model.features(x)`` gives the
            ``n x 64`` features, ``model(x)`` the ``n x 10`` logits.

    Notes
    -----
    The cache is rebuilt (14 to 34 s measured on one shared core) when a file is missing, when the weights'
    SHA-256 differs from the one in the JSON, or when the recipe or the training data changed.
    """
    from gentransfer.data import usps_paper_split

    folder = classifier_cache_dir(cache)
    split = usps_paper_split(seed=SPLIT_SEED, root=root)
    fingerprint = _data_fingerprint(split.fit_x, split.fit_y)
    model = _load_cached(folder, fingerprint)
    if model is None:
        model, info = build_usps_classifier(root)
        blob = _state_bytes(model)
        meta = {"sha256": hashlib.sha256(blob).hexdigest(), **info}
        try:
            atomic_write_bytes(folder / f"{RECIPE}.safetensors", blob)
            atomic_write_bytes(folder / f"{RECIPE}.json", (json.dumps(meta, indent=2) + "\n").encode())
        except OSError as err:
            raise ConfigError(
                f"cannot write the digit classifier's cache in {folder} ({err})",
                f"set {CACHE_ENV} (or pass cache=...) to a writable folder",
            ) from None
    return model.requires_grad_(False)
