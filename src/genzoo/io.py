"""File I/O shared by every layer: atomic writes and safetensors reading. Imports nothing of genzoo but errors.

Everything genzoo writes goes through `atomic_write_bytes`: a temp file in the target folder, fsync, then a rename,
so a reader (or a crash) never sees half a file. Tensors are stored with safetensors only, never pickle.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from genzoo.errors import CheckpointError, OutputError

if TYPE_CHECKING:  # torch is imported on first use, so importing this module stays cheap
    from torch import Tensor


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically: a temp file in the same folder, fsync, then rename. The file gets the
    permissions any program's new file gets, 0o666 & ~umask (0644 under umask 022; mkstemp alone gives 0600)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: cannot write a file there: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except FileExistsError:
        parent = next((q for q in path.parents if q.exists() and not q.is_dir()), path.parent)
        raise OutputError(f"{path}: cannot write: {parent} is a file, not a folder") from None
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_save_tensors(tensors: dict[str, Tensor], path: str | os.PathLike, metadata=None) -> None:
    """safetensors.save to bytes, then an atomic write. Tensors are cloned (shared storage is allowed)."""
    from safetensors.torch import save

    plain = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, save(plain, metadata=metadata))


def load_tensors(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a safetensors file (never pickle); a missing or corrupt file raises CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found (expected a safetensors file)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupt or not a safetensors file ({e})") from None
