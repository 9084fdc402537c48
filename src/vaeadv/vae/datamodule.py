"""MNIST/Fashion-MNIST at k levels, in memory, with the template's seeded 54,000/6,000 split."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from vaeadv.data import TensorBatchLoader, load_dataset, quantize, split_indices
from vaeadv.errors import VaeadvError


class QuantizedImageDataModule(pl.LightningDataModule):
    def __init__(self, dataset: str = "mnist", data_dir: str | None = None, batch_size: int = 128,
                 levels: int = 16, val_size: int = 6000, split_seed: int = 42, shuffle_seed: int = 42,
                 download: bool = True, train_subset: int | None = None) -> None:
        super().__init__()
        self.dataset, self.data_dir, self.download = dataset, data_dir, download
        self.batch_size, self.levels = batch_size, levels
        self.val_size, self.split_seed, self.shuffle_seed = val_size, split_seed, shuffle_seed
        self.train_subset = train_subset
        self.source = ""

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "x_train"):
            return
        data = load_dataset(self.dataset, self.data_dir, download=self.download)
        self.source = data.source
        # stored as uint8 levels (47 MB for MNIST); the module widens each batch to long
        x = quantize(data.x_train, self.levels).to(torch.uint8)
        n = len(x)
        if n <= self.val_size:
            raise VaeadvError(f"{data.source}: {n} training images, but the template holds {self.val_size} out for "
                              "validation; this needs the full training set.")
        train_idx, val_idx = split_indices(n, (n - self.val_size, self.val_size), self.split_seed)
        if self.train_subset:
            train_idx = train_idx[: self.train_subset]
        self.x_train, self.y_train = x[train_idx], data.y_train[train_idx]
        self.x_val, self.y_val = x[val_idx], data.y_train[val_idx]
        self.x_test = quantize(data.x_test, self.levels).to(torch.uint8)
        self.y_test = data.y_test
        self.image_size = x.shape[-1]

    def _loader(self, x, y, shuffle: bool) -> TensorBatchLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        epoch_fn = (lambda: trainer.current_epoch) if trainer else None
        return TensorBatchLoader(x, y, batch_size=self.batch_size, shuffle=shuffle, seed=self.shuffle_seed,
                                 rank=rank, world_size=world, epoch_fn=epoch_fn)

    def train_dataloader(self):
        return self._loader(self.x_train, self.y_train, shuffle=True)

    def val_dataloader(self):
        return self._loader(self.x_val, self.y_val, shuffle=False)

    def test_dataloader(self):
        return self._loader(self.x_test, self.y_test, shuffle=False)
