"""KL divergence and total variation against a known true density, by Monte Carlo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gentransfer.errors import DataError

__all__ = ["Estimate", "kl_monte_carlo", "tv_monte_carlo", "gaussian_kl"]


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate with its standard error."""

    value: float
    se: float

    def __iter__(self):  # allows ``kl, se = kl_monte_carlo(...)``
        return iter((self.value, self.se))


def _log_densities(log_p: object, log_q: object) -> tuple[np.ndarray, np.ndarray]:
    lp = np.asarray(getattr(log_p, "detach", lambda: log_p)(), dtype=np.float64).reshape(-1)
    lq = np.asarray(getattr(log_q, "detach", lambda: log_q)(), dtype=np.float64).reshape(-1)
    if lp.shape != lq.shape or lp.size < 2:
        raise DataError(
            f"log-densities must be two equal-length vectors of >= 2 values, got {lp.shape} and {lq.shape}",
            "evaluate both densities at the same samples",
        )
    if not np.isfinite(lp).all():
        raise DataError("the true log-density is not finite at some samples", "sample from the true law")
    return lp, lq


def kl_monte_carlo(log_p: object, log_q: object) -> Estimate:
    r"""KL(P || Q) from log-densities at samples :math:`x_i \sim P`.

    .. math::
        \mathrm{KL}(P\|Q) = \mathbb{E}_P[\log p(X) - \log q(X)]
        \approx \frac{1}{n}\sum_i \big(\log p(x_i) - \log q(x_i)\big)

    Args:
        log_p: ``log p(x_i)`` under the true law, shape ``(n,)``.
        log_q: ``log q(x_i)`` under the model, same shape; ``-inf`` gives an infinite KL.

    Returns:
        :class:`Estimate` with the mean and its standard error ``std / sqrt(n)``.
    """
    lp, lq = _log_densities(log_p, log_q)
    d = lp - lq
    if not np.isfinite(d).all():
        return Estimate(float("inf"), float("inf"))
    return Estimate(float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)))


def tv_monte_carlo(log_p: object, log_q: object) -> Estimate:
    r"""Total variation distance from log-densities at samples :math:`x_i \sim P`.

    .. math::
        \mathrm{TV}(P, Q) = \tfrac12 \int |p - q| = \mathbb{E}_P\big[(1 - q(X)/p(X))_+\big]

    Each term lies in [0, 1], so the estimate does too.
    """
    lp, lq = _log_densities(log_p, log_q)
    terms = np.clip(1.0 - np.exp(np.minimum(lq - lp, 50.0)), 0.0, 1.0)
    return Estimate(float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(terms.size)))


def gaussian_kl(mean_p: object, cov_p: object, mean_q: object, cov_q: object) -> float:
    r"""Closed-form KL(N(m_p, S_p) || N(m_q, S_q)).

    .. math::
        \tfrac12\big[\operatorname{tr}(S_q^{-1}S_p) + (m_q-m_p)^\top S_q^{-1}(m_q-m_p) - d
        + \log\det S_q - \log\det S_p\big]
    """
    mp, mq = np.atleast_1d(np.asarray(mean_p, float)), np.atleast_1d(np.asarray(mean_q, float))
    sp, sq = np.atleast_2d(np.asarray(cov_p, float)), np.atleast_2d(np.asarray(cov_q, float))
    d = mp.size
    if mq.size != d or sp.shape != (d, d) or sq.shape != (d, d):
        raise DataError(
            "Gaussian parameters have inconsistent dimensions", "pass d-vectors and d x d covariances"
        )
    diff = mq - mp
    sq_inv = np.linalg.inv(sq)
    _, logdet_p = np.linalg.slogdet(sp)
    _, logdet_q = np.linalg.slogdet(sq)
    return float(0.5 * (np.trace(sq_inv @ sp) + diff @ sq_inv @ diff - d + logdet_q - logdet_p))
