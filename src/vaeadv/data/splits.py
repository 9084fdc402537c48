"""Seeded, reproducible splits of index ranges."""

from __future__ import annotations

import torch


def split_indices(n: int, lengths: tuple[int, ...], seed: int) -> tuple[torch.Tensor, ...]:
    """Same permutation and slicing as ``torch.utils.data.random_split(range(n), lengths,
    generator=torch.Generator().manual_seed(seed))``, so the template's MNIST 54k/6k split is reproduced."""
    if sum(lengths) != n:
        raise ValueError(f"split lengths {lengths} do not add up to {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return tuple(torch.split(perm, list(lengths)))


def ratio_split(n: int, first_ratio: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``first_ratio`` of ``n`` (rounded down) and the rest, e.g. CIFAR validation/test from the test set."""
    if not 0.0 < first_ratio < 1.0:
        raise ValueError(f"ratio must lie strictly between 0 and 1, got {first_ratio}")
    first = int(n * first_ratio)
    a, b = split_indices(n, (first, n - first), seed)
    return a, b
