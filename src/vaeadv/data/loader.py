"""A batch loader over tensors already in memory: batches are gathered by index, not sample by sample.

Lightning accepts any sized iterable as a dataloader. Sharding for DDP is explicit (``rank``/``world_size``):
every rank draws the same per-epoch permutation and takes every ``world_size``-th index of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

Transform = Callable[[tuple[torch.Tensor, ...], torch.Generator], tuple[torch.Tensor, ...]]


class TensorBatchLoader:
    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 seed: int = 0, transform: Transform | None = None, rank: int = 0, world_size: int = 1,
                 epoch_fn: Callable[[], int] | None = None) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("tensors must be non-empty and of equal length")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.transform = transform
        self.rank, self.world_size = rank, world_size
        self.epoch_fn = epoch_fn
        self._iterations = 0

    def _num_samples(self) -> int:
        n = len(self.tensors[0])
        # every rank gets the same count (padding by wrap-around as DistributedSampler does)
        return -(-n // self.world_size)

    def __len__(self) -> int:
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self, generator: torch.Generator) -> torch.Tensor:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.world_size > 1:
            total = self._num_samples() * self.world_size
            order = torch.cat([order, order[: total - n]])[self.rank::self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        epoch = self.epoch_fn() if self.epoch_fn else self._iterations
        self._iterations += 1
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = self._indices(generator).to(self.tensors[0].device)  # one copy per epoch to a GPU, if there
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = tuple(t[idx] for t in self.tensors)
            yield self.transform(batch, generator) if self.transform else batch
