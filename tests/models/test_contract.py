"""The model contract, the registry, config validation and save/load, on a tiny model defined here."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from genzoo.config import build_config, parse_set
from genzoo.errors import CheckpointError, ConfigError, DataError, LikelihoodError, UnknownNameError
from genzoo.models import Batch, GenerativeModel, ModelConfig, create, get_class, load, register
from genzoo.models.registry import _REGISTRY


@dataclass
class _Cfg(ModelConfig):
    width: int = 3
    scale: float = 1.0
    dims: tuple[int, ...] = (4, 4)


class _Gauss(GenerativeModel):
    likelihood = "exact"
    Config = _Cfg

    def __init__(self, config):
        super().__init__(config)
        self.mu = nn.Parameter(torch.randn(config.data_shape))
        self.register_buffer("flag", torch.tensor(0))

    def loss(self, batch, player="model"):
        nll = -self.log_prob(batch.x).mean()
        return {"loss": nll, "nll": nll.detach()}

    def log_prob(self, x, condition=None):
        return -0.5 * ((x - self.mu) ** 2).sum(-1) - 0.5 * x.shape[-1] * torch.log(torch.tensor(2 * torch.pi))

    def sample(self, n, condition=None):
        return self.mu + torch.randn(n, *self.config.data_shape)


@pytest.fixture(scope="module", autouse=True)
def _registered():
    register("test-gauss", family="test")(_Gauss)
    yield
    _REGISTRY.pop("test-gauss", None)


def test_create_validates_keys_and_types():
    m = create("test-gauss", width=5, dims=[8, 8])
    assert m.config.dims == (8, 8) and m.config.scale == 1.0
    with pytest.raises(ConfigError, match='unknown key "widht".*Did you mean "width"'):
        create("test-gauss", widht=5)
    with pytest.raises(ConfigError, match="width: expected int"):
        create("test-gauss", width="five")
    with pytest.raises(UnknownNameError, match='Did you mean "test-gauss"'):
        get_class("test-gaus")


def test_build_config_coercions():
    assert build_config(_Cfg, {"scale": 2}).scale == 2.0
    assert build_config(_Cfg, {"scale": "1e-3"}).scale == 1e-3
    with pytest.raises(ConfigError, match="expected bool|expected int"):
        build_config(_Cfg, {"width": True})
    assert parse_set(["width=4", "dims=[1,2]"]) == {"width": 4, "dims": [1, 2]}
    with pytest.raises(ConfigError):
        parse_set(["oops"])


def test_save_load_roundtrip(tmp_path):
    m = create("test-gauss")
    m.flag.fill_(1)
    x = torch.randn(7, 2)
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m")
    assert torch.equal(m.log_prob(x), m2.log_prob(x))
    assert int(m2.flag) == 1
    torch.manual_seed(3)
    a = m.sample(4)
    torch.manual_seed(3)
    b = m2.sample(4)
    assert torch.equal(a, b)


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such folder"):
        load(tmp_path / "nothing")
    m = create("test-gauss")
    m.save(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        load(tmp_path / "m")


def test_check_input_and_likelihood_none():
    m = create("test-gauss")
    with pytest.raises(DataError, match=r"expected data of shape \(N, 2\)"):
        m.check_input(torch.zeros(3, 5))
    with pytest.raises(DataError, match="NaN"):
        m.check_input(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(DataError, match="unconditional"):
        m.check_input(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
    with pytest.raises(LikelihoodError, match="implicit"):
        GenerativeModel.log_prob(m, torch.zeros(1, 2))


def test_bits_per_dim_goes_through_math():
    m = create("test-gauss")
    x = torch.randn(5, 2)
    from genzoo.math import bits_per_dim

    assert torch.allclose(m.bits_per_dim(x), bits_per_dim(-m.log_prob(x), 2))
    assert len(Batch(x)) == 5
