import hashlib

import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.robust.models import CIFAR10_MEAN, CIFAR10_STD, ResNet18, load_weights, resnet18


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



def test_feature_sizes_of_the_course_layout_and_he_initialisation():
    """The course's network, written out: a 3×3 stem at 32×32, max-pool (3, stride 2, padding 1) to 16×16, then
    stages of 1, 2, 4, 8 × width channels at 16, 8, 4, 2 pixels. Every convolution starts from He et al.'s
    normal with fan-out, std = sqrt(2 / (out_channels · k²)); BatchNorm from weight 1, bias 0."""
    width = 16
    model = resnet18(width=width).eval()
    assert (model.maxpool.kernel_size, model.maxpool.stride, model.maxpool.padding) == (3, 2, 1)
    sizes = {}
    for name in ("maxpool", "layer1", "layer2", "layer3", "layer4"):
        getattr(model, name).register_forward_hook(lambda m, i, out, name=name: sizes.__setitem__(name, out.shape))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert sizes == {"maxpool": (2, width, 16, 16), "layer1": (2, width, 16, 16), "layer2": (2, 2 * width, 8, 8),
                     "layer3": (2, 4 * width, 4, 4), "layer4": (2, 8 * width, 2, 2)}
    for stage, stride in zip((model.layer1, model.layer2, model.layer3, model.layer4), (1, 2, 2, 2), strict=True):
        assert stage[0].conv1.stride == (stride, stride) and stage[1].conv1.stride == (1, 1)
        assert stage[0].conv2.stride == stage[1].conv2.stride == (1, 1)
        assert stage[1].downsample is None and (stage[0].downsample is None) == (stride == 1)
        if stride != 1:
            assert stage[0].downsample[0].stride == (stride, stride)
    from vaeadv.robust.models import BasicBlock

    assert BasicBlock(8, 8).conv1.stride == (1, 1)  # stride 1 unless asked
    torch.manual_seed(0)
    model = resnet18()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3
    for conv in convs:
        expected = (2 / (conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1])) ** 0.5
        assert conv.weight.std().item() == pytest.approx(expected, rel=0.1)
        assert abs(conv.weight.mean().item()) < 0.1 * expected
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_the_factory_builds_the_classes_asked_for_and_loads_the_weights_given(tmp_path):
    assert resnet18(5, width=8).fc.out_features == 5 and resnet18(width=8).fc.out_features == 10
    assert ResNet18(width=8).fc.out_features == 10  # CIFAR-10 by default, for the class as for the factory
    custom = ResNet18(width=8, mean=(0.5, 0.25, 0.0), std=(2.0, 4.0, 0.5)).normalize
    assert custom.mean.flatten().tolist() == [0.5, 0.25, 0.0] and custom.std.flatten().tolist() == [2.0, 4.0, 0.5]
    src = resnet18(5, width=8)
    path = tmp_path / "w.pt"
    torch.save(src.state_dict(), path)
    loaded = resnet18(5, width=8, weights=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    for name, tensor in src.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    with pytest.raises(VaeadvError, match="SHA-256"):
        resnet18(5, width=8, weights=str(path), sha256="0" * 64)


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


def _bn(x, bn):
    """Eval-mode batch norm written out: (x − μ)/√(σ² + eps)·γ + β."""
    shape = (1, -1, 1, 1)
    return ((x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
            * bn.weight.view(shape) + bn.bias.view(shape))


@pytest.mark.parametrize("in_planes,planes,stride", [(4, 4, 1), (4, 8, 2), (4, 8, 1), (4, 4, 2)])
def test_the_residual_block_is_relu_of_the_branch_plus_the_shortcut(in_planes, planes, stride):
    """He et al.'s basic block, computed here with functional ops on non-trivial weights and BN statistics."""
    import torch.nn.functional as F

    from vaeadv.robust.models import BasicBlock

    torch.manual_seed(0)
    block = BasicBlock(in_planes, planes, stride).eval()
    for m in block.modules():  # BN away from the identity, so a dropped or misplaced norm shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    x = torch.randn(2, in_planes, 8, 8)
    branch = F.relu(_bn(F.conv2d(x, block.conv1.weight, stride=stride, padding=1), block.bn1))
    branch = _bn(F.conv2d(branch, block.conv2.weight, padding=1), block.bn2)
    if block.downsample is None:
        shortcut = x
    else:
        shortcut = _bn(F.conv2d(x, block.downsample[0].weight, stride=stride), block.downsample[1])
    with torch.no_grad():
        assert torch.allclose(block(x), F.relu(branch + shortcut), atol=1e-5)
    assert (block.downsample is None) == (stride == 1 and in_planes == planes)


def test_width_is_read_from_the_stem_and_defaults_to_64():
    from vaeadv.robust.models import width_of

    assert width_of({"conv1.weight": torch.zeros(16, 3, 3, 3)}) == 16
    assert width_of({}) == 64  # no stem: the standard width
    assert width_of({"conv1.weight": torch.zeros(16, 27)}) == 64  # not a convolution's weight


def test_weights_that_do_not_fit_name_the_file_and_the_model(tmp_path):
    from vaeadv.robust.models import load_classifier

    state = resnet18(10, width=8).state_dict()
    del state["fc.bias"]
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(VaeadvError, match=r"partial\.pt: weights do not fit the CIFAR ResNet18 \(.*fc\.bias"):
        load_classifier(path)


def test_weights_from_a_url_are_downloaded_to_a_temporary_file_and_checked(tmp_path):
    """A ``file://`` URL takes the download path (urllib, as for http); a wrong SHA-256 or a dead URL is one line."""
    state = resnet18(10, width=8).state_dict()
    path = tmp_path / "w.pt"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = load_weights(resnet18(10, width=8), path.as_uri(), sha256=digest)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(VaeadvError, match="SHA-256"):
        load_weights(resnet18(10, width=8), path.as_uri(), sha256="0" * 64)
    missing = (tmp_path / "gone.pt").as_uri()
    with pytest.raises(VaeadvError, match=rf"^could not download weights from {missing} \(.+\)\.$"):
        load_weights(resnet18(10, width=8), missing)


def test_files_that_hold_no_resnet_are_one_readable_line(tmp_path):
    """A tensor list is not a checkpoint at all; a checkpoint whose ``state_dict`` is not a dict holds no network."""
    from vaeadv.robust.models import load_classifier

    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(VaeadvError, match=r"list\.pt: not a ResNet18 weights checkpoint \(expected keys \[\], found l"):
        load_classifier(listed)
    odd = tmp_path / "odd.pt"
    torch.save({"state_dict": [1, 2], "epoch": 3}, odd)
    with pytest.raises(VaeadvError, match=r"odd\.pt: weights do not fit the CIFAR ResNet18"):
        load_classifier(odd)
