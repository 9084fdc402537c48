"""CIFAR augmentation on whole batches: random crop after zero-padding, random horizontal flip.

Each sample draws its own offset and flip; the work is one pad, one gather and one ``where``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None,
                     flip: bool = True) -> torch.Tensor:
    """``images`` ``[B,C,H,W]`` (any dtype) → same shape, each sample shifted by up to ``padding`` pixels
    (vacated border filled with zeros) and mirrored with probability 1/2."""
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # [B,1,H,1]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # [B,1,1,W]
    out = padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out


def crop_flip_transform(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Loader transform: augment the images (first tensor), leave the labels alone."""
    images, *rest = batch
    return (random_crop_flip(images, generator=generator), *rest)
