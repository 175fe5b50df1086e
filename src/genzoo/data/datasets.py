"""One entry point for every data set: `get(name, split, **kw) -> ArrayDataset`.

Conventions: images float32 in [0, 1] (= uint8 / 255), shape (N, C, H, W); points float32 (N, D); text an int64
1-D stream of character ids with ``meta["vocab"]``. A name that is not a built-in data set but a filesystem path
(a folder of images, a ``.npy`` / ``.npz`` array, a ``.csv`` / ``.tsv`` table, a ``.txt`` file) loads the user's
data the same way, with a seeded 10% held out as the "test" split.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.data import ising as _ising
from genzoo.data import lazy as _lazy
from genzoo.data import mnist as _mnist
from genzoo.data import shapes as _shapes
from genzoo.data import tabular as _tabular
from genzoo.data import text as _text
from genzoo.data import toy as _toy
from genzoo.data import user as _user
from genzoo.data.mnist import canonical_split
from genzoo.errors import ConfigError, DataError, UnknownNameError, unknown_name

TOY_SEEDS = {"train": 0, "test": 1}
TOY_SIZES = {"train": 20_000, "test": 5_000}
STACKED_SEEDS = {"train": 0, "test": 1}
STACKED_SIZES = {"train": 8_000, "test": 2_000}
DIGITS_SPLIT_SEED = 0
ISING_SIZES = {"train": 5_000, "test": 1_000}  # configurations per temperature
ISING_DEFAULTS = {"L": 16, "T": 2.269, "seed": 0}
SHAPES_DEFAULTS = {"size": 32, "antialias": 4, "seed": 0}
SHAPES_TEST = 1843  # 20% of the 9,216 factor combinations, a seeded permutation
SHAPES_SIZES = {"train": 9216 - SHAPES_TEST, "test": SHAPES_TEST}
USER_HOLDOUT = 0.1  # fraction of user data held out as "test" unless the folder has train/ and test/
USER_OPTIONS = ("holdout", "seed", "label", "lazy")
TEXT_OPTIONS = ("train_frac", "tokenizer")  # a user's .txt file
# data sets that are not shipped but read through get("mnist", root=...) (normalised name -> proper name)
MNIST_FORMAT_SETS = {"fashionmnist": "Fashion-MNIST", "fmnist": "Fashion-MNIST", "kmnist": "KMNIST",
                     "kuzushijimnist": "KMNIST", "fullmnist": "full MNIST"}


@dataclass
class ArrayDataset:
    """In-memory data: ``x`` (N, ...) and labels ``y`` (N,) or None, with what the data set says about itself."""

    x: Tensor
    y: Tensor | None = None
    name: str = "data"
    kind: str = "points"  # "image" | "points" | "text"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in ("image", "points", "text"):
            raise DataError(f'{self.name}: kind must be "image", "points" or "text", got "{self.kind}"')
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{self.name}: {len(self.y)} labels for {len(self.x)} examples")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i):
        """``x[i]``, or ``(x[i], y[i])`` when there are labels."""
        return self.x[i] if self.y is None else (self.x[i], self.y[i])

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one example: (C, H, W) for images, (D,) for points, () for a text stream."""
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.meta.get("num_classes") or 0)

    def __repr__(self) -> str:
        y = "" if self.y is None else f", y={tuple(self.y.shape)}"
        return f"ArrayDataset({self.name!r}, {self.kind}, x={tuple(self.x.shape)} {self.x.dtype}{y})"


@dataclass(frozen=True)
class DataInfo:
    """What `genzoo list` shows about a data set."""

    name: str
    kind: str
    shape: tuple[int, ...]
    sizes: dict[str, int]
    description: str
    num_classes: int = 0

    @property
    def size(self) -> int:  # the training split's size
        return self.sizes.get("train", 0)


_INFO: dict[str, DataInfo] = {}
for _n in _toy.TOY2D_NAMES:
    _INFO[_n] = DataInfo(_n, "points", (2,), dict(TOY_SIZES), _toy.DESCRIPTIONS[_n], _toy.NUM_COMPONENTS.get(_n, 0))
_INFO["mnist"] = DataInfo("mnist", "image", (1, 28, 28), {"train": 8_000, "test": 2_000},
                          "MNIST-10k shipped subset (first 10,000 MNIST training images, 8,000/2,000 split; "
                          "CC BY-SA 3.0); root= a folder of IDX files for full MNIST/Fashion-MNIST/KMNIST", 10)
_INFO["stacked-mnist"] = DataInfo("stacked-mnist", "image", (3, 28, 28), dict(STACKED_SIZES),
                                  "three MNIST-10k digits as RGB channels, 1,000 modes (label 100 d1 + 10 d2 + d3)",
                                  1000)
_INFO["digits"] = DataInfo("digits", "image", (1, 8, 8), {"train": 1437, "test": 360},
                           "scikit-learn 8x8 digits (17 gray levels, scaled to [0, 1]), seeded 80/20 split", 10)
_INFO["shakespeare"] = DataInfo("shakespeare", "text", (), {"train": 1_003_854, "test": 111_540},
                                "tiny Shakespeare characters (65-symbol vocabulary), first 90% train / last 10% val")
_INFO["ising"] = DataInfo("ising", "image", (1, 16, 16), dict(ISING_SIZES),
                          "2-D Ising configurations by Swendsen-Wang (L 16, T 2.269 = T_c; T a list: labels), "
                          "spins as {0, 1} images, cached on disk")
_INFO["shapes"] = DataInfo("shapes", "image", (1, 32, 32), dict(SHAPES_SIZES),
                           "dSprites-like shapes rendered in the package: shape, scale, rotation, x, y on a grid "
                           "(meta: factors); labels = shape (square, ellipse, heart); size 32 or 64", 3)


def names() -> list[str]:
    """Built-in data set names (user data is any path)."""
    return list(_INFO)


def get_info(name: str) -> DataInfo:
    """Name, kind, example shape, split sizes and description of a built-in data set."""
    if name not in _INFO:
        raise unknown_name("data set", name, _INFO)
    return _INFO[name]


def _looks_like_path(name: str) -> bool:
    return (os.sep in name or "/" in name or name.startswith(("~", ".")) or
            Path(name).suffix.lower() in (".npy", ".npz", ".csv", ".tsv", ".txt") or Path(name).exists())


def _check_options(name: str, kw: dict, allowed: tuple[str, ...] = ()) -> None:
    extra = sorted(set(kw) - set(allowed))
    if extra:
        valid = f"valid options: {', '.join(allowed)}" if allowed else "it takes no options"
        raise ConfigError(f"data {name}: unexpected option(s) {', '.join(extra)}; {valid}")


def _toy_data(name: str, split: str, n: int | None = None, seed: int | None = None, radius: float | None = None,
         std: float | None = None) -> ArrayDataset:
    n = TOY_SIZES[split] if n is None else n
    seed = TOY_SEEDS[split] if seed is None else seed
    meta: dict[str, Any] = {"split": split, "seed": seed, "description": _toy.DESCRIPTIONS[name]}
    if name in _toy.NUM_COMPONENTS:
        x, y = _toy.toy2d(name, n, seed, return_labels=True, radius=radius, std=std)
        meta["num_classes"] = _toy.NUM_COMPONENTS[name]
    else:
        x, y = _toy.toy2d(name, n, seed, radius=radius, std=std), None
    meta["exact_log_prob"] = name in _toy.DENSITIES
    if name in _toy.MIXTURES:
        modes = _toy.toy2d_modes(name, radius=radius, std=std)
        meta.update(modes=modes.means, mode_std=modes.std)
    return ArrayDataset(x, y, name, "points", meta)


def _images(name, x_uint8: Tensor, y: Tensor, meta: dict) -> ArrayDataset:
    return ArrayDataset(x_uint8.float() / 255.0, y, name, "image", {"n_bins": 256, **meta})


def get(name: str | os.PathLike, split: str = "train", **kw: Any) -> ArrayDataset:
    """The data set `name`, split "train" or "test" ("val" / "validation" are the held-out split).

    Options by data set:
      toy 2-D sets   n (20,000 train / 5,000 test), seed (0 train / 1 test), radius, std (mixtures only)
      mnist          root (folder of MNIST-format IDX files; default the shipped MNIST-10k)
      stacked-mnist  n (8,000 / 2,000), seed (0 / 1), root
      digits         (none) - a seeded 80/20 split of the 1,797 images
      ising          L (16), T (2.269; a list of temperatures: the index is the label), n (5,000 / 1,000 per
                     temperature), seed (0; the test split draws from another stream), cache (True)
      shapes         size (32; the image side, 16..128), antialias (4: samples per pixel side; 1 binary images),
                     seed (0, of the train / test permutation of the 9,216 factor combinations)
      shakespeare    path (another UTF-8 text file), train_frac (0.9), tokenizer ("char" or "byte")
      a .txt file    train_frac (0.9), tokenizer ("char" or "byte"): the first 90% of the text is train
      a path         folder of images, .npy/.npz, .csv/.tsv table; holdout (fraction held out as "test",
                     default 0.1; 0: "train" is everything), seed (of the held-out permutation, 0),
                     label (.csv/.tsv: the label column's name or 0-based number), lazy (a .npy file memory-mapped,
                     an image folder decoded on access: x is a genzoo.data.lazy.LazyArray; default False)
    """
    split = canonical_split(split)
    if isinstance(name, os.PathLike):
        return _path_data(Path(name), split, kw)
    if not isinstance(name, str):
        raise ConfigError(f"data set name must be a string or a path, got {type(name).__name__}")
    if name in _toy.TOY2D_NAMES:
        _check_options(name, kw, ("n", "seed", "radius", "std"))
        return _toy_data(name, split, **kw)
    if name == "mnist":
        _check_options(name, kw, ("root",))
        root = kw.pop("root", None)
        x, y = _mnist.load_mnist(root, split)
        src = "MNIST-10k (shipped)" if root is None else str(root)
        return _images(name, x, y, {"num_classes": 10, "split": split, "source": src})
    if name == "stacked-mnist":
        _check_options(name, kw, ("n", "seed", "root"))
        n = kw.pop("n", STACKED_SIZES[split])
        seed = kw.pop("seed", STACKED_SEEDS[split])
        root = kw.pop("root", None)
        x, y = _mnist.stacked_mnist(n, seed, split=split, root=root)
        return _images(name, x, y, {"num_classes": 1000, "split": split, "seed": seed})
    if name == "digits":
        _check_options(name, kw)
        x, y = _mnist.load_digits()
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
        cut = int(0.8 * len(x))
        idx = perm[:cut] if split == "train" else perm[cut:]
        return ArrayDataset(x[idx].contiguous(), y[idx].contiguous(), name, "image",
                            {"n_bins": 17, "num_classes": 10, "split": split})
    if name == "ising":
        _check_options(name, kw, ("L", "T", "n", "seed", "cache"))
        return _ising_data(split, **kw)
    if name == "shapes":
        _check_options(name, kw, tuple(SHAPES_DEFAULTS))
        return _shapes_data(split, **kw)
    if name == "shakespeare":
        _check_options(name, kw, ("path", "train_frac", "tokenizer"))
        return _text_data(name, _text.load_text(kw.pop("path", None), train_frac=kw.pop("train_frac", 0.9),
                                                tokenizer=kw.pop("tokenizer", "char")), split)
    if _looks_like_path(name):
        return _path_data(Path(name), split, kw)
    key = name.lower().replace("-", "").replace("_", "")
    if key in MNIST_FORMAT_SETS:
        raise UnknownNameError(
            f'unknown data set "{name}": {MNIST_FORMAT_SETS[key]} is not shipped, but it uses the MNIST IDX format: '
            f'download its four files and use get("mnist", root="<their folder>"). Built-in data sets: '
            f'{", ".join(sorted(_INFO))}')
    raise unknown_name("data set", name, _INFO)


def _ising_data(split: str, L: Any = None, T: Any = None, n: Any = None, seed: Any = None, cache: Any = True
                ) -> ArrayDataset:
    """Ising configurations as {0, 1} images (`genzoo.data.ising`); a list of temperatures labels each by its index."""
    L = ISING_DEFAULTS["L"] if L is None else L
    T = ISING_DEFAULTS["T"] if T is None else T
    n = ISING_SIZES[split] if n is None else n
    seed = ISING_DEFAULTS["seed"] if seed is None else seed
    for key, v, low in (("L", L, 2), ("n", n, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise ConfigError(f"data ising: {key} must be an integer >= {low}, got {v!r}")
    temps = list(T) if isinstance(T, (list, tuple)) else [T]
    if not temps or any(isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 < float(t) < float("inf")
                        for t in temps):
        raise ConfigError(f"data ising: T must be a positive temperature or a non-empty list of them, got {T!r}")
    if not isinstance(cache, bool):
        raise ConfigError(f"data ising: cache must be true or false, got {cache!r}")
    temps = [float(t) for t in temps]
    x, y = _ising.ising_images(int(L), temps, int(n), int(seed), split, cache)
    meta: dict[str, Any] = {"L": int(L), "T": temps if isinstance(T, (list, tuple)) else temps[0], "n": int(n),
                            "n_bins": 2, "spins": "0 -> -1, 1 -> +1", "split": split, "seed": int(seed),
                            "sampler": "swendsen-wang"}
    if isinstance(T, (list, tuple)):
        meta.update(num_classes=len(temps), temperatures=temps)
        return ArrayDataset(x, y, "ising", "image", meta)
    return ArrayDataset(x, None, "ising", "image", meta)


def _shapes_data(split: str, size: Any = None, antialias: Any = None, seed: Any = None) -> ArrayDataset:
    """The shapes grid (`genzoo.data.shapes`) split by a seeded permutation; meta carries every image's factors:
    `factors` (the names), `factor_index` (N, 5) int64 grid indices, `factor_values` (N, 5) float64 values,
    `factor_grid` (the values of each factor), `factor_kinds`, `shapes` (the label names)."""
    size = SHAPES_DEFAULTS["size"] if size is None else size
    antialias = SHAPES_DEFAULTS["antialias"] if antialias is None else antialias
    seed = SHAPES_DEFAULTS["seed"] if seed is None else seed
    for key, v, low, high in (("size", size, 16, 128), ("antialias", antialias, 1, 8), ("seed", seed, 0, None)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low or (high is not None and v > high):
            limits = f"between {low} and {high}" if high is not None else f">= {low}"
            raise DataError(f"data shapes: {key} must be an integer {limits}, got {v!r}")
    x, index = _shapes.shapes_images(int(size), int(antialias))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))
    idx = perm[SHAPES_TEST:] if split == "train" else perm[:SHAPES_TEST]
    idx = idx.sort().values  # grid order within a split
    index = index[idx].contiguous()
    meta: dict[str, Any] = {
        "num_classes": len(_shapes.SHAPE_NAMES), "n_bins": int(antialias) ** 2 + 1, "split": split, "seed": int(seed),
        "size": int(size), "antialias": int(antialias), "shapes": list(_shapes.SHAPE_NAMES),
        "factors": list(_shapes.FACTOR_NAMES), "factor_kinds": list(_shapes.FACTOR_KINDS),
        "factor_grid": {k: list(v) for k, v in _shapes.FACTOR_VALUES.items()},
        "factor_index": index, "factor_values": _shapes.factor_values(index)}
    return ArrayDataset(x[idx].contiguous(), index[:, 0].clone(), "shapes", "image", meta)


def _path_data(path: Path, split: str, kw: dict) -> ArrayDataset:
    """User data at a path: a .txt file is a text stream (options train_frac, tokenizer), anything else goes
    through `_user_data` (options holdout, seed, label)."""
    if path.suffix.lower() == ".txt" and path.expanduser().is_file():
        _check_options(str(path), kw, TEXT_OPTIONS)
        return _text_data(str(path), _text.load_text(path.expanduser(), **kw), split)
    _check_options(str(path), kw, USER_OPTIONS)
    return _user_data(path, split, **kw)


def _text_data(name: str, td: _text.TextData, split: str) -> ArrayDataset:
    """A text stream; `meta` carries its tokeniser as the config fields of text models name it (tokenizer, chars,
    vocab_size), so a model trained on it saves the tokeniser with its weights."""
    ids = td.train if split == "train" else td.val
    return ArrayDataset(ids, None, name, "text", {
        "vocab": td.vocab, "vocab_size": td.vocab_size, "tokenizer": td.tokenizer, "chars": td.chars,
        "split": split, "source": td.source})


def _check_user_options(path: Path, holdout: Any, seed: Any, label: Any) -> float | None:
    if holdout is not None:
        if isinstance(holdout, bool) or not isinstance(holdout, numbers.Real) or not 0.0 <= float(holdout) < 1.0:
            raise ConfigError(f"{path}: holdout must lie in [0, 1) (the fraction held out as the test split), "
                              f"got {holdout!r}")
        holdout = float(holdout)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"{path}: seed (of the held-out split) must be an integer, got {seed!r}")
    suffix = path.suffix.lower()
    if label is not None and (path.is_dir() or suffix not in _tabular.DELIMITERS):
        where = "sub-folder names" if path.is_dir() else ("array 'y' of a .npz file" if suffix in (".npy", ".npz")
                                                          else "nothing")
        raise ConfigError(f"{path}: label names a column of a .csv/.tsv table; here labels come from {where}")
    return holdout


def _user_data(path: Path, split: str, holdout: float | None = None, seed: int = 0,
               label: str | int | None = None, lazy: bool = False) -> ArrayDataset:
    """User data; `holdout` (default USER_HOLDOUT) of a permutation seeded by `seed` is the "test" split; `lazy`:
    rows read on access (genzoo.data.lazy)."""
    path = path.expanduser()
    if not isinstance(lazy, bool):
        raise ConfigError(f"{path}: lazy must be true or false, got {lazy!r}")
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected a folder of PNG/JPEG images, a .npy/.npz array, a "
                        f".csv/.tsv table or a .txt file (or a built-in data set: {', '.join(_INFO)})")
    holdout = _check_user_options(path, holdout, seed, label)
    name = str(path)
    if path.is_dir() and (path / "train").is_dir():
        if holdout:
            raise ConfigError(f"{path}: the folder has its own train/ and test/ split; holdout does not apply")
        sub = path / ("train" if split == "train" else "test")
        if not sub.is_dir():
            sub = path / "val"
        if not sub.is_dir():
            raise DataError(f"{path}: has train/ but no test/ or val/ folder for the held-out split")
        x, y, classes = _lazy.open_images(sub) if lazy else _user.load_images(sub)
        meta = {"split": split, "source": str(sub), "n_bins": 256, **({"lazy": True} if lazy else {})}
        if classes:
            meta.update(num_classes=len(classes), classes=classes)
        return ArrayDataset(x, y, name, "image", meta)
    meta: dict[str, Any] = {}
    if lazy and not path.is_dir() and path.suffix.lower() != ".npy":
        raise ConfigError(f"{path}: lazy loading reads a .npy file (memory-mapped) or a folder of images; save the "
                          f"array with np.save, or drop lazy")
    if path.is_dir():
        x, y, classes = _lazy.open_images(path) if lazy else _user.load_images(path)
        kind = "image"
        meta["n_bins"] = 256
        if classes:
            meta.update(num_classes=len(classes), classes=classes)
    elif lazy:
        x, y = _lazy.open_npy(path), None
        kind = x.kind
        if kind == "image":
            meta["n_bins"] = 256
    elif path.suffix.lower() in (".npy", ".npz"):
        x, y, kind = _user.load_array(path)
        if kind == "image":
            meta["n_bins"] = 256
        if y is not None:
            meta["num_classes"] = int(y.max()) + 1 if len(y) else 0
    elif path.suffix.lower() in _tabular.DELIMITERS:
        table = _tabular.load_table(path, label=label)
        x, y, kind = table.x, table.y, "points"
        if table.columns is not None:
            meta["columns"] = table.columns
        if y is not None:
            meta.update(label=table.label, num_classes=table.num_classes)
            if table.classes is not None:
                meta["classes"] = table.classes
    else:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; expected a folder of images, .npy, .npz, "
                        f".csv, .tsv or .txt")
    holdout = USER_HOLDOUT if holdout is None else holdout
    meta.update(split=split, source=str(path), holdout=holdout, seed=int(seed), **({"lazy": True} if lazy else {}))
    if holdout == 0.0:
        if split != "train":
            raise DataError(f"{path}: no test split with holdout=0; hold out a seeded fraction with holdout=0.1 "
                            f"(CLI: genzoo train ... --set data.holdout=0.1)")
        return ArrayDataset(x, y, name, kind, meta)
    n_test = max(1, int(holdout * len(x) + 0.5))  # round half up, at least one example
    if n_test >= len(x):
        raise DataError(f"{path}: {len(x)} examples are too few to hold out {holdout:.0%} as the test split; use "
                        f"holdout=0 to train on all of them (CLI: --set data.holdout=0)")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))
    idx = perm[n_test:] if split == "train" else perm[:n_test]
    if lazy:
        return ArrayDataset(x.subset(idx), None if y is None else y[idx].contiguous(), name, kind, meta)
    return ArrayDataset(x[idx].contiguous(), None if y is None else y[idx].contiguous(), name, kind, meta)
