"""The action DSL: grammar, errors, and the official trajectories (diffusers 0.42.1 oracle for v1)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.camera.actions import (
    MAX_ACTION_FRAMES,
    action_num_frames,
    action_to_c2w,
    expand_action,
    format_action,
    parse_action,
)
from engine.camera.controls import V1
from engine.errors import ActionStringError, ConfigError

import diffusers.pipelines.sana_wm.cam_utils as cam_utils  # noqa: E402


def test_grammar_whitespace_fullwidth_comma_case_and_combined_keys():
    segs = parse_action(" W-2 ，jw - 3,\tNone-1, dA-1 ")
    assert [(sorted(s.keys), s.frames) for s in segs] == [(["w"], 2), (["j", "w"], 3), ([], 1), (["a", "d"], 1)]
    assert format_action(segs) == "w-2,jw-3,none-1,ad-1"


def test_duplicate_and_reordered_keys_are_the_same_set():
    assert parse_action("wwj-1")[0].keys == parse_action("jw-1")[0].keys


def test_empty_key_part_is_refused_and_none_is_suggested():
    # the official parser reads "-3" as no key held; here it is a likely typo, refused with the fix named
    with pytest.raises(ActionStringError, match=r"segment 2 '-3'.*'none-3'"):
        parse_action("w-4,-3")
    assert expand_action("none-3") == [frozenset()] * 3


def test_a_huge_bad_action_string_gives_a_short_message():
    with pytest.raises(ActionStringError) as info:
        parse_action("w-1," + "x" * 200_000 + "-3")
    assert len(str(info.value)) < 300 and "…" in str(info.value)


@pytest.mark.parametrize("option, value", [("translation_speed", 1e308), ("rotation_speed_deg", 1e308),
                                           ("rotation_speed_deg", float("nan")), ("translation_speed", -0.1)])
def test_speed_overrides_outside_their_range_are_refused(option, value):
    with pytest.raises(ConfigError, match=option):
        action_to_c2w("w-3", **{option: value})


def test_split_at_last_dash():
    with pytest.raises(ActionStringError, match=r"'w-3-'.*found ''"):
        parse_action("w-3-")
    # "w--3" splits into "w-" and "3": '-' is not a key
    with pytest.raises(ActionStringError, match="unknown key"):
        parse_action("w--3")


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("w40", "segment 1 'w40'"),
        ("w-0", "positive whole number"),
        ("w-x", "positive whole number"),
        ("w-1.5", "positive whole number"),
        ("w-3,,s-2", "segment 2 ''"),
        ("w-3,", "trailing comma"),
        ("wq-3", "unknown key"),
        ("w-²", "positive whole number"),
    ],
)
def test_bad_strings_name_the_offending_segment(bad, fragment):
    with pytest.raises(ActionStringError, match=fragment):
        parse_action(bad)


def test_non_string_is_rejected_with_the_type():
    with pytest.raises(ActionStringError, match="int"):
        parse_action(5)  # type: ignore[arg-type]


def test_frame_budget_guard():
    with pytest.raises(ActionStringError, match=str(MAX_ACTION_FRAMES)):
        parse_action(f"w-{MAX_ACTION_FRAMES},s-1")


def test_pose_count_is_frames_plus_one():
    assert action_num_frames("w-80,jw-40,w-40,lw-60,w-100") == 321
    assert action_to_c2w("w-80,jw-40,w-40,lw-60,w-100").shape == (321, 4, 4)
    assert action_to_c2w("w-1").dtype == np.float64


ORACLE_ACTIONS = [
    "w-80,jw-40,w-40,lw-60,w-100",
    "i-100,k-250,l-30,ij-40",  # pitch reaches the +-85 deg limit: steps are dropped
    "wasd-5,ad-10,ws-3,jl-4,ik-4,none-6,dl-30,sa-20",
    "w-2",
]


@pytest.mark.parametrize("action", ORACLE_ACTIONS)
def test_v1_matches_diffusers_oracle(action):
    """diffusers normalises the ground directions without epsilon and returns float32; with the same
    epsilon our float64 result must equal it to float32 rounding (< 1e-6)."""
    ours = action_to_c2w(action, version=replace(V1, norm_eps=0.0))
    ref = cam_utils.action_string_to_c2w(action)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-6


@pytest.mark.parametrize("action", ORACLE_ACTIONS)
def test_v1_with_official_epsilon_stays_close_to_diffusers(action):
    ours = action_to_c2w(action, version="v1")
    ref = cam_utils.action_string_to_c2w(action)
    steps = action_num_frames(action)
    # f / (|f| + 1e-6) shortens each 0.05 step by ~5e-8
    assert np.abs(ours - ref).max() < 1e-6 + 0.05 * 1e-6 * steps


def test_v1_speed_overrides_match_oracle():
    action = "w-30,lw-20,ik-10,i-40"
    ours = action_to_c2w(action, version=replace(V1, norm_eps=0.0), translation_speed=0.055, rotation_speed_deg=2.0)
    ref = cam_utils.action_string_to_c2w(action, translation_speed=0.055, rotation_speed_deg=2.0)
    assert np.abs(ours - ref).max() < 1e-6


def test_default_version_is_v2():
    assert np.array_equal(action_to_c2w("w-10,a-10"), action_to_c2w("w-10,a-10", version="v2"))
    assert not np.allclose(action_to_c2w("w-10,a-10"), action_to_c2w("w-10,a-10", version="v1"))


def test_unknown_version_is_a_config_error():
    with pytest.raises(ConfigError, match="v1, v2"):
        action_to_c2w("w-1", version="v3")


def test_v2_hand_computed_forward_then_coast():
    """v2: a fresh press snaps to 0.025/frame; after release the speed decays by exp(-1/16) per frame."""
    poses = action_to_c2w("w-2,none-2")
    eps = 1e-6
    step = 0.025 / (1 + eps)  # forward axis (0,0,1) normalised with the official epsilon
    decay = math.exp(-1 / 16)
    z = [0.0, step, 2 * step, 2 * step + step * decay, 2 * step + step * decay + step * decay**2]
    assert np.allclose(poses[:, 2, 3], z, atol=1e-12, rtol=0)
    assert np.allclose(poses[:, :3, :3], np.eye(3), atol=1e-15)


def test_v2_a_yaws_and_j_strafes():
    yaw = action_to_c2w("a-1")[-1]
    angle = math.radians(-0.6)
    assert np.allclose(yaw[:3, :3], [[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]])
    strafe = action_to_c2w("j-1")[-1]
    assert np.allclose(strafe[:3, 3], [-0.025 / (1 + 1e-6), 0, 0], atol=1e-15)


def test_v2_pitch_saturates_at_60_degrees():
    poses = action_to_c2w("i-200")
    forward = poses[-1][:3, 2]
    pitch = math.degrees(math.asin(-forward[1]))
    assert pitch == pytest.approx(60.0, abs=1e-9)


def test_v1_pitch_drops_the_step_that_would_cross_85_degrees():
    poses = action_to_c2w("i-100", version="v1")
    pitch = [math.degrees(math.asin(-p[1, 2])) for p in poses]
    assert max(pitch) == pytest.approx(84.0, abs=1e-6)  # 70 steps of 1.2 deg; the 71st would reach 85.2
    assert pitch[-1] == pytest.approx(84.0, abs=1e-6)


def test_no_smooth_makes_v2_velocity_the_target():
    poses = action_to_c2w("w-1,none-1", smooth=False)
    assert poses[2, 2, 3] == poses[1, 2, 3]


_segment = st.builds(
    lambda keys, n, sep: f"{keys}{sep}{n}",
    st.text(alphabet="wasdijklWASDIJKL", max_size=4) | st.just("none") | st.text(max_size=3),
    st.integers(min_value=-3, max_value=60).map(str) | st.text(max_size=3),
    st.sampled_from(["-", "--", "", " - "]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_segment, min_size=0, max_size=6).map(lambda s: ",".join(s)) | st.text(max_size=30))
def test_fuzz_only_the_documented_error_escapes(text):
    try:
        poses = action_to_c2w(text)
    except ActionStringError:
        return
    assert poses.shape == (action_num_frames(text), 4, 4)
    assert np.isfinite(poses).all()
