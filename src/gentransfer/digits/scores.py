"""Scores of generated digits with headroom: feature-space distances and the classifier's accuracy.

Every score is computed in the features of a small CNN trained only on the USPS fit split
(:func:`gentransfer.metrics.usps_classifier`), and each sits next to its own real-vs-real floor:
the same score between the first held-out-sized part of the fit split and the held-out images.
"""

from __future__ import annotations

import torch

from gentransfer.metrics import (
    classifier_features,
    conditional_accuracy,
    frechet_distance,
    kid,
    memorisation_rate,
    prdc,
    usps_classifier,
)

__all__ = ["FEATURE_COLUMNS", "feature_scores"]

FEATURE_COLUMNS = ["FD", "FD_floor", "KID", "KID_floor", "precision", "recall", "density", "coverage",
                   "coverage_floor", "cond_acc", "cond_acc_real", "memorisation"]


def feature_scores(fake: torch.Tensor, fake_labels: torch.Tensor | None, held_x: torch.Tensor,
                   held_y: torch.Tensor, floor_x: torch.Tensor, train_x: torch.Tensor, seed: int = 0) -> dict:
    """Scores of ``fake`` (``N x 1 x 16 x 16`` in [0, 1]) against the held-out images.

    ``floor_x`` are real images of the held-out size (the floors); ``train_x`` the target images
    the model was fitted on (the memorisation check: the share of generated images closer to a
    training image than 95% of held-out images are; 0.05 for real held-out images by design).
    ``fake_labels`` are the classes the images were generated for (``None``: unconditional).
    """
    classifier = usps_classifier()
    fake_f, held_f, floor_f = (classifier_features(classifier, a) for a in (fake, held_x, floor_x))
    size = min(1000, len(fake_f), len(held_f))
    pr, pr_floor = prdc(held_f, fake_f), prdc(held_f, floor_f)
    scores = {"FD": frechet_distance(fake_f, held_f), "FD_floor": frechet_distance(floor_f, held_f),
              "KID": kid(fake_f, held_f, subset_size=size, seed=seed)[0],
              "KID_floor": kid(floor_f, held_f, subset_size=size, seed=seed)[0],
              **pr, "coverage_floor": pr_floor["coverage"],
              "memorisation": memorisation_rate(fake, train_x, held_x)}
    if fake_labels is not None:
        scores["cond_acc"] = conditional_accuracy(classifier, fake, fake_labels)
        scores["cond_acc_real"] = conditional_accuracy(classifier, held_x, held_y)
    return scores
