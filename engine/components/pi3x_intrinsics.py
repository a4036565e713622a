"""Estimating missing intrinsics with Pi3X, as the NVlabs script does (spec streaming §7.6).

Why: an image-only ``sana-wm generate`` (no ``--intrinsics``, no bundle or demo default) needs a field of view. The
official script runs Pi3X (``yyfz233/Pi3X``) once on the **uncropped** input image, turns its per-pixel ray
directions into a pinhole camera with a centred principal point, rescales it to the image's size and aborts unless
25 deg < FOV < 120 deg. This module does the same with two differences of policy, never of numbers:

* the network code is not on PyPI: the user provides the Pi3 code (https://github.com/yyfz/Pi3, importable as the
  ``pi3`` package: installed, or a checkout folder passed as ``pi3_code``) and a local folder with the Pi3X weights
  (``model.safetensors``, optionally ``config.json``). Nothing is ever downloaded: a folder that does not exist is
  rejected before ``from_pretrained`` could read its name as a Hub repository id;
* the ray -> intrinsics fit is implemented here (:func:`recover_intrinsics_from_rays`), not imported from ``pi3``.

Pipeline (each step matches ``NVlabs/Sana: inference_video_scripts/wm/inference_sana_wm.py``):

1. :func:`pi3x_input_size`: the largest grid of multiples of 14 with at most 255,000 pixels and about the image's
   aspect ratio; :func:`resize_for_pi3x`: Lanczos resize to it.
2. Pi3X on a ``(1, 1, 3, h, w)`` float tensor in ``[0, 1]`` (the network applies the ImageNet normalisation itself),
   multimodal branch disabled; on CUDA under bf16 autocast (fp16 before compute capability 8), as the official does.
3. Rays: ``normalize(out["local_points"])`` of shape ``(1, 1, h, w, 3)``, camera axes x right, y down, z forward.
4. :func:`recover_intrinsics_from_rays` with ``force_center_principal_point=True`` -> ``[fx, fy, cx, cy]`` in pixels of
   the ``w x h`` grid, then ``fx, cx *= W / w`` and ``fy, cy *= H / h`` for the ``W x H`` image.

The FOV check is the caller's (:func:`engine.camera.intrinsics.check_fov`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.camera.intrinsics import scale_to_grid
from engine.bundles.local_models import TRANSFORMERS_WEIGHTS, enforce_offline
from engine.errors import IntrinsicsEstimationError

logger = logging.getLogger(__name__)

PIXEL_LIMIT = 255_000
"""Most pixels of the grid Pi3X sees (the Pi3 demos' ``PIXEL_LIMIT``, kept by the NVlabs script)."""
PATCH_SIZE = 14
"""Pi3X's ViT patch size: both sides of its input must be multiples of it."""
WEIGHTS_FILE = TRANSFORMERS_WEIGHTS
"""What ``PyTorchModelHubMixin.from_pretrained`` loads from a local folder: ``model.safetensors``."""
PI3X_REPO = "yyfz233/Pi3X"
PI3_CODE_URL = "https://github.com/yyfz/Pi3"
_PI3X_MODULE = "pi3.models.pi3x"
_PI3_MODULES = ("pi3", "pi3.models", _PI3X_MODULE)


# ----------------------------------------------------------------------------------------------------------------
# the math: rays -> pinhole intrinsics
# ----------------------------------------------------------------------------------------------------------------
def recover_intrinsics_from_rays(
    rays: np.ndarray | torch.Tensor, *, force_center_principal_point: bool = True
) -> np.ndarray:
    """Least-squares pinhole intrinsics ``[fx, fy, cx, cy]`` (float64) of a ``(H, W, 3)`` map of ray directions.

    Convention (that of ``pi3.utils.geometry.recover_intrinsic_from_rays_d``): pixel ``(row v, column u)`` sits at
    integer coordinates ``u = 0 .. W-1``, ``v = 0 .. H-1``; its ray ``(x, y, z)`` (any length, camera axes x right,
    y down, z forward) projects to ``(x / |z|, y / |z|)``, and the model is ``u = fx x/|z| + cx``,
    ``v = fy y/|z| + cy``, fitted independently per axis.

    * ``force_center_principal_point=True`` (what the official script uses): ``cx = (W - 1) / 2``,
      ``cy = (H - 1) / 2`` — the centre of the integer grid, i.e. ``W / 2`` in the half-pixel convention where
      pixel ``u`` covers ``[u, u + 1)`` — and ``fx = sum(p (u - cx)) / sum(p^2)`` with ``p = x / |z|`` (least squares
      through the centre; ``fy`` likewise).
    * ``False``: ordinary least squares of ``u`` on ``p`` for ``(fx, cx)`` and of ``v`` on ``y/|z|`` for ``(fy, cy)``.

    Rays from an exact pinhole camera with the same principal point are recovered exactly (up to rounding).

    Raises:
        IntrinsicsEstimationError: not a finite ``(H, W, 3)`` array, or too degenerate to fit (all rays on the
            optical axis; fewer than 2 distinct columns or rows for the free principal point).
    """
    if isinstance(rays, torch.Tensor):
        rays = rays.detach().to(device="cpu", dtype=torch.float64).numpy()
    arr = np.asarray(rays, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise IntrinsicsEstimationError(
            f"ray map: expected shape (H, W, 3) of per-pixel ray directions, found {tuple(arr.shape)}"
        )
    if not np.isfinite(arr).all():
        raise IntrinsicsEstimationError("ray map: found non-finite values (NaN or inf); the estimate is unusable")
    height, width = arr.shape[:2]
    z = np.abs(arr[..., 2]) + 1e-10  # the official guard against z = 0
    px = arr[..., 0] / z  # (H, W)
    py = arr[..., 1] / z
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    if force_center_principal_point:
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        fx = _fit_through_origin(px, u - cx, "x")
        fy = _fit_through_origin(py, v - cy, "y")
    else:
        fx, cx = _fit_line(px, u, "x")
        fy, cy = _fit_line(py, v, "y")
    return np.array([fx, fy, cx, cy], dtype=np.float64)


def _fit_through_origin(p: np.ndarray, target: np.ndarray, axis: str) -> float:
    denom = float((p * p).sum())
    if denom == 0.0:
        raise IntrinsicsEstimationError(f"ray map: every ray has {axis} = 0; cannot fit a focal length along {axis}")
    return float((p * target).sum()) / denom


def _fit_line(p: np.ndarray, target: np.ndarray, axis: str) -> tuple[float, float]:
    pc = p - p.mean()
    denom = float((pc * pc).sum())
    if denom == 0.0:
        raise IntrinsicsEstimationError(
            f"ray map: the rays' {axis}/z does not vary; cannot fit a focal length and principal point along {axis}"
        )
    slope = float((pc * (target - target.mean())).sum()) / denom
    return slope, float(target.mean() - slope * p.mean())


# ----------------------------------------------------------------------------------------------------------------
# the input grid
# ----------------------------------------------------------------------------------------------------------------
def pi3x_input_size(
    width: int, height: int, *, pixel_limit: int = PIXEL_LIMIT, patch: int = PATCH_SIZE
) -> tuple[int, int]:
    """``(w, h)`` of the grid Pi3X sees for a ``width x height`` image: multiples of ``patch``, ``w h <= pixel_limit``.

    The official rule: scale both sides by ``s = sqrt(limit / (W H))`` (down or up), take ``k = max(1, round(W s /
    14))`` and ``m = max(1, round(H s / 14))`` patches (Python's ``round``: halves to even), then while ``14k x 14m``
    exceeds the limit drop one patch from the side that is relatively too long (``k`` if ``k / m > W / H``, else
    ``m``). Sizes are ``(width, height)`` like every size in the engine.
    """
    if width < 1 or height < 1:
        raise IntrinsicsEstimationError(f"image: expected a positive size, found {width}x{height}")
    scale = math.sqrt(pixel_limit / (width * height))
    target_w, target_h = width * scale, height * scale
    k, m = max(1, round(target_w / patch)), max(1, round(target_h / patch))
    while (k * patch) * (m * patch) > pixel_limit:
        if k / m > target_w / target_h:
            k -= 1
        else:
            m -= 1
    return max(1, k) * patch, max(1, m) * patch


def resize_for_pi3x(image: np.ndarray) -> np.ndarray:
    """The uint8 ``(h, w, 3)`` Lanczos resize of a uint8 ``(H, W, 3)`` image to :func:`pi3x_input_size`."""
    _check_image(image)
    size = pi3x_input_size(image.shape[1], image.shape[0])
    return np.array(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))  # writable


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        found = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise IntrinsicsEstimationError(f"image: expected a uint8 RGB array of shape (H, W, 3), found {found}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise IntrinsicsEstimationError(f"image: expected a non-empty image, found shape {image.shape}")


# ----------------------------------------------------------------------------------------------------------------
# the network: importing the Pi3 code, loading the weights, running it
# ----------------------------------------------------------------------------------------------------------------
def _how_to_get_code() -> str:
    return (
        f"install the Pi3 code (a checkout of {PI3_CODE_URL}: `pip install -e /path/to/Pi3`) or pass the checkout "
        "folder (the one holding pi3/models/pi3x.py) as --pi3-code; or pass --intrinsics"
    )


def _code_root(pi3_code: Path) -> Path:
    """The folder to put on ``sys.path``: the checkout root, or the parent when given the ``pi3`` package itself."""
    folder = Path(pi3_code).expanduser().resolve()
    if (folder / "pi3" / "models" / "pi3x.py").is_file():
        return folder
    if folder.name == "pi3" and (folder / "models" / "pi3x.py").is_file():
        return folder.parent
    state = "does not exist" if not folder.is_dir() else "does not hold pi3/models/pi3x.py"
    raise IntrinsicsEstimationError(
        f"Pi3 code: folder {folder} {state}; expected a checkout of {PI3_CODE_URL} (with pi3/models/pi3x.py)"
    )


def import_pi3x(pi3_code: Path | str | None = None) -> type:
    """The ``Pi3X`` class from ``pi3.models.pi3x``; with ``pi3_code``, that checkout folder is put first on
    ``sys.path`` for the import only (the modules stay imported afterwards).

    Raises:
        IntrinsicsEstimationError: the folder lacks ``pi3/models/pi3x.py``, ``pi3`` is not importable, or one of
            its own dependencies is missing (named).
    """
    root = _code_root(Path(pi3_code)) if pi3_code is not None else None
    entry = str(root) if root is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        module = importlib.import_module(_PI3X_MODULE)
    except ImportError as exc:
        where = f" from {root}" if root is not None else ""
        if isinstance(exc, ModuleNotFoundError) and exc.name in _PI3_MODULES:
            raise IntrinsicsEstimationError(
                f"Pi3X: cannot import {_PI3X_MODULE}{where} ({exc}); {_how_to_get_code()}"
            ) from None
        missing = f"module {exc.name!r}" if getattr(exc, "name", None) else "a module"
        raise IntrinsicsEstimationError(
            f"Pi3X: the Pi3 code{where} needs {missing}, which cannot be imported ({exc}); install the Pi3 "
            "requirements into this environment, or pass --intrinsics"
        ) from None
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)
    cls = getattr(module, "Pi3X", None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise IntrinsicsEstimationError(
            f"Pi3X: {getattr(module, '__file__', _PI3X_MODULE)} has no Pi3X class with from_pretrained; "
            f"{_how_to_get_code()}"
        )
    if root is not None and not _is_under(getattr(module, "__file__", None), root):
        logger.warning("Pi3X: using the already imported %s, not the one in %s", module.__file__, root)
    return cls


def _is_under(path: str | None, root: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(root)


def require_pi3x_weights(pi3x_folder: Path | str) -> Path:
    """The resolved weights folder, once it is known to hold a non-empty ``model.safetensors``.

    Raises:
        IntrinsicsEstimationError: naming the folder and the file expected, and where the weights come from.
    """
    folder = Path(pi3x_folder).expanduser().resolve()
    weights = folder / WEIGHTS_FILE
    if not folder.is_dir():
        state = "does not exist"
    elif not weights.is_file():
        state = f"lacks {WEIGHTS_FILE}"
    elif weights.stat().st_size == 0:
        state = f"has an empty {WEIGHTS_FILE}"
    else:
        return folder
    raise IntrinsicsEstimationError(
        f"Pi3X weights: folder {folder} {state}; expected {WEIGHTS_FILE} (and config.json) from the Hugging Face "
        f"repository {PI3X_REPO}, downloaded by you (nothing is downloaded at run time); or pass --intrinsics"
    )


def load_pi3x(
    pi3x_folder: Path | str, *, pi3_code: Path | str | None = None, device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Pi3X from a local weights folder, strictly offline, in eval mode on ``device`` with the multimodal branch
    (unused without conditions) released, as the official script does.

    Raises:
        IntrinsicsEstimationError: the code cannot be imported, or the folder / weights are missing or unreadable.
    """
    pi3x = import_pi3x(pi3_code)
    folder = require_pi3x_weights(pi3x_folder)
    enforce_offline()
    from safetensors import SafetensorError

    captured = io.StringIO()  # huggingface_hub prints "Loading weights from local directory"
    try:
        with contextlib.redirect_stdout(captured):
            model = pi3x.from_pretrained(str(folder), local_files_only=True)
    except (OSError, RuntimeError, ValueError, SafetensorError) as exc:
        raise IntrinsicsEstimationError(
            f"Pi3X weights: cannot load {folder / WEIGHTS_FILE} ({type(exc).__name__}: {exc}); expected the "
            f"{PI3X_REPO} weights"
        ) from None
    finally:
        if captured.getvalue().strip():
            logger.debug("Pi3X.from_pretrained: %s", captured.getvalue().strip())
    model = model.to(device).eval()
    if hasattr(model, "disable_multimodal"):
        model.disable_multimodal()
    model.requires_grad_(False)
    return model


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type != "cuda":
        return contextlib.nullcontext()
    major = torch.cuda.get_device_capability(device)[0]
    return torch.autocast("cuda", dtype=torch.bfloat16 if major >= 8 else torch.float16)


def run_pi3x_rays(model: torch.nn.Module, resized: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """Unit ray directions ``(h, w, 3)`` (float32, CPU) of Pi3X for one uint8 ``(h, w, 3)`` image already on its grid.

    Raises:
        IntrinsicsEstimationError: the output has no ``local_points`` of shape ``(1, 1, h, w, 3)``.
    """
    device = torch.device(device)
    h, w = resized.shape[:2]
    imgs = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1).float().div(255.0)  # (3, h, w)
    imgs = imgs[None, None].to(device)  # (B=1, N=1, 3, h, w) in [0, 1]
    with torch.no_grad(), _autocast(device):
        out = model(imgs=imgs)
    points = out.get("local_points") if isinstance(out, dict) else None
    if not isinstance(points, torch.Tensor) or tuple(points.shape) != (1, 1, h, w, 3):
        if isinstance(points, torch.Tensor):
            found = f"shape {tuple(points.shape)}"
        else:
            found = f"keys {sorted(out)}" if isinstance(out, dict) else type(out).__name__
        raise IntrinsicsEstimationError(
            f"Pi3X output: expected 'local_points' of shape (1, 1, {h}, {w}, 3), found {found}; the Pi3 code may "
            "not be Pi3X's"
        )
    return torch.nn.functional.normalize(points[0, 0].float(), dim=-1).cpu()  # (h, w, 3)


def estimate_intrinsics(
    image: np.ndarray,
    pi3x_folder: Path | str,
    *,
    pi3_code: Path | str | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """``[fx, fy, cx, cy]`` (float64, pixels of ``image``) estimated by Pi3X from the whole, uncropped image.

    Args:
        image: uint8 RGB ``(H, W, 3)``, as given by the user (before the model's resize and crop).
        pi3x_folder: local folder with the ``yyfz233/Pi3X`` weights (``model.safetensors``; ``config.json``).
        pi3_code: a checkout of the Pi3 repository to import ``pi3`` from, when it is not installed.
        device: where to run the network (``"cuda"`` uses bf16/fp16 autocast like the official script).

    The principal point is the official one: the centre of Pi3X's integer pixel grid rescaled,
    ``cx = (w - 1) / 2 * W / w`` (half a Pi3X pixel left of ``W / 2``). Check the field of view afterwards with
    :func:`engine.camera.intrinsics.check_fov` (the official check uses ``W x H`` of this image).

    Raises:
        IntrinsicsEstimationError: bad image, Pi3 code not importable, weights missing or unreadable, malformed
            network output, or an estimate that is not a camera (non-finite or non-positive focal lengths).
    """
    _check_image(image)
    model = load_pi3x(pi3x_folder, pi3_code=pi3_code, device=device)
    resized = resize_for_pi3x(image)  # (h, w, 3)
    rays = run_pi3x_rays(model, resized, device)
    del model
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    on_grid = recover_intrinsics_from_rays(rays, force_center_principal_point=True)
    grid = (resized.shape[1], resized.shape[0])
    size = (image.shape[1], image.shape[0])
    if not (np.isfinite(on_grid).all() and (on_grid[:2] > 0).all()):
        raise IntrinsicsEstimationError(
            f"Pi3X estimate is not a camera (fx={on_grid[0]:g}, fy={on_grid[1]:g} on its {grid[0]}x{grid[1]} grid); "
            "pass --intrinsics"
        )
    vec = scale_to_grid(on_grid, grid, size)[0]
    logger.info(
        "Pi3X intrinsics for %dx%d: fx=%.1f fy=%.1f cx=%.1f cy=%.1f (estimated on %dx%d)", *size, *vec, *grid
    )
    return vec


__all__ = [
    "PIXEL_LIMIT",
    "PATCH_SIZE",
    "WEIGHTS_FILE",
    "recover_intrinsics_from_rays",
    "pi3x_input_size",
    "resize_for_pi3x",
    "import_pi3x",
    "require_pi3x_weights",
    "load_pi3x",
    "run_pi3x_rays",
    "estimate_intrinsics",
]
