"""CIFAR augmentation on whole batches: random crop after zero-padding, random horizontal flip, Cutout.

Each sample draws its own offset, flip and square; the work is one pad, one gather, one ``where`` and one
masked fill. The draws come from a CPU generator and only the few numbers move to the images' device, so images
resident on a GPU are augmented there, exactly as the same images on the CPU would be.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None,
                     flip: bool = True) -> torch.Tensor:
    """``images`` ``[B,C,H,W]`` (any dtype) → same shape, each sample shifted by up to ``padding`` pixels
    (vacated border filled with zeros) and mirrored with probability 1/2."""
    b, c, h, w = images.shape
    dev = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(dev)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(dev)
    rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # [B,1,H,1]
    cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # [B,1,1,W]
    out = padded[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                 rows, cols]
    if flip:
        mirror = (torch.rand(b, generator=generator) < 0.5).to(dev)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out


def cutout(images: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017): each sample loses a ``size``×``size`` square, set to 0, centred on a
    uniformly drawn pixel and clipped at the border (so squares near an edge are smaller). It regularises the
    way a long run of crop + flip alone does not: the network cannot rely on any one part of the object."""
    b, _, h, w = images.shape
    dev = images.device
    top = torch.randint(0, h, (b,), generator=generator).to(dev) - size // 2
    left = torch.randint(0, w, (b,), generator=generator).to(dev) - size // 2
    rows, cols = torch.arange(h, device=dev), torch.arange(w, device=dev)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)  # [B,H]
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)  # [B,W]
    return images.masked_fill(in_rows[:, None, :, None] & in_cols[:, None, None, :], 0)


def augment_batch(batch: tuple[torch.Tensor, ...], generator: torch.Generator, crop_flip: bool = True,
                  cutout_size: int = 0) -> tuple[torch.Tensor, ...]:
    """Loader transform: augment the images (first tensor), leave the labels alone."""
    images, *rest = batch
    if crop_flip:
        images = random_crop_flip(images, generator=generator)
    if cutout_size:
        images = cutout(images, cutout_size, generator=generator)
    return (images, *rest)
