"""Is the W1 gain's standard error in ``evaluate``'s answer the right size? And what does it cost?

``evaluate`` and ``report`` pair two runs' W1 over ``W1_SPLITS`` random half-splits of the test rows
and read the spread of the split-by-split difference as the standard error of its mean
(half-sampling; ``gentransfer.pipeline.evaluate._split_w1``). Check (protocol fixed before it ran):
for Gaussian laws where the truth is known, draw ``SETS`` fresh test sets of n rows from N(0, I_d);
two "models" draw N(shift_a, I_d) and N(shift_b, I_d) one sample per test row; on each set take the
mean gain over the splits and its half-split se. The se is right when its mean over sets equals the
gain's sd over sets (ratio 1); above 1 it is conservative. Cost: ``score_run`` on a run folder with
and without the splits, alternated, median of ``REPEAT`` (the ratio, since the 2 cores are shared).

    python benchmarks/w1_halfsplit.py                      # the calibration table
    python benchmarks/w1_halfsplit.py --cost RUN --data TEST.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from gentransfer.pipeline.evaluate import W1_SPLITS, _split_w1, score_run

SETS = 60
REPEAT = 5
# n, d, shift a, shift b; each with the two models' draws from one random stream (as two runs scored
# with one seed: their draws are correlated) and from independent streams
CASES = [(300, 2, 0.05, 0.20), (1000, 3, 0.05, 0.10), (200, 5, 0.05, 0.30), (300, 2, 0.10, 0.10)]
RESULTS = Path(__file__).resolve().parent / "results" / "w1_halfsplit.md"


class Gaussian:
    """N(shift, I_dim), one row per call's ``n``; ``skip`` draws discarded first (another stream)."""

    def __init__(self, shift: float, dim: int, skip: int = 0):
        self.shift, self.dim, self.skip = shift, dim, skip

    def sample(self, z=None, zc=None, n=None, generator=None):
        if self.skip:
            torch.randn(self.skip, generator=generator)
        return torch.randn(n, self.dim, generator=generator, dtype=torch.float64) + self.shift


def calibration() -> str:
    identity = SimpleNamespace(x=SimpleNamespace(inverse=lambda u: u))
    lines = ["| n | d | shift a | shift b | draws | mean gain W1(b) - W1(a) | sd of the gain over sets "
             "| mean half-split se | se / sd |", "|---|---|---|---|---|---|---|---|---|"]
    for (n, d, a, b), skip in [(case, skip) for case in CASES for skip in (0, 1)]:
        gains, ses = [], []
        for s in range(SETS):
            x = np.random.default_rng(10_000 + s).normal(size=(n, d))
            diff = (np.asarray(_split_w1(Gaussian(b, d, skip), identity, x, None, None, lambda v: v, s, W1_SPLITS))
                    - np.asarray(_split_w1(Gaussian(a, d), identity, x, None, None, lambda v: v, s, W1_SPLITS)))
            gains.append(diff.mean())
            ses.append(diff.std(ddof=1))
        sd = float(np.std(gains, ddof=1))
        ratio = f"{np.mean(ses) / sd:.2f}" if sd > 0 else "- (identical draws)"
        lines.append(f"| {n} | {d} | {a} | {b} | {'independent' if skip else 'one stream'} | {np.mean(gains):+.4f} "
                     f"| {sd:.4f} | {np.mean(ses):.4f} | {ratio} |")
    return "\n".join(lines) + "\n"


def cost(run: str, data: str) -> str:
    from gentransfer.cli.outputs import recorded
    from gentransfer.data.tabular import Columns

    table = Columns().or_recorded(recorded(run), data).load(data)  # the run's column roles, as evaluate reads them
    times = {0: [], W1_SPLITS: []}
    for _ in range(REPEAT):
        for splits in times:
            began = time.perf_counter()
            score_run(run, table, seed=0, w1_splits=splits)
            times[splits].append(time.perf_counter() - began)
    plain, split = np.median(times[0]), np.median(times[W1_SPLITS])
    return (f"score_run on {run} ({len(table.x)} test rows), median of {REPEAT}: {plain:.2f} s without the "
            f"splits, {split:.2f} s with {W1_SPLITS}: ratio {split / plain:.2f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cost", help="a run folder to time score_run on")
    parser.add_argument("--data", help="its test rows")
    args = parser.parse_args()
    if args.cost:
        print(cost(args.cost, args.data), end="")
        return
    text = f"# The W1 gain's half-split se against the truth ({SETS} fresh test sets a row)\n\n" + calibration()
    RESULTS.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
