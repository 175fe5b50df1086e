import os

import numpy as np
import pytest
import torch
from hypothesis import settings

# Property tests draw the same examples on every machine and every run (no example database, a fixed seed
# derived from each test): CI sees exactly what a developer saw, and a failure reproduces.
settings.register_profile("genzoo", derandomize=True, database=None, print_blob=True)
settings.load_profile("genzoo")

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield
