"""Tables of points: a ``.csv`` (comma-separated) or ``.tsv`` (tab-separated) file -> float32 (N, D) and labels.

Format: one example per row, every row with the same number of fields, read with the standard ``csv`` module
(RFC 4180 quoting), UTF-8 with or without a byte-order mark; blank lines and lines starting with ``#`` are skipped.
The first row is a header (column names) when one of its fields outside the label column is not a number.
An optional label column (by header name, or by 0-based position) becomes int64 labels: integers that are already
0..K-1 are kept; other integers and strings map to 0..K-1 in sorted order, ``classes[i]`` being label i's value.
Every other field must be a finite number that fits float32; a bad field or row is a DataError naming
``file:line``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import ConfigError, DataError

DELIMITERS = {".csv": ",", ".tsv": "\t"}
_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons"}


@dataclass
class Table:
    """Values ``x`` (N, D) float32, labels ``y`` (N,) int64 or None, and what the file said about its columns."""

    x: Tensor
    y: Tensor | None = None
    columns: list[str] | None = None  # names of the D value columns, when the file has a header
    label: str | int | None = None  # the label column's name (or position, in a file without a header)
    classes: list | None = None  # original label values, when they were mapped to 0..K-1
    num_classes: int = 0


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of every non-blank, non-comment row."""
    rows: list[tuple[int, list[str]]] = []
    line = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                line = reader.line_num
                fields = [s.strip() for s in row]
                if not any(fields) or fields[0].startswith("#"):
                    continue
                rows.append((line, fields))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); expected a text table of numbers") from None
    except csv.Error as e:
        raise DataError(f"{path}:{line + 1}: {e}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return rows


def _label_index(path: Path, label: str | int | None, header: list[str] | None, width: int) -> int | None:
    if label is None:
        return None
    if isinstance(label, bool) or not isinstance(label, (str, int, np.integer)):
        raise ConfigError(f"{path}: label must be a column name or a 0-based column number, got {label!r}")
    if isinstance(label, str):
        if header is None:
            raise DataError(f"{path}: the file has no header row, so no column is named {label!r}; add a header "
                            f"or pass label=<0-based column number>")
        hits = [i for i, h in enumerate(header) if h == label]
        if not hits:
            raise DataError(f"{path}: no column named {label!r}; the columns are {', '.join(map(repr, header))}")
        if len(hits) > 1:
            raise DataError(f"{path}: {len(hits)} columns are named {label!r}; the label column must be unique")
        return hits[0]
    if not -width <= int(label) < width:
        raise ConfigError(f"{path}: label column {int(label)} does not exist; the file has {width} "
                          f"column{'s' if width > 1 else ''} (0..{width - 1})")
    return int(label) % width


def _delimiter_hint(value: str, delimiter: str) -> str:
    for d, name in _DELIMITER_NAMES.items():
        if d != delimiter and d in value:
            return (f" (this file seems to separate fields with {name}; a .csv file uses commas and a .tsv file "
                    f"tabs)")
    return ""


def _parse_labels(path: Path, lines: list[int], values: list[str]) -> tuple[np.ndarray, list | None]:
    for line, v in zip(lines, values):
        if not v:
            raise DataError(f"{path}:{line}: empty label")
    try:
        ints = np.array([int(v) for v in values], dtype=np.int64)
    except (ValueError, OverflowError):
        uniq_s = sorted(set(values))
        index = {v: i for i, v in enumerate(uniq_s)}
        return np.array([index[v] for v in values], dtype=np.int64), uniq_s
    uniq, codes = np.unique(ints, return_inverse=True)
    if np.array_equal(uniq, np.arange(len(uniq))):
        return ints, None
    return codes.astype(np.int64).reshape(-1), [int(u) for u in uniq]


def load_table(path: str | os.PathLike, label: str | int | None = None) -> Table:
    """Read a ``.csv`` / ``.tsv`` table of points (see the module docstring for the format)."""
    path = Path(path).expanduser()
    delimiter = DELIMITERS.get(path.suffix.lower())
    if delimiter is None:
        raise DataError(f"{path}: expected a .csv or .tsv file")
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a .csv or .tsv table of numbers")
    rows = _read_rows(path, delimiter)
    if not rows:
        raise DataError(f"{path}: empty file; expected rows of numbers separated by {_DELIMITER_NAMES[delimiter]}")
    first_line, first = rows[0]
    width = len(first)
    guess = None if isinstance(label, str) else _label_index(path, label, None, width)
    header = first if any(not _is_number(s) for i, s in enumerate(first) if i != guess) else None
    li = _label_index(path, label, header, width)
    data = rows[1:] if header is not None else rows
    if not data:
        raise DataError(f"{path}: only a header row (line {first_line}), no data rows")
    for line, fields in data:
        if len(fields) != width:
            what = "the header" if header is not None else f"line {first_line}"
            raise DataError(f"{path}:{line}: expected {width} fields (as {what}), got {len(fields)}"
                            f"{_delimiter_hint(delimiter.join(fields), delimiter)}")
    cols = [i for i in range(width) if i != li]
    if not cols:
        raise DataError(f"{path}: the only column is the label column; expected value columns as well")
    lines = [line for line, _ in data]
    strings = np.array([fields for _, fields in data], dtype=str)[:, cols]

    def name(j: int) -> str:
        return repr(header[cols[j]]) if header is not None else str(cols[j])

    try:
        x64 = strings.astype(np.float64)
    except ValueError:
        x64 = None
    if x64 is None:  # find the first bad field, to name its line
        for r, row in enumerate(strings):
            for j, s in enumerate(row):
                if not s:
                    raise DataError(f"{path}:{lines[r]}: empty field in column {name(j)}")
                if not _is_number(s):
                    hint = _delimiter_hint(s, delimiter) or (
                        " (a column of class names is read as labels with label=<its name>)" if li is None else "")
                    raise DataError(f"{path}:{lines[r]}: {str(s)!r} is not a number (column {name(j)}){hint}")
        raise DataError(f"{path}: cannot read the values as numbers")  # pragma: no cover - float() and numpy agree
    with np.errstate(over="ignore"):  # values too large for float32 become inf, reported below
        x = x64.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        r, j = (int(v[0]) for v in np.nonzero(bad))
        s = str(strings[r, j])
        why = "NaN and inf are not accepted" if not np.isfinite(x64[r, j]) else "it is too large for float32"
        raise DataError(f"{path}:{lines[r]}: {s!r} in column {name(j)}: {why}")
    y = classes = None
    if li is not None:
        y, classes = _parse_labels(path, lines, [fields[li] for _, fields in data])
    label_name = header[li] if (header is not None and li is not None) else li
    num_classes = int(y.max()) + 1 if y is not None else 0
    return Table(torch.from_numpy(np.ascontiguousarray(x)), None if y is None else torch.from_numpy(y),
                 [header[i] for i in cols] if header is not None else None, label_name, classes, num_classes)
