"""Character-level text: a vocabulary and a train/validation split of a token stream.

The package ships tiny Shakespeare (assets/tinyshakespeare/input.txt, 1,115,394 characters, 65 distinct; the
char-rnn corpus of Karpathy 2015, public-domain text), verified against its SHA-256 on load. Convention in the
field: the first 90% of the characters is train, the last 10% validation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from genzoo.data.idx import verify_checksum
from genzoo.errors import DataError

SHAKESPEARE = Path(__file__).resolve().parent / "assets" / "tinyshakespeare" / "input.txt"


class CharVocab(Sequence):
    """The sorted set of characters of a text; id i <-> character ``chars[i]``.

    A Sequence: ``len(vocab)`` is the vocabulary size and ``vocab[i]`` the character of id i (so code that takes
    "a string or a list of tokens" takes a CharVocab). JSON-friendly: ``CharVocab(vocab.chars)`` rebuilds it.
    """

    def __init__(self, chars: str | Iterable[str]):
        chars = "".join(chars)
        if len(set(chars)) != len(chars):
            raise DataError("CharVocab: characters must be distinct")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __getitem__(self, i):
        return self.chars[i]

    def __contains__(self, c) -> bool:
        return c in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, CharVocab) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} chars: {self.chars[:40]!r}{'...' if len(self) > 40 else ''})"

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        """int64 ids (len(text),); DataError naming the first character outside the vocabulary."""
        try:
            ids = [self._index[c] for c in text]
        except KeyError as e:
            raise DataError(f"CharVocab.encode: character {e.args[0]!r} is not in the vocabulary of {len(self)} "
                            f"characters") from None
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids) -> str:
        """The string of a 1-D sequence of ids (tensor or list)."""
        ids = torch.as_tensor(ids).reshape(-1).tolist()
        try:
            if any(i < 0 for i in ids):
                raise IndexError
            return "".join(self.chars[i] for i in ids)
        except IndexError:
            raise DataError(f"CharVocab.decode: ids must lie in [0, {len(self)}), got "
                            f"[{min(ids)}, {max(ids)}]") from None


@dataclass
class TextData:
    """A character stream split into train (first `train_frac`) and validation ids, with its vocabulary."""

    train: Tensor
    val: Tensor
    vocab: CharVocab
    source: str

    @property
    def test(self) -> Tensor:  # the held-out split under its other name
        return self.val


def load_text(path: str | os.PathLike | None = None, *, train_frac: float = 0.9) -> TextData:
    """A UTF-8 text file as int64 character ids split into train (the first `train_frac` of the characters) and
    val (the rest). `path=None` loads the shipped tiny Shakespeare, checking its SHA-256."""
    if not 0.0 < train_frac < 1.0:
        raise DataError(f"load_text: train_frac must lie in (0, 1), got {train_frac}")
    if path is None:
        p = SHAKESPEARE
        verify_checksum(p)
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(f"{p}: no such text file (expected a UTF-8 text file)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e})") from None
    if len(text) < 2:
        raise DataError(f"{p}: text has {len(text)} characters; expected at least 2 to split train/val")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = min(max(int(len(ids) * train_frac), 1), len(ids) - 1)
    return TextData(ids[:cut].clone(), ids[cut:].clone(), vocab, str(p))
