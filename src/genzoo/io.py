"""File I/O shared by every layer: atomic writes and safetensors reading. Imports nothing of genzoo but errors.

Everything genzoo writes goes through `atomic_write_bytes`: a temp file in the target folder, fsync, then a rename,
so a reader (or a crash) never sees half a file. Tensors are stored with safetensors only, never pickle.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from genzoo.errors import CheckpointError, OutputError

if TYPE_CHECKING:  # torch is imported on first use, so importing this module stays cheap
    from torch import Tensor


def _create_temp(folder: Path, name: str) -> tuple[int, str]:
    """Create and open a new temp file `folder/.NAME.XXXXXXXXXXXX.tmp` with mode 0o666: the kernel applies the
    umask (and a folder's default ACL) exactly as for any program's new file, 0644 under umask 022. mkstemp would
    give 0600, and reading the umask (os.umask(0), then back) would race with other threads creating files."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # a name taken (1 in 2**48): draw another
            continue
    raise OSError(f"no free temp file name in {folder}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically: a temp file in the same folder, fsync, then rename. The file gets the
    permissions any program's new file gets, 0o666 & ~umask (0644 under umask 022); folders made on the way get
    0o777 & ~umask (0755)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: cannot write a file there: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path.parent, path.name)
    except FileExistsError:
        parent = next((q for q in path.parents if q.exists() and not q.is_dir()), path.parent)
        raise OutputError(f"{path}: cannot write: {parent} is a file, not a folder") from None
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
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
