"""`genzoo augment`: balanced labelled samples of a conditional run as a .npz that genzoo.data reads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.cli import main
from genzoo.data import get

TINY = ["--steps", "2", "--no-progress", "--set", "model.hidden=[8]", "--set", "model.latent_dim=2",
        "--set", "train.batch_size=16"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("augment")
    assert main(["train", "cvae", "--data", "mnist", "--out", str(root / "cvae"), *TINY]) == 0
    assert main(["train", "vae", "--data", "mnist", "--out", str(root / "vae"), *TINY]) == 0
    return root


def test_augment_writes_balanced_samples_that_read_back(runs, tmp_path, capsys):
    out = tmp_path / "samples.npz"
    assert main(["augment", str(runs / "cvae"), "--n", "47", "--out", str(out), "--batch-size", "10"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with np.load(out) as f:
        x, y, k = f["x"], f["y"], int(f["num_classes"])
    assert x.dtype == np.float32 and x.shape == (47, 1, 28, 28) and 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and k == 10
    assert np.bincount(y, minlength=10).tolist() == [5] * 7 + [4] * 3
    ds = get(str(out), holdout=0)
    assert ds.kind == "image" and ds.num_classes == 10
    assert torch.equal(ds.x, torch.from_numpy(x)) and torch.equal(ds.y, torch.from_numpy(y))
    again = tmp_path / "again.npz"
    assert main(["augment", str(runs / "cvae"), "--n", "47", "--out", str(again), "--batch-size", "10"]) == 0
    other = tmp_path / "other.npz"
    assert main(["augment", str(runs / "cvae"), "--n", "47", "--out", str(other), "--batch-size", "10",
                 "--seed", "1"]) == 0
    with np.load(again) as a, np.load(other) as b:
        assert np.array_equal(a["x"], x) and not np.array_equal(b["x"], x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.npz", "other.npz", "samples.npz"]  # no temp files


@pytest.mark.parametrize("case", ["unconditional", "missing", "suffix"])
def test_augment_refuses_in_one_line(runs, tmp_path, capsys, case):
    run, out, want = {
        "unconditional": (runs / "vae", tmp_path / "s.npz", "unconditional"),
        "missing": (tmp_path / "nowhere", tmp_path / "s.npz", "no such run folder"),
        "suffix": (runs / "cvae", tmp_path / "s.png", ".npz"),
    }[case]
    assert main(["augment", str(run), "--n", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and want in err and err.startswith("genzoo augment: error:")
    assert not out.exists()
