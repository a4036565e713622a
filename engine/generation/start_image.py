"""Start images: load, resize and centre-crop to the model's frame size, and carry the intrinsics along.

The official preprocessing (spec streaming §7.6): scale so the image covers the target (``max`` of the two
ratios), Lanczos resize, centre crop; intrinsics follow the same plan (:func:`engine.camera.intrinsics.apply_crop`).
"""

from __future__ import annotations

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
