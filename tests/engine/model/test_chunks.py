"""Chunk layouts and the softmax window rule, against the spec's worked examples (spec streaming §1, §3.3)."""

import pytest

from engine.errors import SanaWMInputError
from engine.model.chunks import AttentionWindow, chunk_bounds, sampler_chunk_starts, teacher_chunk_starts


def test_sampler_layout_of_the_streaming_script():
    # F = 241 -> T = 31 -> 10 chunks [0,4), [4,7), ..., [28,31)
    starts = sampler_chunk_starts(31)
    assert chunk_bounds(starts, 31) == [(0, 4)] + [(a, a + 3) for a in range(4, 31, 3)]


def test_sampler_and_teacher_put_the_remainder_in_different_chunks():
    # spec example T = 41: teacher [0,4), ..., [37,41); sampler [0,5), [5,8), ..., [38,41)
    teacher = chunk_bounds(teacher_chunk_starts(41), 41)
    sampler = chunk_bounds(sampler_chunk_starts(41), 41)
    assert teacher[0] == (0, 4) and teacher[-1] == (37, 41)
    assert sampler[0] == (0, 5) and sampler[1] == (5, 8) and sampler[-1] == (38, 41)
    # they agree whenever T = 1 (mod 3)
    for t in (7, 13, 31, 43, 121):
        assert sampler_chunk_starts(t) == teacher_chunk_starts(t)


def test_teacher_merges_a_short_tail_into_the_last_chunk():
    assert teacher_chunk_starts(4) == (0,)
    assert teacher_chunk_starts(9) == (0, 4)  # [4, 7) + 2 frames -> [4, 9)
    assert chunk_bounds(teacher_chunk_starts(9), 9)[-1] == (4, 9)


def test_sampler_needs_more_than_one_chunk_of_frames():
    with pytest.raises(SanaWMInputError, match="more than 3"):
        sampler_chunk_starts(3)


@pytest.mark.parametrize(
    "window, expected",
    [
        # official N = 2 with sink: {0}, {0, 1}, then {0, k-1}
        (AttentionWindow(2, True), {0: [], 1: [0], 2: [0, 1], 3: [0, 2], 7: [0, 6]}),
        (AttentionWindow(2, False), {0: [], 1: [0], 2: [0, 1], 3: [1, 2], 7: [5, 6]}),
        (AttentionWindow(3, True), {2: [0, 1], 3: [0, 1, 2], 4: [0, 2, 3], 9: [0, 7, 8]}),
        (AttentionWindow(1, True), {1: [0], 2: [0], 5: [0]}),
        (AttentionWindow(1, False), {1: [0], 2: [1], 5: [4]}),
        (AttentionWindow(0, True), {0: [], 3: []}),
        (AttentionWindow.full(), {0: [], 4: [0, 1, 2, 3]}),
    ],
)
def test_window_matches_the_spec_counting(window, expected):
    for chunk, visible in expected.items():
        assert window.visible(chunk) == visible


def test_window_rejects_bad_sizes():
    with pytest.raises(SanaWMInputError, match="num_cached_chunks"):
        AttentionWindow(-2)
