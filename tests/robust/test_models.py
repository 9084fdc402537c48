import hashlib

import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.robust.models import CIFAR10_MEAN, CIFAR10_STD, load_weights, resnet18


def test_torchvision_names_and_sizes():
    model = resnet18()
    keys = set(model.state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
              "layer4.1.bn2.bias", "fc.weight", "fc.bias"):
        assert k in keys
    assert not any(k.startswith("normalize") for k in keys)  # normalisation constants are not weights
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.MaxPool2d)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # torchvision resnet18 with a 3×3 stem, fc 10
    assert model.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_normalisation_is_inside():
    model = resnet18(normalize=True).eval()
    raw = resnet18(normalize=False).eval()
    raw.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 32, 32)
    normed = (x - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    assert torch.allclose(model(x), raw(normed), atol=1e-5)


def test_load_weights_roundtrip_sha_and_errors(tmp_path):
    src = resnet18(width=8)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    dst = load_weights(resnet18(width=8), path, sha256=sha)
    assert torch.equal(dst.fc.weight, src.fc.weight)
    with pytest.raises(VaeadvError, match="SHA-256"):
        load_weights(resnet18(width=8), path, sha256="0" * 64)
    with pytest.raises(VaeadvError, match="weights do not fit"):
        load_weights(resnet18(width=16), path)
    lightning_style = {"state_dict": {f"model.{k}": v for k, v in src.state_dict().items()}, "epoch": 3}
    torch.save(lightning_style, tmp_path / "l.ckpt")
    assert torch.equal(load_weights(resnet18(width=8), tmp_path / "l.ckpt").fc.bias, src.fc.bias)
