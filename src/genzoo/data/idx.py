"""The IDX file format (LeCun et al., the MNIST files) and SHA-256 checksum files.

IDX layout, all integers big-endian:

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the size of each dimension, uint32
    then        prod(sizes) elements in C order

`read_idx` reads a file, gzip-compressed or raw (told apart by the gzip magic bytes 1F 8B, so a decompressed file
that kept its ``.gz`` name or a compressed one without it reads too), and checks the magic number, the element type
and the exact data length; `write_idx` writes one. Every failure is a `DataError` naming the file and
what was expected.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from genzoo.errors import DataError

PathLike = str | os.PathLike

# type code -> big-endian numpy dtype
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}


GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataError(f"{path}: no such file (expected an IDX file)")
    if not path.is_file():
        raise DataError(f"{path}: not a file (expected an IDX file)")
    try:
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            return gzip.decompress(raw)
        return raw
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip file ({e}); expected a complete gzip-compressed IDX file") \
            from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def read_idx(path: PathLike) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` compressed or raw), in native byte order."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(raw)} bytes, expected at least a 4-byte header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        magic = int.from_bytes(raw[:4], "big")
        hint = ""
        if raw.lstrip()[:1] == b"<":
            hint = " (the file looks like an HTML/XML page: probably a failed download)"
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08X}; expected an IDX file starting 0x0000TTDD with type TT in "
            f"{{{', '.join(f'{c:02X}' for c in IDX_TYPES)}}} (e.g. 0x00000803 for MNIST images, 0x00000801 for labels)"
            f"{hint}"
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {len(raw)} bytes, expected {header} for {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise DataError(
            f"{path}: truncated IDX file: shape {shape} of {dtype.name} needs {expected} data bytes, found {got}"
        )
    if got > expected:
        raise DataError(
            f"{path}: {got - expected} unexpected trailing bytes after the {expected} data bytes of shape {shape}"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: PathLike, array) -> Path:
    """Write `array` (numpy or torch; uint8, int8, int16, int32, float32 or float64) as an IDX file.

    A name ending in ``.gz`` is gzip-compressed (with mtime 0, so the bytes are reproducible). Returns the path.
    """
    try:  # accept torch tensors without importing torch here
        array = array.detach().cpu().numpy()
    except AttributeError:
        pass
    arr = np.asarray(array)
    if arr.dtype == np.int64 and arr.size and arr.min() >= np.iinfo(np.int32).min and arr.max() <= np.iinfo(
            np.int32).max:
        arr = arr.astype(np.int32)
    code = _CODE_OF.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise DataError(
            f"{path}: cannot write dtype {arr.dtype} as IDX; expected uint8, int8, int16, int32, float32 or float64"
        )
    if arr.ndim > 255 or any(s >= 2**32 for s in arr.shape):
        raise DataError(f"{path}: shape {arr.shape} does not fit the IDX header (at most 255 dims of < 2^32)")
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    body = np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(header + body)
    else:
        path.write_bytes(header + body)
    return path


# ---- checksums ------------------------------------------------------------------------------------------
def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise DataError(f"{path}: cannot read for its checksum ({e.strerror or e})") from None
    return h.hexdigest()


def read_checksums(sums_file: PathLike) -> dict[str, str]:
    """``{file name: hex sha256}`` from a ``sha256sum`` output file (``<hex>  <name>`` per line)."""
    sums_file = Path(sums_file)
    try:
        text = sums_file.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{sums_file}: cannot read the checksum file ({e}); expected sha256sum output, "
                        f"'<64 hex digits>  <file name>' per line") from None
    out: dict[str, str] = {}
    for i, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{sums_file}: line {i} is not '<64 hex digits>  <file name>': {line!r}")
        out[parts[1].lstrip("*").strip()] = parts[0].lower()
    return out


def verify_checksum(path: PathLike, sums_file: PathLike | None = None) -> None:
    """Check `path` against its line in `sums_file` (default: ``SHA256SUMS`` beside it); DataError on mismatch."""
    path = Path(path)
    sums_file = Path(sums_file) if sums_file is not None else path.parent / "SHA256SUMS"
    sums = read_checksums(sums_file)
    if path.name not in sums:
        raise DataError(f"{sums_file}: no checksum listed for {path.name}")
    got = sha256_file(path)
    if got != sums[path.name]:
        raise DataError(
            f"{path}: checksum mismatch: sha256 {got}, expected {sums[path.name]} (from {sums_file}); "
            f"the file is corrupt or was modified"
        )
