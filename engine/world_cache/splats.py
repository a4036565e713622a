"""The splat model shared by the GL renderer and the numpy reference: how big a point is drawn and which splat wins.

Why splats: the cache holds one point per voxel, sampled about one pixel apart when the frame was seen; drawn as
single pixels from a slightly different pose they would leave holes between them. Each point is therefore drawn
as a screen-aligned square of side

    ``s = clamp(SPLAT_SCALE * size * max(fx, fy) / z, 1, MAX_SPLAT_PX)`` pixels,

with ``size`` the voxel's splat diameter (scene units, the sample spacing it was seen with) and ``z`` its
camera-space depth: a little wider than the gap to its neighbours at any distance. The square covers the pixels
whose centres ``(i + 0.5, j + 0.5)`` lie within ``s / 2`` of the projected point ``(u, v)`` in both axes (GL's
point rasterisation).

Overlapping splats of one surface must not smear: the depth test uses ``z + DEPTH_OFFSET * size * r^2`` with
``r^2 = (2 dx / s)^2 + (2 dy / s)^2`` (``dx, dy`` from the splat centre to the pixel centre), so between splats at
about the same depth the one whose centre is nearest the pixel wins (each pixel keeps its own colour at the pose
it was seen from), while a surface more than a few sample spacings nearer still hides what is behind it. The
reported depth is the winner's ``z`` (no offset). Points with ``z <= NEAR`` or ``z >= FAR`` are not drawn.
"""

from __future__ import annotations

import numpy as np

from engine.camera.poses import se3_inverse

#: Splat side as a multiple of the projected sample spacing (> 1 closes holes at small viewpoint changes).
SPLAT_SCALE = 1.6
#: Largest splat side in pixels (a point right in front of the camera must not paint the whole frame).
MAX_SPLAT_PX = 48.0
#: Depth-test offset at ``r = 1`` (mid-edge of the square), in units of the voxel's splat diameter ``size``.
DEPTH_OFFSET = 1.0
#: Clip planes in scene units (those of the synth renderer).
NEAR = 0.05
FAR = 1500.0


def project_splats(points: np.ndarray, sizes: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Screen footprint of world ``points`` ``(N, 3)`` with splat diameters ``sizes`` ``(N,)`` for one camera.

    Returns ``(u, v, z, side, keep)``: continuous pixel coordinates and camera z ``(N,)`` float64, the splat side in
    pixels ``(N,)`` and the mask of points inside the clip range.
    """
    w2c = se3_inverse(np.asarray(c2w, dtype=np.float64))
    cam = np.asarray(points, dtype=np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
    fx, fy, cx, cy = np.asarray(intrinsics, dtype=np.float64).reshape(4)
    z = cam[:, 2]
    keep = (z > NEAR) & (z < FAR)
    zs = np.where(keep, z, 1.0)
    u = fx * cam[:, 0] / zs + cx
    v = fy * cam[:, 1] / zs + cy
    side = np.clip(SPLAT_SCALE * np.asarray(sizes, np.float64) * max(fx, fy) / zs, 1.0, MAX_SPLAT_PX)
    return u, v, z, side, keep
