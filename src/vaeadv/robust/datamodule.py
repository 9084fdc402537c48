"""CIFAR-10 in memory (uint8), the template's splits, batch-level augmentation."""

from __future__ import annotations

from functools import partial

import lightning.pytorch as pl
import torch

from vaeadv.data import TensorBatchLoader, load_dataset, ratio_split, split_indices
from vaeadv.data.augment import augment_batch
from vaeadv.errors import VaeadvError


def as_rgb32(images: torch.Tensor) -> torch.Tensor:
    """Grey ``[N,1,H,W]`` → ``[N,3,32,32]`` (zero-padded, channel repeated), so the CIFAR model can run on it."""
    pad_h, pad_w = 32 - images.shape[-2], 32 - images.shape[-1]
    padded = torch.nn.functional.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return padded.expand(-1, 3, -1, -1).contiguous()


class CifarDataModule(pl.LightningDataModule):
    """``val_from="test"`` (template): validation and test carved from the official test set by
    ``valid_ratio`` (seeded). ``val_from="train"``: ``val_size`` images held out of the training set and
    the whole official test set kept for testing. ``train_shard=(k, n)`` keeps the k-th of n disjoint,
    seeded parts of the training images. ``cutout`` > 0 blanks a square of that side in every training image
    (after crop + flip when ``augment``)."""

    def __init__(self, data_dir: str | None = None, batch_size: int = 64, augment: bool = False,
                 val_from: str = "test", valid_ratio: float = 0.75, val_size: int = 5000, seed: int = 42,
                 train_subset: int | None = None, test_subset: int | None = None, download: bool = True,
                 dataset: str = "cifar10", train_shard: tuple[int, int] | None = None, cutout: int = 0) -> None:
        super().__init__()
        if val_from not in ("test", "train"):
            raise ValueError("val_from must be 'test' or 'train'")
        self.data_dir, self.batch_size, self.augment = data_dir, batch_size, augment
        self.val_from, self.valid_ratio, self.val_size, self.seed = val_from, valid_ratio, val_size, seed
        self.train_subset, self.test_subset, self.download = train_subset, test_subset, download
        self.dataset, self.cutout = dataset, cutout
        if train_shard is not None and not 0 <= train_shard[0] < train_shard[1]:
            raise ValueError(f"train_shard (k, n) needs 0 <= k < n, got {train_shard}")
        self.train_shard = train_shard

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "x_train"):
            return
        data = load_dataset(self.dataset, self.data_dir, download=self.download)
        self.source, self.classes, self.all_exact = data.source, data.classes, data.all_exact
        if data.x_train.shape[1:] != (3, 32, 32):  # the offline fallback (MNIST-like): 3 channels, 32×32
            data.x_train, data.x_test = as_rgb32(data.x_train), as_rgb32(data.x_test)
        x_tr, y_tr = data.x_train, data.y_train
        if self.val_from == "test":
            val_idx, test_idx = ratio_split(len(data.x_test), self.valid_ratio, self.seed)
            self.x_val, self.y_val = data.x_test[val_idx], data.y_test[val_idx]
            train_idx = torch.arange(len(x_tr))
        else:
            if len(x_tr) <= self.val_size:
                raise VaeadvError(f"{data.source}: {len(x_tr)} training images, but {self.val_size} are to be held "
                                  "out for validation; use a larger data set or --val-from test.")
            train_idx, val_idx = split_indices(len(x_tr), (len(x_tr) - self.val_size, self.val_size), self.seed)
            self.x_val, self.y_val = x_tr[val_idx], y_tr[val_idx]
            test_idx = torch.arange(len(data.x_test))
        if self.train_subset:
            train_idx = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(self.seed))
                                  [: self.train_subset]]
        if self.train_shard:  # part k of n disjoint parts (Q2.1's models A and B on halves of the training set)
            k, parts = self.train_shard
            perm = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(self.seed + 1))
            train_idx = train_idx[perm[k::parts]]
        test_idx = test_idx.sort().values
        if self.test_subset:
            test_idx = test_idx[: self.test_subset]
        self.x_train, self.y_train = x_tr[train_idx], y_tr[train_idx]
        self.x_test, self.y_test = data.x_test[test_idx], data.y_test[test_idx]
        self.test_index = test_idx  # official test-set indices
        self.test_exact = data.test_exact[test_idx]

    def exact_test(self) -> tuple[torch.Tensor, torch.Tensor, str]:
        """The test images whose pixels are exact (all of them with the original batches)."""
        mask = self.test_exact
        what = "test images (all pixels exact)" if self.all_exact else "test images with exact pixels"
        return self.x_test[mask], self.y_test[mask], what

    def _resident(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """On an accelerator the uint8 images (184 MB for all of CIFAR-10) live on the device once, so a batch is
        gathered and augmented there: no host-to-device copy, no host-side work per step."""
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        if device.type == "cpu":
            return tensors
        cache = self.__dict__.setdefault("_on_device", {})
        return tuple(cache.setdefault((id(t), device), t.to(device)) for t in tensors)

    def _loader(self, x, y, shuffle: bool, train: bool = False) -> TensorBatchLoader:
        trainer = self.trainer
        x, y = self._resident(x, y)
        augmented = train and (self.augment or self.cutout)
        transform = partial(augment_batch, crop_flip=self.augment, cutout_size=self.cutout) if augmented else None
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        return TensorBatchLoader(x, y, batch_size=self.batch_size, shuffle=shuffle, seed=self.seed,
                                 transform=transform, rank=rank, world_size=world,
                                 epoch_fn=(lambda: trainer.current_epoch) if trainer else None)

    def train_dataloader(self):
        return self._loader(self.x_train, self.y_train, shuffle=True, train=True)

    def val_dataloader(self):
        return self._loader(self.x_val, self.y_val, shuffle=False)

    def test_dataloader(self):
        return self._loader(self.x_test, self.y_test, shuffle=False)
