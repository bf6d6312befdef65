"""Sample and density metrics: plain functions on arrays with documented shapes."""

from gentransfer.metrics.classifier import DigitClassifier, usps_classifier
from gentransfer.metrics.divergence import Estimate, gaussian_kl, kl_monte_carlo, tv_monte_carlo
from gentransfer.metrics.features import (
    classifier_features,
    conditional_accuracy,
    frechet_distance,
    kid,
    memorisation_rate,
    prdc,
)
from gentransfer.metrics.mmd import mmd2_unbiased
from gentransfer.metrics.tabular import (
    column_pair_trends,
    column_shapes,
    detection_auc,
    real_vs_real_floor,
    table_report,
)
from gentransfer.metrics.wasserstein import sliced_wasserstein1, wasserstein1, wasserstein1_floor, wasserstein1_rows

__all__ = [
    "DigitClassifier",
    "Estimate",
    "classifier_features",
    "column_pair_trends",
    "column_shapes",
    "conditional_accuracy",
    "detection_auc",
    "frechet_distance",
    "kid",
    "memorisation_rate",
    "prdc",
    "usps_classifier",
    "gaussian_kl",
    "kl_monte_carlo",
    "mmd2_unbiased",
    "real_vs_real_floor",
    "sliced_wasserstein1",
    "table_report",
    "tv_monte_carlo",
    "wasserstein1",
    "wasserstein1_floor",
    "wasserstein1_rows",
]
