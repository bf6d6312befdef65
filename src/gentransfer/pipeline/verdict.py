"""Did the source help? A transferred model beside scratch on the user's own test rows.

The question gentransfer exists to answer, put first in ``evaluate`` and the report. Both runs are
scored on the same rows (:func:`~gentransfer.pipeline.evaluate.score_run`), so the gain in
log-likelihood is paired row by row: its mean, standard error and t statistic say whether the
difference is larger than the test rows can resolve. W1 to the test rows is the second measure,
paired split by split over random half-splits of the same rows (``score_run(w1_splits=...)``), with
the spread over the splits as its standard error. The two measures can disagree (on the bank of real
pairs the lowest NLL and the lowest W1 were different candidates in 39-44% of cells,
benchmarks/README.md): the source **helped** when at least one of them resolves a gain (NLL: |t| >=
:data:`CLEAR_T`; W1: t's 97.5% point on the splits' degrees of freedom) and neither resolves a loss,
**hurt** in the mirror case, **mixed** when they resolve opposite answers (which model is better
then depends on the use: densities or samples), **unclear** when neither resolves. Either measure
can make the answer, so with no difference at all about one comparison in ten is called by chance
when the two runs' draws are strongly correlated (9.3-10.3% on Gaussian laws; 2.4-3.8% with
independent draws; benchmarks/results/w1_halfsplit.md).

An ``auto`` run brings its own comparison: the guard fitted scratch (and every transfer strategy)
as run folders in ``candidates/``; :func:`comparison_runs` adds the one to compare with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gentransfer.errors import CheckpointError
from gentransfer.pipeline.runfolder import RunFolder

__all__ = ["Verdict", "comparison_runs", "verdict", "CLEAR_T"]

CLEAR_T = 2.0  # |mean gain / se| at least this: the test rows resolve the difference (about 95%, two-sided)


@dataclass
class Verdict:
    """A transfer run against scratch on ``rows`` test rows (NLL in nats per row; lower is better)."""

    transfer: str  # the transfer run's strategy as a user reads it ("auto -> finetune")
    transfer_run: str
    scratch_run: str
    rows: int  # rows the NLL was compared on
    nll_transfer: float
    nll_scratch: float
    gain: float  # mean over rows of NLL(scratch) - NLL(transfer): > 0 when the source helped
    gain_se: float
    w1_transfer: float
    w1_scratch: float
    w1_floor: float
    test_rows: int
    uneven: bool = False  # one of the two was refitted on every target row, the other was not
    w1_gain: float | None = None  # mean over half-splits of W1(scratch) - W1(transfer): > 0 when the source helped
    w1_gain_se: float | None = None
    w1_splits: int = 0

    @property
    def t(self) -> float:
        return _t(self.gain, self.gain_se)

    @property
    def w1_t(self) -> float | None:
        """The W1 gain over its standard error; ``None`` without half-splits."""
        return None if self.w1_gain is None else _t(self.w1_gain, self.w1_gain_se)

    @property
    def w1_clear(self) -> float:
        """|W1 t| at least this resolves the W1 gain: t's 97.5% point on the splits' degrees of freedom
        (2.26 for 10 splits; the se of a few splits is itself noisy, so 2 would call too often)."""
        from scipy.stats import t

        return float(t.ppf(0.975, self.w1_splits - 1)) if self.w1_splits > 1 else np.inf

    @property
    def outcome(self) -> str:
        """``helped``, ``hurt``, ``mixed`` or ``unclear``: each measure resolves a gain or a loss (NLL at
        |t| >= :data:`CLEAR_T`, W1 at :attr:`w1_clear`); the outcome is what the resolved ones say."""
        said = {_says(self.t, CLEAR_T), _says(self.w1_t, self.w1_clear)} - {"unclear"}
        return "unclear" if not said else said.pop() if len(said) == 1 else "mixed"

    def headline(self) -> str:
        """One line of numbers: who beat whom, by how much, on how many rows."""
        name = self.transfer.split(" -> ")[-1]
        who = {"helped": f"{name} beat scratch", "hurt": f"scratch beat {name}",
               "unclear": f"{name} and scratch within noise",
               "mixed": f"{name} and scratch each ahead by one measure"}[self.outcome]
        w1 = ("" if self.w1_gain is None else
              f"; W1 gain {self.w1_gain:+.4f} ± {self.w1_gain_se:.4f} (t = {self.w1_t:.1f}, {self.w1_splits} "
              f"half-splits)")
        return (f"{who}: NLL {self.nll_transfer:.3f} vs {self.nll_scratch:.3f} nats per row, W1 "
                f"{self.w1_transfer:.4f} vs {self.w1_scratch:.4f} (real-vs-real floor {self.w1_floor:.4f}) on "
                f"{self.test_rows:,} test rows; gain {self.gain:+.3f} ± {self.gain_se:.3f} nats per row "
                f"(t = {self.t:.1f}, NLL on {self.rows:,} rows){w1}")

    def sentence(self) -> str:
        """The answer in plain words."""
        return self._sentence() + (" The two saw different rows: one was refitted on every target row, the "
                                   "other is a candidate of auto that saw about two thirds of them; fit the other "
                                   "strategy on all rows (fit-target --strategy NAME) for an even comparison."
                                   if self.uneven else "")

    def _on(self) -> str:
        """Which rows the gain was measured on (the likelihood is scored on at most 1,000 of them)."""
        return (f"your {self.rows:,} test rows" if self.rows == self.test_rows
                else f"{self.rows:,} of your {self.test_rows:,} test rows")

    def _sentence(self) -> str:
        if self.w1_gain is None:  # no half-splits: W1 is a second opinion without its noise
            return self._nll_sentence()
        nll, w1 = _says(self.t, CLEAR_T), _says(self.w1_t, self.w1_clear)
        model = f"the transferred model ({self.transfer})"
        likelihood = (f"gives each row {abs(self.gain):.3f} ± {self.gain_se:.3f} nats "
                      f"{'more' if self.gain > 0 else 'less'} log-likelihood than the model fitted on the target "
                      f"alone (t = {self.t:.1f})")
        closer = "closer to" if self.w1_gain > 0 else "farther from"
        w1_by = f"in W1 by {abs(self.w1_gain):.4f} ± {self.w1_gain_se:.4f} (t = {self.w1_t:.1f})"
        if self.outcome == "mixed":
            return (f"The two measures disagree: on {self._on()} {model} {likelihood}, but its samples are "
                    f"{closer} your test rows {w1_by}. Which model is better depends on the use: likelihood for "
                    f"densities and scoring rows, W1 for synthetic samples.")
        if self.outcome == "unclear":
            return (f"No detectable difference: {model} and scratch differ by {self.gain:+.3f} ± "
                    f"{self.gain_se:.3f} nats per row on {self._on()} and by {self.w1_gain:+.4f} ± "
                    f"{self.w1_gain_se:.4f} in W1, neither beyond what these rows can resolve (|t| below "
                    f"{CLEAR_T:g} and {self.w1_clear:.2f}). More test rows would narrow it.")
        lead = "The source helped" if self.outcome == "helped" else "The source hurt"
        tail = "" if self.outcome == "helped" else " Use scratch (fit-target --strategy scratch)."
        if nll != "unclear" and w1 != "unclear":
            said = f"on {self._on()} {model} {likelihood}, and its samples are {closer} your test rows {w1_by}"
        elif nll != "unclear":
            said = (f"on {self._on()} {model} {likelihood}; in W1 the two differ by {self.w1_gain:+.4f} ± "
                    f"{self.w1_gain_se:.4f}, within its noise")
        else:
            said = (f"the samples of {model} are {closer} your {self.test_rows:,} test rows {w1_by} than "
                    f"scratch's; in log-likelihood the two differ by {self.gain:+.3f} ± {self.gain_se:.3f} nats "
                    f"per row on {self._on()}, within what these rows resolve")
        return f"{lead}: {said}.{tail}"

    def _nll_sentence(self) -> str:
        w1_agrees = (self.w1_transfer < self.w1_scratch) == (self.gain > 0)
        w1 = ("W1 to the test rows agrees" if w1_agrees else
              "W1 to the test rows points the other way, so look at both")
        if self.outcome == "helped":
            return (f"The source helped: on {self._on()} the transferred model ({self.transfer}) "
                    f"gives each row {self.gain:.3f} ± {self.gain_se:.3f} nats more log-likelihood than a model "
                    f"fitted on the target alone; {w1}.")
        if self.outcome == "hurt":
            return (f"The source hurt: on {self._on()} the model fitted on the target alone gives "
                    f"each row {-self.gain:.3f} ± {self.gain_se:.3f} nats more log-likelihood than the transferred "
                    f"one ({self.transfer}); {w1}. Use scratch (fit-target --strategy scratch).")
        return (f"No detectable difference: on {self._on()} the transferred model "
                f"({self.transfer}) and scratch differ by {self.gain:+.3f} ± {self.gain_se:.3f} nats per row, "
                f"within what these rows can resolve (|t| < {CLEAR_T:g}); {w1}. More test rows would narrow it.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "t": self.t, "w1_t": self.w1_t, "outcome": self.outcome, "headline": self.headline(),
                "sentence": self.sentence()}


def _t(gain: float, se: float) -> float:
    if np.isnan(gain) or np.isnan(se):
        return np.nan
    return gain / se if se > 0 else (np.inf if gain > 0 else -np.inf if gain < 0 else 0.0)


def _says(t: float | None, clear: float) -> str:
    """What one measure resolves: ``helped``, ``hurt`` or ``unclear`` (no measure, NaN, or |t| below ``clear``)."""
    return "unclear" if t is None or not abs(t) >= clear else "helped" if t > 0 else "hurt"


def comparison_runs(runs: list[str | Path]) -> list[str]:
    """``runs`` and, for an ``auto`` run, the candidate to compare its choice with: scratch when it
    chose a transfer strategy, its best transfer candidate when it chose scratch (unless already given)."""
    out = [str(r) for r in runs]
    for run in runs:
        folder = RunFolder(run)
        try:
            config = folder.config()
        except CheckpointError:  # not a run: evaluate says so when it scores it
            continue
        if config.get("strategy") != "auto":
            continue
        chosen = folder.strategy()
        report = folder.metrics().get("auto", {})
        other = "scratch" if chosen != "scratch" else report.get("best_transfer")
        candidate = folder.candidates().get(other) if other else None
        if candidate is not None and str(candidate.path) not in out:
            out.append(str(candidate.path))
    return out


def _is_scratch(result: dict[str, Any]) -> bool:
    return result["strategy"].split(" -> ")[-1] == "scratch"


def verdict(scored: list[tuple[dict[str, Any], np.ndarray]]) -> Verdict | None:
    """The first transfer run against the first scratch run among ``scored`` (``(result, nll per
    row)`` pairs from :func:`~gentransfer.pipeline.evaluate.score_run` on one data set and seed);
    ``None`` without both."""
    scratch = next((s for s in scored if _is_scratch(s[0])), None)
    transfer = next((s for s in scored if not _is_scratch(s[0]) and s[0]["strategy"] != "source"), None)
    if scratch is None or transfer is None or len(scratch[1]) != len(transfer[1]):
        return None
    (rt, nt), (rs, ns) = transfer, scratch
    diff = ns - nt
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    w1 = {}
    splits_t, splits_s = rt.get("w1_splits"), rs.get("w1_splits")
    if (splits_t and splits_s and len(splits_t) == len(splits_s) > 1
            and np.isfinite(splits_t).all() and np.isfinite(splits_s).all()):  # a run that sampled NaN: no W1 gain
        # half-sampling: the spread of the split-by-split difference is the standard error of its mean
        w1_diff = np.asarray(splits_s) - np.asarray(splits_t)
        w1 = {"w1_gain": float(w1_diff.mean()), "w1_gain_se": float(w1_diff.std(ddof=1)), "w1_splits": len(w1_diff)}
    return Verdict(rt["strategy"], rt["run"], rs["run"], len(diff), rt["nll"], rs["nll"], float(diff.mean()), se,
                   rt["w1"], rs["w1"], rt["w1_floor"], rt["rows"], bool(rt.get("refit")) != bool(rs.get("refit")),
                   **w1)
