import os
from pathlib import Path

import pytest
import torch

from gentransfer.data import data_root

# `make test` runs two pytest workers on the 2 cores: one thread each (and in the processes they
# start), or the two oversubscribe the cores and the suite runs no faster than one worker.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
if THREADS == 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The folder holding the real MNIST / USPS files.

    In CI the data must be there (a missing folder fails the run); elsewhere tests that need
    it are skipped with the reason, so a user without the datasets can still run the suite.
    """
    root = data_root()
    if not (root / "mnist").is_dir() or not (root / "usps").is_dir():
        message = f"real datasets not found under {root}; set GENTRANSFER_DATA"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(autouse=True)
def _few_threads():
    # 2-core machines: keep torch from oversubscribing when pytest runs a test.
    torch.set_num_threads(THREADS)
    yield
