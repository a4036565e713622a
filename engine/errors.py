"""Typed input errors shared by the engine, the CLI and the app.

Every error a user can cause with bad input is a subclass of :class:`SanaWMInputError` (itself a
``ValueError``). Messages name the input, what was expected and what was found, so the CLI can print
them on one line (exit code 2) and the app can show them without losing its state.
:class:`ExportCancelled` and :class:`Cancelled` are a user's cancel request, not a mistake, and
:class:`SessionStateError` is a call in the wrong order (a programming error of the caller), so none of the three is
an input error.
"""

from __future__ import annotations

#: The longest message the CLI prints and the app shows (one line); longer ones are cut with "…".
MAX_MESSAGE_CHARS = 300


def clip_text(text: object, limit: int = 80) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…": how a message quotes what the user gave.

    A message echoes the input at fault, and an input can be a megabyte long or span many lines; cutting it keeps
    the message one readable line (the input itself is named by its file or flag)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def one_line(message: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message as the user sees it: one line of at most ``limit`` characters."""
    return clip_text(message, limit)


class SanaWMInputError(ValueError):
    """Base class: bad input from the user (a file, a string, an array, an option)."""


class ActionStringError(SanaWMInputError):
    """An action DSL string that does not follow the ``<keys>-<N>`` grammar."""


class TrajectoryError(SanaWMInputError):
    """A camera trajectory with the wrong shape, non-finite values or non-rotation matrices."""


class IntrinsicsError(SanaWMInputError):
    """Camera intrinsics in an unsupported form, with invalid values, or not matching the frames."""


class FOVOutOfRangeError(IntrinsicsError):
    """A field of view outside the range the model was trained on (override explicitly to accept)."""


class IntrinsicsEstimationError(IntrinsicsError):
    """Intrinsics could not be estimated from the image: the Pi3 code is not importable, the Pi3X weights folder is
    missing or unreadable, or the network's output is not a ray map (says how to fix it, or to pass --intrinsics)."""


class TrajectoryFormatError(SanaWMInputError):
    """A trajectory file that cannot be read or written in the requested format."""


class InputFileError(SanaWMInputError):
    """A file the user named is missing, unreadable or of the wrong kind."""


class ConfigError(SanaWMInputError):
    """An invalid model configuration, preset name or option combination."""


class CheckpointError(SanaWMInputError):
    """A model checkpoint that is missing, truncated or does not match the model's keys and shapes."""


class BundleError(SanaWMInputError):
    """A model bundle folder that lacks a required part (names the folder and the file expected)."""


class ExportError(SanaWMInputError):
    """An export that cannot be written: frames of the wrong dtype, shape or size, a bad option, an
    output folder that cannot be written to, or a target that already exists."""


class SessionFileError(SanaWMInputError):
    """A session file that is missing, not a ``.swm`` archive, damaged, of another version, or a project that
    cannot be stored (the message names the file and what was expected)."""


class WorldCacheError(SanaWMInputError):
    """A world-cache input or stored part (a frame, a depth map, saved cache tensors or their metadata) with the wrong
    shape or dtype, non-finite or out-of-range values, or of another format (the message names the part)."""


class GPUMemoryError(SanaWMInputError):
    """A memory tier that does not fit the GPU's free memory, found before anything is loaded (the message names the
    tier, the memory it needs and the memory that is free), or a tier this machine cannot provide (fp8 weights
    without torchao)."""


class ExportCancelled(Exception):
    """An export stopped on request (a cancel flag was set, or a progress callback raised it).

    Not an input error (not a ``ValueError``): nothing was wrong, the user changed their mind. Whoever
    raises it may rely on the export having left no partial output behind.
    """


class Cancelled(Exception):
    """A streaming step or refine stopped on request (:meth:`engine.generation.session.WorldSession.cancel`, or a
    progress callback that raised it); the session is unchanged."""


class SessionStateError(RuntimeError):
    """A session method was called in the wrong state (e.g. ``step`` before ``start``, a rewind to a chunk that
    kept no snapshot, a stream past the model's maximum length)."""


__all__ = [
    "MAX_MESSAGE_CHARS",
    "clip_text",
    "one_line",
    "SanaWMInputError",
    "ActionStringError",
    "TrajectoryError",
    "IntrinsicsError",
    "FOVOutOfRangeError",
    "IntrinsicsEstimationError",
    "TrajectoryFormatError",
    "InputFileError",
    "ConfigError",
    "CheckpointError",
    "BundleError",
    "ExportError",
    "SessionFileError",
    "WorldCacheError",
    "GPUMemoryError",
    "ExportCancelled",
    "Cancelled",
    "SessionStateError",
]
