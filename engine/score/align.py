"""Aligning an estimated camera path to the requested one by a similarity transform (rotation, scale, shift).

SfM recovers poses up to a similarity: its world frame and scale are arbitrary. The transform is fitted in two
steps, each a closed-form least-squares solution:

1. **Rotation** from the orientations: ``R = argmin Σ ||R_req_i - R · R_est_i||_F`` over registered frames, the
   SO(3) projection (SVD) of ``Σ R_req_i R_est_iᵀ``. Orientations fix it even when the camera only turns, where
   camera centres alone (Umeyama on positions) would leave it undetermined.
2. **Scale and shift** from the camera centres with that rotation: ``c_req ≈ s R c_est + t``; ``s`` is the
   least-squares slope (clamped at 0), ``t`` matches the centroids. A path without translation gives ``s = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Similarity:
    """``x -> scale * rotation @ x + shift`` applied to camera centres; rotations are left-multiplied."""

    rotation: np.ndarray  # (3, 3)
    scale: float
    shift: np.ndarray  # (3,)

    def apply(self, c2w: np.ndarray) -> np.ndarray:
        """``(N, 4, 4)`` camera-to-world poses moved into the target frame."""
        out = np.array(c2w, dtype=np.float64, copy=True)
        out[:, :3, :3] = self.rotation @ out[:, :3, :3]
        out[:, :3, 3] = self.scale * out[:, :3, 3] @ self.rotation.T + self.shift
        return out


def project_to_rotation(m: np.ndarray) -> np.ndarray:
    """The rotation nearest to ``m`` in the Frobenius norm (determinant +1)."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def fit_similarity(estimated: np.ndarray, requested: np.ndarray) -> Similarity:
    """The similarity that best maps ``estimated`` ``(N, 4, 4)`` onto ``requested`` ``(N, 4, 4)`` (same frames,
    all finite). See the module docstring for the two steps."""
    est = np.asarray(estimated, dtype=np.float64)
    req = np.asarray(requested, dtype=np.float64)
    rotation = project_to_rotation(np.einsum("nij,nkj->ik", req[:, :3, :3], est[:, :3, :3]))
    c_est = est[:, :3, 3] @ rotation.T
    c_req = req[:, :3, 3]
    d_est = c_est - c_est.mean(axis=0)
    d_req = c_req - c_req.mean(axis=0)
    spread = float((d_est**2).sum())
    scale = max(float((d_est * d_req).sum()) / spread, 0.0) if spread > 1e-18 else 0.0
    shift = c_req.mean(axis=0) - scale * c_est.mean(axis=0)
    return Similarity(rotation, scale, shift)
