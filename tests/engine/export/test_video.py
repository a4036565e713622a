"""MP4 export: real PyAV round trips, faststart layout, atomicity under errors and cancellation, bad input."""

from __future__ import annotations

import gc
import struct
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.errors import ExportCancelled, ExportError
from engine.export.progress import Progress
from engine.export.video import VideoWriter, write_video

FAST = {"preset": "ultrafast"}


def decode(path: Path) -> tuple[av.video.stream.VideoStream, np.ndarray, list[int]]:
    """The video stream's properties, every decoded frame as RGB ``(F, H, W, 3)`` and the frame pts."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        info = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "rate": stream.average_rate,
            "size": (stream.width, stream.height),
            "time_base": stream.time_base,
        }
    return info, np.stack([f.to_ndarray(format="rgb24") for f in frames]), [f.pts for f in frames]


def top_level_boxes(path: Path) -> list[str]:
    """Names of the top-level MP4 boxes in file order."""
    data = path.read_bytes()
    names, offset = [], 0
    while offset + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        names.append(name.decode("latin-1"))
        if size == 0:
            break
        offset += size
    return names


def test_round_trip_keeps_count_rate_size_codec_and_pixels(tmp_path, make_frames):
    frames = make_frames(33)
    out = write_video(tmp_path / "run.mp4", frames, fps=16, **FAST)
    info, decoded, pts = decode(out)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["rate"] == 16 and info["size"] == (320, 176)
    assert decoded.shape == frames.shape
    times = [p * info["time_base"] for p in pts]
    assert times == [Fraction(i, 16) for i in range(33)]  # constant frame rate, no frame dropped or duplicated
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 3.0  # crf 18: close to the input


def test_faststart_puts_moov_before_mdat(tmp_path, make_frames):
    out = write_video(tmp_path / "fast.mp4", make_frames(9), **FAST)
    boxes = top_level_boxes(out)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")


def test_chunks_written_progressively_add_up_and_report_progress(tmp_path, make_frames, listing):
    frames = make_frames(20)
    reports: list[Progress] = []
    with VideoWriter(tmp_path / "chunks.mp4", total_frames=20, progress=reports.append, **FAST) as video:
        video.write(frames[0])  # a single (H, W, 3) frame
        video.write(frames[1:9])
        video.write(frames[9:9])  # an empty chunk is allowed
        video.write(frames[9:])
        assert not (tmp_path / "chunks.mp4").exists()  # nothing under the final name until closed
        assert len(listing(tmp_path)) == 1 and listing(tmp_path)[0].startswith(".chunks.")
    assert listing(tmp_path) == ["chunks.mp4"]
    assert video.frames_written == 20 and video.closed and not video.aborted
    assert [r.done for r in reports] == list(range(1, 21))
    assert reports[-1] == Progress("encode", 20, 20) and reports[-1].fraction == 1.0
    _, decoded, _ = decode(tmp_path / "chunks.mp4")
    assert len(decoded) == 20


def test_exception_midway_leaves_no_final_and_no_temporary_file(tmp_path, make_frames, listing):
    frames = make_frames(10)
    with pytest.raises(RuntimeError, match="generation failed"):
        with VideoWriter(tmp_path / "crash.mp4", **FAST) as video:
            video.write(frames[:5])
            raise RuntimeError("generation failed")
    assert listing(tmp_path) == []
    assert video.aborted


def test_interrupt_keeps_an_existing_target_untouched(tmp_path, make_frames, listing):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous export")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, **FAST) as video:
            video.write(make_frames(4))
            raise KeyboardInterrupt
    assert listing(tmp_path) == ["keep.mp4"] and target.read_bytes() == b"previous export"


def test_explicit_cancel_removes_the_temporary_file(tmp_path, make_frames, listing):
    video = VideoWriter(tmp_path / "cancel.mp4", **FAST)
    video.write(make_frames(6))
    assert len(listing(tmp_path)) == 1
    video.cancel()
    video.cancel()  # idempotent
    assert listing(tmp_path) == [] and video.aborted
    with pytest.raises(RuntimeError, match="aborted"):
        video.write(make_frames(1))


def test_cancel_flag_set_midway_raises_cancelled_and_cleans_up(tmp_path, make_frames, listing):
    flag = threading.Event()

    def progress(p: Progress) -> None:
        if p.done == 7:
            flag.set()  # as the app's Cancel button would, from another thread

    with pytest.raises(ExportCancelled):
        write_video(tmp_path / "flag.mp4", make_frames(12), progress=progress, cancel=flag, **FAST)
    assert listing(tmp_path) == []


def test_progress_callback_raising_cancelled_cleans_up(tmp_path, make_frames, listing):
    def progress(p: Progress) -> None:
        if p.done == 3:
            raise ExportCancelled("user pressed cancel")

    with pytest.raises(ExportCancelled, match="user pressed cancel"):
        write_video(tmp_path / "cb.mp4", iter(make_frames(8)), progress=progress, **FAST)
    assert listing(tmp_path) == []


def test_unclosed_writer_that_is_dropped_deletes_its_temporary_file(tmp_path, make_frames, listing):
    video = VideoWriter(tmp_path / "dropped.mp4", **FAST)
    video.write(make_frames(2))
    del video
    gc.collect()
    assert listing(tmp_path) == []


def test_odd_size_is_padded_with_edge_pixels(tmp_path, make_frames):
    frames = make_frames(5, height=17, width=21)
    with VideoWriter(tmp_path / "odd.mp4", **FAST) as video:
        video.write(frames)
    assert video.frame_size == (21, 17) and video.video_size == (22, 18)
    info, decoded, _ = decode(tmp_path / "odd.mp4")
    assert info["size"] == (22, 18)
    assert np.abs(decoded[:, :17, :21].astype(int) - frames.astype(int)).mean() < 6.0


def test_odd_size_error_mode_refuses_with_a_clear_message(tmp_path, make_frames, listing):
    with pytest.raises(ExportError, match=r"21x17; expected an even width and height"):
        write_video(tmp_path / "odd.mp4", make_frames(2, height=17, width=21), odd_size="error", **FAST)
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((2, 16, 16, 3), np.float32), r"expected dtype uint8 .* found float32"),
        (np.zeros((2, 16, 16, 4), np.uint8), r"expected shape \(H, W, 3\) or \(n, H, W, 3\).* found \(2, 16, 16, 4\)"),
        (np.zeros((16, 16), np.uint8), r"found \(16, 16\)"),
        ("frames", r"expected a numpy uint8 array .* found str"),
    ],
)
def test_bad_frames_are_typed_errors_naming_expected_and_found(tmp_path, listing, frames, message):
    with pytest.raises(ExportError, match=message):
        write_video(tmp_path / "bad.mp4", frames, **FAST)
    assert listing(tmp_path) == []


def test_frame_size_change_midstream_is_an_error_and_aborts(tmp_path, make_frames, listing):
    video = VideoWriter(tmp_path / "size.mp4", **FAST)
    video.write(make_frames(3))
    with pytest.raises(ExportError, match=r"frame 3 is 160x88, expected 320x176"):
        video.write(make_frames(2, height=88, width=160))
    assert video.aborted and listing(tmp_path) == []


def test_unwritable_folder_fails_before_any_frame(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ExportError, match=r"not_a_folder/out.mp4: cannot write here .*expected a writable folder"):
        VideoWriter(blocker / "out.mp4")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fps": 0}, r"fps: expected a positive number, found 0"),
        ({"fps": float("nan")}, r"fps: expected a positive number"),
        ({"crf": 60}, r"crf: expected a whole number from 0 \(lossless\) to 51, found 60"),
        ({"preset": "fastest"}, r"preset: expected one of ultrafast.*found 'fastest'"),
        ({"odd_size": "crop"}, r"odd_size: expected 'pad' or 'error', found 'crop'"),
    ],
)
def test_bad_options_are_typed_errors(tmp_path, listing, options, message):
    with pytest.raises(ExportError, match=message):
        VideoWriter(tmp_path / "opt.mp4", **options)
    assert listing(tmp_path) == []


def test_non_mp4_name_is_refused(tmp_path):
    with pytest.raises(ExportError, match=r"expected a video file name ending in .mp4, found '.avi'"):
        VideoWriter(tmp_path / "clip.avi")


def test_closing_without_frames_is_an_error_and_leaves_nothing(tmp_path, listing):
    with pytest.raises(ExportError, match="expected at least one frame"):
        with VideoWriter(tmp_path / "empty.mp4"):
            pass
    assert listing(tmp_path) == []


def test_fractional_frame_rate_is_kept(tmp_path, make_frames):
    out = write_video(tmp_path / "ntsc.mp4", make_frames(6, height=32, width=32), fps=30000 / 1001, **FAST)
    info, decoded, _ = decode(out)
    assert info["rate"] == Fraction(30000, 1001) and len(decoded) == 6


def test_final_file_has_ordinary_permissions(tmp_path, make_frames):
    out = write_video(tmp_path / "perm.mp4", make_frames(2, height=16, width=16), **FAST)
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_finish_then_commit_renames_only_at_commit_and_cancel_after_finish_cleans_up(tmp_path, make_frames, listing):
    video = VideoWriter(tmp_path / "two.mp4", **FAST)
    video.write(make_frames(3, 32, 32))
    video.finish()
    assert not (tmp_path / "two.mp4").exists() and len(listing(tmp_path)) == 1  # complete, still hidden
    assert video.commit() == tmp_path / "two.mp4" and listing(tmp_path) == ["two.mp4"]
    other = VideoWriter(tmp_path / "three.mp4", **FAST)
    other.write(make_frames(3, 32, 32))
    other.finish()
    other.cancel()
    assert listing(tmp_path) == ["two.mp4"]
