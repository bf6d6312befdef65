"""Issue 30's image pairs: the shared digits as 64-column tables, declared like ``bank_pairs.PAIRS``.

The digits are read from the data root (``GENTRANSFER_DATA``, ``../shared/data`` under make), never
downloaded. Each image is average-pooled from 16x16 to 8x8 and flattened into 64 columns ``p00`` ...
``p63`` (row-major) of intensities in [0, 1]; its class is the shared condition ``label`` (z), as in
``real_tables.py``. Source: the 20,000 MNIST rows of ``real_tables.py`` (``mnist_source(20000, seed=0)``,
class-balanced). Target: every USPS image (7,291 train + 2,007 test = 9,298 rows), so a cell draws its
n_t rows and keeps 2,000 held-out rows as the bank does.

These records sit apart from ``bank_pairs.PAIRS`` on purpose: ``split_halves`` balances families over
every pair it is given, so adding them there would recompute the frozen split of the 29 tables. Their
half is declared by a rule of their own (``HALF``) before any of their cells ran.

    from bank_digits import DIGIT_PAIRS, load_digits
    src, tgt, spec = load_digits("D01_mnist_usps")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PIXELS = {f"p{i:02d}": "f" for i in range(64)}

# Added after the guard was frozen (worktree at 937c8a3, the confirmation half's library): no guard change
# can use them, so both are confirmation pairs.
HALF = "conf"

DIGIT_PAIRS = {
    "D01_mnist_usps": dict(
        kind="C", family="digits", x=PIXELS, z=dict(label="c"), zc={},
        why="The paper's real-data case: MNIST and USPS digits share the strokes of each class; USPS digits "
            "are thicker and fill the frame (pixel means differ by class and position)."),
    "D02_mnist_transposed_usps": dict(
        kind="N", family="digits", neg="transpose_source", twin="D01_mnist_usps", x=PIXELS, z=dict(label="c"),
        zc={},
        why="Every MNIST source image transposed (reflected in its main diagonal) before pooling: the same 64 "
            "names, labels and ink per image, borders still dark, but each class's strokes lie where no "
            "USPS digit has them. Same target rows as D01 (a paired control)."),
}


def _frame(images, labels) -> pd.DataFrame:
    from real_tables import table  # the project's 16x16 -> 8x8 pooling of the digit table

    rows = pd.DataFrame(table(images).round(6), columns=list(PIXELS))
    return rows.assign(label=np.asarray(labels).astype(int).astype(str))


def load_digits(pair_id: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Return (source_df, target_df, spec) for a digit pair; columns: the 64 pixels and ``label``."""
    import torch

    from gentransfer.data import load_usps, mnist_source

    spec = DIGIT_PAIRS[pair_id]
    xs, ys = mnist_source(20000, seed=0)
    if spec.get("neg") == "transpose_source":
        xs = xs.transpose(-1, -2)
    parts = [load_usps(split) for split in ("train", "test")]
    xt, yt = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return _frame(xs, ys), _frame(xt, yt), spec
