"""The negative-transfer guard's decision rule."""

import numpy as np

from gentransfer.transfer.guard import choose_strategy


def test_clear_gain_keeps_the_transfer():
    rng = np.random.default_rng(0)
    scratch = rng.normal(1.0, 0.3, 60)
    choice = choose_strategy({"scratch": scratch, "freeze-shared": scratch - 0.4 + rng.normal(0, 0.1, 60),
                              "finetune": scratch - 0.1})
    assert choice.chosen == "freeze-shared" and not choice.no_significant_gain and choice.p_value < 1e-6
    assert abs(choice.gain - 0.4) < 0.05


def test_no_gain_or_a_loss_falls_back_to_scratch():
    rng = np.random.default_rng(1)
    scratch = rng.normal(1.0, 0.3, 60)
    same = choose_strategy({"scratch": scratch, "freeze-shared": scratch + rng.normal(0, 0.2, 60),
                            "finetune": scratch + 0.05})
    worse = choose_strategy({"scratch": scratch, "freeze-shared": scratch + 0.5, "finetune": scratch + 0.3})
    assert same.chosen == "scratch" and worse.chosen == "scratch" and worse.no_significant_gain
    assert worse.gain < 0 and "negative transfer from finetune" in worse.table()


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
    assert choose_strategy({"scratch": scratch, "freeze-shared": scratch - 0.02 + rng.normal(0, 0.3, 40),
                            "finetune": scratch + 0.1}).chosen == "scratch"  # the rank test would not keep it
    worse = choose_strategy({"scratch": scratch, "freeze-shared": scratch + 0.2, "finetune": scratch + 0.01},
                            rule="lowest")
    assert worse.chosen == "scratch" and worse.best_transfer == "finetune" and worse.gain < 0
    assert "scratch has the lowest held-out loss" in worse.table() and worse.to_dict()["rule"] == "lowest"
