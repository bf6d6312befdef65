"""The negative-transfer guard's decision rule."""

import numpy as np
import pytest

from gentransfer.transfer.guard import THRESHOLD, StrategyChoice, choose_strategy, signed_rank_z


def test_clear_gain_keeps_the_transfer():
    rng = np.random.default_rng(0)
    scratch = rng.normal(1.0, 0.3, 60)
    choice = choose_strategy({"scratch": scratch, "freeze-shared": scratch - 0.4 + rng.normal(0, 0.1, 60),
                              "finetune": scratch - 0.1})
    assert choice.chosen == "freeze-shared" and not choice.no_significant_gain and choice.p_value < 1e-6
    assert abs(choice.gain - 0.4) < 0.05


def test_a_clear_loss_falls_back_to_scratch():
    rng = np.random.default_rng(1)
    scratch = rng.normal(1.0, 0.3, 60)
    worse = choose_strategy({"scratch": scratch, "freeze-shared": scratch + 0.5, "finetune": scratch + 0.3})
    assert worse.chosen == "scratch" and worse.no_significant_gain and worse.z < -5
    assert worse.gain < 0 and "negative transfer from finetune" in worse.table()


def test_a_lead_short_of_significance_keeps_the_transfer():
    """The bank's development half (issue 30): with 10-200 validation rows the p < 0.05 test kept
    scratch where transfer was clearly better in most cells; a transfer that leads on the rank
    statistic by more than THRESHOLD is kept now."""
    scratch = np.linspace(1.0, 2.0, 10)
    gain = 0.01 * np.array([1, 2, 3, 4, 5, 6, 7, -8, -9, 10])  # W+ = 38 of 55: z = 1.07, one-sided p = 0.16
    choice = choose_strategy({"scratch": scratch, "freeze-shared": scratch - gain, "finetune": scratch + 0.05})
    assert choice.z == pytest.approx(1.07, abs=0.01) and choice.p_value > 0.05
    assert THRESHOLD < choice.z and choice.chosen == "freeze-shared"  # the shipped p < 0.05 kept scratch
    assert "freeze-shared kept: it leads scratch row by row" in choice.table()
    tie = choose_strategy({"scratch": scratch, "finetune": scratch.copy()})  # no difference at all
    assert tie.z == 0.0 and tie.chosen == ("scratch" if THRESHOLD >= 0 else "finetune")


def test_the_threshold_is_on_the_standardised_signed_rank():
    from scipy.stats import norm, wilcoxon

    d = np.random.default_rng(4).normal(-0.05, 1.0, 40)
    z = signed_rank_z(d)
    assert z == pytest.approx(norm.isf(wilcoxon(d, alternative="greater", method="approx",
                                                 correction=False).pvalue), rel=1e-9)
    rows = {"scratch": np.zeros(40), "finetune": -d}  # finetune's gain over scratch is d
    assert choose_strategy(rows, threshold=z - 0.01).chosen == "finetune"
    assert choose_strategy(rows, threshold=z + 0.01).chosen == "scratch"
    assert signed_rank_z(np.zeros(5)) == 0.0


def test_a_few_collapsed_rows_do_not_decide():
    rng = np.random.default_rng(2)
    transfer = rng.normal(1.0, 0.3, 60)
    scratch = transfer - 0.2  # scratch is better on every row...
    scratch[:3] += 50.0  # ...except three rows where its likelihood collapses (the mean would prefer transfer)
    choice = choose_strategy({"scratch": scratch, "freeze-shared": transfer, "finetune": transfer + 0.1})
    assert choice.gain > 0 and choice.chosen == "scratch"


def test_lowest_rule_keeps_the_smallest_mean_without_a_test():
    """The latent route's rule: the lowest mean (a W1) wins, scratch included; p is only reported."""
    rng = np.random.default_rng(3)
    scratch = rng.normal(1.0, 0.3, 40)
    slightly = choose_strategy({"scratch": scratch, "freeze-shared": scratch - 0.02 + rng.normal(0, 0.3, 40),
                                "finetune": scratch + 0.1}, rule="lowest")
    assert slightly.chosen == "freeze-shared" and slightly.p_value > 0.05 and slightly.gain > 0
    worse = choose_strategy({"scratch": scratch, "freeze-shared": scratch + 0.2, "finetune": scratch + 0.01},
                            rule="lowest")
    assert worse.chosen == "scratch" and worse.best_transfer == "finetune" and worse.gain < 0
    assert "scratch has the lowest held-out loss" in worse.table() and worse.to_dict()["rule"] == "lowest"
    broken = np.full(40, np.inf)  # a candidate that could not be scored (it sampled NaN) loses to any number
    assert choose_strategy({"scratch": broken, "finetune": scratch}, rule="lowest").chosen == "finetune"
    assert choose_strategy({"scratch": scratch, "finetune": broken}, rule="lowest").chosen == "scratch"


def test_the_report_states_the_rule_the_run_was_chosen_by():
    """A run of the guard before issue 30 (no z in its transfer_report.json) keeps its own rule's words."""
    from gentransfer.pipeline.report import _guard_section

    rows = {"scratch": np.array([1.0, 1.2, 0.9, 1.1]), "finetune": np.array([0.8, 0.9, 0.7, 1.0])}
    now = choose_strategy(rows).to_dict()
    page = _guard_section(now, "flow")
    assert f"must exceed {THRESHOLD:g}" in page and f"z = {now['z']:+.2f}" in page
    old = {k: v for k, v in now.items() if k not in ("z", "threshold")}
    page = _guard_section(old, "flow")
    assert "p &lt; 0.05" in page or "p < 0.05" in page
    assert "z =" not in page


def test_ties_and_broken_rows_in_the_rank_statistic():
    from scipy.stats import norm, wilcoxon

    d = np.array([1.0, 1.0, -1.0, 2.0, 2.0, 2.0, -3.0, 0.5, 0.5, 4.0])
    p = wilcoxon(d, alternative="greater", method="approx", correction=False).pvalue
    assert signed_rank_z(d) == pytest.approx(norm.isf(p), rel=1e-9)  # tie-corrected, as scipy
    scratch = np.ones(12)
    transfer = np.full(12, 0.5)
    transfer[:2] = np.nan  # the transfer breaks on two rows: they count against it, not as a crash or a win
    choice = choose_strategy({"scratch": scratch, "freeze-shared": scratch + 1.0, "finetune": transfer})
    assert np.isfinite(choice.z) and choice.chosen == "finetune" and choice.best_transfer == "finetune"
    assert choice.gain == 0.5 and 0.05 < choice.p_value < 0.5  # p on the same rows as z (the two count against it)
    assert "finetune kept" in choice.table()
    transfer[:8] = np.nan  # ...on most rows: scratch (and its median, +inf, no longer makes it the best transfer)
    assert choose_strategy({"scratch": scratch, "finetune": transfer}).chosen == "scratch"
    assert "kept" not in StrategyChoice("scratch", {"scratch": 1.0}, 0.0, 0.1, "finetune", True, 10, 0.5).table()
