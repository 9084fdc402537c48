"""`vaeadv vae evaluate`: honest likelihoods (ELBO and the importance-weighted bound) and
posterior-collapse diagnostics, batched and vectorised over the K importance samples."""

from __future__ import annotations

from pathlib import Path

import torch

from vaeadv.checkpoints import load_checkpoint, load_state
from vaeadv.registry import checked_file
from vaeadv.vae.losses import (
    KLD,
    categorical_nll,
    elbo_to_bpd,
    importance_weighted_nll,
    prior_sampling_nll,
)
from vaeadv.vae.module import VAE


def load_vae(path: str | Path) -> VAE:
    """A VAE from a ``vae train`` checkpoint, or from shipped weights by name (``vaeadv-vae-z20``: SHA-256 checked
    against its manifest before loading); always weights-only, in eval mode."""
    path = checked_file(path)
    ckpt = load_checkpoint(path, "VAE", required=("state_dict", "hyper_parameters"))
    hp = dict(ckpt["hyper_parameters"])
    try:
        model = VAE(**hp)
    except TypeError as exc:
        from vaeadv.errors import VaeadvError

        raise VaeadvError(f"{path}: hyper-parameters do not describe a vaeadv VAE ({exc}).") from None
    load_state(model, ckpt["state_dict"], path, "VAE")
    return model.eval()


def _log_px_given_z(decoder, z: torch.Tensor, imgs: torch.Tensor, chunk: int) -> torch.Tensor:
    """log p(x|z) for z ``[K,B,D]`` → ``[K,B]``, decoding at most ``chunk`` latents at a time."""
    k, b, d = z.shape
    flat = z.reshape(k * b, d)
    target = imgs.repeat(k, 1, 1, 1)
    out = torch.cat([-categorical_nll(decoder(flat[i:i + chunk]), target[i:i + chunk])
                     for i in range(0, k * b, chunk)])
    return out.reshape(k, b)


@torch.no_grad()
def evaluate_vae(model: VAE, imgs: torch.Tensor, *, iw_samples: int = 100, batch_size: int = 250,
                 chunk: int = 5000, seed: int = 0) -> dict:
    """ELBO bpd (closed-form KL, one z per image, as in training), IWAE bpd with ``iw_samples`` samples,
    mean KL per latent dimension and the number of active units (Var_x E_q[z_d] > 0.01)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)  # its own stream: the caller's global RNG state is left alone
    device = model.decoder.device
    sums = {"rec": 0.0, "kl": 0.0, "iwae": 0.0}
    kl_dims, means = [], []
    n = len(imgs)
    for start in range(0, n, batch_size):
        x = imgs[start:start + batch_size].to(device).long()
        mean, log_std = model.encoder(x)
        z = mean + torch.exp(log_std) * torch.randn(mean.shape, generator=gen).to(device)
        sums["rec"] += float(categorical_nll(model.decoder(z), x).sum())
        kl = 0.5 * (torch.exp(2 * log_std) + mean.pow(2) - 1 - 2 * log_std)
        sums["kl"] += float(kl.sum())
        kl_dims.append(kl.sum(0))
        means.append(mean)
        zk = mean + torch.exp(log_std) * torch.randn(iw_samples, *mean.shape, generator=gen).to(device)
        sums["iwae"] += float(importance_weighted_nll(_log_px_given_z(model.decoder, zk, x, chunk), zk,
                                                      mean, log_std).sum())
    shape = imgs.shape
    kl_per_dim = torch.stack(kl_dims).sum(0) / n
    variance = torch.cat(means).var(dim=0)
    rec, kl = sums["rec"] / n, sums["kl"] / n
    return {
        "images": n,
        "reconstruction_nats": rec,
        "kl_nats": kl,
        "elbo_bpd": float(elbo_to_bpd(torch.tensor(rec + kl), shape)),
        "iw_samples": iw_samples,
        "iwae_bpd": float(elbo_to_bpd(torch.tensor(sums["iwae"] / n), shape)),
        "kl_per_dim": kl_per_dim.tolist(),
        "active_units": int((variance > 0.01).sum()),
        "z_dim": int(mean.shape[-1]),
    }


@torch.no_grad()
def prior_sampling_bpd(model: VAE, imgs: torch.Tensor, num_samples: int, chunk: int = 5000, seed: int = 0) -> float:
    """The naive estimator of Q1.2: −log (1/L Σ p(x|z_l)), z_l ~ p(z), in bpd (an over-estimate for small L)."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for x in imgs.split(max(1, chunk // num_samples)):
        x = x.long().to(model.decoder.device)
        z = torch.randn(num_samples, len(x), model.hparams.z_dim, generator=gen).to(x.device)
        total += float(prior_sampling_nll(_log_px_given_z(model.decoder, z, x, chunk)).sum())
    return float(elbo_to_bpd(torch.tensor(total / len(imgs)), imgs.shape))


def mc_kl_vs_closed_form(mean: torch.Tensor, log_std: torch.Tensor, sample_counts=(1, 10, 100, 1000)) -> dict:
    """Q1.6: Monte-Carlo KL estimates next to the closed form (per item, averaged)."""
    from vaeadv.vae.losses import mc_kl

    exact = float(KLD(mean, log_std).mean())
    return {"closed_form": exact, **{f"mc_{n}": float(mc_kl(mean, log_std, n).mean()) for n in sample_counts}}
