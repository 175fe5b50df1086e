"""User data: a folder of PNG/JPEG images, or a ``.npy`` / ``.npz`` array file (tables: genzoo.data.tabular).

Images come back as float32 (N, C, H, W) in [0, 1] (8-bit pixels / 255; 16-bit PNG / 65535), C = 1 when every
image is grayscale and 3 otherwise (alpha is dropped). A folder whose images sit in sub-folders (``cat/``,
``dog/``...) is read as labelled classes, numbered in sorted order of the sub-folder names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_image(path: Path) -> np.ndarray:
    """(H, W) or (H, W, 3) float32 in [0, 1]."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64) / 65535.0
            elif im.mode in ("L", "1"):
                a = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
            elif im.mode == "LA":
                a = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
            else:
                a = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    except ImportError:  # pragma: no cover - PIL ships with matplotlib
        import matplotlib.image as mpimg

        a = np.asarray(mpimg.imread(path), dtype=np.float64)
        if a.max() > 1.0:
            a = a / 255.0
        if a.ndim == 3:
            a = a[..., :3]
    except Exception as e:  # noqa: BLE001  PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise DataError(f"{path}: cannot read image ({type(e).__name__}: {e}); expected a PNG or JPEG file") from None
    return a.astype(np.float32)


def load_images(folder: str | os.PathLike) -> tuple[Tensor, Tensor | None, list[str]]:
    """Images (N, C, H, W) float32 in [0, 1], labels (N,) int64 or None, and the class names ([] when unlabelled).

    Images directly in `folder` are unlabelled; otherwise each sub-folder holding images is a class.
    Every image must have the same height and width.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise DataError(f"{folder}: image folder does not exist; expected a folder of PNG/JPEG images")
    files, labels, classes = image_folder_files(folder)
    arrays = [_read_image(p) for p in files]
    hw = arrays[0].shape[:2]
    for p, a in zip(files, arrays):
        if a.shape[:2] != hw:
            raise DataError(f"{p}: image is {a.shape[1]}x{a.shape[0]}, expected {hw[1]}x{hw[0]} like {files[0].name}"
                            f" (every image in the folder must have the same size)")
    color = any(a.ndim == 3 for a in arrays)
    if color:
        arrays = [np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays]
        x = np.stack(arrays).transpose(0, 3, 1, 2)
    else:
        x = np.stack(arrays)[:, None]
    return torch.from_numpy(np.ascontiguousarray(x)), labels, classes


def image_folder_files(folder: Path) -> tuple[list[Path], Tensor | None, list[str]]:
    """(image files, labels (N,) int64 or None, class names) of a folder: images directly in it are unlabelled;
    otherwise each sub-folder holding images is a class, in sorted order. Reads no image."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; expected a folder of PNG/JPEG images")
    files = _image_files(folder)
    classes: list[str] = []
    labels: list[int] = []
    if not files:
        for i, sub in enumerate(sorted(p for p in folder.iterdir() if p.is_dir() and _image_files(p))):
            classes.append(sub.name)
            sub_files = _image_files(sub)
            files += sub_files
            labels += [i] * len(sub_files)
    if not files:
        raise DataError(f"{folder}: no images found; expected *.png / *.jpg / *.jpeg files in the folder "
                        f"or in class sub-folders")
    return files, (torch.tensor(labels, dtype=torch.int64) if classes else None), classes


def _as_array_data(x: np.ndarray, where: str) -> tuple[Tensor, str]:
    """(tensor, kind) of a user array: uint8 / [0, 1] images (N, H, W), (N, C, H, W) or (N, H, W, C); points (N, D)."""
    if x.dtype.kind == "c":
        raise DataError(f"{where}: complex values (dtype {x.dtype}); expected real numbers (save x.real, or "
                        f"np.stack([x.real, x.imag], -1) to keep both parts)")
    if x.dtype.kind in "US":
        raise DataError(f"{where}: holds strings (dtype {x.dtype}); expected numbers (a table with a column of class "
                        f"names loads from a .csv file with label=<column name>)")
    if x.dtype.names:
        raise DataError(f"{where}: a structured array with fields {', '.join(x.dtype.names)}; expected a plain "
                        f"numeric array (np.stack the fields into columns)")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{where}: expected a numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"{where}: expected an array of shape (N, D) (points) or (N, [C,] H, W[, C]) (images), "
                        f"got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{where}: array contains NaN or inf")
    if x.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), "points"
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
            x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    else:
        raise DataError(f"{where}: expected at most 4 dimensions (N, C, H, W), got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif x.dtype == np.bool_:
        x = x.astype(np.float32)
    else:
        x = x.astype(np.float32)
        if x.size and (x.min() < 0.0 or x.max() > 1.0):
            raise DataError(f"{where}: image values lie in [{x.min():.4g}, {x.max():.4g}]; expected uint8 or floats in "
                            f"[0, 1]")
    return torch.from_numpy(np.ascontiguousarray(x)), "image"


def load_array(path: str | os.PathLike) -> tuple[Tensor, Tensor | None, str]:
    """(x, y or None, kind) from a ``.npy`` file (the data) or a ``.npz`` file (array ``x``, optional labels ``y``).

    (N, D) float -> points; (N, H, W), (N, C, H, W) or (N, H, W, C) uint8 or floats in [0, 1] -> images in [0, 1].
    Loaded with ``allow_pickle=False``; complex, string, structured and object arrays are rejected.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a .npy or .npz array file")
    y = None
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if "x" not in loaded.files:
                    raise DataError(f"{path}: .npz file has arrays {loaded.files}; expected 'x' (and optionally 'y')")
                x = loaded["x"]
                if "y" in loaded.files:
                    y = loaded["y"]
        else:
            x = loaded
    except DataError:
        raise
    except ValueError as e:
        if "Object arrays" in str(e):  # numpy refuses an array of dtype object without unpickling
            raise DataError(f"{path}: holds Python objects (dtype object), which are not loaded (unpickling runs "
                            f"code); expected a numeric array") from None
        raise DataError(f"{path}: cannot read as a NumPy array file ({e})") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read as a NumPy array file ({e})") from None
    xt, kind = _as_array_data(x, str(path))
    yt = None
    if y is not None:
        if y.ndim != 1 or len(y) != len(xt) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: labels 'y' must be integers of shape ({len(xt)},), got {y.dtype} {y.shape}")
        yt = torch.from_numpy(y.astype(np.int64))
    return xt, yt, kind
