"""`genzoo.data.get` for every name, text, user folders and arrays, and the errors on bad names and paths."""

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo.data as gd
from genzoo.data import ArrayDataset, CharVocab, get, get_info, load_text, names, write_idx
from genzoo.errors import ConfigError, DataError, UnknownNameError


def test_names_and_info():
    assert names() == ["ring8", "grid25", "8gaussians", "moons", "circles", "swissroll", "checkerboard",
                       "pinwheel", "2spirals", "mnist", "stacked-mnist", "digits", "shakespeare", "ising", "shapes"]
    for n in names():
        info = get_info(n)
        assert info.name == n and info.kind in ("image", "points", "text") and info.description and info.size > 0
    assert get_info("mnist").shape == (1, 28, 28) and get_info("mnist").sizes == {"train": 8000, "test": 2000}
    with pytest.raises(UnknownNameError, match='Did you mean "mnist"'):
        get_info("mnsit")


@pytest.mark.parametrize("name", ["ring8", "grid25", "8gaussians", "moons", "circles", "swissroll", "checkerboard",
                                  "pinwheel", "2spirals"])
def test_get_toy(name):
    tr, te = get(name, n=300), get(name, "test", n=300)
    assert isinstance(tr, ArrayDataset) and tr.kind == "points" and tr.name == name
    assert tr.x.shape == (300, 2) and tr.data_shape == (2,) and len(tr) == 300
    assert not torch.equal(tr.x, te.x)  # train and test use different seeds
    assert torch.equal(tr.x, get(name, n=300).x)  # ... fixed ones
    assert (tr.y is None) == (name == "swissroll")
    if tr.y is not None:
        assert tr.meta["num_classes"] == int(tr.y.max()) + 1
        x0, y0 = tr[0]
        assert torch.equal(x0, tr.x[0]) and y0 == tr.y[0]
    assert tr.meta["exact_log_prob"] == (name in ("ring8", "grid25", "8gaussians", "checkerboard"))
    assert get_info(name).sizes == {"train": 20000, "test": 5000}


def test_get_toy_defaults_and_options():
    ds = get("ring8")
    assert len(ds) == 20000 and len(get("ring8", "val")) == 5000
    wide = get("grid25", n=100, std=0.2, seed=5)
    assert wide.meta["mode_std"] == 0.2 and wide.meta["modes"].shape == (25, 2)
    with pytest.raises(ConfigError, match="ring8: unexpected option.s. bogus; valid options: n, seed, radius, std"):
        get("ring8", bogus=1)
    with pytest.raises(ConfigError, match="digits: unexpected option.s. n; it takes no options"):
        get("digits", n=5)


def test_get_mnist_and_stacked():
    tr, te = get("mnist"), get("mnist", "test")
    assert (len(tr), len(te)) == (8000, 2000)
    assert tr.kind == "image" and tr.x.dtype == torch.float32 and tr.data_shape == (1, 28, 28)
    assert tr.x.min() == 0 and tr.x.max() == 1
    assert torch.equal(tr.x * 255, (tr.x * 255).round())  # exactly uint8 / 255
    assert tr.meta["num_classes"] == 10 and tr.meta["n_bins"] == 256
    st = get("stacked-mnist", n=64, seed=2)
    assert st.x.shape == (64, 3, 28, 28) and st.meta["num_classes"] == 1000 and st.y.max() <= 999
    assert len(get("stacked-mnist", "test", n=10)) == 10


def test_get_mnist_user_root(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in [("train", 12), ("t10k", 4)]:
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    assert len(get("mnist", root=tmp_path)) == 12 and len(get("mnist", "test", root=str(tmp_path))) == 4
    with pytest.raises(DataError, match="MNIST folder does not exist"):
        get("mnist", root=tmp_path / "missing")


def test_get_digits():
    tr, te = get("digits"), get("digits", "test")
    assert (len(tr), len(te)) == (1437, 360) and tr.data_shape == (1, 8, 8)
    assert tr.x.min() == 0 and tr.x.max() == 1 and tr.meta["n_bins"] == 17
    assert torch.equal(tr.x * 16, (tr.x * 16).round())
    assert torch.equal(get("digits").x, tr.x)  # deterministic split
    train_rows = {r.numpy().tobytes() for r in tr.x.flatten(1)}
    assert sum(r.numpy().tobytes() in train_rows for r in te.x.flatten(1)) < 10  # disjoint (up to duplicate images)


def test_get_shakespeare_and_vocab():
    tr, va, te = get("shakespeare"), get("shakespeare", "val"), get("shakespeare", "test")
    assert tr.kind == "text" and tr.x.dtype == torch.int64 and tr.x.dim() == 1
    assert (len(tr), len(va)) == (1003854, 111540) and torch.equal(va.x, te.x)
    vocab = tr.meta["vocab"]
    assert isinstance(vocab, CharVocab) and len(vocab) == 65 == tr.meta["vocab_size"]
    assert vocab.decode(tr.x[:14]) == "First Citizen:"
    assert vocab[0] == "\n" and list(vocab)[:3] == ["\n", " ", "!"]
    assert tr.data_shape == ()


def test_char_vocab(tmp_path):
    v = CharVocab.from_text("hello world")
    assert v.chars == " dehlorw" and len(v) == 8
    ids = v.encode("world hello")
    assert ids.dtype == torch.int64 and v.decode(ids) == "world hello"
    assert CharVocab(v.chars) == v
    with pytest.raises(DataError, match="character 'z' is not in the vocabulary"):
        v.encode("zoo")
    with pytest.raises(DataError, match=r"ids must lie in \[0, 8\)"):
        v.decode([0, 8])
    p = tmp_path / "t.txt"
    p.write_text("abcdefghij" * 10)
    td = load_text(p)
    assert (len(td.train), len(td.val)) == (90, 10) and td.vocab.decode(td.val) == "abcdefghij"
    ds = get(str(p), "val")
    assert ds.kind == "text" and len(ds) == 10


def test_shipped_text_checksum_is_checked(tmp_path, monkeypatch):
    bad = tmp_path / "input.txt"
    bad.write_text("not shakespeare")
    (tmp_path / "SHA256SUMS").write_text((gd.text.SHAKESPEARE.parent / "SHA256SUMS").read_text())
    monkeypatch.setattr(gd.text, "SHAKESPEARE", bad)
    with pytest.raises(DataError, match=r"input.txt: checksum mismatch: .* expected 86c4e6aa"):
        load_text()


def test_unknown_name_suggests_nearest():
    with pytest.raises(UnknownNameError, match=r'unknown data set "rings8". Did you mean "ring8"\?'):
        get("rings8")
    with pytest.raises(UnknownNameError, match='Did you mean "stacked-mnist"'):
        get("stacked_mnist")
    with pytest.raises(UnknownNameError, match='unknown split "dev"'):
        get("ring8", "dev")
    with pytest.raises(DataError, match="no/such/folder: no such file or folder"):
        get("no/such/folder")


def _write_png(path, arr):
    Image.fromarray(arr).save(path)


def test_user_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 12, 10)).astype(np.uint8)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, a in enumerate(imgs):
        _write_png(folder / f"{i:02d}.png", a)
    (folder / "notes.txt").write_text("ignored")
    ds = get(str(folder), holdout=0)
    assert ds.kind == "image" and ds.x.shape == (5, 1, 12, 10) and ds.y is None and ds.x.dtype == torch.float32
    assert torch.allclose(ds.x[:, 0] * 255, torch.from_numpy(imgs).float())  # lossless PNG, k / 255
    assert len(get(folder, "train", holdout=0.2)) == 4 and len(get(folder, "test", holdout=0.2)) == 1
    with pytest.raises(DataError, match="no test split with holdout=0"):
        get(str(folder), "test", holdout=0)
    # RGB images make a 3-channel set; a size mismatch names the file
    _write_png(folder / "05.png", rng.integers(0, 256, (12, 10, 3)).astype(np.uint8))
    assert get(str(folder), holdout=0).x.shape == (6, 3, 12, 10)
    _write_png(folder / "06.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match=r"06.png: image is 8x8, expected 10x12"):
        get(str(folder))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        get(str(tmp_path / "empty"))


def test_user_class_folders_and_bad_image(tmp_path):
    for c, n in [("cat", 2), ("dog", 3)]:
        (tmp_path / c).mkdir()
        for i in range(n):
            _write_png(tmp_path / c / f"{i}.png", np.full((4, 4, 3), 40 * i, np.uint8))
    ds = get(str(tmp_path), holdout=0)
    assert ds.x.shape == (5, 3, 4, 4) and ds.y.tolist() == [0, 0, 1, 1, 1]
    assert ds.meta["classes"] == ["cat", "dog"] and ds.meta["num_classes"] == 2
    (tmp_path / "dog" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"9.png: cannot read image"):
        get(str(tmp_path))


def test_user_arrays(tmp_path):
    pts = np.random.default_rng(0).standard_normal((50, 3))
    np.save(tmp_path / "pts.npy", pts)
    ds = get(str(tmp_path / "pts.npy"), holdout=0)
    assert ds.kind == "points" and ds.x.shape == (50, 3) and ds.x.dtype == torch.float32
    assert np.allclose(ds.x.numpy(), pts, atol=1e-6)
    imgs = np.random.default_rng(1).integers(0, 256, (7, 6, 6, 3)).astype(np.uint8)  # NHWC uint8
    np.savez(tmp_path / "imgs.npz", x=imgs, y=np.arange(7))
    ds = get(tmp_path / "imgs.npz", holdout=0)
    assert ds.kind == "image" and ds.x.shape == (7, 3, 6, 6) and ds.y.tolist() == list(range(7))
    assert torch.allclose(ds.x * 255, torch.from_numpy(imgs).permute(0, 3, 1, 2).float())
    np.save(tmp_path / "bad.npy", np.full((4, 2), np.nan))
    with pytest.raises(DataError, match="bad.npy: array contains NaN"):
        get(str(tmp_path / "bad.npy"))
    np.save(tmp_path / "range.npy", np.full((4, 1, 5, 5), 3.0))
    with pytest.raises(DataError, match=r"range.npy: image values lie in \[3, 3\]; expected uint8 or floats"):
        get(str(tmp_path / "range.npy"))
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="junk.npy: cannot read as a NumPy array"):
        get(str(tmp_path / "junk.npy"))
    with pytest.raises(ConfigError, match="holdout must lie"):
        get(str(tmp_path / "pts.npy"), holdout=1.5)


@pytest.mark.parametrize("name,proper", [("fashion-mnist", "Fashion-MNIST"), ("FashionMNIST", "Fashion-MNIST"),
                                         ("kmnist", "KMNIST")])
def test_mnist_format_sets_point_to_root(name, proper):
    with pytest.raises(UnknownNameError, match=rf'unknown data set "{name}": {proper} is not shipped, but it uses the '
                                               r'MNIST IDX format: .*get\("mnist", root='):
        get(name)


def test_char_vocab_vectorised_encode_decode():
    v = CharVocab("zba\u00e9\U0001F600")  # not sorted, with non-ASCII and a non-BMP character
    text = "ab\U0001F600\u00e9zz"
    ids = v.encode(text)
    assert ids.tolist() == [2, 1, 4, 3, 0, 0]
    assert ids.tolist() == [v.chars.index(c) for c in text]  # the per-character definition
    assert v.decode(ids) == text and v.decode(torch.zeros(0, dtype=torch.int64)) == ""
    assert v.encode("").shape == (0,)
    with pytest.raises(DataError, match="character 'q' is not in the vocabulary of 5"):
        v.encode("abqx")  # names the first offending character
    with pytest.raises(DataError, match=r"ids must lie in \[0, 5\), got \[-1, 2\]"):
        v.decode([2, -1])
