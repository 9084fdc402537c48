"""A tiny, quickly trained classifier on synthetic 32×32 images, so attack accounting has real work to do."""

import torch
import torch.nn.functional as F

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
