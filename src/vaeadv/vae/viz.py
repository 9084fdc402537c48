"""Image grids (torchvision's make_grid, written here: torchvision is unavailable) and the 2-D manifold."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vaeadv.io import atomic_write, pyplot, save_figure


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 0.5) -> torch.Tensor:
    """``[N,C,H,W]`` floats → one ``[C, H', W']`` image with ``nrow`` images per row and padded borders."""
    n, c, h, w = images.shape
    ncol = math.ceil(n / nrow)
    cell_h, cell_w = h + padding, w + padding
    grid = images.new_full((c, ncol * cell_h + padding, nrow * cell_w + padding), pad_value)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = padding + r * cell_h, padding + k * cell_w
        grid[:, top:top + h, left:left + w] = images[i]
    return grid


def save_image(grid: torch.Tensor, path: str | Path) -> Path:
    """Write a ``[C,H,W]`` (C = 1 or 3) image in [0,1] as PNG, atomically."""
    plt = pyplot()
    array = grid.detach().float().clamp(0, 1).cpu()
    array = array[0].numpy() if array.shape[0] == 1 else array.permute(1, 2, 0).numpy()
    return atomic_write(path, lambda tmp: plt.imsave(tmp, array, cmap="gray", vmin=0.0, vmax=1.0, format="png"))


def levels_to_unit(imgs: torch.Tensor, levels: int = 16) -> torch.Tensor:
    """Integer levels 0..k-1 → floats in [0,1] (pixel = value / (k-1))."""
    return imgs.float() / (levels - 1)


@torch.no_grad()
def sample_grid(model: torch.nn.Module, num: int = 64, seed: int = 0) -> torch.Tensor:
    """``num`` samples of ``model`` (a VAE) as an 8-wide grid in [0,1], drawn with a fixed seed without touching
    the global random state: grids of successive epochs, or of different β, then differ by the model only."""
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        imgs = model.sample(num)
    model.train(was_training)
    return make_grid(levels_to_unit(imgs.cpu(), model.hparams.levels), nrow=8, pad_value=0.5)


def standard_normal_ppf(p: torch.Tensor) -> torch.Tensor:
    """Inverse CDF of N(0,1): √2·erfinv(2p−1)."""
    return math.sqrt(2.0) * torch.erfinv(2.0 * p - 1.0)


@torch.no_grad()
def visualize_manifold(decoder: torch.nn.Module, grid_size: int = 20) -> torch.Tensor:
    """Decode a grid_size×grid_size grid of z = ppf((i+0.5)/grid_size) pairs and return one image grid
    in [0,1] of the decoder's *mean* images (Σ_k k·p_k / (k−1)) — deterministic, no sampling."""
    p = (torch.arange(grid_size, dtype=torch.float32) + 0.5) / grid_size
    z1d = standard_normal_ppf(p)
    zy, zx = torch.meshgrid(z1d, z1d, indexing="ij")
    z = torch.stack([zx.flatten(), zy.flatten()], dim=-1)
    device = next(decoder.parameters()).device
    probs = torch.softmax(decoder(z.to(device)), dim=1)
    levels = probs.shape[1]
    values = torch.arange(levels, dtype=probs.dtype, device=probs.device).view(1, -1, 1, 1)
    means = (probs * values).sum(dim=1, keepdim=True) / (levels - 1)
    return make_grid(means.cpu(), nrow=grid_size, padding=2, pad_value=0.5)


def plot_bpd_curves(history: list[dict], path: str | Path, title: str = "") -> Path | None:
    """Train/val bpd per epoch (the assignment's Q1.8 plot) from a run's ``results.json`` history."""
    rows = [h for h in history if "train_bpd" in h or "val_bpd" in h]
    if not rows:
        return None
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("train_bpd", "train"), ("val_bpd", "validation")):
        points = [(h["epoch"], h[key]) for h in rows if key in h]
        ax.plot([p[0] for p in points], [p[1] for p in points], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("bits per dimension (negative ELBO)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
