"""Hidden Markov models (Rabiner 1989, "A tutorial on hidden Markov models...", sections III-IV; Bishop 2006, 13.2).

    p(x_1..T) = sum_z pi_{z_1} e_{z_1}(x_1) prod_{t=2..T} A_{z_{t-1} z_t} e_{z_t}(x_t)

with S hidden states, start distribution pi, transitions A (S, S) (rows sum to 1) and emissions e_j: categorical
B_j(v) over a vocabulary (`HMM`, registered as "hmm", on text windows) or diagonal Gaussians N(mu_j, diag sigma_j^2)
(`GaussianHMM`, Python API only: the data contract has no sequence-of-points kind).

Forward (Rabiner eq. 19-21), in log space, batched over sequences:
    log alpha_1(j) = log pi_j + log e_j(x_1)
    log alpha_t(j) = log sum_i exp(log alpha_{t-1}(i)) A_ij + log e_j(x_t),     log p(x) = logsumexp_j log alpha_T(j)
Backward (eq. 23-25):   log beta_T(i) = 0,   log beta_t(i) = log sum_j A_ij exp(log e_j(x_{t+1}) + log beta_{t+1}(j)).
Each log-sum is m + log(exp(a - m) @ A) with m = max_i a_i (exact; stable while the entries of A are not below the
float's range, which the `smoothing` pseudo-count guarantees).
Posteriors (eq. 27, 37):  gamma_t(j) = exp(log alpha_t(j) + log beta_t(j) - log p(x)),
    xi_t(i, j) = exp(log alpha_t(i) + log A_ij + log e_j(x_{t+1}) + log beta_{t+1}(j) - log p(x)).
Viterbi (eq. 32-35): delta_t(j) = max_i [delta_{t-1}(i) + log A_ij] + log e_j(x_t), then backtracking.
Baum-Welch (eq. 40; Dempster et al. 1977): the expected sufficient statistics per sequence
    start_j = gamma_1(j),   trans_ij = sum_{t<T} xi_t(i, j),   emit_jv = sum_t gamma_t(j) [x_t = v]
(Gaussian: sum_t gamma_t(j) (1, x_t, x_t^2)) averaged over the sequences, then the M-step
    pi = normalise(start + a),   A_i = normalise(trans_i + a),   B_j = normalise(emit_j + a)
with a = `smoothing`, a pseudo-count per statistic (0: maximum likelihood, as hmmlearn's default priors). The
statistics are the parameters (stepwise.py: the Trainer's SGD step is a stepwise-EM step; `fit` is batch EM).

On text, each window is a sequence whose first state is drawn from pi: log_prob is the exact log p(window), and
`generate` continues a prompt with p(x_{t+1} | x_1..t) = sum_j p(z_{t+1} = j | x_1..t) B_j(x_{t+1}), the filtered
state distribution carried token by token (no context limit: the state summarises the whole prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.errors import ConfigError, DataError
from genzoo.math import gaussian_log_prob
from genzoo.math.sampling import check_sampling, sample_next
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.classical.stepwise import EM_TRAIN_DEFAULTS, stepwise_em_loss
from genzoo.models.registry import register
from genzoo.models.text import TextConfig, TextModel


# ---- the algorithms, on log-potentials: log pi (S,), log A (S, S), log e (N, T, S) ----------------------------
def _log_matmul(a: Tensor, m: Tensor) -> Tensor:
    """log(exp(a) @ m) for log-vectors a (N, S) and a non-negative matrix m (S, S), shifted by max_i a_i."""
    top = a.max(-1, keepdim=True).values
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return ((a - top).exp() @ m).log() + top


def forward(log_pi: Tensor, log_A: Tensor, log_e: Tensor) -> tuple[Tensor, Tensor]:
    """(log alpha (N, T, S), log p(x) (N,)) by the forward recursion."""
    A = log_A.exp()
    alpha = [log_pi + log_e[:, 0]]
    for t in range(1, log_e.shape[1]):
        alpha.append(_log_matmul(alpha[-1], A) + log_e[:, t])
    log_alpha = torch.stack(alpha, 1)
    return log_alpha, log_alpha[:, -1].logsumexp(-1)


def backward(log_A: Tensor, log_e: Tensor) -> Tensor:
    """log beta (N, T, S) by the backward recursion."""
    At = log_A.exp().T
    beta = [torch.zeros_like(log_e[:, -1])]
    for t in range(log_e.shape[1] - 2, -1, -1):
        beta.append(_log_matmul(log_e[:, t + 1] + beta[-1], At))
    return torch.stack(beta[::-1], 1)


def transition_counts(log_alpha: Tensor, log_beta: Tensor, log_z: Tensor, log_A: Tensor, log_e: Tensor) -> Tensor:
    """sum over sequences and t < T of xi_t(i, j) (S, S), as A * U^T V with U = exp(log alpha_t - m) and
    V = exp(log e_{t+1} + log beta_{t+1} - log p(x) + m)."""
    a = log_alpha[:, :-1]
    top = a.max(-1, keepdim=True).values
    u = (a - top).exp()
    v = (log_e[:, 1:] + log_beta[:, 1:] - log_z[:, None, None] + top).exp()
    s = log_A.shape[0]
    return log_A.exp() * (u.reshape(-1, s).T @ v.reshape(-1, s))


def viterbi(log_pi: Tensor, log_A: Tensor, log_e: Tensor) -> tuple[Tensor, Tensor]:
    """(the most probable state paths (N, T) int64, their log p(x, z) (N,))."""
    delta = log_pi + log_e[:, 0]
    back = []
    for t in range(1, log_e.shape[1]):
        best, arg = (delta[:, :, None] + log_A).max(1)  # over the previous state i
        back.append(arg)
        delta = best + log_e[:, t]
    score, last = delta.max(-1)
    path = [last]
    for arg in reversed(back):
        path.append(arg.gather(1, path[-1][:, None]).squeeze(1))
    return torch.stack(path[::-1], 1), score


def normalise(counts: Tensor, smoothing: float) -> Tensor:
    """Rows of (counts + smoothing) divided by their sums (the M-step of a categorical distribution)."""
    c = counts + smoothing
    return c / c.sum(-1, keepdim=True).clamp_min(torch.finfo(c.dtype).tiny)


class MarkovChainEM:
    """The chain part shared by `HMM` and `GaussianHMM`: statistics `start` (S,) and `trans` (S, S), forward-backward,
    posteriors, Viterbi, the E-step and batch EM. A subclass provides `emission_log_prob(x) -> (N, T, S)`,
    `emission_targets(x, gamma) -> dict` and `stats() -> dict` of all its statistics."""

    smoothing: float

    def _init_chain(self, s: int, length: int, g: torch.Generator) -> None:
        start = torch.rand(s, generator=g) + 0.5
        trans = torch.rand(s, s, generator=g) + 0.5
        self.start = nn.Parameter(start / start.sum())
        self.trans = nn.Parameter(trans / trans.sum(1, keepdim=True) * max(length - 1, 1) / s)

    @property
    def log_pi(self) -> Tensor:
        return normalise(self.start, self.smoothing).log()

    @property
    def log_A(self) -> Tensor:
        return normalise(self.trans, self.smoothing).log()

    def forward_backward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(log e (N, T, S), log alpha, log beta, log p(x) (N,))."""
        log_e = self.emission_log_prob(x)
        log_alpha, log_z = forward(self.log_pi, self.log_A, log_e)
        return log_e, log_alpha, backward(self.log_A, log_e), log_z

    def posteriors(self, x: Tensor) -> Tensor:
        """gamma_t(j) = p(z_t = j | x) (N, T, S)."""
        _, log_alpha, log_beta, log_z = self.forward_backward(x)
        return (log_alpha + log_beta - log_z[:, None, None]).exp()

    def viterbi(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(argmax_z p(z | x) (N, T), max_z log p(x, z) (N,))."""
        return viterbi(self.log_pi, self.log_A, self.emission_log_prob(x))

    def e_step(self, x: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """(the expected statistics of x averaged over its sequences, log p(x) (N,))."""
        log_e, log_alpha, log_beta, log_z = self.forward_backward(x)
        gamma = (log_alpha + log_beta - log_z[:, None, None]).exp()
        n = x.shape[0]
        targets = {"start": gamma[:, 0].mean(0),
                   "trans": transition_counts(log_alpha, log_beta, log_z, self.log_A, log_e) / n,
                   **{k: v / n for k, v in self.emission_targets(x, gamma).items()}}
        return targets, log_z

    @torch.no_grad()
    def fit(self, x: Tensor, iterations: int = 10) -> list[float]:
        """Baum-Welch on all of x: `iterations` E- and M-steps. Returns the mean log p(sequence) (nats) after
        0, 1, ..., iterations steps."""
        self.check_input(x)
        trace = []
        for _ in range(iterations):
            targets, log_z = self.e_step(x)
            trace.append(float(log_z.mean()))
            for k, p in self.stats().items():
                p.copy_(targets[k])
        trace.append(float(self.e_step(x)[1].mean()))
        return trace


@dataclass
class HMMConfig(TextConfig):
    """Configuration of `hmm` (categorical emissions over token ids).

    states: S. vocab_size, tokenizer, chars: the text data's tokeniser (the CLI fills them). context: the window
    length L; data_shape is (L,). smoothing: the pseudo-count added to every expected count in the M-step (> 0 keeps
    every probability positive, so unseen tokens and transitions stay possible). seed: the random initialisation.
    """

    context: int = 128
    states: int = 64
    smoothing: float = 1e-3
    seed: int = 0

    positive: ClassVar[tuple[str, ...]] = (*TextConfig.positive, "states")

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.smoothing >= 0, f"smoothing must be >= 0, got {self.smoothing}"),
            *self.text_checks(),
        ]


@register("hmm", family="classical")
class HMM(MarkovChainEM, TextModel, GenerativeModel):
    """Categorical-emission HMM on token windows: exact log_prob, Baum-Welch, Viterbi, generate."""

    likelihood = "exact"
    Config = HMMConfig
    capabilities = frozenset({"generate", "tokenizer"})
    sample_options = ("generator",)
    loss_units = "nats/token"
    train_defaults: ClassVar[dict[str, Any]] = {**EM_TRAIN_DEFAULTS, "lr": 1.0, "batch_size": 64, "steps": 1000,
                                                "schedule": "linear", "min_lr_factor": 0.1}

    def __init__(self, config: HMMConfig):
        super().__init__(config)
        s, v, length = config.states, config.vocab_size, config.context
        self.smoothing = config.smoothing
        g = torch.Generator().manual_seed(config.seed)
        self._init_chain(s, length, g)
        emit = torch.rand(s, v, generator=g) + 0.5
        self.emit = nn.Parameter(emit / emit.sum(1, keepdim=True) * length / s)

    @property
    def bpd_bins(self) -> int:
        return 1

    def stats(self) -> dict[str, nn.Parameter]:
        return {"start": self.start, "trans": self.trans, "emit": self.emit}

    @property
    def log_B(self) -> Tensor:
        """log B (S, V)."""
        return normalise(self.emit, self.smoothing).log()

    def emission_log_prob(self, x: Tensor) -> Tensor:
        return self.log_B.T[x]  # (N, T, S)

    def emission_targets(self, x: Tensor, gamma: Tensor) -> dict[str, Tensor]:
        s = gamma.shape[-1]
        counts = gamma.new_zeros(self.config.vocab_size, s).index_add_(0, x.reshape(-1), gamma.reshape(-1, s))
        return {"emit": counts.T}

    # ---- the contract ----------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """NLL in nats/token in value; the gradient of the stepwise-EM surrogate (stepwise.py)."""
        x = batch.x
        self.check_input(x, batch.y)
        with torch.no_grad():
            targets, log_z = self.e_step(x)
        return {"loss": stepwise_em_loss(-log_z.mean() / x.shape[1], self.stats(), targets)}

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """log p(window) (N,) in nats by the forward algorithm, the first state drawn from pi."""
        self.check_input(x, condition)
        return forward(self.log_pi, self.log_A, self.emission_log_prob(x))[1]

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n windows (n, context): z_1 ~ pi, z_t ~ A_{z_{t-1}}, x_t ~ B_{z_t} (exact draws of log_prob's law)."""
        self.sample_labels(n, condition)
        pi, A, B = self.log_pi.exp(), self.log_A.exp(), self.log_B.exp()
        z = torch.multinomial(pi.expand(n, -1), 1, generator=generator).squeeze(1)
        out = []
        for t in range(self.config.context):
            if t:
                z = torch.multinomial(A[z], 1, generator=generator).squeeze(1)
            out.append(torch.multinomial(B[z], 1, generator=generator).squeeze(1))
        return torch.stack(out, 1)

    @torch.no_grad()
    def generate(self, prompt: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Continue int64 prompts (N, T0) by max_new_tokens ids -> (N, T0 + max_new_tokens); each id drawn by
        genzoo's `sample_next` (temperature 0: greedy, then top-k, top-p) from log p(x_{t+1} | x_1..t)."""
        check_sampling(temperature, top_k, top_p)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        prompt = torch.as_tensor(prompt)
        if prompt.dim() != 2 or prompt.is_floating_point() or prompt.dtype == torch.bool:
            raise DataError(f"{self.name}: a prompt is int64 token ids of shape (N, T0), got {prompt.dtype} "
                            f"{tuple(prompt.shape)}")
        v = self.config.vocab_size
        if prompt.numel() and (prompt.min() < 0 or prompt.max() >= v):
            raise DataError(f"{self.name}: prompt ids must lie in [0, {v}), got {int(prompt.min())}.."
                            f"{int(prompt.max())}")
        prompt = prompt.long().to(self.device)
        A, log_B = self.log_A.exp(), self.log_B
        pred = self.log_pi.expand(prompt.shape[0], -1)  # log p(z_t | x_<t)
        for t in range(prompt.shape[1]):
            pred = _log_matmul(pred + log_B.T[prompt[:, t]], A)
        out = [prompt]
        for _ in range(max_new_tokens):
            token = sample_next((pred[:, :, None] + log_B).logsumexp(1), temperature, top_k, top_p, generator)
            out.append(token[:, None])
            pred = _log_matmul(pred + log_B.T[token], A)
        return torch.cat(out, 1)


class GaussianHMM(MarkovChainEM, nn.Module):
    """HMM with diagonal-Gaussian emissions on point sequences x (N, T, D) (Python API; the data contract has no
    sequence-of-points kind). M-step: mu_j = s1_j / s0_j, sigma_j^2 = s2_j / s0_j - mu_j^2 + reg_covar."""

    name = "gaussian-hmm"

    def __init__(self, states: int, dim: int, length: int = 16, reg_covar: float = 1e-6, smoothing: float = 0.0,
                 seed: int = 0):
        super().__init__()
        self.smoothing, self.reg_covar, self.dim = smoothing, reg_covar, dim
        g = torch.Generator().manual_seed(seed)
        self._init_chain(states, length, g)
        mass = torch.full((states,), length / states)
        self.s0 = nn.Parameter(mass)
        self.s1 = nn.Parameter(mass[:, None] * torch.randn(states, dim, generator=g))
        self.s2 = nn.Parameter(self.s1.data.pow(2) / mass[:, None] + mass[:, None])

    def stats(self) -> dict[str, nn.Parameter]:
        return {"start": self.start, "trans": self.trans, "s0": self.s0, "s1": self.s1, "s2": self.s2}

    @property
    def means(self) -> Tensor:
        return self.s1 / self.s0.clamp_min(torch.finfo(self.s0.dtype).tiny)[:, None]

    @property
    def variances(self) -> Tensor:
        return self.s2 / self.s0.clamp_min(torch.finfo(self.s0.dtype).tiny)[:, None] - self.means.pow(2) + \
            self.reg_covar

    @torch.no_grad()
    def set_parameters(self, pi: Tensor, A: Tensor, means: Tensor, variances: Tensor) -> None:
        """Set pi (S,), A (S, S), mu (S, D), sigma^2 (S, D) (reg_covar included)."""
        p = self.s0
        pi, A, mu, var = (torch.as_tensor(t, dtype=p.dtype) for t in (pi, A, means, variances))
        self.start.copy_(pi)
        self.trans.copy_(A)
        self.s0.copy_(torch.ones_like(p))
        self.s1.copy_(mu)
        self.s2.copy_(var - self.reg_covar + mu.pow(2))

    def check_input(self, x: Tensor, condition: Tensor | None = None) -> None:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.dim or not x.is_floating_point():
            raise DataError(f"{self.name}: expected float sequences (N, T, {self.dim}), got "
                            f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        if not torch.isfinite(x).all():
            raise DataError(f"{self.name}: input contains NaN or inf")

    def emission_log_prob(self, x: Tensor) -> Tensor:
        return gaussian_log_prob(x.to(self.s0.dtype)[:, :, None, :], self.means, self.variances.log())

    def emission_targets(self, x: Tensor, gamma: Tensor) -> dict[str, Tensor]:
        x = x.to(gamma.dtype)
        return {"s0": gamma.sum((0, 1)), "s1": torch.einsum("nts,ntd->sd", gamma, x),
                "s2": torch.einsum("nts,ntd->sd", gamma, x.pow(2))}

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) (N,) of sequences (N, T, D)."""
        self.check_input(x)
        return forward(self.log_pi, self.log_A, self.emission_log_prob(x))[1]

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(n point sequences (n, length, D), their states (n, length))."""
        pi, A = self.log_pi.exp(), self.log_A.exp()
        z = [torch.multinomial(pi.expand(n, -1), 1, generator=generator).squeeze(1)]
        for _ in range(1, length):
            z.append(torch.multinomial(A[z[-1]], 1, generator=generator).squeeze(1))
        z = torch.stack(z, 1)
        eps = torch.randn(n, length, self.dim, generator=generator, dtype=self.s0.dtype)
        return self.means[z] + self.variances[z].sqrt() * eps, z



