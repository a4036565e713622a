"""Sharp frames: the embedded patch codec's stream decode guided by the world cache.

Why: the patch codec (:mod:`engine.components.patch_codec`) keeps the 32 lowest DCT coefficients of each 16-px
patch of every 8th frame. Decoded alone that gives a visible 16-px block grid, no detail finer than a few pixels,
and a cross-fade between key frames instead of motion. The world cache (:mod:`engine.world_cache`) knows much of
the scene at full detail and with depth. This decoder keeps the latent as the source of the low frequencies and
takes everything else from geometry:

1. **deblocking** (:func:`deblock`): at every patch boundary the step the blocks leave (the jump across it minus
   the local slope on both sides) is spread over ``reach`` pixels each side by a linear ramp. Linear, so it
   commutes with the detail transfer below.
2. **detail transfer** on each key frame (:func:`transfer_detail`): the cache is rendered at the key frame's pose;
   its colour (the decoded frame where the cache does not cover) minus its own codec band
   (:meth:`PatchDCTCodec.band`, exactly what the latent can carry, then deblocked) is the detail the latent cannot
   carry. It is added where the cache covers (a feathered mask) and where the cache's band agrees with the decoded
   band (a soft gate on blurred luma: a disagreement means the model moved or changed something, so its frame
   wins). Where the two agree the key frame becomes the cache render itself; elsewhere it is the deblocked decode.
   Then, where the **observed view** covers and agrees, the key frame moves towards it, low frequencies included
   (``band_trust``): the start frame warped at full resolution onto the depth of the cache's observed voxels (the
   voxels of real images, never of generated frames; :func:`observed_render`), so a real image seen again is shown
   as it was rather than as the model re-imagined it. Generated voxels give detail only, since copying their low
   band would copy the model's own drift (measured: docs/embedded_model.md "Trusting the start image").
3. **motion between key frames** (:func:`interpolate_motion`): each frame between key frames ``a`` and ``b`` is
   the two (sharpened) key frames reprojected to its own pose with depth and blended by time (``1 - t``, ``t``), a
   backward warp whose per-pixel depth is found by one fixed-point step from the nearer key frame's depth. Key-frame
   depth is the cache's where it covers, filled elsewhere from the nearest covered depth (a push-pull pyramid), so
   unknown parts move like their known neighbours; a frame with no depth at all uses a plane at
   :data:`DEFAULT_DEPTH`. A pixel that neither key frame sees (outside both, or occluded) keeps the plain
   interpolation.

The stream state (:class:`GuidedState`) is the patch decoder's state plus the last key frame as shown, its depth,
pose and intrinsics (so the next chunk's first frames warp from exactly what was on screen). Without a guide (no
world cache) :meth:`GuidedStreamDecoder.decode_next` is the patch decoder, deblocked. Deterministic: the same
latents, state and renders give bit-identical frames (torch on CPU, a fixed thread count), which is what rewind,
:meth:`WorldSession.replay` and ``.swm`` resume rely on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from engine.components.codec import from_uint8, to_uint8
from engine.components.patch_codec import PatchDCTCodec, PatchDCTState
from engine.errors import SanaWMInputError

#: Depth (scene units) of frames that have no covered pixel: a plane this far away.
DEFAULT_DEPTH = 4.0
LUMA = (0.299, 0.587, 0.114)

#: ``render(c2w (4, 4), intrinsics (4,)) -> object with colour (H, W, 3) uint8, coverage (H, W) bool, depth (H, W)``
#: (a :class:`~engine.world_cache.CacheRender` at the codec's frame size).
Render = Callable[[np.ndarray, np.ndarray], Any]

#: ``observed(c2w (4, 4), intrinsics (4,)) -> object with colour (H, W, 3) uint8 and coverage (H, W) bool`` (no depth
#: needed: a :class:`ViewRender` from :func:`observed_render`).
ObservedRender = Callable[[np.ndarray, np.ndarray], Any]


@dataclass(frozen=True)
class SharpSettings:
    """Tuning of the guided decode (defaults measured on held-out worlds, docs/embedded_model.md "Sharp frames").

    Attributes:
        reach: pixels each side of a patch boundary over which the block step is spread (at most half a patch).
        gate: luma disagreement (0-255) between the cache's band and the decoded band above which the cache's detail
            fades out (gone at twice this).
        feather: pixels over which detail fades in from the edge of the cache's coverage.
        occlusion: relative depth margin of the warp's occlusion test.
        warp_stride: the warp's geometry is solved every ``warp_stride`` pixels and interpolated.
        band_trust: how far a key frame moves towards the render of the cache's observed part (the real images'
            voxels) where that covers and agrees, low frequencies included (0 = the low frequencies stay the model's,
            1 = the key frame there becomes the observed render).
        sampling: how the frames between key frames look their colour up in the key frames (``grid_sample`` mode):
            ``"bilinear"`` averages neighbouring pixels at every sub-pixel offset, so 7 frames in 8 were softer than
            the key frames around them (a 2 Hz pulse of sharpness); ``"bicubic"`` keeps them about as sharp
            (measured: docs/embedded_model.md "Sharp frames between key frames"). The observed view's warp stays
            bilinear: bicubic there cost PSNR at every horizon.
    """

    reach: int = 8
    gate: float = 80.0
    feather: int = 4
    occlusion: float = 0.08
    warp_stride: int = 4
    band_trust: float = 1.0
    sampling: str = "bicubic"

    def __post_init__(self) -> None:
        if self.sampling not in ("bilinear", "bicubic"):
            raise SanaWMInputError(f"sharp settings sampling: expected 'bilinear' or 'bicubic', found {self.sampling!r}")


@dataclass(frozen=True)
class SharpDecode:
    """One version of the sharp decode: the decoder's ``settings`` and ``fuse_every``, which frames of each chunk
    the world cache (the decode's guide) took (None = the session's
    :attr:`~engine.generation.world_memory.WorldCacheSettings.fuse_every`)."""

    settings: SharpSettings
    fuse_every: int | None = None


#: The sharp decodes a stream can be made with (:attr:`engine.generation.state.StreamSettings.sharp_decode`), kept so
#: that a saved stream continues, and replays, with its own: 1 as first shipped (the cache's detail only, every 4th
#: frame fused), 2 trusting the start image (docs/embedded_model.md "Trusting the start image"), 3 that with frames
#: between key frames looked up bicubically ("Sharp frames between key frames").
SHARP_DECODES: dict[int, SharpDecode] = {
    1: SharpDecode(SharpSettings(gate=20.0, band_trust=0.0, sampling="bilinear"), fuse_every=4),
    2: SharpDecode(SharpSettings(sampling="bilinear")),
    3: SharpDecode(SharpSettings()),
}


def sharp_decode(version: int) -> SharpDecode:
    """The :data:`SHARP_DECODES` entry of ``version``; a version this build does not know (a file from a newer one)
    is an error naming it."""
    if version not in SHARP_DECODES:
        raise SanaWMInputError(f"sharp decode: expected a version among {', '.join(map(str, SHARP_DECODES))}, "
                               f"found {version!r} (a session made by a newer SANA-WM Explorer?)")  # fmt: skip
    return SHARP_DECODES[version]


@dataclass(frozen=True)
class FrameGuide:
    """What the decoder needs to know about the frames of one ``decode_next`` call: the camera of each output frame
    (``c2w (F, 4, 4)``, ``intrinsics (F, 4)`` in frame pixels, the same frames the call returns) and the world cache
    rendered at any pose (the cache as it stood before the chunk); ``observed`` renders only the cache's observed
    part (real images), whose low band the decode trusts (``SharpSettings.band_trust``; None: detail only)."""

    c2w: np.ndarray
    intrinsics: np.ndarray
    render: Render
    observed: ObservedRender | None = None


# ----- deblocking ---------------------------------------------------------------------------------------------------
def _ramp(reach: int) -> torch.Tensor:
    """Weights ``(reach,)`` of the step moved onto the pixels ``m = 0 .. reach - 1`` away from a boundary: a linear
    ramp from 0.5 at the boundary to 0 at ``reach``, so a step between two flat blocks becomes a straight line
    between their centres (with ``reach`` = half a block: flat blocks become the bilinear interpolation of their
    means)."""
    m = torch.arange(reach, dtype=torch.float32) + 0.5
    return 0.5 * (1.0 - m / reach)


def _deblock_axis(x: torch.Tensor, block: int, reach: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    edges = torch.arange(block, n, block)  # first pixel after each boundary
    if not len(edges):
        return x
    at = lambda i: x.index_select(dim, i)  # noqa: E731
    before, after = at(edges - 1), at(edges)
    slope = 0.5 * ((before - at(edges - 2)) + (at((edges + 1).clamp(max=n - 1)) - after))
    step = (after - before) - slope
    out = x.clone()
    for m, w in enumerate(_ramp(reach).tolist()):
        out.index_add_(dim, edges - 1 - m, step * w)
        out.index_add_(dim, edges + m, step * -w)
    return out


def deblock(pixels: torch.Tensor, block: int, reach: int = 8) -> torch.Tensor:
    """``(F, H, W, C)`` float frames with the step at every ``block``-pixel boundary spread over ``reach`` pixels
    each side (see the module docstring). Linear in ``pixels``; frames without steps pass unchanged up to rounding."""
    if not 1 <= reach <= block // 2:
        raise SanaWMInputError(f"deblock reach: expected 1..{block // 2} pixels for {block}-pixel blocks, found {reach}")
    return _deblock_axis(_deblock_axis(pixels, block, reach, dim=2), block, reach, dim=1)


def block_grid_energy(frames: np.ndarray, block: int = 16) -> float:
    """How visible a ``block``-pixel grid is: the mean absolute luma difference between neighbouring pixels across
    block boundaries over the same mean inside blocks (both directions). About 1 for natural frames, well above 1
    for a blocky decode."""
    y = np.asarray(frames, np.float64) @ np.asarray(LUMA)
    if y.ndim == 2:
        y = y[None]
    dx, dy = np.abs(np.diff(y, axis=2)), np.abs(np.diff(y, axis=1))  # dx[..., i] is between pixels i and i + 1
    on_x = (np.arange(dx.shape[2]) + 1) % block == 0
    on_y = (np.arange(dy.shape[1]) + 1) % block == 0
    across = np.concatenate([dx[:, :, on_x].ravel(), dy[:, on_y].ravel()]).mean()
    inside = np.concatenate([dx[:, :, ~on_x].ravel(), dy[:, ~on_y].ravel()]).mean()
    return float(across / max(inside, 1e-9))


# ----- detail transfer ----------------------------------------------------------------------------------------------
def _luma(x: torch.Tensor) -> torch.Tensor:
    return x @ torch.tensor(LUMA, dtype=x.dtype)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """``(F, H, W)`` box-blurred with the given radius (borders averaged over the inside only)."""
    if radius < 1:
        return x
    return F.avg_pool2d(x[:, None], 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)[:, 0]


def feather(covered: torch.Tensor, radius: int) -> torch.Tensor:
    """``(F, H, W)`` bool -> float weight in [0, 1]: 0 outside the coverage, rising to 1 about ``radius`` pixels
    inside it (blurred, then only the covered part kept and stretched)."""
    inside = _box(covered.float(), radius)
    return torch.where(covered, ((inside - 0.5) * 2).clamp(0, 1), torch.zeros_like(inside))


def _agreeing(base: torch.Tensor, guide: torch.Tensor, covered: torch.Tensor,
              band: Callable[[torch.Tensor], torch.Tensor], block: int,
              settings: SharpSettings) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(filled, low, weight)``: the guide filled with ``base`` where it does not cover, its own deblocked codec
    band, and the weight ``(F, H, W)`` of the guide: feathered coverage times the soft gate on the luma difference
    between the two bands."""
    filled = torch.where(covered[..., None], guide, base)
    low = deblock(band(filled), block, settings.reach)
    disagree = _box(_luma(base - low).abs(), 2) * 127.5  # 0-255 luma levels
    agree = (2.0 - disagree / settings.gate).clamp(0, 1)
    return filled, low, feather(covered, settings.feather) * agree


def transfer_detail(base: torch.Tensor, guide: torch.Tensor, covered: torch.Tensor,
                    band: Callable[[torch.Tensor], torch.Tensor], block: int, settings: SharpSettings = SharpSettings(),
                    observed: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
    """Key frames with the cache's detail: ``base`` ``(F, H, W, 3)`` deblocked decoded frames in [-1, 1], ``guide``
    the cache render's colour (same layout) where ``covered`` ``(F, H, W)`` -> ``base`` plus, where covered and
    agreeing, ``guide - deblock(band(guide))``. ``observed`` = ``(colour, covered)``, the render of the cache's
    observed part (real images only): where it covers and agrees, the key frame moves by ``band_trust`` towards it,
    low frequencies included (see the module docstring)."""
    filled, low, weight = _agreeing(base, guide, covered, band, block, settings)
    out = base + weight[..., None] * (filled - low)
    if observed is None or settings.band_trust <= 0:
        return out
    seen, _, trust = _agreeing(base, *observed, band, block, settings)
    return out + (settings.band_trust * trust)[..., None] * (seen - out)


# ----- motion between key frames ------------------------------------------------------------------------------------
def fill_depth(depth: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` depth known where ``covered`` -> depth everywhere: unknown pixels take a push-pull average of the
    nearest known ones (coarser levels fill what finer ones cannot); no known pixel gives :data:`DEFAULT_DEPTH`."""
    if not bool(covered.any()):
        return torch.full_like(depth, DEFAULT_DEPTH)
    known = covered.float()[None, None]
    value = torch.where(covered, depth, torch.zeros_like(depth))[None, None]
    levels = [(value, known)]
    while min(levels[-1][0].shape[-2:]) > 1:
        v, k = levels[-1]
        levels.append((F.avg_pool2d(v, 2, ceil_mode=True), F.avg_pool2d(k, 2, ceil_mode=True)))
    v, k = levels[-1]
    filled = v / k.clamp(min=1e-6)
    for v, k in reversed(levels[:-1]):
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        mean = v / k.clamp(min=1e-6)
        filled = torch.where(k > 0.999, mean, k * mean + (1 - k) * up)
    return torch.where(covered, depth, filled[0, 0])


def _pose(c2w: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``c2w (..., 4, 4)`` -> float32 ``(c2w, w2c)`` tensors."""
    c2w = np.asarray(c2w, np.float64)
    return torch.from_numpy(c2w).float(), torch.from_numpy(np.linalg.inv(c2w)).float()


def _apply(m: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``(N, 4, 4)`` or ``(4, 4)`` rigid transforms applied to points ``(N, h, w, 3)``."""
    m = m.expand(points.shape[0], 4, 4) if m.ndim == 2 else m
    return torch.einsum("nhwc,ndc->nhwd", points, m[:, :3, :3]) + m[:, None, None, :3, 3]


def _pixels_to_grid(u: torch.Tensor, v: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    w, h = size
    return torch.stack([2 * u / w - 1, 2 * v / h - 1], -1)


def _project(cam: torch.Tensor, k: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Camera points ``(N, h, w, 3)`` with intrinsics ``k (N, 4)`` -> grid_sample coordinates ``(N, h, w, 2)``
    (``[-1, 1]`` spans a frame of ``size``)."""
    k = k[:, :, None, None]
    z = cam[..., 2].clamp(min=1e-4)
    return _pixels_to_grid(k[:, 0] * cam[..., 0] / z + k[:, 2], k[:, 1] * cam[..., 1] / z + k[:, 3], size)


def _rays(k: torch.Tensor, grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Camera rays with z = 1 ``(N, h, w, 3)`` through grid positions ``(N, h, w, 2)`` of cameras ``k (N, 4)``."""
    w, h = size
    k = k[:, :, None, None]
    u, v = (grid[..., 0] + 1) * w / 2, (grid[..., 1] + 1) * h / 2
    return torch.stack([(u - k[:, 2]) / k[:, 0], (v - k[:, 3]) / k[:, 1], torch.ones_like(u)], -1)


def _sample(image: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    """``image (H, W, C)`` at ``grid (N, h, w, 2)`` -> ``(N, h, w, C)`` (border pixels repeat)."""
    src = image.permute(2, 0, 1)[None].expand(grid.shape[0], -1, -1, -1)
    return F.grid_sample(src, grid, mode=mode, padding_mode="border", align_corners=False).permute(0, 2, 3, 1)


@dataclass(frozen=True)
class KeyView:
    """A key frame as the warp uses it: ``colour (H, W, 3)`` float in [-1, 1], filled ``depth (H, W)``, its camera
    ``c2w (4, 4)`` and ``intrinsics (4,)`` (float64 numpy, as stored)."""

    colour: torch.Tensor
    depth: torch.Tensor
    c2w: np.ndarray
    intrinsics: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.depth.shape[1], self.depth.shape[0]

    def _k(self, n: int) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.intrinsics, np.float64)).float().expand(n, 4)

    def grid_of(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World ``points (N, h, w, 3)`` -> (their grid positions in this frame, their camera z)."""
        cam = _apply(_pose(self.c2w)[1], points)
        return _project(cam, self._k(points.shape[0]), self.size), cam[..., 2]

    def surface(self, grid: torch.Tensor) -> torch.Tensor:
        """The world points this key frame shows at ``grid (N, h, w, 2)`` (the nearest pixel's depth)."""
        z = _sample(self.depth[..., None], grid, "nearest")
        return _apply(_pose(self.c2w)[0], _rays(self._k(grid.shape[0]), grid, self.size) * z)


def _coarse_rays(c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int],
                 stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(c2w (N, 4, 4), grid (N, lh, lw, 2), rays (N, lh, lw, 3))``: the poses as tensors, the centres of every
    ``stride``-th pixel of frames of ``size`` (grid_sample coordinates) and the camera rays (z = 1) through them with
    ``intrinsics (N, 4)``."""
    w, h = size
    n = len(c2w)
    lw, lh = -(-w // stride), -(-h // stride)
    pose, _ = _pose(c2w)
    k = torch.from_numpy(np.asarray(intrinsics, np.float64)).float()
    ys, xs = torch.meshgrid((torch.arange(lh) + 0.5) * stride, (torch.arange(lw) + 0.5) * stride, indexing="ij")
    grid = _pixels_to_grid(xs, ys, (w, h)).expand(n, lh, lw, 2)
    return pose, grid, _rays(k, grid, (w, h))


def _depth_through(key: KeyView, pose: torch.Tensor, grid: torch.Tensor, rays: torch.Tensor) -> torch.Tensor:
    """The depth ``(N, lh, lw, 1)`` along ``rays`` of cameras ``pose`` of the surface ``key`` shows: the key frame's
    depth through the same pixel as a guess, then one fixed-point step (the surface the key frame shows where that
    guess lands, brought into this camera)."""
    guess = _sample(key.depth[..., None], grid, "nearest")
    landed, _ = key.grid_of(_apply(pose, rays * guess))
    return _apply(torch.linalg.inv(pose), key.surface(landed))[..., 2:].clamp(min=1e-2)


def _seen_by(key: KeyView, points: torch.Tensor, occlusion: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grid (N, lh, lw, 2), seen (N, lh, lw) float)``: where world ``points`` land in ``key`` and whether the key
    frame sees them there (inside it, in front of it, not hidden behind what it shows)."""
    g, depth = key.grid_of(points)
    shown = _sample(key.depth[..., None], g, "nearest")[..., 0]
    seen = (g.abs() <= 1).all(-1) & (depth > 1e-3) & (depth <= shown * (1 + occlusion))
    return g, seen.float()


def _to_frame(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, lh, lw, C)`` geometry solved on the coarse grid -> ``(N, H, W, C)`` (bilinear)."""
    w, h = size
    fine = F.interpolate(coarse.permute(0, 3, 1, 2).contiguous(), size=(h, w), mode="bilinear", align_corners=False)
    return fine.permute(0, 2, 3, 1)


def interpolate_motion(a: KeyView, b: KeyView, c2w: np.ndarray, intrinsics: np.ndarray, t: torch.Tensor,
                       fallback: torch.Tensor, settings: SharpSettings = SharpSettings()) -> torch.Tensor:  # fmt: skip
    """Frames between key frames ``a`` and ``b`` at poses ``c2w (N, 4, 4)`` (``intrinsics (N, 4)``), ``t (N,)`` in
    (0, 1) from ``a`` to ``b`` -> ``(N, H, W, 3)`` float: both key frames warped to each pose and blended by time;
    ``fallback (N, H, W, 3)`` (the plain interpolation) where neither sees a pixel (see the module docstring).

    The geometry (depth at each pose, where each pixel lands in the key frames) is solved on a grid ``warp_stride``
    times coarser than the frame and upsampled; only the colour lookup is per pixel."""
    pose, grid, rays = _coarse_rays(c2w, intrinsics, a.size, settings.warp_stride)
    later = (t >= 0.5)[:, None, None, None]  # which key frame is nearer in time: its depth is used
    z = torch.where(later, _depth_through(b, pose, grid, rays), _depth_through(a, pose, grid, rays))
    points = _apply(pose, rays * z)
    (ga, sa), (gb, sb) = _seen_by(a, points, settings.occlusion), _seen_by(b, points, settings.occlusion)
    share = t[:, None, None]
    fine = _to_frame(torch.cat([ga, gb, (sa * (1 - share))[..., None], (sb * share)[..., None]], -1), a.size)
    mode = settings.sampling
    ca, cb = _sample(a.colour, fine[..., 0:2], mode), _sample(b.colour, fine[..., 2:4], mode)
    wa, wb = fine[..., 4:5], fine[..., 5:6]
    total = wa + wb
    blend = (wa * ca + wb * cb) / total.clamp(min=1e-6)
    return torch.where(total > 1e-3, blend, fallback)


def warp_view(key: KeyView, c2w: np.ndarray, intrinsics: np.ndarray, settings: SharpSettings = SharpSettings(),
              depth: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """One key frame seen from poses ``c2w (N, 4, 4)`` -> ``(colour (N, H, W, 3), seen (N, H, W) bool)``: a backward
    warp of ``key`` with the colour at full resolution, and where the key frame sees each pixel.

    The depth along each pixel's ray is what makes a backward warp right or wrong. Without ``depth`` it is found as
    :func:`interpolate_motion` finds it (one fixed-point step from the key frame's depth through the same pixel, on
    the coarse grid), which finds *a* surface the key frame shows, not necessarily the nearest one: good for the
    small steps between key frames, not far from the key frame's pose. ``depth (N, H, W)`` (a z-buffered render of
    the same scene at these poses, ``inf`` where it shows nothing) gives the nearest surface per pixel instead; one
    fixed-point step then moves it onto the key frame's own depth (the render is coarser: 5 cm voxels)."""
    if depth is None:
        pose, grid, rays = _coarse_rays(c2w, intrinsics, key.size, settings.warp_stride)
        g, seen = _seen_by(key, _apply(pose, rays * _depth_through(key, pose, grid, rays)), settings.occlusion)
        fine = _to_frame(torch.cat([g, seen[..., None]], -1), key.size)
        return _sample(key.colour, fine[..., 0:2], "bilinear"), fine[..., 2] > 0.999
    pose, _, rays = _coarse_rays(c2w, intrinsics, key.size, 1)
    rendered = torch.from_numpy(np.asarray(depth, np.float32))[..., None]
    known = torch.isfinite(rendered)
    rendered = torch.where(known, rendered, torch.ones_like(rendered))
    landed, _ = key.grid_of(_apply(pose, rays * rendered))
    z = _apply(torch.linalg.inv(pose), key.surface(landed))[..., 2:].clamp(min=1e-2)
    g, seen = _seen_by(key, _apply(pose, rays * z), settings.occlusion)
    near = (z - rendered).abs() <= settings.occlusion * rendered  # the key frame shows the rendered surface there
    return _sample(key.colour, g, "bilinear"), (known & near)[..., 0] & (seen > 0)


#: Depth (scene units) given to sky pixels (``inf`` from the estimator) of a start view: far enough to move only
#: with the camera's rotation.
SKY_DEPTH = 1000.0


@dataclass(frozen=True)
class ViewRender:
    """What :func:`observed_render` returns: ``colour (H, W, 3)`` uint8 and ``coverage (H, W)`` bool, the pixels it
    knows."""

    colour: np.ndarray
    coverage: np.ndarray


def start_view(frame: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> KeyView:
    """The start frame (``(H, W, 3)`` uint8 at the identity pose) as a warpable view: its estimated ``depth (H, W)``
    with sky (``inf``) at :data:`SKY_DEPTH`."""
    z = np.where(np.isfinite(depth) & (depth > 0), depth, SKY_DEPTH).astype(np.float32)
    return KeyView(from_uint8(np.asarray(frame)[None])[0], torch.from_numpy(z), np.eye(4),
                   np.asarray(intrinsics, np.float64).reshape(4))  # fmt: skip


def observed_render(view: KeyView, settings: SharpSettings = SharpSettings(),
                    voxels: Render | None = None) -> ObservedRender:  # fmt: skip
    """An :data:`ObservedRender` of what a real image showed: ``view`` (the start frame and its depth) warped to the pose at
    full resolution. With ``voxels`` (the world cache's observed voxels rendered there: z-buffered splats of the same
    image and depth) the depth per pixel is the voxels', the colour is the warp's where the view shows that surface
    and the voxels' elsewhere, and pixels no voxel covers take the view's sky where the warp lands on it (coverage:
    the voxels' and that sky). The splats' depth test knows which surface is in front, the warp keeps the image's
    resolution (a 5 cm voxel spans several pixels near the camera; measured: docs/embedded_model.md "Trusting the
    start image")."""

    def render(c2w: np.ndarray, intrinsics: np.ndarray) -> ViewRender:
        c2w, intrinsics = np.asarray(c2w)[None], np.asarray(intrinsics)[None]
        if voxels is None:
            colour, seen = warp_view(view, c2w, intrinsics, settings)
            return ViewRender(to_uint8(colour[0]), seen[0].numpy())
        splats = voxels(c2w[0], intrinsics[0])
        depth = np.where(splats.coverage, splats.depth, SKY_DEPTH)[None]  # no voxel: the view's sky, if it is sky
        colour, seen = warp_view(view, c2w, intrinsics, settings, depth)
        seen = seen[0].numpy()
        return ViewRender(np.where(seen[..., None], to_uint8(colour[0]), splats.colour), splats.coverage | seen)

    return render


# ----- the stream decoder -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuidedState:
    """:class:`GuidedStreamDecoder` state (a :class:`~engine.components.codec.DecoderState`): the patch decoder's
    state, and the last key frame as shown (``frame (H, W, 3)`` uint8), its filled ``depth (H, W)`` float32,
    ``c2w (4, 4)`` and ``intrinsics (4,)`` float64 (absent when the last chunk had no guide). Never mutated."""

    kind: ClassVar[str] = "guided"
    inner: PatchDCTState
    frame: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    c2w: torch.Tensor | None = None
    intrinsics: torch.Tensor | None = None

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"inner.{k}": v for k, v in self.inner.to_tensors()[0].items()}
        for name in ("frame", "depth", "c2w", "intrinsics"):
            if getattr(self, name) is not None:
                tensors[name] = getattr(self, name)
        return tensors, {}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> GuidedState:
        inner = {k.partition(".")[2]: v for k, v in tensors.items() if k.startswith("inner.")}
        key = [tensors.get(n) for n in ("frame", "depth", "c2w", "intrinsics")]
        if any(v is None for v in key) and any(v is not None for v in key):
            raise SanaWMInputError(f"guided decoder state: expected frame, depth, c2w and intrinsics together, found {sorted(tensors)}")
        return cls(PatchDCTState.from_tensors(inner, {}), *key)


class GuidedStreamDecoder:
    """A :class:`~engine.components.codec.StreamDecoder` for :class:`PatchDCTCodec` streams that decodes sharp
    frames with a :class:`FrameGuide` (see the module docstring); ``decode_next(latents)`` without one is the patch
    decode, deblocked (key frames interpolated linearly)."""

    def __init__(self, codec: PatchDCTCodec, settings: SharpSettings = SharpSettings()) -> None:
        self.codec = codec
        self.settings = settings
        self._last: torch.Tensor | None = None  # (1, C, h, w) latent of the previous key frame
        self._key: KeyView | None = None  # the previous key frame as shown, when it had a guide

    def decode_next(self, latents: torch.Tensor, guide: FrameGuide | None = None) -> np.ndarray:
        c, p, s, tf = self.codec.latent_channels, self.codec.spatial_factor, self.settings, self.codec.temporal_factor
        if latents.ndim != 5 or latents.shape[1] != c or latents.shape[2] < 1:
            raise SanaWMInputError(f"latents must be (1, {c}, T >= 1, h, w), got {tuple(latents.shape)}")
        first = self._last is None
        count = tf * (latents.shape[2] - 1) + 1 if first else tf * latents.shape[2]
        if guide is not None and len(guide.c2w) != count:
            raise SanaWMInputError(f"frame guide: expected the poses of {count} frames, found {len(guide.c2w)}")
        keys = deblock(self.codec._to_pixels(latents[0].float().permute(1, 0, 2, 3)), p, s.reach)  # (T, H, W, 3)
        at = list(range(0 if first else tf - 1, count, tf))  # where the key frames are in this call's frames
        views: list[KeyView | None] = [None] * len(at)
        if guide is not None:
            renders = [guide.render(guide.c2w[i], guide.intrinsics[i]) for i in at]
            covered = torch.from_numpy(np.stack([r.coverage for r in renders]))
            guides = from_uint8(np.stack([r.colour for r in renders]))
            observed = None
            if guide.observed is not None and s.band_trust > 0:
                seen = [guide.observed(guide.c2w[i], guide.intrinsics[i]) for i in at]
                observed = (from_uint8(np.stack([r.colour for r in seen])),
                            torch.from_numpy(np.stack([r.coverage for r in seen])))  # fmt: skip
            keys = from_uint8(to_uint8(transfer_detail(keys, guides, covered, self.codec.band, p, s, observed)))
            for n, (i, r) in enumerate(zip(at, renders)):
                depth = torch.from_numpy(np.where(r.coverage, r.depth, 0).astype(np.float32))
                views[n] = KeyView(keys[n], fill_depth(depth, covered[n]), np.asarray(guide.c2w[i], np.float64),
                                   np.asarray(guide.intrinsics[i], np.float64))  # fmt: skip
        if first:
            frames, previous, previous_view = [keys[:1]], keys[0], views[0]
            keys, views, at = keys[1:], views[1:], at[1:]
        else:
            previous_view = self._key
            plain = deblock(self.codec._to_pixels(self._last), p, s.reach)[0]
            previous = plain if previous_view is None else previous_view.colour
            frames = []
        t = torch.arange(1, tf, dtype=torch.float32) / tf
        for key, view, i in zip(keys, views, at):
            between = torch.lerp(previous[None], key[None], t[:, None, None, None])  # the cross-fade, as fallback
            if view is not None and previous_view is not None:
                between = interpolate_motion(previous_view, view, guide.c2w[i - tf + 1 : i],
                                             guide.intrinsics[i - tf + 1 : i], t, between, s)  # fmt: skip
            frames += [between, key[None]]
            previous, previous_view = key, view
        self._last = latents[0, :, -1:].float().permute(1, 0, 2, 3).clone()
        self._key = previous_view
        return to_uint8(torch.cat(frames))

    def snapshot(self) -> GuidedState | None:
        if self._last is None:
            return None
        inner, k = PatchDCTState(self._last.clone()), self._key
        if k is None:
            return GuidedState(inner)
        frame = torch.from_numpy(to_uint8(k.colour))
        return GuidedState(inner, frame, k.depth.clone(), torch.from_numpy(k.c2w.copy()),
                           torch.from_numpy(k.intrinsics.copy()))  # fmt: skip

    def restore(self, state: GuidedState | PatchDCTState | None) -> None:
        """Return to a :meth:`snapshot` (a bare :class:`PatchDCTState`, from a stream decoded without guidance, is
        accepted: the next chunk's first frames then interpolate without motion)."""
        if state is not None and not isinstance(state, (GuidedState, PatchDCTState)):
            raise SanaWMInputError(f"restore expects a GuidedState from snapshot() or None, got {type(state).__name__}")
        inner = state.inner if isinstance(state, GuidedState) else state
        self._last = None if inner is None else inner.last.clone()
        self._key = None
        if isinstance(state, GuidedState) and state.frame is not None:
            self._key = KeyView(from_uint8(state.frame.numpy()[None])[0], state.depth.clone(), state.c2w.numpy().copy(),
                                state.intrinsics.numpy().copy())  # fmt: skip
