"""Interpolation of keyframed camera poses: unit-quaternion helpers, slerp, squad and a centripetal Catmull-Rom
spline. Numpy only; :class:`engine.camera.keyframes.CameraPath` samples its keyframes with :func:`interpolate_poses`.

Between keyframes ``k_i`` at frames ``f_i`` (see docs/explorer_path_mode.md):

* **positions**: a centripetal Catmull-Rom spline (knot spacing ``|P_{i+1} - P_i| ** 0.5``, so it neither cusps nor
  self-intersects inside a segment), one segment per keyframe pair, evaluated at ``u = (f - f_i) / (f_{i+1} - f_i)``
  of the segment's knot interval; the end segments use reflected phantom points ``2 P_0 - P_1``;
* **rotations**: squad (spherical cubic) on unit quaternions made to lie in one hemisphere in sequence, so each
  segment turns the short way and no frame flips; with two keyframes squad is exactly slerp;
* before the first and after the last keyframe the pose is held, and on a keyframe it is exact.

Quaternions are ``(w, x, y, z)``, float64.
"""

from __future__ import annotations

import math

import numpy as np


def interpolate_poses(key_frames: np.ndarray, positions: np.ndarray, quaternions: np.ndarray,
                      frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(N, 3)`` and unit quaternions ``(N, 4)`` at (possibly fractional) ``frames (N,)`` of the path
    through keyframes at ascending ``key_frames (K,)`` with ``positions (K, 3)`` and ``quaternions (K, 4)``."""
    t = np.asarray(frames, dtype=np.float64)
    key_f = np.asarray(key_frames, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    quats = _hemisphere_aligned(np.asarray(quaternions, dtype=np.float64))
    out_pos = np.empty((len(t), 3))
    out_q = np.empty((len(t), 4))
    if len(key_f) == 1:
        out_pos[:] = pos[0]
        out_q[:] = quats[0]
    else:
        controls = _squad_controls(quats)
        padded = np.concatenate([[2 * pos[0] - pos[1]], pos, [2 * pos[-1] - pos[-2]]])
        seg = np.clip(np.searchsorted(key_f, t, side="right") - 1, 0, len(key_f) - 2)
        u = np.clip((t - key_f[seg]) / (key_f[seg + 1] - key_f[seg]), 0.0, 1.0)
        for s in np.unique(seg):
            m = seg == s
            out_pos[m] = _catmull_rom_segment(padded[s : s + 4], u[m])
            a = slerp(quats[s], quats[s + 1], u[m])  # (M, 4)
            b = slerp(controls[s], controls[s + 1], u[m])
            out_q[m] = _slerp_rows(a, b, 2.0 * u[m] * (1.0 - u[m]))
    # exact values on keyframes (and the held ends), whatever the rounding inside the spline
    for i, f in enumerate(key_f):
        hit = t == f
        out_pos[hit], out_q[hit] = pos[i], quats[i]
    out_pos[t < key_f[0]], out_q[t < key_f[0]] = pos[0], quats[0]
    out_pos[t > key_f[-1]], out_q[t > key_f[-1]] = pos[-1], quats[-1]
    return out_pos, out_q


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a b`` of quaternions ``(..., 4)``."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion)."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_log(q: np.ndarray) -> np.ndarray:
    """Logarithm of a unit quaternion: the pure quaternion ``(0, axis * angle / 2)``."""
    q = np.asarray(q, dtype=np.float64)
    v = q[1:]
    s = float(np.linalg.norm(v))
    if s < 1e-12:
        return np.zeros(4)
    half = math.atan2(s, float(np.clip(q[0], -1.0, 1.0)))
    return np.concatenate([[0.0], v / s * half])


def quat_exp(p: np.ndarray) -> np.ndarray:
    """Exponential of a pure quaternion ``(0, v)``: ``(cos |v|, sin |v| v / |v|)``."""
    v = np.asarray(p, dtype=np.float64)[1:]
    a = float(np.linalg.norm(v))
    if a < 1e-12:
        return np.array([1.0, *v])
    return np.concatenate([[math.cos(a)], math.sin(a) * v / a])


def slerp(q0: np.ndarray, q1: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions, the short way (``q1`` is negated when ``q0 . q1 < 0``).

    ``t`` may be a scalar or an array; returns ``(4,)`` or ``(len(t), 4)`` unit quaternions.
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))[:, None]
    if dot > 1.0 - 1e-10:  # nearly equal: the lerp is exact enough and avoids 0/0
        out = (1.0 - t_arr) * q0 + t_arr * q1
    else:
        theta = math.acos(dot)
        out = (np.sin((1.0 - t_arr) * theta) * q0 + np.sin(t_arr * theta) * q1) / math.sin(theta)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out[0] if np.ndim(t) == 0 else out


def _slerp_rows(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row-wise :func:`slerp` of ``(M, 4)`` quaternion pairs at ``(M,)`` fractions (short way, unit results)."""
    dot = np.sum(q0 * q1, axis=1)
    q1 = np.where(dot[:, None] < 0.0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    close = sin_theta < 1e-10
    safe = np.where(close, 1.0, sin_theta)
    w0 = np.where(close, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(close, t, np.sin(t * theta) / safe)
    out = w0[:, None] * q0 + w1[:, None] * q1
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _squad_controls(quats: np.ndarray) -> np.ndarray:
    """Squad inner control points ``s_i = q_i exp(-(log(q_i^-1 q_{i+1}) + log(q_i^-1 q_{i-1})) / 4)``; the end
    points use themselves (zero end tangent), which makes a two-keyframe path an exact slerp."""
    n = len(quats)
    out = quats.copy()
    for i in range(1, n - 1):
        inv = quat_conj(quats[i])
        t = quat_log(quat_mul(inv, quats[i + 1])) + quat_log(quat_mul(inv, quats[i - 1]))
        out[i] = quat_mul(quats[i], quat_exp(-t / 4.0))
    return out


def _hemisphere_aligned(quats: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive quaternions have a non-negative dot product (short way, no flips)."""
    out = quats.copy()
    for i in range(1, len(out)):
        if np.dot(out[i - 1], out[i]) < 0.0:
            out[i] = -out[i]
    return out


def _catmull_rom_segment(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Centripetal Catmull-Rom between ``p[1]`` and ``p[2]`` (``p`` is ``(4, 3)``) at fractions ``u`` in [0, 1].

    Barry-Goldman's pyramid on knots spaced by the square root of the chord lengths.
    """
    chords = np.linalg.norm(np.diff(p, axis=0), axis=1)
    if chords[1] < 1e-12:  # the camera does not move in this segment
        return np.repeat(p[1][None], len(u), axis=0)
    dt = np.maximum(chords, 1e-9) ** 0.5
    t0, t1 = 0.0, dt[0]
    t2 = t1 + dt[1]
    t3 = t2 + dt[2]
    t = (t1 + u * (t2 - t1))[:, None]

    def lerp(a: np.ndarray, b: np.ndarray, ta: float, tb: float) -> np.ndarray:
        return ((tb - t) * a + (t - ta) * b) / (tb - ta)

    a1 = lerp(p[0], p[1], t0, t1)
    a2 = lerp(p[1], p[2], t1, t2)
    a3 = lerp(p[2], p[3], t2, t3)
    b1 = lerp(a1, a2, t0, t2)
    b2 = lerp(a2, a3, t1, t3)
    return lerp(b1, b2, t1, t2)
