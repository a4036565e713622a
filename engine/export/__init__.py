"""Export: video (H.264 MP4 through PyAV), PNG sequences, trajectory files, action overlay and storyboards.

Everything here is used by both ``sana-wm generate`` and the explorer's Export dialog:

* :class:`ExportJob` — one rollout's outputs from a stream of chunks, committed together;
* :class:`VideoWriter` / :func:`write_video` — progressive, atomic, faststart H.264 yuv420p MP4;
* :class:`PngSequenceWriter` / :func:`write_png_sequence` — numbered PNGs in a folder that appears whole;
* :func:`write_trajectory_beside` — the video's camera poses as ``<stem>.npz``;
* :class:`ActionOverlay` — WASD/IJKL key caps drawn on frames;
* :func:`write_storyboard` — contact sheet PNG + PDF; :func:`describe_camera_move` — camera moves in words.

Frames are numpy uint8 RGB, ``(H, W, 3)`` or ``(n, H, W, 3)``. Long operations take ``progress`` (receives
:class:`Progress`) and ``cancel`` (anything with ``is_set()``); an error or a cancel leaves no partial output.
Bad input raises :class:`~engine.errors.ExportError`; a cancel raises :class:`~engine.errors.ExportCancelled`.
See ``docs/export.md``.
"""

from engine.errors import ExportCancelled, ExportError
from engine.export.camera_moves import CameraMove, camera_move, describe_camera_move, describe_move
from engine.export.frames import FrameSink, as_frames
from engine.export.images import PngSequenceWriter, write_png_sequence
from engine.export.job import ExportJob, ExportOptions, ExportResult, sidecar_path, write_trajectory_beside
from engine.export.overlay import ActionOverlay
from engine.export.progress import CancelFlag, Progress, ProgressCallback
from engine.export.storyboard import StoryboardResult, format_timecode, storyboard_indices, write_storyboard
from engine.export.video import VideoWriter, write_video

__all__ = [
    "ActionOverlay",
    "CameraMove",
    "CancelFlag",
    "ExportCancelled",
    "ExportError",
    "ExportJob",
    "ExportOptions",
    "ExportResult",
    "FrameSink",
    "PngSequenceWriter",
    "Progress",
    "ProgressCallback",
    "StoryboardResult",
    "VideoWriter",
    "as_frames",
    "camera_move",
    "describe_camera_move",
    "describe_move",
    "format_timecode",
    "sidecar_path",
    "storyboard_indices",
    "write_png_sequence",
    "write_storyboard",
    "write_trajectory_beside",
    "write_video",
]
