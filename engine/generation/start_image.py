"""Start images: load, resize and centre-crop to the model's frame size, and carry the intrinsics along.

The official preprocessing (spec streaming §7.6): scale so the image covers the target (``max`` of the two
ratios), Lanczos resize, centre crop; intrinsics follow the same plan (:func:`engine.camera.intrinsics.apply_crop`).
:func:`describe_fit` says in one sentence what it did (the CLI prints it). The explorer may frame the picture first
(:class:`Framing`: a crop placed by the user, or a letterbox); the official resize then only scales.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.camera.intrinsics import CropPlan, apply_crop, plan_resize_crop
from engine.errors import InputFileError, SanaWMInputError
from engine.io.bounded import open_image_rgb


def load_image(image: np.ndarray | str | Path | Image.Image, *, name: str = "image") -> np.ndarray:
    """An RGB ``uint8 (H, W, 3)`` array from a path, a PIL image or an array (grey and RGBA are converted)."""
    if isinstance(image, (str, Path)):  # size checked before decoding: a decompression bomb is refused
        return open_image_rgb(image, where=f"{name} {image}", error=InputFileError)
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise SanaWMInputError(
            f"{name}: expected a uint8 array (H, W), (H, W, 3) or (H, W, 4), found {array.dtype} {array.shape}"
        )
    return np.asarray(Image.fromarray(array.squeeze()).convert("RGB"))


def fit_image(image: np.ndarray, target_size: tuple[int, int]) -> tuple[np.ndarray, CropPlan]:
    """Resize (Lanczos) and centre-crop ``image (H, W, 3)`` to ``target_size (width, height)``; returns the frame
    and the plan (for :func:`engine.camera.intrinsics.apply_crop`)."""
    plan = plan_resize_crop((image.shape[1], image.shape[0]), target_size)
    if plan.resized == plan.src and plan.offset == (0, 0):
        return image, plan
    resized = Image.fromarray(image).resize(plan.resized, Image.Resampling.LANCZOS)
    left, top = plan.offset
    tw, th = plan.target
    return np.asarray(resized)[top : top + th, left : left + tw].copy(), plan


def prepare_start_frame(
    image: np.ndarray | str | Path | Image.Image,
    target_size: tuple[int, int],
    intrinsics: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The start frame at ``target_size`` and its ``(4,)`` intrinsics (given in pixels of the *original* image;
    None stays None)."""
    frame, plan = fit_image(load_image(image), target_size)
    return frame, (None if intrinsics is None else apply_crop(intrinsics, plan)[0])


@dataclass(frozen=True)
class Framing:
    """Where the model's frame lies on a source image, chosen before the resize: ``box = (left, top, width,
    height)`` in source pixels, of the target's aspect. A box inside the image is a crop (``position`` slides it
    along the axis that has room: 0 = left / top, 1 = right / bottom); one larger than the image is a letterbox,
    the picture centred on black bars. Why it exists: the official preprocessing always centre-crops, which cuts the
    top of a head off a portrait; the explorer lets the user place the crop, or keep the whole picture."""

    src: tuple[int, int]  # (width, height) of the source image
    box: tuple[int, int, int, int]

    @property
    def letterboxed(self) -> bool:
        left, top, w, h = self.box
        return w > self.src[0] or h > self.src[1]

    @property
    def centred_crop(self) -> bool:
        """The official framing (a centre crop): :func:`frame_image` leaves the image as it is for it."""
        return self == frame_on(self.src, (self.box[2], self.box[3]))


def frame_on(
    src_size: tuple[int, int], target_size: tuple[int, int], *, position: float = 0.5, letterbox: bool = False
) -> Framing:
    """The :class:`Framing` of a ``src_size`` image for frames of ``target_size`` (both ``(width, height)``)."""
    w, h = (int(v) for v in src_size)
    tw, th = (int(v) for v in target_size)
    if min(w, h, tw, th) <= 0:
        raise SanaWMInputError(f"framing: expected positive sizes, found image {w}x{h} and frame {tw}x{th}")
    if not 0.0 <= position <= 1.0:
        raise SanaWMInputError(f"crop position: expected a fraction in [0, 1], found {position}")
    wider = w * th > tw * h  # the image is wider than the frame
    if letterbox:
        bw, bh = (w, round(w * th / tw)) if wider else (round(h * tw / th), h)
        return Framing((w, h), (-((bw - w) // 2), -((bh - h) // 2), bw, bh))
    bw, bh = (round(h * tw / th), h) if wider else (w, round(w * th / tw))
    bw, bh = min(bw, w), min(bh, h)
    return Framing((w, h), (round(position * (w - bw)), round(position * (h - bh)), bw, bh))


def frame_image(image: np.ndarray, framing: Framing) -> np.ndarray:
    """The part of ``image (H, W, 3)`` inside the framing's box (black where a letterbox extends past it), at the
    source's resolution; the model's resize follows. The official centre crop returns ``image`` itself, so the
    default start stays bit-identical to the official preprocessing."""
    h, w = image.shape[:2]
    if (w, h) != framing.src:
        raise SanaWMInputError(f"framing: made for a {framing.src[0]}x{framing.src[1]} image, found {w}x{h}")
    if framing.centred_crop:
        return image
    left, top, bw, bh = framing.box
    out = np.zeros((bh, bw, 3), np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + bw, w), min(top + bh, h)
    out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def framed_intrinsics(intrinsics: np.ndarray | list[float], framing: Framing) -> np.ndarray:
    """``[fx, fy, cx, cy]`` in pixels of the source image -> in pixels of :func:`frame_image`'s result."""
    vec = np.asarray(intrinsics, dtype=np.float64).reshape(4).copy()
    if not framing.centred_crop:
        vec[2] -= framing.box[0]
        vec[3] -= framing.box[1]
    return vec


def describe_fit(src_size: tuple[int, int], target_size: tuple[int, int]) -> str:
    """One sentence on what the official resize + centre crop does to a ``src_size`` image (the CLI prints it)."""
    plan = plan_resize_crop(src_size, target_size)
    (w, h), (rw, rh), (tw, th) = plan.src, plan.resized, plan.target
    cut_x, cut_y = rw - tw, rh - th
    if (w, h) == (tw, th):
        return f"{w}x{h}, the model's frame size: used as it is"
    if not (cut_x or cut_y):
        return f"{w}x{h} resized to {rw}x{rh}, the model's frame size"
    side = f"{cut_x} columns cut at the left and right" if cut_x else f"{cut_y} rows cut at the top and bottom"
    share = (cut_x * rh + cut_y * rw) / (rw * rh)
    return (f"{w}x{h} resized to {rw}x{rh} and centre-cropped to {tw}x{th}, the model's frame size ({side}: "
            f"{share:.0%} of the picture)")
