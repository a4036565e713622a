"""Action overlay: key caps drawn where expected, lit exactly when their key is held."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w
from engine.camera.trajectory import Trajectory
from engine.errors import ExportError
from engine.export.overlay import ActionOverlay


def changed_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) True where two frames differ."""
    return (a != b).any(axis=-1)


def box_mask(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


@pytest.mark.parametrize(("height", "width"), [(176, 320), (704, 1280)])
def test_caps_fit_the_frame_and_are_large_enough_to_read(height, width):
    boxes = ActionOverlay.cap_boxes(width, height)
    assert sorted(boxes) == sorted("wasdijkl")
    for x0, y0, x1, y1 in boxes.values():
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert y1 - y0 >= 14 and y1 - y0 >= 0.07 * height  # 14 px caps (9 px letters) at 176 rows
    coverage = sum(box_mask((height, width), box).astype(int) for box in boxes.values())
    assert coverage.max() == 1  # no two caps overlap


@pytest.mark.parametrize(("height", "width"), [(176, 320), (704, 1280)])
def test_held_key_changes_only_its_own_cap(make_frames, height, width):
    frames = make_frames(3, height, width)
    frames[:] = frames[0]  # identical frames: any difference comes from the overlay
    overlay = ActionOverlay([set(), {"w"}, {"l"}])
    out = overlay.draw(frames)
    boxes = overlay.cap_boxes(width, height)
    all_caps = box_mask((height, width), *boxes.values())
    for i in range(3):
        assert changed_mask(out[i], frames[i]).any()
        assert not changed_mask(out[i], frames[i])[~all_caps].any()  # nothing drawn outside the caps
    w_diff = changed_mask(out[1], out[0])
    assert w_diff[box_mask((height, width), boxes["w"])].mean() > 0.3
    assert not w_diff[~box_mask((height, width), boxes["w"])].any()
    l_diff = changed_mask(out[2], out[0])
    assert not l_diff[~box_mask((height, width), boxes["l"])].any() and l_diff.any()


def test_held_cap_is_bright_with_dark_letter(make_frames):
    frames = np.zeros((1, 176, 320, 3), np.uint8)  # black: only the overlay shows
    out = ActionOverlay([{"d"}]).draw(frames)[0]
    x0, y0, x1, y1 = ActionOverlay.cap_boxes(320, 176)["d"]
    inner = out[y0 + 2:y1 - 2, x0 + 2:x1 - 2].mean(axis=-1)
    assert np.median(inner) > 200 and inner.min() < 60  # white key, dark glyph strokes


def test_without_idle_caps_a_frame_with_no_key_held_is_unchanged(make_frames):
    frames = make_frames(2, 176, 320)
    out = ActionOverlay([set(), {"a", "k"}], show_idle=False).draw(frames)
    np.testing.assert_array_equal(out[0], frames[0])
    boxes = ActionOverlay.cap_boxes(320, 176)
    changed = changed_mask(out[1], frames[1])
    assert changed.any() and not changed[~box_mask((176, 320), boxes["a"], boxes["k"])].any()


def test_from_action_aligns_keys_with_poses_and_first_pose_offsets_chunks(make_frames):
    overlay = ActionOverlay.from_action("w-2,none-1,jl-2")
    assert overlay.num_poses == 6
    assert [sorted(overlay.keys_at(i)) for i in range(6)] == [[], ["w"], ["w"], [], ["j", "l"], ["j", "l"]]
    frames = make_frames(5, 64, 128)
    whole = overlay.draw(frames, first_pose=1)  # the first pixel frame was dropped: frame j shows pose j + 1
    parts = np.concatenate([overlay.draw(frames[:2], first_pose=1), overlay.draw(frames[2:], first_pose=3)])
    np.testing.assert_array_equal(whole, parts)
    single = overlay.draw(frames[0], first_pose=1)
    assert single.shape == frames[0].shape and (single != frames[0]).any()
    assert (frames == make_frames(5, 64, 128)).all()  # the input is not modified


def test_frames_beyond_the_path_are_an_error(make_frames):
    overlay = ActionOverlay.from_action("w-2")
    with pytest.raises(ExportError, match=r"expected a pose index from 0 to 2 .*found 3"):
        overlay.draw(make_frames(3, 32, 32), first_pose=1)


def test_from_trajectory_recovers_the_keys_of_an_unsmoothed_action():
    c2w = action_to_c2w("w-3,l-2,none-1,ka-2", version="v1")
    overlay = ActionOverlay.from_trajectory(Trajectory(c2w), version="v1")
    expected = [set(), {"w"}, {"w"}, {"w"}, {"l"}, {"l"}, set(), {"k", "a"}, {"k", "a"}]
    assert [set(k) for k in overlay.keys_per_pose] == expected


def test_from_trajectory_with_v2_smoothing_lights_the_key_while_driven_and_coasting():
    c2w = action_to_c2w("d-8,none-48", version="v2")  # v2: d yaws right, smoothed
    keys = ActionOverlay.from_trajectory(c2w).keys_per_pose
    assert all(keys[i] == {"d"} for i in range(1, 9))
    assert keys[-1] == frozenset()  # coasted to a stop


def test_bad_keys_and_frames_are_typed_errors():
    with pytest.raises(ExportError, match=r"pose 1: expected some of 'wasdijkl', found \['q'\]"):
        ActionOverlay([set(), {"q"}])
    with pytest.raises(ExportError, match="expected dtype uint8"):
        ActionOverlay([set()]).draw(np.zeros((8, 8, 3), np.float64))
    with pytest.raises(ExportError, match=r"expected camera-to-world poses \(F, 4, 4\), found \(3, 3\)"):
        ActionOverlay.from_trajectory(np.eye(3))
