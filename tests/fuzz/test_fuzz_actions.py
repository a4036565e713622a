"""Fuzz: action strings and the numeric flags of ``sana-wm trajectory from-action``.

An accepted action string must follow the grammar (checked here by an independent regular expression), and the file
written must hold ``ΣN + 1`` finite, rigid poses; an accepted flag value must show up in the file as a valid number.
"""

from __future__ import annotations

import re

import numpy as np
from fuzz_contract import case_dir, fuzz, run_cli
from hypothesis import given
from hypothesis import strategies as st

SEGMENT = re.compile(r"(none|[wasdijkl]+)-(\d+)")  # \d: the decimal digits int() reads, as the grammar says
MAX_FRAMES = 100_000

keys = st.one_of(
    st.sampled_from(["w", "jw", "none", "NONE", "wasd", "ik", "Ls", " d ", "none"]),  # valid, to reach the writer too
    st.sampled_from(["w", "jw", "none", "NONE", "wasd", "ik", "", "x", "w w", "ｗ", "-", "wz", "İ", "none-"]),
    st.text(alphabet="wasdijklnoe xX-", max_size=6),
)
counts = st.one_of(
    st.integers(1, 40).map(str),
    st.integers(-3, 60).map(str),
    st.sampled_from(["", "0", "00", "1.5", "1e3", "٣", "²", "99999999999999999999", "100001", " 7 ", "+4", "0x10"]),
    st.text(alphabet="0123456789", min_size=1, max_size=3),
)
separators = st.sampled_from([",", "，", " , ", ",,", ", ", "\t,", ";"])


@st.composite
def action_strings(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:  # now and then, anything at all (long, control characters, other scripts)
        return draw(st.text(min_size=0, max_size=draw(st.sampled_from([20, 2000]))))
    parts = [f"{draw(keys)}-{draw(counts)}" for _ in range(draw(st.integers(1, 5)))]
    text = parts[0]
    for part in parts[1:]:
        text += draw(separators) + part
    return draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", ",", " "]))


def grammar_frames(text: str) -> int | None:
    """ΣN when ``text`` is a valid action string by the grammar, else None (the oracle, written from the spec)."""
    cleaned = "".join(text.replace("，", ",").split()).lower()
    total = 0
    for segment in cleaned.split(","):
        match = SEGMENT.fullmatch(segment)
        if match is None or int(match.group(2)) == 0:
            return None
        total += int(match.group(2))
    return total if cleaned and total <= MAX_FRAMES else None


def check_trajectory_file(path, frames: int | None = None) -> dict:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    c2w = arrays["c2w"]
    assert c2w.ndim == 3 and c2w.shape[1:] == (4, 4) and np.isfinite(c2w).all()
    rot = c2w[:, :3, :3]
    assert np.allclose(rot.transpose(0, 2, 1) @ rot, np.eye(3), atol=1e-6) and np.allclose(np.linalg.det(rot), 1.0)
    if frames is not None:
        assert len(c2w) == frames + 1
    return arrays


@fuzz(120)
@given(action=action_strings())
def test_action_strings_are_refused_clearly_or_give_the_poses_the_grammar_says(action):
    with case_dir() as d:
        outcome = run_cli(["trajectory", "from-action", action, "-o", str(d / "p.npz")], d, "action strings")
        expected = grammar_frames(action)
        if outcome.code == 0:
            assert expected is not None, f"accepted {action!r}, which the grammar refuses"
            check_trajectory_file(d / "p.npz", expected)
        else:
            assert expected is None, f"refused the valid {action!r}: {outcome.error}"


nasty_numbers = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "-0", "-1", "1e308", "-1e308", "1e-320", "abc", "", "0x1p3", "1_0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=200).map(lambda v: f"{v:.3f}"),
)
flags = st.sampled_from(["--fov", "--fps", "--translation_speed", "--rotation_speed_deg", "--num-frames", "--image-size"])
sizes = st.one_of(st.sampled_from(["0x0", "1x1", "-5x10", "99999x1", "1280x704", "axb", "12x", "x", "64X48", "16384x16384"]),
                  st.tuples(st.integers(-2, 5000), st.integers(-2, 5000)).map(lambda t: f"{t[0]}x{t[1]}"))  # fmt: skip


@fuzz(100)
@given(flag=flags, value=nasty_numbers, size=sizes, allow=st.booleans())
def test_from_action_flags_are_refused_clearly_or_land_in_the_file_as_valid_numbers(flag, value, size, allow):
    with case_dir() as d:
        argv = ["trajectory", "from-action", "w-20,jw-8", "-o", str(d / "p.npz"), f"{flag}={value}"]
        if flag != "--image-size":
            argv.append(f"--image-size={size}")
        if allow:
            argv.append("--allow-any-fov")
        outcome = run_cli(argv, d, "from-action flags")
        if outcome.code != 0:
            return
        arrays = check_trajectory_file(d / "p.npz")
        fps, width, height = float(arrays["fps"]), *(int(v) for v in arrays["image_size"])
        assert np.isfinite(fps) and fps > 0 and width > 0 and height > 0
        k = arrays["intrinsics"]
        assert np.isfinite(k).all() and (k[:, :2] > 0).all()
        fov_h = np.degrees(2 * np.arctan(width / (2 * k[:, 0])))
        assert allow or ((fov_h > 25) & (fov_h < 120)).all()
        if flag == "--fov":
            assert np.allclose(fov_h, float(value), rtol=1e-6)  # the FOV asked for, never a silent default
        if flag == "--fps":
            assert fps == float(value)
