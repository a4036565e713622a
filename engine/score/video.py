"""Reading a video's frames for scoring (PyAV, the decoder the exporter already depends on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputFileError


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of ``path`` as ``(F, H, W, 3)`` uint8 RGB and the stream's frame rate (0 when unknown)."""
    import av

    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: expected a video file, found none")
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise InputFileError(f"{p}: expected a video stream, found none")
            stream = container.streams.video[0]
            fps = float(stream.average_rate) if stream.average_rate else 0.0
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{p}: expected a readable video, found a decoding error ({exc})") from None
    if not frames:
        raise InputFileError(f"{p}: expected video frames, found none")
    return np.stack(frames), fps
