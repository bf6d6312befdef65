"""``pooled``: one model on the source's and the target's rows, told apart by a domain indicator.

The baseline a practitioner tries first, beside the SEC's transfer: no weight is handed over; the
source's *rows* are. The indicator is the last column of the model's task-specific conditions zc:
``SOURCE_DOMAIN`` on the source's rows, ``TARGET_DOMAIN`` on the target's, and a pooled model
(its :class:`~gentransfer.transfer.plan.TransferPlan` carries ``domain``) appends the target's value
itself wherever it is given the target's conditions, so it samples and is scored as a target.
"""

from __future__ import annotations

import numpy as np

from gentransfer.errors import DataError

__all__ = ["pool", "SOURCE_DOMAIN", "TARGET_DOMAIN"]

SOURCE_DOMAIN, TARGET_DOMAIN = 0.0, 1.0


def _stack(a: np.ndarray | None, b: np.ndarray | None, role: str) -> np.ndarray | None:
    if (a is None) != (b is None):
        raise DataError(f"pooling needs {role} in both tasks' rows or in neither",
                        f"give the source's rows the target's {role} columns")
    if a is None:
        return None
    if a.shape[1] != b.shape[1]:
        raise DataError(f"pooling needs one {role} width: the source's rows have {a.shape[1]} columns, the target's "
                        f"{b.shape[1]}", f"give the source's rows the target's {role} columns")
    return np.concatenate([a, b])


def pool(source: tuple, target: tuple) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The rows a pooled model fits: both tasks' rows stacked, the domain indicator appended to zc.

    Args:
        source: ``(x, z, zc)`` of the source's rows on the model's scale (``n_s x d_x``, ``n_s x d_z``
            or ``None``, ``n_s x d_zc`` or ``None``).
        target: ``(x, z, zc)`` of the target's rows, the same widths (``n_t`` rows).

    Returns:
        ``(x, z, zc)``: ``(n_s + n_t) x d_x``, z stacked (or ``None``), and ``(n_s + n_t) x (d_zc + 1)``
        whose last column is ``SOURCE_DOMAIN`` on the source's rows and ``TARGET_DOMAIN`` on the target's.

    Example:
        >>> import numpy as np
        >>> x, z, zc = pool((np.zeros((2, 1)), None, None), (np.ones((1, 1)), None, None))
        >>> zc[:, -1].tolist()
        [0.0, 0.0, 1.0]
    """
    n_s, n_t = len(source[0]), len(target[0])
    x = _stack(source[0], target[0], "x")
    z = _stack(source[1], target[1], "z")
    given = _stack(source[2], target[2], "zc")
    domain = np.concatenate([np.full((n_s, 1), SOURCE_DOMAIN), np.full((n_t, 1), TARGET_DOMAIN)])
    return x, z, domain if given is None else np.concatenate([given, domain], axis=1)
