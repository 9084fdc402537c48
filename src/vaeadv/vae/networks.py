"""The encoder and decoder: the UvA Tutorial-9 CNN autoencoder with GELU, sized by ``num_filters``.

Default sizes (c=32, z=20, 28×28, 16 levels) give 142,920 / 127,696 parameters, as the assignment's.
Other image sizes work: the spatial path and the transposed convolutions' output padding are derived.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _halvings(size: int) -> list[int]:
    """Spatial sizes after each of the three stride-2 convolutions (kernel 3, padding 1)."""
    sizes = [size]
    for _ in range(3):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class CNNEncoder(nn.Module):
    def __init__(self, num_input_channels: int = 1, num_filters: int = 32, z_dim: int = 20, *,
                 levels: int = 16, image_size: int = 28, act_fn: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        c = num_filters
        s = _halvings(image_size)
        self.levels = levels
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Conv2d(num_input_channels, c, 3, padding=1, stride=2),  # 28 → 14
            act_fn(),
            nn.Conv2d(c, c, 3, padding=1),
            act_fn(),
            nn.Conv2d(c, 2 * c, 3, padding=1, stride=2),  # 14 → 7
            act_fn(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            act_fn(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1, stride=2),  # 7 → 4
            act_fn(),
            nn.Flatten(),
            nn.Linear(2 * c * s[3] * s[3], 2 * z_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer images ``[B,1,H,W]`` in 0..levels-1 → (mean, log_std), each ``[B, z_dim]``."""
        x = x.float() / (self.levels - 1) * 2.0 - 1.0
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std


class CNNDecoder(nn.Module):
    def __init__(self, num_input_channels: int = 16, num_filters: int = 32, z_dim: int = 20, *,
                 image_size: int = 28, act_fn: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        c = num_filters
        s = _halvings(image_size)
        # output_padding makes each transposed conv land exactly on the encoder's size: 4 → 7 → 14 → 28
        op = [s[i] - (2 * s[i + 1] - 1) for i in (2, 1, 0)]
        self.start = s[3]
        self.linear = nn.Sequential(nn.Linear(z_dim, 2 * c * s[3] * s[3]), act_fn())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * c, 2 * c, 3, output_padding=op[0], padding=1, stride=2),  # 4 → 7
            act_fn(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            act_fn(),
            nn.ConvTranspose2d(2 * c, c, 3, output_padding=op[1], padding=1, stride=2),  # 7 → 14
            act_fn(),
            nn.Conv2d(c, c, 3, padding=1),
            act_fn(),
            nn.ConvTranspose2d(c, num_input_channels, 3, output_padding=op[2], padding=1, stride=2),  # 14 → 28
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, z_dim]`` → logits ``[B, levels, H, W]`` (no softmax)."""
        x = self.linear(z).reshape(z.shape[0], -1, self.start, self.start)
        return self.net(x)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
