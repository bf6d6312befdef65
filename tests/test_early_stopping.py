"""Early stopping: the best weights are kept, and a long tail of tiny improvements is a plateau."""

import torch

from gentransfer import DiffusionModel, fit
from gentransfer.training import TrainingState


def _state() -> TrainingState:
    model = torch.nn.Linear(1, 1)
    return TrainingState(model, torch.optim.SGD(model.parameters(), lr=0.1), None, torch.Generator(), {})


def test_tiny_falls_keep_the_best_weights_but_count_toward_the_plateau():
    losses = [1.0, 0.999, 0.998, 0.997, 0.99]
    strict, tolerant = _state(), _state()
    for step, loss in enumerate(losses, start=1):
        strict.record(step, loss, loss)
        tolerant.record(step, loss, loss, min_delta=0.005)
        if step == 4:  # three falls of 0.1%: improvements to the strict rule, a plateau to the tolerant one
            assert (strict.bad_evals, tolerant.bad_evals) == (0, 3)
    assert strict.best_step == tolerant.best_step == 5  # both keep the lowest loss's weights
    assert tolerant.bad_evals == 0  # 0.99 is 1% below 1.0: a real fall resets the count
    assert tolerant.reference == 0.99


def test_min_delta_ends_a_fit_on_its_plateau():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    runs = {}
    for min_delta in (0.0, 0.5):
        torch.manual_seed(0)
        runs[min_delta] = fit(DiffusionModel(x_dim=2, hidden=16, depth=1), x, steps=400, eval_every=20, patience=3,
                              min_delta=min_delta, seed=1)
    # nothing lowers a held-out loss by half in 3 evaluations: the tolerant fit stops at its 4th
    assert runs[0.5].steps == 80 and runs[0.0].steps > 80
    assert runs[0.5].history == runs[0.0].history[:4]  # the same fit up to where it stopped
