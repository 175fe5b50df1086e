"""Lazy data (genzoo.data.lazy): a memory-mapped .npy and an image folder read row by row give the tensors the
in-memory loaders give, and the Trainer trains on them bit for bit as on the in-memory array, reading only the rows
of its batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.data import get, load_array, load_images
from genzoo.data.lazy import ImageFiles, LazyArray, NpyArray, open_images
from genzoo.errors import ConfigError, DataError
from genzoo.models import create
from genzoo.train import TrainConfig, Trainer


def _npy(tmp_path, a, name="a.npy"):
    p = tmp_path / name
    np.save(p, a)
    return p


@pytest.mark.parametrize("layout", ["points", "gray-uint8", "nhwc-uint8", "nchw-float", "bool"])
def test_npy_rows_equal_the_in_memory_loader(tmp_path, layout):
    rng = np.random.default_rng(0)
    a = {"points": rng.normal(size=(30, 3)),
         "gray-uint8": rng.integers(0, 256, (30, 5, 4), dtype=np.uint8),
         "nhwc-uint8": rng.integers(0, 256, (30, 5, 4, 3), dtype=np.uint8),
         "nchw-float": rng.random((30, 1, 5, 4)).astype(np.float32),
         "bool": rng.random((30, 6, 6)) < 0.5}[layout]
    p = _npy(tmp_path, a)
    full, _, kind = load_array(p)
    lazy = NpyArray(p)
    assert isinstance(lazy.array, np.memmap) and lazy.kind == kind
    assert lazy.shape == full.shape and len(lazy) == len(full)
    idx = torch.tensor([7, 2, 2, 29, 0])
    assert torch.equal(lazy[idx], full[idx])  # repeated and unsorted indices keep their order
    assert torch.equal(lazy[3:11:2], full[3:11:2])
    assert torch.equal(lazy[-1], full[-1])
    assert torch.equal(lazy[:], full)
    sub = lazy.subset(torch.tensor([4, 1, 9]))
    assert torch.equal(sub[torch.tensor([2, 0])], full[torch.tensor([9, 4])])
    with pytest.raises(IndexError):
        lazy[30]


def test_bad_values_are_a_data_error_when_read(tmp_path):
    a = np.zeros((10, 2))
    a[6, 1] = np.nan
    lazy = NpyArray(_npy(tmp_path, a))
    assert torch.equal(lazy[:5], torch.zeros(5, 2))  # rows without the NaN read fine
    with pytest.raises(DataError, match="NaN"):
        lazy[5:8]
    img = np.full((4, 3, 3), 2.0, dtype=np.float32)
    with pytest.raises(DataError, match=r"expected uint8 or floats in \[0, 1\]"):
        NpyArray(_npy(tmp_path, img, "img.npy"))[0:2]
    with pytest.raises(DataError, match="numeric"):
        NpyArray(_npy(tmp_path, np.array([["a", "b"]]), "s.npy"))
    np.savez(tmp_path / "z.npz", x=a)
    with pytest.raises(ConfigError, match="npz"):
        get(str(tmp_path / "z.npz"), lazy=True)


def test_image_folder_decodes_on_access(tmp_path, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls, mode in (("cat", "L"), ("dog", "RGB")):
        (tmp_path / cls).mkdir()
        for i in range(3):
            shape = (6, 5) if mode == "L" else (6, 5, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(tmp_path / cls / f"{i}.png")
    x, y, classes = load_images(tmp_path)
    lazy, ly, lclasses = open_images(tmp_path)
    assert isinstance(lazy, ImageFiles) and lazy.shape == x.shape == (6, 3, 6, 5)
    assert torch.equal(ly, y) and lclasses == classes == ["cat", "dog"]
    decoded = []
    import genzoo.data.user as user

    real = user._read_image
    monkeypatch.setattr(user, "_read_image", lambda p: decoded.append(p.name) or real(p))
    assert torch.equal(lazy[torch.tensor([4, 0])], x[torch.tensor([4, 0])])
    assert len(decoded) == 2  # only the two images asked for
    assert torch.equal(lazy[:], x)


def test_get_lazy_keeps_the_held_out_split(tmp_path):
    a = np.random.default_rng(2).integers(0, 256, (50, 4, 4), dtype=np.uint8)
    p = _npy(tmp_path, a)
    for split in ("train", "test"):
        eager, lazy = get(str(p), split), get(str(p), split, lazy=True)
        assert isinstance(lazy.x, LazyArray) and lazy.meta["lazy"] is True and lazy.kind == eager.kind == "image"
        assert lazy.data_shape == eager.data_shape
        assert torch.equal(lazy.x[:], eager.x)
    with pytest.raises(ConfigError, match="lazy must be true or false"):
        get(str(p), lazy="yes")


class Spy:
    """Stands for the memmap: records every row index read."""

    def __init__(self, array):
        self.array, self.rows = array, []

    def __getitem__(self, rows):
        self.rows += np.asarray(rows).tolist()
        return self.array[rows]


def test_training_reads_only_its_batches_and_equals_in_memory(tmp_path):
    n, bs, steps = 400, 16, 5  # 80 of 400 rows visited
    a = np.random.default_rng(3).integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
    p = _npy(tmp_path, a)
    cfg = TrainConfig(steps=steps, batch_size=bs, lr=3e-3, seed=4, device="cpu", progress=False, log_every=1)

    def vae():
        torch.manual_seed(0)
        return create("vae", data_shape=(1, 8, 8), hidden=(8,), latent_dim=2)

    eager = Trainer(vae(), load_array(p)[0], cfg)
    eager.fit()
    lazy_x = NpyArray(p)
    spy = lazy_x.array = Spy(lazy_x.array)
    lazy = Trainer(vae(), lazy_x, cfg)
    lazy.fit()
    for (k, u), (_, v) in zip(eager.model.state_dict().items(), lazy.model.state_dict().items()):
        assert torch.equal(u, v), k
    batches = torch.cat([lazy.order.indices(i) for i in range(steps)]).tolist()
    checked = set(range(2))  # the Trainer's input check reads the first two rows
    assert set(spy.rows) == set(batches) | checked
    assert len(set(spy.rows)) <= steps * bs + 2 < n
    # the same batches read ahead by 2 DataLoader worker processes
    workers = Trainer(vae(), NpyArray(p), cfg, num_workers=2)
    workers.fit()
    for (k, u), (_, v) in zip(eager.model.state_dict().items(), workers.model.state_dict().items()):
        assert torch.equal(u, v), k
    # a wrong answer fails: another data order gives other weights
    other = Trainer(vae(), NpyArray(p), cfg, seed=5)
    other.fit()
    assert not all(torch.equal(u, v) for u, v in zip(eager.model.state_dict().values(),
                                                     other.model.state_dict().values()))
