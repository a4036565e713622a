"""The shipped depth estimator: one safetensors file, validated on load, and a numpy-in/numpy-out predictor.

**File** (``depth.safetensors``, beside an embedded bundle's ``model.safetensors``, e.g.
``resources/models/sana-wm-tiny/depth.safetensors``): the :class:`~engine.depth.net.DepthNet` state dict
(float32, BatchNorm statistics included) and string metadata ``format = "sana-wm-depth/1"``, ``config`` (the
:class:`~engine.depth.net.DepthNetConfig` as JSON), and where it came from (``step``, ``source``).

:func:`load_depth_estimator` refuses a missing file, a file that is not safetensors, another format, missing or
unexpected keys, wrong shapes, and non-finite weights with one :class:`~engine.errors.BundleError` naming the
file. Memory-mapped loading keeps start-up cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.depth.net import DepthNet, DepthNetConfig, to_depth
from engine.errors import BundleError, IntrinsicsError, SanaWMInputError
from engine.io.atomic import atomic_path

FORMAT = "sana-wm-depth/1"
FILENAME = "depth.safetensors"


def save_depth_weights(net: DepthNet, path: str | os.PathLike, extra: dict[str, str] | None = None) -> Path:
    """Write ``net``'s weights and config atomically (see the module docstring)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in net.state_dict().items()
               if v.dtype.is_floating_point}  # fmt: skip
    meta = {"format": FORMAT, "config": json.dumps(net.config.to_json()), **(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_depth_net(path: str | os.PathLike) -> DepthNet:
    """A :class:`DepthNet` in eval mode from a ``depth.safetensors`` file; :class:`BundleError` naming the file
    when it is missing, unreadable, of another format, or holds missing, extra, misshapen or non-finite tensors."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"depth weights {path}: not found (expected a {FILENAME} file written by sana-wm depth export)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"depth weights {path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise BundleError(f"depth weights {path}: expected format {FORMAT!r}, found {meta.get('format')!r}")
    try:
        config = DepthNetConfig.from_json(json.loads(meta["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"depth weights {path}: no valid 'config' metadata ({exc})") from None
    net = DepthNet(config)
    expected = {k: v for k, v in net.state_dict().items() if v.dtype.is_floating_point}
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise BundleError(f"depth weights {path}: keys do not match the network (missing {missing[:4]}, unexpected {extra[:4]})")
    for key, ref in expected.items():
        t = tensors[key]
        if tuple(t.shape) != tuple(ref.shape):
            raise BundleError(f"depth weights {path}: {key} has shape {tuple(t.shape)}, expected {tuple(ref.shape)}")
        if not torch.isfinite(t).all():
            raise BundleError(f"depth weights {path}: {key} holds NaN or infinite values")
    net.load_state_dict(tensors, strict=False)  # integer buffers (BatchNorm's batch counters) are not stored
    return net.eval()


def find_depth_weights(bundle_folder: str | os.PathLike) -> Path | None:
    """``bundle_folder/depth.safetensors`` if it exists (an embedded bundle may ship an estimator beside it)."""
    p = Path(bundle_folder) / FILENAME
    return p if p.is_file() else None


class DepthEstimator:
    """Metric depth for RGB images of any size: ``estimator(images, intrinsics) -> (N, H, W)`` float32 metres.

    Images are padded (edge-replicated) on the right and bottom to multiples of 16; padding moves no pixel, so
    the intrinsics stay valid. ``inf`` marks pixels predicted as sky.
    """

    def __init__(self, net: DepthNet, threads: int | None = None) -> None:
        self.net = net.eval()
        self.threads = threads

    @classmethod
    def load(cls, path: str | os.PathLike, threads: int | None = None) -> "DepthEstimator":
        return cls(load_depth_net(path), threads)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
        """``images`` ``(H, W, 3)`` or ``(N, H, W, 3)`` uint8 RGB; ``intrinsics`` ``(4,)`` or ``(N, 4)``
        ``[fx, fy, cx, cy]`` in pixels of the images. Returns ``(N, H, W)`` float32 metres (``inf`` = sky)."""
        imgs = np.asarray(images)
        if imgs.ndim == 3:
            imgs = imgs[None]
        if imgs.ndim != 4 or imgs.shape[-1] != 3 or imgs.dtype != np.uint8:
            raise SanaWMInputError(f"depth estimator: expected (N, H, W, 3) uint8 RGB images, found {imgs.dtype} {imgs.shape}")
        k = np.asarray(intrinsics, np.float32).reshape(-1, 4)
        if len(k) == 1:
            k = np.repeat(k, len(imgs), axis=0)
        if len(k) != len(imgs) or not np.isfinite(k).all() or (k[:, :2] <= 0).any():
            raise IntrinsicsError(f"depth estimator: expected {len(imgs)} rows of finite [fx, fy, cx, cy] with fx, fy > 0, "
                                  f"found {np.asarray(intrinsics).tolist()}")  # fmt: skip
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            n, h, w, _ = imgs.shape
            if not (imgs.flags.writeable and imgs.flags.c_contiguous):  # torch wants its own, writable copy
                imgs = np.array(imgs, order="C")
            x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div_(255.0)
            ph, pw = -h % 16, -w % 16
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            log_depth, sky = self.net(x, torch.from_numpy(k))
            return to_depth(log_depth, sky)[:, :h, :w].numpy().astype(np.float32)
        finally:
            torch.set_num_threads(previous)
