"""A training run killed with SIGKILL and resumed ends with the same weights as an uninterrupted one."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from safetensors.torch import load_file

from gentransfer import ConfigError, DiffusionModel, fit
from gentransfer.training.checkpoint import CHECKPOINT_NAME, load_checkpoint

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from gentransfer import DiffusionModel, fit
    torch.set_num_threads(1)
    out, resume = sys.argv[1], sys.argv[2] == "1"
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(400, 2, generator=gen)
    x = torch.cat([z.sum(1, keepdim=True), z[:, :1] * 2], 1) + 0.1 * torch.randn(400, 2, generator=gen)
    torch.manual_seed(1)
    model = DiffusionModel(x_dim=2, z_dim=2, hidden=64, depth=2)
    fit(model, x, z, steps=1500, eval_every=100, patience=100, checkpoint_every=20, seed=3,
        checkpoint_dir=out, resume=resume)
    model.save_pretrained(out + "/model")
    """
)


def _run(out, resume: bool) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), "1" if resume else "0"])


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    uninterrupted = _run(clean, resume=False)  # beside the killed run: the comparison costs no extra wall time
    proc = _run(killed, resume=True)
    deadline = time.time() + 120
    while not (killed / CHECKPOINT_NAME).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(random.uniform(0.05, 0.4))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, meta = load_checkpoint(killed)
    assert 0 < meta["step"] < 1500, "the kill must land in the middle of training"
    assert _run(killed, resume=True).wait() == 0
    assert uninterrupted.wait() == 0
    a, b = load_file(killed / "model" / "model.safetensors"), load_file(clean / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    x, z = torch.randn(50, 2), torch.randn(50, 1)
    model = DiffusionModel(x_dim=2, z_dim=1, hidden=8, depth=1)
    fit(model, x, z, steps=10, eval_every=5, checkpoint_dir=str(tmp_path), resume=True)
    with pytest.raises(ConfigError, match="another model, data or settings"):
        fit(model, x, z, steps=10, eval_every=5, lr=0.5, checkpoint_dir=str(tmp_path), resume=True)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"\x00" * 20)
    model = DiffusionModel(x_dim=2, z_dim=1, hidden=8, depth=1)
    from gentransfer import CheckpointError

    with pytest.raises(CheckpointError, match="cannot read the training checkpoint"):
        fit(model, torch.randn(20, 2), torch.randn(20, 1), steps=5, checkpoint_dir=str(tmp_path), resume=True)
