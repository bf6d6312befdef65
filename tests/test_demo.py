"""The demo's last line: one sentence computed from its numbers (the fits themselves run in make demo)."""

from gentransfer.demo import verdict
from gentransfer.metrics.divergence import Estimate


def test_verdict_says_helped_with_the_numbers():
    line = verdict("freeze-shared", Estimate(0.55, 0.03), Estimate(2.31, 0.2), Estimate(1.76, 0.15), 2000,
                   "demo-runs/report.html")
    assert line == ("The source helped: freeze-shared's KL to the true target is 0.55 against 2.31 for scratch "
                    "(4.2x lower, 11.7 standard errors) on 2,000 test rows; report: demo-runs/report.html")


def test_verdict_says_did_not_help_when_transfer_is_worse():
    line = verdict("finetune", Estimate(1.2, 0.05), Estimate(0.9, 0.05), Estimate(-0.3, 0.04), 2000, "r.html")
    assert line.startswith("The source did not help: finetune's KL to the true target is 1.20 against 0.90")
    assert "(1.3x higher, 7.5 standard errors)" in line


def test_verdict_within_noise_is_not_clear():
    line = verdict("freeze-shared", Estimate(0.50, 0.05), Estimate(0.55, 0.05), Estimate(0.05, 0.04), 300, "r.html")
    assert line.startswith("The source did not clearly help:")


def test_verdict_without_a_ratio():
    line = verdict("freeze-shared", Estimate(-0.01, 0.02), Estimate(float("inf"), float("inf")),
                   Estimate(float("inf"), float("inf")), 10, "r.html")
    assert line.startswith("The source helped:") and "against infinite for scratch on 10 test rows" in line


def test_verdict_infinite_transfer_did_not_help():
    line = verdict("finetune", Estimate(float("inf"), float("inf")), Estimate(0.9, 0.05),
                   Estimate(float("inf"), float("inf")), 10, "r.html")
    assert line.startswith("The source did not help: finetune's KL to the true target is infinite against 0.90")
