"""Camera-following errors between a requested path and an estimated one (already aligned), as SANA-WM's
benchmark names them.

Per scored frame ``i`` (both paths ``(N, 4, 4)`` camera-to-world, the estimate aligned by
:func:`engine.score.align.fit_similarity`):

- ``RotErr_i`` = geodesic angle between the two rotations, ``arccos((tr(R_reqᵀ R_est) - 1) / 2)``, in degrees.
- ``TransErr_i`` = ``||c_req - c_est|| / L``: camera-centre distance relative to the path's size ``L``, the
  largest distance of a requested centre from the first one (the benchmark's ``_rel`` normalisation makes the
  number independent of the trajectory's units).
- ``CamMC_i`` = ``||[R_req | c_req/L] - [R_est | c_est/L]||_F``: rotation and normalised translation together.

The benchmark scripts sum these over frames; a sum grows with the frame count, so the report gives the mean per
scored frame as the headline and the sums beside it. A path that does not translate (``L`` = 0) has no
translation error: those fields are None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Below this path size (in the trajectory's units) the path counts as rotation-only.
MIN_PATH_SIZE = 1e-6


@dataclass(frozen=True)
class PathErrors:
    """Per-frame errors (arrays over scored frames) and the path size they were normalised by."""

    rot_deg: np.ndarray
    trans: np.ndarray | None
    cammc: np.ndarray | None
    path_size: float


def rotation_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotation stacks ``a`` and ``b`` ``(N, 3, 3)``."""
    trace = np.einsum("nij,nij->n", a, b)  # tr(aᵀ b)
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def path_size(c2w: np.ndarray) -> float:
    """Largest distance of a camera centre from the first one."""
    centres = np.asarray(c2w)[:, :3, 3]
    return float(np.linalg.norm(centres - centres[0], axis=1).max()) if len(centres) else 0.0


def path_errors(requested: np.ndarray, estimated: np.ndarray) -> PathErrors:
    """RotErr, TransErr and CamMC per frame of ``estimated`` (aligned) against ``requested``."""
    req = np.asarray(requested, dtype=np.float64)
    est = np.asarray(estimated, dtype=np.float64)
    rot = rotation_angles_deg(req[:, :3, :3], est[:, :3, :3])
    size = path_size(req)
    if size < MIN_PATH_SIZE:
        return PathErrors(rot, None, None, size)
    trans = np.linalg.norm(req[:, :3, 3] - est[:, :3, 3], axis=1) / size
    a = np.concatenate([req[:, :3, :3], req[:, :3, 3:] / size], axis=2)
    b = np.concatenate([est[:, :3, :3], est[:, :3, 3:] / size], axis=2)
    cammc = np.linalg.norm((a - b).reshape(len(a), -1), axis=1)
    return PathErrors(rot, trans, cammc, size)
