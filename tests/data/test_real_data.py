"""Checks on the real copies ($VAEADV_DATA); CI runs them."""

import pytest
import torch

from vaeadv.data import quantize, split_indices
from vaeadv.data.info import checksum_status
from vaeadv.data.resolve import locate


def test_mnist_counts_and_balance(real_mnist):
    assert real_mnist.x_train.shape == (60000, 1, 28, 28) and len(real_mnist.x_test) == 10000
    assert real_mnist.y_train.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert real_mnist.y_test.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_4bit_range_and_split(real_mnist):
    q = quantize(real_mnist.x_train)
    assert q.dtype == torch.long and q.min() == 0 and q.max() == 15
    assert len(q.unique()) == 16
    train, val = split_indices(60000, (54000, 6000), seed=42)
    assert len(train) == 54000 and len(val) == 6000


def test_mnist_checksums(real_data_dir):
    assert set(checksum_status(locate("mnist", real_data_dir, download=False), recheck=True).values()) == {"ok"}


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_cifar_counts_balance_and_exact_subset(real_cifar):
    assert real_cifar.x_train.shape == (50000, 3, 32, 32) and real_cifar.x_test.shape == (10000, 3, 32, 32)
    assert real_cifar.y_train.bincount().tolist() == [5000] * 10
    assert real_cifar.y_test.bincount().tolist() == [1000] * 10
    assert real_cifar.y_train[:5].tolist() == [6, 9, 9, 4, 1] and real_cifar.y_test[:5].tolist() == [3, 8, 8, 0, 6]
    if not real_cifar.all_exact:  # the JPEG-decoded copy: test images 0-999 carry the exact pixels
        assert real_cifar.test_exact[:1000].all() and not real_cifar.test_exact[1000:].any()
    means = real_cifar.x_train.float().mean((0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.4914, 0.4822, 0.4465]), atol=3e-3)
