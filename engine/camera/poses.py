"""Rigid camera poses: validation, SE(3) algebra, axis conventions and quaternions.

Conventions (see the README): poses are camera-to-world 4x4 matrices in OpenCV camera axes
(+X right, +Y down, +Z forward), float64 in the camera layer. Other conventions (OpenGL/Blender
camera axes, world-to-camera matrices) are converted at the file-format boundary with the helpers here.
"""

from __future__ import annotations

import numpy as np

from engine.errors import TrajectoryError

#: Flips the camera's Y and Z axes: OpenCV (+Y down, +Z forward) <-> OpenGL/Blender (+Y up, -Z forward).
#: It is its own inverse, so one constant serves both directions.
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])

#: Default tolerance on ``R^T R = I`` and ``det R = 1`` for accepted rotation blocks.
ROTATION_TOLERANCE = 1e-3

#: Largest camera translation accepted (trajectory units, metres for the official model): far beyond any scene,
#: far below where relative poses, rays and float32 conditioning overflow or lose every digit.
MAX_TRANSLATION = 1e6


def is_real_dtype(dtype: np.dtype) -> bool:
    """True for integer and floating dtypes: what camera math accepts (not bool, complex, object, text)."""
    return dtype.kind in "iuf"


def validate_c2w(poses: np.ndarray, *, name: str = "trajectory", atol: float = ROTATION_TOLERANCE) -> np.ndarray:
    """Check a camera-to-world trajectory and return it as a float64 ``(F, 4, 4)`` array.

    Accepts ``(F, 4, 4)`` or ``(F, 3, 4)`` (the bottom row is added). Raises :class:`TrajectoryError` naming
    ``name``, the problem and the first offending frame: wrong shape, no frames, non-finite values, a bottom
    row other than ``[0, 0, 0, 1]``, or a rotation block that is not orthonormal with determinant +1 within
    ``atol``; also a dtype that is not real (complex, bool, text) or a translation beyond :data:`MAX_TRANSLATION`.
    """
    arr = np.asarray(poses)
    if not is_real_dtype(arr.dtype):
        raise TrajectoryError(f"{name}: expected a real numeric array of shape (F, 4, 4), found dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[1:] not in ((4, 4), (3, 4)):
        raise TrajectoryError(f"{name}: expected shape (F, 4, 4) camera-to-world matrices, found {arr.shape}")
    if arr.shape[0] == 0:
        raise TrajectoryError(f"{name}: expected at least one pose, found 0 frames")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        raise TrajectoryError(f"{name}: frame {int(np.argmax(bad))} has non-finite values (NaN or inf)")
    far = np.abs(arr[:, :3, 3]).max(axis=1) > MAX_TRANSLATION
    if far.any():
        i = int(np.argmax(far))
        raise TrajectoryError(
            f"{name}: frame {i} translation {np.abs(arr[i, :3, 3]).max():.3g} is too large; expected at most "
            f"{MAX_TRANSLATION:g} units (metres for the official model)"
        )
    if arr.shape[1] == 3:
        bottom = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0]), (arr.shape[0], 1, 4))
        arr = np.concatenate([arr, bottom], axis=1)
    row_err = np.abs(arr[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    if (row_err > atol).any():
        i = int(np.argmax(row_err > atol))
        raise TrajectoryError(f"{name}: frame {i} bottom row is {arr[i, 3].tolist()}, expected [0, 0, 0, 1]")
    rot = arr[:, :3, :3]
    big = np.abs(rot).max(axis=(1, 2)) > 1.0 + atol  # no entry of a rotation exceeds 1 (and R^T R would overflow)
    if big.any():
        i = int(np.argmax(big))
        raise TrajectoryError(
            f"{name}: frame {i} rotation is not orthonormal (an entry is {np.abs(rot[i]).max():.3g}; a rotation's lie "
            "within [-1, 1]); is it a world-to-camera matrix with scale, or a different layout?"
        )
    ortho_err = np.abs(rot.transpose(0, 2, 1) @ rot - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(rot)
    bad = (ortho_err > atol) | (np.abs(det - 1.0) > atol)
    if bad.any():
        i = int(np.argmax(bad))
        raise TrajectoryError(
            f"{name}: frame {i} rotation is not orthonormal with det +1 "
            f"(|R^T R - I| = {ortho_err[i]:.2e}, det = {det[i]:.4f}, tolerance {atol:g}); "
            "is it a world-to-camera matrix with scale, or a different layout?"
        )
    return arr


def se3_inverse(poses: np.ndarray) -> np.ndarray:
    """Closed-form inverse of rigid transforms ``(..., 4, 4)``: ``[R t] -> [R^T, -R^T t]``."""
    poses = np.asarray(poses, dtype=np.float64)
    out = np.zeros_like(poses)
    rt = np.swapaxes(poses[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rt, poses[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def relative_to_first(c2w: np.ndarray) -> np.ndarray:
    """Express every pose relative to frame 0: ``P'_0 = I`` exactly, ``P'_i = inv(P_0) P_i``.

    This is the model's conditioning frame (spec streaming §7.7); no scale normalisation is applied.
    """
    c2w = np.asarray(c2w, dtype=np.float64)
    out = se3_inverse(c2w[0]) @ c2w
    out[0] = np.eye(4)
    return out


def convert_camera_axes(c2w: np.ndarray) -> np.ndarray:
    """Switch camera-to-world poses between OpenCV and OpenGL/Blender camera axes (self-inverse)."""
    return np.asarray(c2w, dtype=np.float64) @ OPENCV_TO_OPENGL


def rotation_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` to unit quaternions ``(..., 4)`` in ``(w, x, y, z)`` order, ``w >= 0``.

    Shepperd's method: pick the largest of the four squared components to divide by, which keeps the
    result accurate for every rotation.
    """
    rot = np.asarray(rot, dtype=np.float64)
    flat = rot.reshape(-1, 3, 3)
    q = np.empty((flat.shape[0], 4))
    for n, m in enumerate(flat):
        tr = np.trace(m)
        cands = [tr, m[0, 0], m[1, 1], m[2, 2]]
        k = int(np.argmax(cands))
        if k == 0:
            s = 2.0 * np.sqrt(max(1.0 + tr, 0.0))
            q[n] = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
        elif k == 1:
            s = 2.0 * np.sqrt(max(1.0 + m[0, 0] - m[1, 1] - m[2, 2], 0.0))
            q[n] = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
        elif k == 2:
            s = 2.0 * np.sqrt(max(1.0 + m[1, 1] - m[0, 0] - m[2, 2], 0.0))
            q[n] = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
        else:
            s = 2.0 * np.sqrt(max(1.0 + m[2, 2] - m[0, 0] - m[1, 1], 0.0))
            q[n] = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1.0
    return q.reshape(rot.shape[:-2] + (4,))


def quaternion_to_rotation(quat: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., 4)`` in ``(w, x, y, z)`` order (normalised here) to rotation matrices ``(..., 3, 3)``."""
    q = np.asarray(quat, dtype=np.float64)
    if not np.isfinite(q).all():
        raise TrajectoryError("quaternion: found non-finite values; expected (w, x, y, z) finite numbers")
    scale = np.abs(q).max(axis=-1, keepdims=True)  # normalise in two steps: |q|^2 of a 1e200 quaternion overflows
    if np.any(scale < 1e-12):
        raise TrajectoryError("quaternion: found a zero-length quaternion; expected (w, x, y, z) with non-zero norm")
    q = q / scale
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def pose_from_rt(rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Stack rotations ``(..., 3, 3)`` and translations ``(..., 3)`` into 4x4 matrices ``(..., 4, 4)``."""
    rot = np.asarray(rot, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    out = np.zeros(rot.shape[:-2] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = trans
    out[..., 3, 3] = 1.0
    return out


def rot_x(angle_rad: float) -> np.ndarray:
    """Rotation about +X by ``angle_rad`` (float64 3x3)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle_rad: float) -> np.ndarray:
    """Rotation about +Y by ``angle_rad`` (float64 3x3)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
