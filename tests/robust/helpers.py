"""A tiny, quickly trained classifier on synthetic 32×32 images, so attack accounting has real work to do; and
the one-image-at-a-time oracle the batched evaluation is held to."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaeadv.robust.attacks import eval_mode
from vaeadv.robust.evaluate import AttackSpec, full_fp32, to_unit
from vaeadv.robust.models import resnet18


def synthetic_data(n=256, seed=0):
    patterns = torch.rand(10, 3, 1, 1, generator=torch.Generator().manual_seed(1234)) * 0.6 - 0.3  # the classes
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = (0.5 + patterns[labels] + 0.08 * torch.randn(n, 3, 32, 32, generator=g)).clamp(0, 1)
    return images, labels


def trained_tiny_model(steps=60, seed=0):
    torch.manual_seed(seed)
    model = resnet18(10, width=4)
    x, y = synthetic_data(512, seed=seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for i in range(steps):
        idx = torch.arange(i * 64, (i + 1) * 64) % len(x)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


def one_at_a_time_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack: AttackSpec,
                           device: str | torch.device = "cpu") -> tuple[float, float]:
    """The template's loop, one image per forward/backward: the test oracle that the batched evaluation must
    match count for count (and the benchmark's baseline). Returns (clean, robust)."""
    clean = correct = 0
    with eval_mode(model), full_fp32():
        for i in range(len(images)):
            x = to_unit(images[i:i + 1]).to(device)
            y = labels[i:i + 1].to(device)
            with torch.no_grad():
                if model(x).argmax(1).item() != y.item():
                    continue
            clean += 1
            adv = attack.run(model, x, y)
            with torch.no_grad():
                correct += int(model(adv).argmax(1).item() == y.item())
    return clean / len(images), correct / len(images)


class LeftHalf(nn.Module):
    """A linear classifier that reads only the first ``columns`` columns of the image: the loss does not depend on
    the rest, and flipping the image changes its logits."""

    def __init__(self, columns: int, in_features: int, classes: int) -> None:
        super().__init__()
        self.columns = columns
        self.linear = nn.Linear(in_features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[..., :self.columns].flatten(1))
