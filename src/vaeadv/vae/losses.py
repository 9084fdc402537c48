"""The VAE's math as small pure functions: reparameterisation, KL, bpd, and likelihood estimators.

No ``torch.distributions`` (the assignment forbids it): Gaussian log-densities are written out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def sample_reparameterize(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``mean + std·ε`` with ε ~ N(0, I): the sample stays differentiable in ``mean`` and ``std``."""
    if bool((std < 0).any()):
        raise ValueError("sample_reparameterize: std must be non-negative")
    return mean + std * torch.randn_like(std)


def reparameterize_log_std(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``sample_reparameterize(mean, exp(log_std))`` without its sign check: ``exp`` is positive by
    construction, and the check costs a device→host sync per step on a GPU (and a graph break under
    ``torch.compile``)."""
    std = torch.exp(log_std)
    return mean + std * torch.randn_like(std)


def KLD(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:  # noqa: N802 - the template's name
    """KL(N(mean, exp(log_std)²) ‖ N(0, I)) in closed form, summed over the last dimension."""
    return 0.5 * (torch.exp(2 * log_std) + mean.pow(2) - 1 - 2 * log_std).sum(dim=-1)


def elbo_to_bpd(elbo: torch.Tensor, img_shape: Sequence[int]) -> torch.Tensor:
    """Negative ELBO in nats per image → bits per dimension (``img_shape`` includes the batch)."""
    return elbo * math.log2(math.e) / math.prod(img_shape[1:])


def categorical_nll(logits: torch.Tensor, imgs: torch.Tensor) -> torch.Tensor:
    """−log p(x|z) per image: pixel-wise cross-entropy, summed over pixels.

    ``logits`` ``[N, k, H, W]``, ``imgs`` long ``[N, 1, H, W]`` → ``[N]`` nats.
    """
    return F.cross_entropy(logits, imgs[:, 0], reduction="none").sum(dim=(-2, -1))


def log_normal(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(log_std)²), summed over the last dimension."""
    return (-0.5 * ((z - mean) * torch.exp(-log_std)).pow(2) - log_std - 0.5 * LOG_2PI).sum(dim=-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    return (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(dim=-1)


def mc_kl(mean: torch.Tensor, log_std: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Monte-Carlo KL(q‖p) = E_q[log q(z) − log p(z)] from ``num_samples`` draws (Q1.6): works for any
    prior whose density can be evaluated, where the closed form may not exist."""
    z = mean + torch.exp(log_std) * torch.randn(num_samples, *mean.shape, dtype=mean.dtype, device=mean.device)
    return (log_normal(z, mean, log_std) - log_standard_normal(z)).mean(dim=0)


def importance_weighted_nll(log_px_given_z: torch.Tensor, z: torch.Tensor, mean: torch.Tensor,
                            log_std: torch.Tensor) -> torch.Tensor:
    """−log (1/K Σ_k p(x|z_k) p(z_k) / q(z_k|x)) from K samples ``z`` ``[K,B,D]``: the IWAE bound, in nats.

    ``log_px_given_z`` is ``[K,B]``. K=1 is a one-sample ELBO; the bound tightens as K grows.
    """
    log_w = log_px_given_z + log_standard_normal(z) - log_normal(z, mean, log_std)
    return -(torch.logsumexp(log_w, dim=0) - math.log(z.shape[0]))


def prior_sampling_nll(log_px_given_z: torch.Tensor) -> torch.Tensor:
    """Naive Monte-Carlo −log p(x) with z_l ~ p(z) (Q1.2): −log (1/L Σ_l p(x|z_l)). ``[L,B]`` → ``[B]``.

    Unbiased for p(x) but not for log p(x); it needs exponentially many samples as z_dim grows, because
    almost no prior sample lands where the posterior has its mass.
    """
    return -(torch.logsumexp(log_px_given_z, dim=0) - math.log(log_px_given_z.shape[0]))
