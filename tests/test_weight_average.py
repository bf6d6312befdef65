"""The weight average forgets the initial weights: a short fit is not scored with its start."""

import torch

from gentransfer import DiffusionModel, fit
from gentransfer.training import loop as training_loop
from gentransfer.training.state import EMA


def test_the_average_forgets_the_initial_weights():
    param = torch.nn.Parameter(torch.zeros(3))  # the initial weights: 0
    ema = EMA(torch.nn.ParameterList([param]), decay=0.995)
    with torch.no_grad():
        param.fill_(1.0)  # every trained iterate: 1
    for step in range(1, 401):
        ema.update(step)
    share_of_start = 1.0 - float(ema.shadow[0][0])
    assert share_of_start < 1e-12  # a constant decay from step 0 keeps 0.995^400 = 0.13 of it
    assert ema.decay_at(1) == 0.0 and ema.decay_at(2) == 2 / 11 and ema.decay_at(10**6) == 0.995


def test_the_average_still_averages_late_in_a_fit():
    param = torch.nn.Parameter(torch.zeros(1))
    ema = EMA(torch.nn.ParameterList([param]), decay=0.9)
    for step in range(1, 1001):
        with torch.no_grad():
            param.fill_(float(step % 2))  # iterates alternate 0, 1
        ema.update(step)
    assert 0.4 < float(ema.shadow[0][0]) < 0.6  # the mean of the late iterates, not the last one


def test_a_fitted_model_does_not_depend_on_where_the_average_started(monkeypatch):
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))

    def fitted(shift: float):
        class ShiftedStart(EMA):  # the average's starting copy moved far from the initial weights
            def __init__(self, model, decay):
                super().__init__(model, decay)
                self.shadow = [s + shift for s in self.shadow]

        monkeypatch.setattr(training_loop, "EMA", ShiftedStart)
        torch.manual_seed(0)
        model = DiffusionModel(x_dim=2, hidden=16, depth=1)
        result = fit(model, x, steps=30, eval_every=10, batch_size=50, ema_decay=0.995)
        return model.state_dict(), result

    (a, ra), (b, rb) = fitted(0.0), fitted(1000.0)
    assert ra.best_step == rb.best_step
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit-identical: nothing of the start survives the first step
