"""Text end to end through the one Trainer and the CLI, on a registered unigram model (exact closed forms):
windows of the stream, the tokeniser filled from the data and saved with the model, `sample --prompt`,
`evaluate` in nats/token, bits/char and perplexity."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
import yaml
from torch import nn

from genzoo.cli import main
from genzoo.data import get
from genzoo.data.tokenizers import make_tokenizer
from genzoo.eval.text import evaluate_text
from genzoo.models import GenerativeModel, ModelConfig, register
from genzoo.models.registry import _REGISTRY
from genzoo.train import TrainConfig, Trainer

MODEL = "test-unigram"


@dataclass
class UnigramConfig(ModelConfig):
    vocab_size: int = 4
    context: int = 8
    tokenizer: str = "char"
    chars: str = ""

    def derived(self):
        return {"data_shape": (self.context,)}


class Unigram(GenerativeModel):
    """p(x_1..x_L) = prod_t softmax(w)[x_t]: every token independent (a closed form for the metrics)."""

    likelihood = "exact"
    Config = UnigramConfig
    data_kinds = ("text",)
    capabilities = frozenset({"generate", "tokenizer"})
    loss_units = "nats/token"

    def __init__(self, config):
        super().__init__(config)
        self.w = nn.Parameter(torch.zeros(config.vocab_size))

    @property
    def bpd_bins(self):
        return 1

    @property
    def tokenizer(self):
        return make_tokenizer(self.config.tokenizer, self.config.chars)

    def log_prob(self, x, condition=None):
        return torch.log_softmax(self.w, 0)[x].sum(1)

    def loss(self, batch, player="model"):
        return {"loss": -self.log_prob(batch.x).mean() / batch.x.shape[1]}

    def sample(self, n, condition=None):
        return torch.multinomial(torch.softmax(self.w, 0), n * self.config.context, True).view(n, -1)

    def generate(self, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None):
        new = torch.multinomial(torch.softmax(self.w, 0), prompt.shape[0] * max_new_tokens, True)
        return torch.cat([prompt, new.view(prompt.shape[0], -1)], 1)


@pytest.fixture(autouse=True)
def _registered():
    register(MODEL, family="test")(Unigram)
    yield
    _REGISTRY.pop(MODEL, None)


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("abracadabra, said the cat.\n" * 40, encoding="utf-8")
    return p


def test_trainer_trains_on_every_window_and_evaluates_on_tiles(text_file):
    tr, va = get(str(text_file)), get(str(text_file), "val")
    m = Unigram(UnigramConfig(vocab_size=tr.meta["vocab_size"], chars=tr.meta["chars"], context=8))
    t = Trainer(m, tr, TrainConfig(steps=200, batch_size=32, lr=0.1, progress=False), eval_data=va)
    assert t.data.x.shape == (len(tr.x) - 7, 8) and torch.equal(t.data.x[5], tr.x[5:13])
    tiles = len(va.x) // 8
    assert t.eval_data.x.shape == (tiles, 8) and torch.equal(t.eval_data.x.reshape(-1), va.x[:tiles * 8])
    t.fit()
    # the trained unigram is the empirical token frequency; its loss is the entropy of those frequencies
    freq = torch.bincount(tr.x, minlength=m.config.vocab_size).double() / len(tr.x)
    entropy = float(-(freq[freq > 0] * freq[freq > 0].log()).sum())
    r = evaluate_text(m, va.x)
    assert abs(r["loss"] - entropy) < 0.05
    assert r["bits_per_char"] == pytest.approx(r["loss"] / math.log(2)) == r["bits_per_token"]
    assert r["perplexity"] == pytest.approx(math.exp(r["loss"]))


def test_evaluate_text_closed_form_and_bytes():
    """A uniform model over V tokens: loss ln V, bits/token log2 V, perplexity V; bytes: bits/char counts characters."""
    m = Unigram(UnigramConfig(vocab_size=256, tokenizer="byte", context=4))
    text = "héé€!" * 8  # 5 characters, 1 + 2 + 2 + 3 + 1 = 9 bytes each
    ids = make_tokenizer("byte").encode(text)
    r = evaluate_text(m, ids)
    assert r["tokens"] == 72 and r["chars"] == 40 and r["windows"] == 18
    assert r["loss"] == pytest.approx(math.log(256)) and r["perplexity"] == pytest.approx(256)
    assert r["bits_per_token"] == pytest.approx(8) and r["bits_per_char"] == pytest.approx(8 * 72 / 40)
    wrong = Unigram(UnigramConfig(vocab_size=256, tokenizer="byte", context=4))
    with torch.no_grad():
        wrong.w[0] = 5.0  # no longer uniform: the closed form must fail
    assert evaluate_text(wrong, ids)["loss"] != pytest.approx(math.log(256))


def _train(run, data, *sets):
    argv = ["train", MODEL, "--data", str(data), "--out", str(run), "--steps", "20", "--no-progress",
            "--set", "train.batch_size=16", "--set", "train.lr=0.1"]
    for s in sets:
        argv += ["--set", s]
    return main(argv)


def test_cli_train_sample_evaluate_text(tmp_path, text_file, capsys):
    run = tmp_path / "run"
    assert _train(run, text_file, "model.context=8") == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["run"]["kind"] == "text" and cfg["model"]["chars"] == "\n ,.abcdehirst"
    assert cfg["model"]["vocab_size"] == 14 and cfg["model"]["data_shape"] == [8]
    assert (run / "samples" / "step_000020.txt").is_file()
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "the cat", "--max-new-tokens", "30", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the cat") and len(out.rstrip("\n")) >= 37
    assert main(["sample", str(run), "--prompt", "abc", "--max-new-tokens", "5", "--out", str(tmp_path / "t.txt")]) == 0
    assert (tmp_path / "t.txt").read_text().startswith("abc")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["bits_per_char"] == pytest.approx(res["loss"] / math.log(2)) and res["tokens"] % 8 == 0
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "nats/token" in out and "bits/char" in out and "perplexity" in out


def test_cli_text_bad_input_is_one_line(tmp_path, text_file, capsys):
    run = tmp_path / "run"
    assert _train(run, text_file) == 0
    capsys.readouterr()
    cases = [
        (["--prompt", "Zebra!"], "--prompt: text has 2 character(s) outside the model's 14-character "
                                 "vocabulary: 'Z', '!'"),
        (["--temperature", "-1"], "must be >= 0"),
        (["--top-p", "1.5"], "must lie in (0, 1]"),
        (["--top-k", "0"], "must be >= 1"),
        (["--out", str(tmp_path / "x.png")], "use a .txt name"),
        (["--label", "1"], "takes no labels"),
    ]
    for extra, needle in cases:
        assert main(["sample", str(run), *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (extra, err)
    # the byte tokeniser takes any character
    brun = tmp_path / "brun"
    assert _train(brun, text_file, "data.tokenizer=byte", "model.vocab_size=256") == 0
    capsys.readouterr()
    assert main(["sample", str(brun), "--prompt", "Zébra €", "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.startswith("Zébra €")
    # a vocabulary that disagrees with the data's, and a text too short for the context
    assert _train(tmp_path / "r2", text_file, "model.vocab_size=99") == 2
    assert "does not match data set" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("abcdefghij" * 2)
    assert _train(tmp_path / "r3", short, "model.context=64") == 2
    assert "fewer than the model's context of 64" in capsys.readouterr().err


def test_prompt_on_an_image_model_is_refused(tmp_path, capsys):
    run = tmp_path / "img"
    assert main(["train", "vae", "--data", "digits", "--out", str(run), "--steps", "2", "--no-progress",
                 "--set", "model.hidden=[8]", "--set", "model.latent_dim=2", "--set", "train.batch_size=16",
                 "--set", "train.eval_batches=1", "--set", "train.n_samples=4", "--set", "model.eval_k=2"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "hi"]) == 2
    assert "generates image data, not text" in capsys.readouterr().err


def test_gpt_end_to_end_on_a_users_text(tmp_path, text_file, capsys):
    """The registered gpt through train / resume / sample --prompt / evaluate, with its tokeniser saved."""
    run = tmp_path / "gpt"
    base = ["--set", "model.context=8", "--set", "model.n_layer=1", "--set", "model.n_head=2",
            "--set", "model.n_embd=16", "--set", "train.batch_size=8", "--set", "train.n_samples=2",
            "--set", "train.ckpt_every=3"]
    assert main(["train", "gpt", "--data", str(text_file), "--out", str(run), "--steps", "3", "--no-progress",
                 *base]) == 0
    assert main(["train", "--resume", "--out", str(run), "--steps", "6", "--no-progress"]) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["chars"] == "\n ,.abcdehirst" and cfg["train"]["decay_exempt"] is True
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "the cat", "--max-new-tokens", "20", "--temperature", "0"]) == 0
    greedy = capsys.readouterr().out
    assert greedy.startswith("the cat") and len(greedy.rstrip("\n")) == 27
    assert main(["sample", str(run), "--prompt", "the cat", "--max-new-tokens", "20", "--temperature", "0",
                 "--seed", "5"]) == 0
    assert capsys.readouterr().out == greedy  # temperature 0 is greedy: no randomness left
    assert main(["evaluate", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0 < res["loss"] < math.log(14) + 0.5 and res["context"] == 8
