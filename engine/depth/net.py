"""The monocular depth network: a compact U-Net from an RGB image and its intrinsics to metric depth.

**Contract.** ``DepthNet(config)(image, intrinsics)``:

* ``image`` ``(B, 3, H, W)`` float in ``[0, 1]`` (RGB, row 0 at the top), ``H`` and ``W`` multiples of 16;
* ``intrinsics`` ``(B, 4)`` ``[fx, fy, cx, cy]`` in pixels of ``image`` (the project's convention: pixel ``i``
  covers ``[i, i + 1)``);
* returns ``(log_depth, sky_logit)``, each ``(B, H, W)``: natural log of the camera-space ``z`` in metres
  (scene units, distance along +Z, as :mod:`engine.synth.renderer` writes it) and the logit of "no surface"
  (sky). :func:`to_depth` turns them into metres with ``inf`` for sky.

**Why metric given the intrinsics.** Two channels of per-pixel ray slopes ``((u - cx) / fx, (v - cy) / fy)``
are fed beside the colours. A ground point seen along a ray of vertical slope ``r`` from eye height ``h`` has
``z = h / r``, and an object of known size ``s`` spanning ``p`` pixels has ``z = fx s / p``: with the ray
slopes the network can read metres from the image the same way at any focal length and any resize or crop,
instead of learning one camera. The output head predicts ``log z`` (errors are relative, as depth errors are)
at half resolution and is upsampled bilinearly.

**Size.** Sized for ≤ 30 ms per 320x176 frame on 2 CPU cores (see docs/depth.md for the measurement):
4 stride-2 stages (``widths``), a global-context vector added at the bottleneck (the horizon, the scene's
scale), a decoder with skip connections back to 1/2 resolution.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DepthNetConfig:
    """Everything that fixes the network's shape (stored with the weights)."""

    widths: tuple[int, ...] = (16, 32, 48, 64)
    #: initial output bias: log of a typical depth (metres)
    log_depth_init: float = math.log(8.0)

    def to_json(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_json(cls, data: dict) -> "DepthNetConfig":
        return cls(widths=tuple(int(w) for w in data["widths"]), log_depth_init=float(data["log_depth_init"]))


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def ray_slopes(intrinsics: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, 2, H, W)`` ray slopes ``((u - cx) / fx, (v - cy) / fy)`` at pixel centres of a ``size = (H, W)`` grid."""
    h, w = size
    k = intrinsics.to(torch.float32)
    u = torch.arange(w, dtype=torch.float32, device=k.device) + 0.5
    v = torch.arange(h, dtype=torch.float32, device=k.device) + 0.5
    x = (u[None, :] - k[:, 2:3]) / k[:, 0:1]  # (B, W)
    y = (v[None, :] - k[:, 3:4]) / k[:, 1:2]  # (B, H)
    return torch.stack([x[:, None, :].expand(-1, h, -1), y[:, :, None].expand(-1, -1, w)], dim=1)


class DepthNet(nn.Module):
    """The U-Net of the module docstring."""

    def __init__(self, config: DepthNetConfig = DepthNetConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        chans = [5, *w]
        self.down = nn.ModuleList(nn.Sequential(_conv(chans[i], w[i], 2), _conv(w[i], w[i])) for i in range(len(w)))
        self.context = nn.Sequential(nn.Linear(w[-1], w[-1]), nn.ReLU(inplace=True), nn.Linear(w[-1], w[-1]))
        self.up = nn.ModuleList(_conv(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1)))
        self.head = nn.Conv2d(w[0], 2, 3, 1, 1)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([config.log_depth_init, -2.0]))
            self.head.weight.mul_(0.1)

    def forward(self, image: torch.Tensor, intrinsics: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = image.shape
        if h % 16 or w % 16:
            raise ValueError(f"depth net: image height and width must be multiples of 16, found {w}x{h}")
        x = torch.cat([(image - 0.45) / 0.25, ray_slopes(intrinsics, (h, w))], dim=1)  # (B, 5, H, W)
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = x + self.context(x.mean(dim=(2, 3)))[:, :, None, None]  # global context at 1/16
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False), skip], 1))
        out = F.interpolate(self.head(x), size=(h, w), mode="bilinear", align_corners=False)  # (B, 2, H, W)
        return out[:, 0], out[:, 1]


def to_depth(log_depth: torch.Tensor, sky_logit: torch.Tensor | None = None, max_depth: float = 1500.0) -> torch.Tensor:
    """Metres from :class:`DepthNet`'s output: ``exp(log_depth)`` clamped to ``[0.05, max_depth]``, ``inf``
    where ``sky_logit > 0`` (when given)."""
    depth = log_depth.clamp(math.log(0.05), math.log(max_depth)).exp()
    if sky_logit is not None:
        depth = torch.where(sky_logit > 0, torch.full_like(depth, math.inf), depth)
    return depth
