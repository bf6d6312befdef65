import os
from pathlib import Path

import pytest
import torch

from gentransfer.data import data_root


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
    torch.set_num_threads(2)
    yield
