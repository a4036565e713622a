"""MotionIntegrator: the v2 velocity model against an independent transcription of the spec, and state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w, expand_action
from engine.camera.integrator import MotionIntegrator
from engine.errors import ActionStringError


def _spec_v2_reference(key_sets, speed=0.025, rot_deg=0.6, limit_deg=60.0, smooth=True):
    """Spec streaming §7.3-7.4 written out literally (separately from the engine's code)."""

    def rx(a):
        return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])

    def ry(a):
        return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])

    r = math.radians(rot_deg)
    lim = math.radians(limit_deg)
    R, t, phi = np.eye(3), np.zeros(3), 0.0
    vel = [0.0, 0.0, 0.0, 0.0]
    prev: set[str] = set()
    out = [np.eye(4)]
    for keys in key_sets:
        k = set(keys)
        target = [
            speed * (("w" in k) - ("s" in k)),
            speed * (("l" in k) - ("j" in k)),
            r * (("d" in k) - ("a" in k)),
            r * (("i" in k) - ("k" in k)),
        ]
        if not smooth or (k - prev):
            vel = list(target)
        else:
            for c in range(4):
                tau = 0.45 if abs(target[c]) > 1e-12 else 1.0
                vel[c] += (1 - math.exp(-(1 / 16) / tau)) * (target[c] - vel[c])
        prev = k
        new_phi = min(max(phi + vel[3], -lim), lim)
        dphi, phi = new_phi - phi, new_phi
        R = ry(vel[2]) @ R @ rx(dphi)
        f = R[:, 2].copy()
        f[1] = 0
        q = R[:, 0].copy()
        q[1] = 0
        if np.linalg.norm(f) > 0:
            f = f / (np.linalg.norm(f) + 1e-6)
        if np.linalg.norm(q) > 0:
            q = q / (np.linalg.norm(q) + 1e-6)
        t = t + vel[0] * f + vel[1] * q
        P = np.eye(4)
        P[:3, :3], P[:3, 3] = R, t
        out.append(P)
    return np.stack(out)


@pytest.mark.parametrize(
    "action",
    ["w-40,wa-20,a-10,none-20,d-5,wl-30,j-10,i-100,k-40,wsad-5,none-30", "l-3,jl-3,none-3,w-1,none-1,w-1"],
)
@pytest.mark.parametrize("smooth", [True, False])
def test_v2_matches_the_spec_transcription(action, smooth):
    ours = action_to_c2w(action, smooth=smooth)
    ref = _spec_v2_reference(expand_action(action), smooth=smooth)
    assert np.abs(ours - ref).max() < 1e-12


def test_fresh_press_snaps_while_holding_keeps_smoothing():
    integ = MotionIntegrator("v2")
    integ.step({"w"})
    assert integ.velocity[0] == pytest.approx(0.025)
    integ.step({"w", "d"})  # d is fresh: every component snaps to the target
    assert integ.velocity[2] == pytest.approx(math.radians(0.6))
    integ.step({"w"})  # d released, nothing fresh: yaw coasts with tau = 1 s
    assert integ.velocity[2] == pytest.approx(math.radians(0.6) * math.exp(-1 / 16))


def test_state_restore_reproduces_the_same_poses():
    integ = MotionIntegrator("v2")
    integ.run([{"w", "a"}] * 10)
    snap = integ.state()
    first = integ.run([{"w"}] * 5 + [set()] * 5)
    integ.restore(snap)
    assert np.array_equal(integ.run([{"w"}] * 5 + [set()] * 5), first)
    assert integ.frame == 20


def test_run_equals_action_to_c2w():
    action = "w-10,jw-5,none-3"
    assert np.array_equal(MotionIntegrator("v1").run(expand_action(action)), action_to_c2w(action, version="v1"))


def test_start_pose_is_respected():
    start = np.eye(4)
    start[:3, 3] = [1.0, 2.0, 3.0]
    poses = MotionIntegrator("v2", pose=start).run([{"w"}])
    assert np.allclose(poses[1][:3, 3], [1.0, 2.0, 3.0 + 0.025 / (1 + 1e-6)])


def test_unknown_held_key_is_rejected():
    with pytest.raises(ActionStringError, match="unknown key"):
        MotionIntegrator().step({"q"})


def test_uppercase_keys_are_accepted():
    assert np.array_equal(MotionIntegrator().step({"W"}), MotionIntegrator().step({"w"}))
