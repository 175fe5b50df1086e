"""DDPM (Ho et al. 2020; Nichol & Dhariwal 2021) and its DDIM-sampling alias. Registered as `ddpm` and `ddim`.

Training (index k ~ U{0..T-1}, x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps; network time input k + 1):
    loss "simple"  L_simple = E || target - net(x_k, k) ||^2 (mean over dimensions), target eps, x_0 or v
    loss "vlb"     T * L_k / D: an unbiased per-dimension estimate of the variational bound (L_0 the decoder NLL)
    loss "hybrid"  L_simple + vlb_weight * T * L_k / D with the mean stop-gradiented in the VLB term (Nichol & Dhariwal)
learned_var: the network also outputs v, and log sigma_k^2 = f log beta_k + (1 - f) log beta_tilde_k, f = (v + 1) / 2
(Nichol & Dhariwal 2021, eq. 15); needs loss "vlb" or "hybrid". Otherwise sigma_k^2 is fixed: var_type "posterior"
(beta_tilde_k) or "beta" (beta_k).
Sampling: `sampler` "ddpm" (ancestral, T steps), "ddim" (sample_steps, eta), "pf-ode", "sde", "pc" (the VP SDE of the
schedule). likelihood "bound": log_prob is minus the VLB (discretised decoder for images: a probability mass over the
256 levels, so bpd_bins = 1). likelihood_method "exact" makes log_prob the PF-ODE log-likelihood (dequantised, so
bpd_bins = 256 for images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.models.base import Batch
from genzoo.models.diffusion import likelihood as lik
from genzoo.models.diffusion import samplers as S
from genzoo.models.diffusion.base import DiffusionBase, DiffusionNetConfig
from genzoo.models.diffusion.schedule import NoiseSchedule, to_x0_eps
from genzoo.models.registry import register


@dataclass
class DDPMConfig(DiffusionNetConfig):
    """schedule: "linear" | "cosine" | "sigmoid"; timesteps T. pred: "eps" | "x0" | "v". loss: "simple" | "vlb" |
    "hybrid"; vlb_weight (hybrid lambda). learned_var; var_type of a fixed variance: "posterior" | "beta".
    sampler: "ddpm" | "ddim" | "pf-ode" | "sde" | "pc"; sample_steps (0: T for ddpm/sde/pc, 50 for ddim); eta
    (DDIM noise); clip_denoised (clip x0_hat to [-1, 1] when sampling; None: on for images).
    likelihood_method: "bound" (VLB) | "exact" (PF-ODE). vlb_steps: 0 sums all T terms of the VLB; K > 0 computes
    L_prior and L_0 exactly and estimates the middle sum by stratified sampling, one timestep in each of at most K
    geometrically widening strata (unbiased, but a random estimate: report its standard error).
    exact_trace: PF-ODE divergence exactly (None: in <= 16 dimensions) or by Hutchinson. ode_tol: rtol = atol.
    """

    schedule: Literal["linear", "cosine", "sigmoid"] = "linear"
    timesteps: int = 1000
    pred: Literal["eps", "x0", "v"] = "eps"
    loss: Literal["simple", "vlb", "hybrid"] = "simple"
    vlb_weight: float = 0.001
    learned_var: bool = False
    var_type: Literal["posterior", "beta"] = "posterior"
    sampler: Literal["ddpm", "ddim", "pf-ode", "sde", "pc"] = "ddpm"
    sample_steps: int = 0
    eta: float = 0.0
    clip_denoised: bool | None = None
    likelihood_method: Literal["bound", "exact"] = "bound"
    vlb_steps: int = 0
    exact_trace: bool | None = None
    ode_tol: float = 1e-5

    def checks(self) -> list[tuple[bool, str]]:
        return [
            *super().checks(),
            (self.timesteps >= 2, "timesteps must be >= 2"),
            (not (self.learned_var and self.loss == "simple"),
             'learned_var needs loss "vlb" or "hybrid" (L_simple does not train it)'),
            (self.ode_tol > 0, "ode_tol must be > 0"),
        ]


@dataclass
class DDIMConfig(DDPMConfig):
    sampler: Literal["ddpm", "ddim", "pf-ode", "sde", "pc"] = "ddim"
    sample_steps: int = 50


@register("ddpm", family="diffusion")
class DDPM(DiffusionBase):
    """Denoising diffusion probabilistic model (Ho et al. 2020): L_simple / L_vlb / hybrid on a discrete schedule,
    ancestral, DDIM, PF-ODE, SDE and predictor-corrector samplers; `log_prob` is minus the VLB (or the exact
    PF-ODE log-likelihood with likelihood_method="exact")."""

    likelihood = "bound"
    Config = DDPMConfig
    capabilities = frozenset({"score", "invert"})

    @classmethod
    def likelihood_for(cls, config: DDPMConfig) -> str:
        """The likelihood type: "bound" (minus the VLB), or "exact" with likelihood_method="exact" (PF-ODE)."""
        return "exact" if config.likelihood_method == "exact" else "bound"

    def __init__(self, config: DDPMConfig):
        super().__init__(config, out_mult=2 if config.learned_var else 1)
        self.schedule = NoiseSchedule.make(config.schedule, config.timesteps)

    @property
    def bpd_bins(self) -> int:
        return 256 if (self.is_image and self.config.likelihood_method == "exact") else 1

    @property
    def clip(self) -> bool:
        c = self.config.clip_denoised
        return self.is_image if c is None else c

    # ---- the model's predictions -------------------------------------------------------------------------------
    def _split(self, out: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.config.learned_var:
            a, b = out.chunk(2, dim=1)
            return a, b
        return out, None

    def model_logvar(self, v: Tensor | None, k: Tensor, x: Tensor) -> Tensor:
        """log sigma_k^2: the learned interpolation (Nichol & Dhariwal eq. 15) or the fixed choice."""
        if v is None:
            return S.fixed_logvar(self.schedule, k, x, self.config.var_type)
        frac = (v + 1) / 2
        min_log = self.schedule.extract(self.schedule.posterior_log_variance_clipped, k, x)
        max_log = self.schedule.extract(self.schedule.log_betas, k, x)
        return frac * max_log + (1 - frac) * min_log

    def denoise(self, x: Tensor, k: Tensor, y: Tensor | None = None, clip: bool | None = None) -> S.Prediction:
        """Prediction(x0_hat, eps_hat, logvar or None) at indices k (guided when configured)."""
        k = k.to(x.device)
        n_pred = x.shape[1]
        dtype = next(self.net.parameters()).dtype  # x may be float64 around a float32 network (to_latent)
        out = self.guided_net(x.to(dtype), (k + 1).to(dtype), y, n_pred).to(x.dtype)
        pred, v = self._split(out)
        x0, eps = self.schedule.to_x0_eps(pred, x, k, self.config.pred)
        clip = self.clip if clip is None else clip
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = self.schedule.x0_to_eps(x, k, x0)
        logvar = self.model_logvar(v, k, x) if v is not None else None
        return S.Prediction(x0, eps, logvar)

    def score(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """grad log p_t(x) in continuous time (the schedule's VP SDE): -eps_hat / s(t), network time input t T;
        eps_hat from the prediction through the schedule's one conversion (`schedule.to_x0_eps`)."""
        m, s = self.schedule.sde().marginal(t)
        m, s = S._col(m, x), S._col(s, x)
        pred, _ = self._split(self.guided_net(x, t * self.schedule.T, y, x.shape[1]))
        _, eps = to_x0_eps(pred, x, m, s, self.config.pred)
        return -eps / s

    # ---- training ----------------------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        cfg = self.config
        x0 = self.preprocess(batch.x.to(self.device))
        n = x0.shape[0]
        k = torch.randint(0, self.schedule.T, (n,))
        noise = torch.randn_like(x0)
        xk = self.schedule.q_sample(x0, k, noise)
        y = self._train_labels(batch.y, n)
        out = self.net(xk, (k + 1).to(x0.device, x0.dtype), y)
        pred, v = self._split(out)
        target = self.schedule.target(cfg.pred, x0, noise, k)
        mse = F.mse_loss(pred, target)
        parts = {"mse": mse.detach()}
        if cfg.loss == "simple":
            total = mse
        else:
            p = pred.detach() if cfg.loss == "hybrid" else pred
            x0_hat, _ = self.schedule.to_x0_eps(p, xk, k, cfg.pred)
            mean, _, _ = self.schedule.q_posterior(x0_hat, xk, k)
            logvar = self.model_logvar(v, k, xk)
            lk = lik.vlb_term(self.schedule, x0, xk, k, mean, logvar, discrete=self.is_image)
            vb = (lk * self.schedule.T / self.dims).mean()
            parts["vlb"] = vb.detach()
            total = mse + cfg.vlb_weight * vb if cfg.loss == "hybrid" else vb
        return {"loss": total, **parts}

    # ---- sampling ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        y_all = self._sample_labels(condition, n)
        return self._batched(n, lambda i, m: self._sample(m, None if y_all is None else y_all[i : i + m]))

    def _sample(self, n: int, y: Tensor | None) -> Tensor:
        cfg = self.config
        shape = (n, *cfg.data_shape)
        x_T = torch.randn(shape, device=self.device)
        denoise = lambda x, k: self.denoise(x, k, y)
        sampler = cfg.sampler
        if sampler == "ddpm":
            x = S.ddpm_sample(self.schedule, denoise, x_T, cfg.var_type)
        elif sampler == "ddim":
            x = S.ddim_sample(self.schedule, denoise, x_T, cfg.sample_steps or 50, cfg.eta)
        else:
            sde = self.schedule.sde()
            t_min = 1.0 / self.schedule.T  # the network's smallest trained time (k = 0)
            score = lambda x, t: self.score(x, t, y)
            steps = cfg.sample_steps or self.schedule.T
            if sampler == "pf-ode":
                x = S.pf_ode_sample(sde, score, x_T, rtol=cfg.ode_tol, atol=cfg.ode_tol, t_min=t_min)
            elif sampler == "sde":
                x = S.reverse_sde_sample(sde, score, x_T, steps, t_min=t_min)
            else:
                x = S.predictor_corrector_sample(sde, score, x_T, steps, t_min=t_min)
            # a final denoising step to x0_hat at k = 0 (Song et al. 2021)
            x = self.denoise(x, torch.zeros(n, dtype=torch.long), y).x0
        return self.postprocess(x)

    # ---- the deterministic latent (DDIM) -----------------------------------------------------------------------
    @property
    def latent_steps(self) -> int:
        """DDIM steps of `to_latent` / `from_latent`: sample_steps when the sampler is "ddim" and sets them, else 50."""
        cfg = self.config
        return cfg.sample_steps if cfg.sampler == "ddim" and cfg.sample_steps > 0 else 50

    @property
    def _latent_dtype(self) -> torch.dtype:
        """float64 for the DDIM latent's arithmetic (float32 on "mps", which has none): the last sampling step
        divides x_T - sqrt(1 - abar) eps by sqrt(abar_{T-1}) (6e-3 for T = 1000 linear, 5e-5 cosine, 4e-9 for a
        10-step linear schedule), so float32 latents would lose the data to rounding."""
        return torch.float32 if self.device.type == "mps" else torch.float64

    def to_latent(self, x: Tensor, condition: Tensor | None = None, steps: int | None = None,
                  refine: int = 5) -> Tensor:
        """The DDIM latent x_T (N, D) of data x: the eta = 0 DDIM update run backwards over `steps` (default
        `latent_steps`) timesteps (`samplers.ddim_invert`, with `refine` fixed-point iterations a step; x0_hat is
        not clipped), in float64 around the network (`_latent_dtype`). Labels of a conditional model by
        `sample_labels` (without a condition: cycling 0..K-1), guided as in sampling. Deterministic in eval mode;
        `from_latent` maps x_T back to x."""
        self.check_input(x, condition)
        y_all = self.sample_labels(x.shape[0], condition)
        steps = steps or self.latent_steps

        def one(i: int, m: int) -> Tensor:
            y = None if y_all is None else y_all[i : i + m]
            x0 = self.preprocess(x[i : i + m].to(self.device)).to(self._latent_dtype)
            return S.ddim_invert(self.schedule, lambda xk, k: self.denoise(xk, k, y, clip=False), x0, steps, refine)

        return self._batched(x.shape[0], one).flatten(1)

    @torch.no_grad()
    def from_latent(self, z: Tensor, condition: Tensor | None = None, steps: int | None = None) -> Tensor:
        """Data from DDIM latents z (N, D): `ddim_sample` with eta = 0 over `steps` (default `latent_steps`) from
        x_T = z (in float64, `_latent_dtype`), the sample that `sampler="ddim", eta=0, clip_denoised=False` draws
        from that noise (x0_hat is not clipped, so this inverts `to_latent`; images are clamped to [0, 1] at the
        end); returned in the network's dtype."""
        y_all = self.sample_labels(z.shape[0], condition)
        steps = steps or self.latent_steps
        dtype = next(self.net.parameters()).dtype
        z = z.reshape(z.shape[0], *self.config.data_shape).to(self.device, self._latent_dtype)

        def one(i: int, m: int) -> Tensor:
            y = None if y_all is None else y_all[i : i + m]
            x = S.ddim_sample(self.schedule, lambda xk, k: self.denoise(xk, k, y, clip=False), z[i : i + m], steps,
                              0.0)
            return self.postprocess(x).to(dtype)

        return self._batched(z.shape[0], one)

    # ---- likelihood --------------------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        self.check_input(x, condition)
        y = None if condition is None else condition.to(self.device).long()
        if self.config.likelihood_method == "exact":
            return self._batched(x.shape[0], lambda i, m: self._exact_log_prob(
                x[i : i + m].to(self.device), None if y is None else y[i : i + m]))
        return -self._batched(x.shape[0], lambda i, m: self.vlb(
            x[i : i + m].to(self.device), None if y is None else y[i : i + m]))

    @torch.no_grad()
    def vlb(self, x: Tensor, y: Tensor | None = None, steps: int | None = None) -> Tensor:
        """The variational bound -log p(x) <= L_prior + sum_k L_k in nats per example (module docstring)."""
        return self.vlb_parts(x, y, steps)["total"]

    @torch.no_grad()
    def vlb_parts(self, x: Tensor, y: Tensor | None = None, steps: int | None = None) -> dict[str, Tensor]:
        """The VLB's "prior", "decoder" (L_0), "middle" (sum of L_k, k >= 1) and "total" in nats per example;
        steps (default config.vlb_steps): 0 sums all T terms, K > 0 estimates the middle sum by stratified
        sampling (unbiased; `likelihood.vlb_plan`)."""
        steps = self.config.vlb_steps if steps is None else steps
        return lik.vlb_parts(self.schedule, lambda xk, k: self.denoise(xk, k, y, clip=False), self.preprocess(x),
                             self.is_image, self.config.var_type, steps)

    def _exact_log_prob(self, x: Tensor, y: Tensor | None) -> Tensor:
        z, logdet = self._dequantize_for_ode(x)
        cfg = self.config
        score = lambda xx, t: self.score(xx, t, y)
        ll = lik.ode_log_likelihood(self.schedule.sde(), score, z, cfg.exact_trace, cfg.ode_tol, cfg.ode_tol,
                                    t_min=1.0 / self.schedule.T)
        return ll + logdet


@register("ddim", family="diffusion")
class DDIM(DDPM):
    """`ddpm` with DDIM sampling (50 steps, eta = 0) by default; the same training and likelihood."""

    Config = DDIMConfig
