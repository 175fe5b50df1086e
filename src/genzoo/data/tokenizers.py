"""Tokenisers that need no download: characters of a vocabulary, or the 256 byte values of UTF-8.

    char   id i <-> the i-th character of a vocabulary (the sorted characters of the training text; tiny
           Shakespeare has 65). Text with a character outside the vocabulary is a DataError naming every such
           character, since the model has no id for it.
    byte   id b <-> the byte b of the text's UTF-8 encoding (256 ids): any text encodes; decoding a cut-off
           multi-byte character shows U+FFFD.

A tokeniser is described by two JSON-ready strings, `kind` ("char" | "byte") and `chars` (the vocabulary, "" for
bytes), which is how data sets (`meta["tokenizer"]`, `meta["chars"]`) and text models (config fields of the same
names) carry it: `make_tokenizer(kind, chars)` rebuilds it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genzoo.data.text import CharVocab
from genzoo.errors import ConfigError, DataError

TOKENIZERS = ("char", "byte")


class CharTokenizer:
    """Character ids of a fixed vocabulary (`CharVocab`)."""

    kind = "char"

    def __init__(self, chars: str):
        if not chars:
            raise ConfigError("char tokenizer: the vocabulary (chars) is empty")
        self.vocab = CharVocab(chars)
        self.chars = self.vocab.chars

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of `text` outside the vocabulary, in order of first appearance."""
        return [c for c in dict.fromkeys(text) if c not in self.vocab]

    def encode(self, text: str) -> Tensor:
        bad = self.unknown(text)
        if bad:
            shown = ", ".join(repr(c) for c in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            raise DataError(f"text has {len(bad)} character(s) outside the model's {self.vocab_size}-character "
                            f"vocabulary: {shown}")
        return self.vocab.encode(text)

    def decode(self, ids) -> str:
        return self.vocab.decode(ids)

    def __repr__(self) -> str:
        return f"CharTokenizer({self.vocab_size} characters)"


class ByteTokenizer:
    """UTF-8 bytes, 256 ids."""

    kind = "byte"
    chars = ""
    vocab_size = 256

    def encode(self, text: str) -> Tensor:
        return torch.from_numpy(np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64))

    def decode(self, ids) -> str:
        ids = np.asarray(torch.as_tensor(ids).reshape(-1).cpu(), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise DataError(f"byte tokenizer: ids must lie in [0, 256), got [{ids.min()}, {ids.max()}]")
        return ids.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return "ByteTokenizer(256 bytes)"


def make_tokenizer(kind: str = "char", chars: str = "") -> CharTokenizer | ByteTokenizer:
    """The tokeniser described by (kind, chars): "char" with its vocabulary, or "byte"."""
    if kind == "char":
        return CharTokenizer(chars)
    if kind == "byte":
        return ByteTokenizer()
    raise ConfigError(f'tokenizer must be one of {", ".join(TOKENIZERS)}, got {kind!r}')
