"""Tokenisers, byte-level text data and token windows."""

import pytest
import torch

from genzoo.data import get
from genzoo.data.text import load_text, windows
from genzoo.data.tokenizers import ByteTokenizer, CharTokenizer, make_tokenizer
from genzoo.errors import ConfigError, DataError


def test_char_tokenizer_round_trip_and_unknown_characters():
    tok = make_tokenizer("char", " abc")
    ids = tok.encode("cab a")
    assert ids.tolist() == [3, 1, 2, 0, 1] and tok.decode(ids) == "cab a" and tok.vocab_size == 4
    with pytest.raises(DataError, match=r"2 character\(s\) outside the model's 4-character vocabulary: 'é', 'z'"):
        tok.encode("abézéz")
    with pytest.raises(ConfigError, match="vocabulary .* is empty"):
        CharTokenizer("")


def test_byte_tokenizer_takes_any_text():
    tok = ByteTokenizer()
    text = "héllo € \U0001F600\n"
    ids = tok.encode(text)
    assert ids.dtype == torch.int64 and len(ids) == len(text.encode("utf-8")) == 16
    assert int(ids.max()) < 256 and tok.decode(ids) == text
    assert tok.decode(ids[:2]) == "h\ufffd"  # a cut multi-byte character shows U+FFFD, never raises
    with pytest.raises(DataError):
        tok.decode([256])
    with pytest.raises(ConfigError, match="tokenizer must be one of char, byte"):
        make_tokenizer("bpe")


def test_text_data_carries_its_tokenizer(tmp_path):
    ds = get("shakespeare", "val")
    assert (ds.meta["tokenizer"], ds.meta["vocab_size"], len(ds.meta["chars"])) == ("char", 65, 65)
    tok = make_tokenizer(ds.meta["tokenizer"], ds.meta["chars"])
    assert tok.decode(ds.x[:20]) == ds.meta["vocab"].decode(ds.x[:20])
    b = get("shakespeare", "val", tokenizer="byte")
    assert (b.meta["tokenizer"], b.meta["vocab_size"], b.meta["chars"]) == ("byte", 256, "")
    assert ByteTokenizer().decode(b.x[:200]).startswith(tok.decode(ds.x[:10]))
    p = tmp_path / "mine.txt"
    p.write_text("ünïcode text " * 20, encoding="utf-8")
    u = get(str(p), tokenizer="byte", train_frac=0.5)
    assert u.kind == "text" and u.meta["vocab_size"] == 256 and len(u) == len(p.read_bytes()) // 2
    with pytest.raises(ConfigError, match="unexpected option.*holdout.*valid options: train_frac, tokenizer"):
        get(str(p), holdout=0.1)
    with pytest.raises(ConfigError, match='tokenizer must be "char" or "byte"'):
        load_text(p, tokenizer="words")


def test_windows_are_views_of_every_offset():
    ids = torch.arange(10)
    w = windows(ids, 4)
    assert w.shape == (7, 4) and w.data_ptr() == ids.data_ptr()
    assert all(torch.equal(w[i], ids[i:i + 4]) for i in range(7))
    t = windows(ids, 4, 4)
    assert t.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(DataError, match="fewer than the model's context of 11"):
        windows(ids, 11)
