"""Data beyond memory: arrays whose rows are read when indexed (a memory-mapped `.npy`, a folder of image files).

A `LazyArray` stands where a data set's `x` tensor would: it has the `shape` of the tensor it represents and
indexing it (an integer, a slice, an index tensor or array) returns a float32 tensor of just those rows, read and
converted the way `genzoo.data.user` converts a whole file (uint8 / 255, (N, H, W) -> (N, 1, H, W), NHWC -> NCHW).

    x = open_npy("big.npy")          # np.load(mmap_mode="r"): the OS pages in the rows that are read
    x = open_images("photos/")       # file names and headers only; each image decoded when its row is read
    x[torch.tensor([5, 2, 9])]       # (3, C, H, W) float32

The Trainer draws the same seeded order over a LazyArray as over a tensor (`genzoo.train.data.BatchOrder`), and
with `num_workers > 0` reads the batches ahead in DataLoader worker processes (`genzoo.train.data.Prefetch`).
Checks that need every value (NaN, the [0, 1] range of float images) run on each batch read, as a DataError.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import ConfigError, DataError


class LazyArray:
    """Rows on demand; subclasses define `_read(rows: np.ndarray of sorted unique ints) -> float32 ndarray`."""

    name: str = "lazy"

    def __init__(self, shape: tuple[int, ...], index: np.ndarray | None = None):
        self._shape = tuple(int(s) for s in shape)  # of the whole source, before `index`
        self.index = index  # rows of the source this array shows (a held-out split), None: all

    # the tensor it stands for
    @property
    def shape(self) -> torch.Size:
        n = self._shape[0] if self.index is None else len(self.index)
        return torch.Size((n, *self._shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def __len__(self) -> int:
        return int(self.shape[0])

    def dim(self) -> int:
        return len(self.shape)

    def is_floating_point(self) -> bool:
        return True

    def __getitem__(self, key) -> Tensor:
        n = len(self)
        if isinstance(key, (int, np.integer)):
            i = int(key) + n if int(key) < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"index {key} is out of range for {n} rows")
            return self.rows(np.array([i]))[0]
        if isinstance(key, slice):
            return self.rows(np.arange(n)[key])
        if isinstance(key, Tensor):
            key = key.cpu().numpy()
        idx = np.asarray(key)
        if idx.dtype == np.bool_:
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"{type(self).__name__} takes an int, a slice or a 1-D index, got {type(key).__name__}")
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"index out of range for {n} rows")
        return self.rows(idx)

    def rows(self, idx: np.ndarray) -> Tensor:
        """Rows `idx` (positions in this array) as a float32 tensor, in the order given; each distinct row read
        once, in increasing order of its place in the source (sequential reads)."""
        src = np.asarray(idx, dtype=np.int64) if self.index is None else self.index[np.asarray(idx, dtype=np.int64)]
        uniq, inverse = np.unique(src, return_inverse=True)
        if uniq.size == 0:
            return torch.zeros((0, *self._shape[1:]), dtype=torch.float32)
        return torch.from_numpy(np.ascontiguousarray(self._read(uniq)[inverse]))

    def subset(self, idx) -> LazyArray:
        """A view of rows `idx` (nothing is read): the held-out split of a lazy user data set."""
        idx = np.asarray(idx.cpu().numpy() if isinstance(idx, Tensor) else idx, dtype=np.int64)
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.index = idx if self.index is None else self.index[idx]
        return out

    def contiguous(self) -> LazyArray:
        return self

    def _read(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, shape={tuple(self.shape)})"


class NpyArray(LazyArray):
    """A `.npy` file opened with `np.load(path, mmap_mode="r")`: `self.array` is an `np.memmap`, and a read touches
    only the pages of the rows asked for. Layouts and types as `genzoo.data.user.load_array`."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path).expanduser()
        if path.suffix.lower() != ".npy":
            raise ConfigError(f"{path}: lazy loading reads a .npy file (memory-mapped); an .npz archive or a table "
                              f"cannot be mapped: save the array with np.save, or drop lazy")
        if not path.is_file():
            raise DataError(f"{path}: no such file; expected a .npy array file")
        try:
            a = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            raise DataError(f"{path}: cannot memory-map as a NumPy array ({e})") from None
        except OSError as e:
            raise DataError(f"{path}: cannot read as a NumPy array file ({e})") from None
        where = str(path)
        if a.dtype.kind in "cUSOV" or a.dtype.names or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise DataError(f"{where}: expected a real numeric array, got dtype {a.dtype}")
        if not 2 <= a.ndim <= 4:
            raise DataError(f"{where}: expected an array of shape (N, D) (points) or (N, [C,] H, W[, C]) (images), "
                            f"got shape {a.shape}")
        self.array, self.name, self.kind = a, where, "points" if a.ndim == 2 else "image"
        self.nhwc = a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[-1] in (1, 3)
        if a.ndim == 2:
            shape = a.shape
        elif a.ndim == 3:
            shape = (a.shape[0], 1, *a.shape[1:])
        else:
            shape = (a.shape[0], a.shape[3], a.shape[1], a.shape[2]) if self.nhwc else a.shape
        super().__init__(shape)

    def __getstate__(self) -> dict:  # to a worker process: the path, never the mapped data
        return {k: v for k, v in self.__dict__.items() if k != "array"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.array = np.load(self.name, mmap_mode="r", allow_pickle=False)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        a = np.asarray(self.array[rows])  # fancy indexing of a memmap reads these rows only, into memory
        if a.ndim == 3:
            a = a[:, None]
        elif self.nhwc:
            a = a.transpose(0, 3, 1, 2)
        if a.dtype == np.uint8:
            return a.astype(np.float32) / 255.0
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise DataError(f"{self.name}: rows {rows[:5].tolist()}... contain NaN or inf")
        if self.kind == "image" and a.dtype.kind == "f" and a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise DataError(f"{self.name}: image values in [{a.min():.4g}, {a.max():.4g}]; expected uint8 or floats "
                            f"in [0, 1]")
        return a


class ImageFiles(LazyArray):
    """Image files decoded when their rows are read (`genzoo.data.user` rules: [0, 1] floats, gray -> C = 1,
    otherwise RGB). Opening reads each file's header only (size and mode), to fix the shape and check it."""

    def __init__(self, files: list[Path], name: str = "images"):
        from PIL import Image

        if not files:
            raise DataError(f"{name}: no images found")
        size, color = None, False
        for p in files:
            try:
                with Image.open(p) as im:  # the header: no pixel is decoded
                    s, mode = im.size, im.mode
            except Exception as e:  # noqa: BLE001  PIL raises UnidentifiedImageError, OSError...
                raise DataError(f"{p}: cannot read image ({type(e).__name__}: {e}); expected a PNG or JPEG file"
                                ) from None
            if size is None:
                size = s
            elif s != size:
                raise DataError(f"{p}: image is {s[0]}x{s[1]}, expected {size[0]}x{size[1]} like {files[0].name} "
                                f"(every image in the folder must have the same size)")
            color = color or mode not in ("L", "1", "LA", "I", "I;16", "I;16B", "I;16L")
        self.files, self.name, self.kind, self.color = list(files), name, "image", color
        super().__init__((len(files), 3 if color else 1, size[1], size[0]))

    def _read(self, rows: np.ndarray) -> np.ndarray:
        from genzoo.data.user import _read_image

        out = np.empty((len(rows), *self._shape[1:]), dtype=np.float32)
        for j, r in enumerate(rows):
            a = _read_image(self.files[int(r)])
            if a.ndim == 2:
                out[j] = a[None] if not self.color else np.repeat(a[None], 3, axis=0)
            else:
                out[j] = a.transpose(2, 0, 1)
        return out


def open_npy(path: str | os.PathLike) -> NpyArray:
    """A memory-mapped `.npy` file as a LazyArray (see NpyArray)."""
    return NpyArray(path)


def open_images(folder: str | os.PathLike) -> tuple[ImageFiles, Tensor | None, list[str]]:
    """(lazy images, labels or None, class names) of a folder, with the sub-folder rule of
    `genzoo.data.user.load_images`; only the file list and headers are read."""
    from genzoo.data.user import image_folder_files

    folder = Path(folder).expanduser()
    files, y, classes = image_folder_files(folder)
    return ImageFiles(files, str(folder)), y, classes
