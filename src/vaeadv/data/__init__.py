"""Datasets in memory: readers for the original formats, resolution/download, splits, loaders, augmentation."""

from vaeadv.data.augment import cutout, random_crop_flip
from vaeadv.data.datasets import ImageData, load_dataset
from vaeadv.data.loader import TensorBatchLoader
from vaeadv.data.quantize import quantize
from vaeadv.data.resolve import locate
from vaeadv.data.sources import DATASET_NAMES
from vaeadv.data.splits import ratio_split, split_indices

__all__ = ["DATASET_NAMES", "ImageData", "TensorBatchLoader", "cutout", "load_dataset", "locate", "quantize",
           "random_crop_flip", "ratio_split", "split_indices"]
