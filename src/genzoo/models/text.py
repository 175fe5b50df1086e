"""What every model of text windows shares: the tokeniser fields of its config and the `tokenizer` it rebuilds.

A text data set is a stream of token ids whose meta names its tokeniser (`tokenizer` "char" | "byte", `chars`,
`vocab_size`; genzoo.data.tokenizers); the CLI copies those into the config fields of the same names, so a saved
model carries its tokeniser. The model's examples are windows of `context` tokens: `data_shape = (context,)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from genzoo.data.tokenizers import ByteTokenizer, CharTokenizer, make_tokenizer
from genzoo.errors import ConfigError
from genzoo.models.base import ModelConfig


@dataclass
class TextConfig(ModelConfig):
    """vocab_size: V token ids (65 for tiny Shakespeare's characters, 256 for bytes). context: the window length L
    (data_shape is (L,)). tokenizer: "char" (ids of the characters of `chars`) or "byte" (UTF-8 bytes, V = 256).
    chars: a char model's vocabulary, len(chars) == vocab_size ("" while not known yet)."""

    vocab_size: int = 65
    context: int = 256
    tokenizer: Literal["char", "byte"] = "char"
    chars: str = ""

    positive: ClassVar[tuple[str, ...]] = ("vocab_size", "context")

    def derived(self) -> dict[str, Any]:
        ok = isinstance(self.context, int) and self.context > 0  # else the rule "context must be > 0" says so
        return {"data_shape": (self.context,)} if ok else {}

    def checks(self) -> list[tuple[bool, str]]:
        return self.text_checks()

    def text_checks(self) -> list[tuple[bool, str]]:
        """The tokeniser's rules (a subclass that overrides `checks` adds these to its own)."""
        return [
            (self.tokenizer != "byte" or self.vocab_size == 256,
             f"the byte tokenizer has 256 ids; vocab_size must be 256, got {self.vocab_size}"),
            (self.tokenizer != "byte" or not self.chars, "chars must be empty for the byte tokenizer"),
            (not self.chars or len(set(self.chars)) == len(self.chars), "chars must be distinct characters"),
            (not self.chars or len(self.chars) == self.vocab_size,
             f"chars has {len(self.chars)} characters but vocab_size is {self.vocab_size}"),
        ]


class TextModel:
    """Mixin of a GenerativeModel over text windows: the data kind and the `tokenizer` capability's property."""

    data_kinds: ClassVar[tuple[str, ...]] = ("text",)

    @property
    def tokenizer(self) -> CharTokenizer | ByteTokenizer:
        """The model's tokeniser (genzoo.data.tokenizers), rebuilt from the config's `tokenizer` and `chars`."""
        if self.config.tokenizer == "char" and not self.config.chars:
            raise ConfigError(f"{self.name}: the char tokenizer's vocabulary is unknown (config chars is empty); "
                              "create the model with chars=<the data set's meta['chars']>")
        return make_tokenizer(self.config.tokenizer, self.config.chars)
