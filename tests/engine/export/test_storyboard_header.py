"""The storyboard header: a long title wraps in the room the right-hand note ("6 panels", "page 1/1") leaves instead
of running under it, and the length agrees with what the CLI prints (frames / fps) (issue 18, item 13)."""

from __future__ import annotations

from engine.export.fonts import font, text_width
from engine.export.storyboard import _Layout, video_facts

TITLE = "meadow_stroll — sana-wm-tiny (trained 3000 steps on 600 clips, then 1000 steps with self-rollout context)"


def test_a_long_title_wraps_clear_of_the_right_hand_note():
    layout = _Layout(columns=3, panel_w=160, thumb_h=88, has_notes=False)
    for right in ("6 panels", "page 1/1"):
        items, top = layout.header(TITLE, right, [])
        note = next(i for i in items if i.align == "right")
        note_left = note.x - text_width(note.text, font(note.size))
        lines = [i for i in items if i.bold]
        assert len(lines) == 2 and lines[1].y > lines[0].y
        for line in lines:
            assert line.x + text_width(line.text, font(line.size, bold=True)) < note_left
        assert top > lines[-1].y + line.size  # the info rows start below the last title line
    short, top_short = layout.header("take 1", "6 panels", [])
    assert [i.text for i in short if i.bold] == ["take 1"] and top_short < top


def test_the_header_states_the_length_as_frames_over_fps():
    """96 frames at 16 fps: the CLI says 6.0 s; the sheet said 5.94 s."""
    assert video_facts(320, 176, 96, 16.0, 1.0) == "320x176  ·  96 frames  ·  16 fps  ·  6.0 s  ·  a panel every 1 s"
