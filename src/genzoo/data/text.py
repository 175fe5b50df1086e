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

import numpy as np
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
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

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

    def _codes(self) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary's code points sorted, and the id of each (for vectorised lookup)."""
        if self._sorted is None:
            codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
            order = np.argsort(codes, kind="stable")
            self._sorted = (codes[order], order)
        return self._sorted

    def encode(self, text: str) -> Tensor:
        """int64 ids (len(text),); DataError naming the first character outside the vocabulary.
        Vectorised (code points looked up by binary search), so a 1 MB text encodes in milliseconds."""
        if not text or not self.chars:
            if text:
                raise DataError(f"CharVocab.encode: character {text[0]!r} is not in the vocabulary of 0 characters")
            return torch.zeros(0, dtype=torch.int64)
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
        sorted_codes, order = self._codes()
        pos = np.searchsorted(sorted_codes, codes).clip(0, len(sorted_codes) - 1)
        bad = sorted_codes[pos] != codes
        if bad.any():
            c = text[int(np.argmax(bad))]
            raise DataError(f"CharVocab.encode: character {c!r} is not in the vocabulary of {len(self)} characters")
        return torch.from_numpy(order[pos])

    def decode(self, ids) -> str:
        """The string of a 1-D sequence of ids (tensor or list)."""
        ids = np.asarray(torch.as_tensor(ids).reshape(-1).cpu(), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise DataError(f"CharVocab.decode: ids must lie in [0, {len(self)}), got [{ids.min()}, {ids.max()}]")
        if not ids.size:
            return ""
        codes = np.array([ord(c) for c in self.chars], dtype="<u4")[ids]
        return codes.tobytes().decode("utf-32-le", "surrogatepass")


@dataclass
class TextData:
    """A token stream split into train (first `train_frac`) and validation ids, with its tokeniser: `vocab` is the
    CharVocab of a character stream (None for bytes); `tokenizer` "char" or "byte" (genzoo.data.tokenizers)."""

    train: Tensor
    val: Tensor
    vocab: CharVocab | None
    source: str
    tokenizer: str = "char"

    @property
    def chars(self) -> str:
        return "" if self.vocab is None else self.vocab.chars

    @property
    def vocab_size(self) -> int:
        return 256 if self.vocab is None else len(self.vocab)

    @property
    def test(self) -> Tensor:  # the held-out split under its other name
        return self.val


def load_text(path: str | os.PathLike | None = None, *, train_frac: float = 0.9, tokenizer: str = "char") -> TextData:
    """A UTF-8 text file as int64 token ids split into train (the first `train_frac` of the tokens) and val (the
    rest). `tokenizer`: "char" (ids of the text's sorted characters) or "byte" (its UTF-8 bytes, 256 ids).
    `path=None` loads the shipped tiny Shakespeare, checking its SHA-256."""
    from genzoo.errors import ConfigError

    if isinstance(train_frac, bool) or not isinstance(train_frac, (int, float)) or not 0.0 < train_frac < 1.0:
        raise DataError(f"load_text: train_frac must lie in (0, 1), got {train_frac!r}")
    if tokenizer not in ("char", "byte"):
        raise ConfigError(f'text data: tokenizer must be "char" or "byte", got {tokenizer!r}')
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
    if tokenizer == "byte":
        vocab = None
        ids = torch.from_numpy(np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64))
    else:
        vocab = CharVocab.from_text(text)
        ids = vocab.encode(text)
    cut = min(max(int(len(ids) * train_frac), 1), len(ids) - 1)
    return TextData(ids[:cut].clone(), ids[cut:].clone(), vocab, str(p), tokenizer)


def windows(ids: Tensor, length: int, stride: int = 1) -> Tensor:
    """The (N, length) windows ids[i * stride : i * stride + length] of a 1-D stream, N = (T - length) // stride + 1:
    a strided view, no copy (indexing a batch of rows copies only that batch). stride 1 gives every offset (the
    training examples of a language model, as nanoGPT's random offsets); stride = length tiles the stream."""
    if ids.dim() != 1:
        raise DataError(f"windows: expected a 1-D token stream, got shape {tuple(ids.shape)}")
    if length < 1 or stride < 1:
        raise DataError(f"windows: length and stride must be >= 1, got {length} and {stride}")
    if len(ids) < length:
        raise DataError(f"the text has {len(ids)} tokens, fewer than the model's context of {length}; use a longer "
                        f"text or a shorter context (model.context)")
    return ids.unfold(0, length, stride)
