"""Pinhole intrinsics ``[fx, fy, cx, cy]``: the official input forms, fitting to frames, resize/crop, FOV.

Intrinsics are always in pixels of the image they describe and follow every resize and crop
(spec streaming §7.6). The camera layer keeps them as float64 ``(F, 4)`` arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import FOVOutOfRangeError, IntrinsicsError

#: Horizontal and vertical FOV range (degrees, exclusive) the official pipeline accepts.
FOV_RANGE_DEG: tuple[float, float] = (25.0, 120.0)
#: Largest focal length or principal-point coordinate accepted, in pixels (a 0.0001-degree FOV on a 16k image).
MAX_FOCAL_PX = 1e8


def as_vec4(intrinsics: np.ndarray, *, name: str = "intrinsics") -> np.ndarray:
    """Normalise any official form to float64 ``(F', 4)`` rows ``[fx, fy, cx, cy]``.

    Accepted: ``(4,)``, ``(3, 3)`` K, ``(F', 4)`` and ``(F', 3, 3)``. Values must be real and finite, focal lengths
    positive and at most :data:`MAX_FOCAL_PX`, and a K matrix a pinhole one (``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``
    with a negligible skew ``s``: the four numbers kept are then all it says). Raises :class:`IntrinsicsError` naming
    ``name`` otherwise.
    """
    arr = np.asarray(intrinsics)
    if arr.dtype.kind not in "iuf":
        raise IntrinsicsError(f"{name}: expected a real-valued numeric array, found dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape == (4,):
        vec = arr[None]
    elif arr.shape == (3, 3):
        _check_pinhole(arr[None], name)
        vec = np.array([[arr[0, 0], arr[1, 1], arr[0, 2], arr[1, 2]]])
    elif arr.ndim == 2 and arr.shape[1] == 4 and arr.shape[0] > 0:
        vec = arr.copy()
    elif arr.ndim == 3 and arr.shape[1:] == (3, 3) and arr.shape[0] > 0:
        _check_pinhole(arr, name)
        vec = np.stack([arr[:, 0, 0], arr[:, 1, 1], arr[:, 0, 2], arr[:, 1, 2]], axis=1)
    else:
        raise IntrinsicsError(
            f"{name}: expected shape (4,), (3, 3), (F, 4) or (F, 3, 3) with [fx, fy, cx, cy] in pixels, "
            f"found {arr.shape}"
        )
    if not np.isfinite(vec).all():
        raise IntrinsicsError(f"{name}: found non-finite values (NaN or inf)")
    if (vec[:, :2] <= 0).any():
        i = int(np.argmax((vec[:, :2] <= 0).any(axis=1)))
        raise IntrinsicsError(f"{name}: focal lengths must be positive, found fx={vec[i, 0]:g}, fy={vec[i, 1]:g}")
    if (np.abs(vec) > MAX_FOCAL_PX).any():
        i = int(np.argmax((np.abs(vec) > MAX_FOCAL_PX).any(axis=1)))
        raise IntrinsicsError(
            f"{name}: row {i} [{', '.join(f'{v:.6g}' for v in vec[i])}]: expected values of at most {MAX_FOCAL_PX:g} pixels"
        )
    return vec


def _check_pinhole(k: np.ndarray, name: str) -> None:
    """Refuse ``(F, 3, 3)`` matrices that are not pinhole K matrices (their other entries would be dropped)."""
    if not np.isfinite(k).all():
        raise IntrinsicsError(f"{name}: found non-finite values (NaN or inf)")
    bottom = np.abs(k[:, 2] - np.array([0.0, 0.0, 1.0])).max(axis=1) > 1e-6
    lower = np.abs(k[:, 1, 0]) > 1e-6
    skew = np.abs(k[:, 0, 1]) > 1e-6 * np.maximum(np.abs(k[:, 0, 0]), 1.0)
    bad = bottom | lower | skew
    if bad.any():
        i = int(np.argmax(bad))
        raise IntrinsicsError(
            f"{name}: K{f' {i}' if k.shape[0] > 1 else ''} = {[[float(f'{v:.4g}') for v in row] for row in k[i]]}: expected a pinhole matrix "
            "[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]"
        )


def fit_to_frames(intrinsics: np.ndarray, num_frames: int, *, name: str = "intrinsics") -> np.ndarray:
    """Fit intrinsics in any official form to ``num_frames`` rows, as the official script does.

    Equal length: copied; longer: truncated; one row: broadcast; shorter: each entry linearly interpolated
    from ``linspace(0, 1, F')`` onto ``linspace(0, 1, F)``.
    """
    if num_frames < 1:
        raise IntrinsicsError(f"{name}: cannot fit to {num_frames} frames; expected at least 1")
    vec = as_vec4(intrinsics, name=name)
    n = vec.shape[0]
    if n >= num_frames:
        return vec[:num_frames].copy()
    if n == 1:
        return np.repeat(vec, num_frames, axis=0)
    src = np.linspace(0.0, 1.0, n)
    dst = np.linspace(0.0, 1.0, num_frames)
    return np.stack([np.interp(dst, src, vec[:, j]) for j in range(4)], axis=1)


def focal_to_fov_deg(focal: np.ndarray | float, size: np.ndarray | float) -> np.ndarray:
    """Field of view in degrees along an image side of ``size`` pixels: ``2 atan(size / (2 f))``."""
    return np.degrees(2.0 * np.arctan(np.asarray(size, dtype=np.float64) / (2.0 * np.asarray(focal, dtype=np.float64))))


def fov_deg_to_focal(fov_deg: np.ndarray | float, size: np.ndarray | float) -> np.ndarray:
    """Focal length in pixels giving ``fov_deg`` over ``size`` pixels: ``size / (2 tan(fov / 2))``."""
    fov = np.asarray(fov_deg, dtype=np.float64)
    if np.any((fov <= 0) | (fov >= 180)) or not np.all(np.isfinite(fov)):
        raise IntrinsicsError(f"field of view: expected degrees in (0, 180), found {np.atleast_1d(fov).tolist()[:4]}")
    return np.asarray(size, dtype=np.float64) / (2.0 * np.tan(np.radians(fov) / 2.0))


def from_fov(
    width: int, height: int, *, fov_x_deg: float | None = None, fov_y_deg: float | None = None
) -> np.ndarray:
    """Centred square-pixel intrinsics ``(4,)`` from one FOV (horizontal or vertical) and the image size."""
    if (fov_x_deg is None) == (fov_y_deg is None):
        raise IntrinsicsError("field of view: give exactly one of the horizontal or the vertical FOV")
    f = fov_deg_to_focal(fov_x_deg, width) if fov_x_deg is not None else fov_deg_to_focal(fov_y_deg, height)
    return np.array([float(f), float(f), width / 2.0, height / 2.0])


def fov_deg(intrinsics: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical FOV in degrees of each row of ``(F, 4)`` intrinsics for a ``width x height`` image."""
    vec = as_vec4(intrinsics)
    return focal_to_fov_deg(vec[:, 0], width), focal_to_fov_deg(vec[:, 1], height)


def check_fov(
    intrinsics: np.ndarray,
    width: int,
    height: int,
    *,
    fov_range: tuple[float, float] = FOV_RANGE_DEG,
    allow_out_of_range: bool = False,
) -> None:
    """Raise :class:`FOVOutOfRangeError` unless every frame's horizontal and vertical FOV lies strictly inside
    ``fov_range`` (the official check), or ``allow_out_of_range`` is set (the explicit override)."""
    if allow_out_of_range:
        return
    fx, fy = fov_deg(intrinsics, width, height)
    lo, hi = fov_range
    for label, fov in (("horizontal", fx), ("vertical", fy)):
        bad = (fov <= lo) | (fov >= hi)
        if bad.any():
            i = int(np.argmax(bad))
            raise FOVOutOfRangeError(
                f"intrinsics: frame {i} has a {label} FOV of {fov[i]:.1f} deg for a {width}x{height} image; "
                f"the model expects {lo:g} < FOV < {hi:g} deg (check that the intrinsics are in pixels of this "
                "image, or override with --allow-any-fov / allow_out_of_range=True)"
            )


@dataclass(frozen=True)
class CropPlan:
    """Aspect-preserving resize of a ``src`` image to ``resized`` then a centre crop of ``target`` at ``offset``.

    Sizes are ``(width, height)``; ``offset`` is ``(left, top)``.
    """

    src: tuple[int, int]
    resized: tuple[int, int]
    offset: tuple[int, int]
    target: tuple[int, int]


def plan_resize_crop(src_size: tuple[int, int], target_size: tuple[int, int]) -> CropPlan:
    """The official resize + centre-crop plan (spec streaming §7.6) for ``(width, height)`` sizes."""
    w, h = src_size
    tw, th = target_size
    if w <= 0 or h <= 0:
        raise IntrinsicsError(f"image size: expected positive width and height, found {w}x{h}")
    scale = max(th / h, tw / w)
    rw = max(tw, int(round(w * scale)))
    rh = max(th, int(round(h * scale)))
    return CropPlan(src=(w, h), resized=(rw, rh), offset=((rw - tw) // 2, (rh - th) // 2), target=(tw, th))


def apply_crop(intrinsics: np.ndarray, plan: CropPlan) -> np.ndarray:
    """Transform ``[fx, fy, cx, cy]`` rows for the resize + crop described by ``plan``."""
    vec = as_vec4(intrinsics).copy()
    sx = plan.resized[0] / plan.src[0]
    sy = plan.resized[1] / plan.src[1]
    vec[:, 0] *= sx
    vec[:, 2] = vec[:, 2] * sx - plan.offset[0]
    vec[:, 1] *= sy
    vec[:, 3] = vec[:, 3] * sy - plan.offset[1]
    return vec


def undo_crop(intrinsics: np.ndarray, plan: CropPlan) -> np.ndarray:
    """The inverse of :func:`apply_crop`: intrinsics of the cropped frame -> pixels of the source image."""
    vec = as_vec4(intrinsics).copy()
    sx = plan.resized[0] / plan.src[0]
    sy = plan.resized[1] / plan.src[1]
    vec[:, 0] /= sx
    vec[:, 2] = (vec[:, 2] + plan.offset[0]) / sx
    vec[:, 1] /= sy
    vec[:, 3] = (vec[:, 3] + plan.offset[1]) / sy
    return vec


def scale_to_grid(intrinsics: np.ndarray, image_size: tuple[int, int], grid_size: tuple[int, int]) -> np.ndarray:
    """Rescale pixel intrinsics of an ``image_size`` image to a ``grid_size`` grid (both ``(width, height)``),
    e.g. to the latent grid: ``fx, cx *= gw / W`` and ``fy, cy *= gh / H``."""
    vec = as_vec4(intrinsics).copy()
    vec[:, [0, 2]] *= grid_size[0] / float(image_size[0])
    vec[:, [1, 3]] *= grid_size[1] / float(image_size[1])
    return vec


def to_matrix(intrinsics: np.ndarray) -> np.ndarray:
    """``(F, 4)`` rows to ``(F, 3, 3)`` K matrices."""
    vec = as_vec4(intrinsics)
    k = np.zeros((vec.shape[0], 3, 3))
    k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2] = vec.T
    k[:, 2, 2] = 1.0
    return k


def is_close_to_square_pixels(intrinsics: np.ndarray, rtol: float = 1e-3) -> bool:
    """True when ``fx == fy`` within ``rtol`` for every frame (needed by single-FOV formats)."""
    vec = as_vec4(intrinsics)
    return bool(np.all(np.abs(vec[:, 0] - vec[:, 1]) <= rtol * np.maximum(vec[:, 0], vec[:, 1])))


__all__ = [
    "FOV_RANGE_DEG",
    "MAX_FOCAL_PX",
    "CropPlan",
    "as_vec4",
    "fit_to_frames",
    "focal_to_fov_deg",
    "fov_deg_to_focal",
    "from_fov",
    "fov_deg",
    "check_fov",
    "plan_resize_crop",
    "apply_crop",
    "scale_to_grid",
    "to_matrix",
    "is_close_to_square_pixels",
]

