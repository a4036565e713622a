"""A session document: what the user started from and every take generated since, with its branches.

Why a separate model: the live :class:`engine.generation.session.WorldSession` holds one stream, but the explorer's
timeline, the exporters, scripts and the ``.swm`` session files all need every take's generated chunks, and the
explorer reads them on the UI thread while its worker thread owns the session. A :class:`Project` holds references to the worker's immutable :class:`~engine.generation.session.ChunkRecord` objects
(frames, latents, poses, and the session snapshot after each chunk), so it costs no copies and is safe to read
from the UI thread.

Branching: a branch is a full list of chunk entries from chunk 0. Rewinding moves the *cursor* of the current
branch back; generating from a cursor that is not at the branch's end forks a new branch that shares the entries
before the cursor (by reference) and continues with the new chunk. Old branches stay until discarded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from engine.camera.keyframes import CameraPath
from engine.errors import SanaWMInputError
from engine.generation.state import ChunkRecord, SessionSnapshot, StreamSettings


class KeyMap(Protocol):
    """What the document needs of the explorer's key map (:class:`app.keymap.KeyMap`, which holds Qt key codes and
    so stays in the app): its name and its JSON form for session files. A project loaded from a file holds a
    :class:`~engine.generation.session_file.StoredKeyMap` (the JSON as stored), which the app converts."""

    name: str

    def to_json(self) -> str: ...


@dataclass
class ChunkEntry:
    """One chunk on a branch. ``refined_frames`` replaces the preview frames once the refiner has run on it."""

    record: ChunkRecord
    refined_frames: np.ndarray | None = None
    #: loaded from a compact session file without its snapshot, which resuming rebuilds
    #: (:func:`engine.generation.session_file.resume_session`)
    replay: bool = False

    @property
    def index(self) -> int:
        return self.record.index

    @property
    def frames(self) -> np.ndarray:
        """What to show and export: the refined frames when there are some, else the stage-1 preview."""
        return self.record.frames if self.refined_frames is None else self.refined_frames

    @property
    def refined(self) -> bool:
        return self.refined_frames is not None


@dataclass
class Branch:
    """A take: chunk entries from chunk 0 on. ``parent`` is the branch it forked from (None for the first)."""

    id: int
    name: str
    chunks: list[ChunkEntry] = field(default_factory=list)
    parent: int | None = None
    fork_chunk: int = 0  # chunks [0, fork_chunk) are shared with the parent


@dataclass
class StartSettings:
    """What a rollout starts from (everything the ``.swm`` file needs to start it again).

    ``image`` is the user's image as loaded (uint8 ``(H, W, 3)``, before the bundle's resize/crop); ``intrinsics``
    are ``[fx, fy, cx, cy]`` in its pixels, or None for the model's default field of view. ``model`` is None for
    the embedded default, else the folder of an official or trained bundle. ``keymap`` names the driving key map.
    """

    image: np.ndarray
    image_name: str = "image.png"
    prompt: str = ""
    model: str | None = None
    intrinsics: tuple[float, float, float, float] | None = None
    seed: int = 42
    keymap: str = "v2"
    extras: dict[str, Any] = field(default_factory=dict)


class Project:
    """Start settings plus the branches generated from them (see the module docstring)."""

    def __init__(self, start: StartSettings) -> None:
        self.start = start
        self.branches: dict[int, Branch] = {0: Branch(0, "Take 1")}
        self.current_id = 0
        self.cursor = 0  # chunks of the current branch that are live (the session continues after them)
        self._next_id = 1
        self.dirty = False
        #: Counts changes; the autosaver compares it with the revision it last wrote (``dirty`` is the user's save).
        self.revision = 0
        #: How the session samples (window, timesteps, seed); saved so a loaded project continues exactly. None =
        #: the session's defaults with ``start.seed``.
        self.stream_settings: StreamSettings | None = None
        #: The path editor's authored camera path (keyframes, length, frame size), saved with the session so a
        #: reopened session shows it again. A private copy (see :meth:`set_camera_path`); None = none recorded (an
        #: older session file): the path editor's default path.
        self.camera_path: CameraPath | None = None
        #: The key map driving uses: preset name, mapping version and the whole key table, so a customised map
        #: survives a reopen. None = none recorded (an older session file): the preset named by ``start.keymap``.
        self.keymap: KeyMap | None = None
        #: What a loaded session could not restore but opened without (e.g. a damaged world-cache part), one line
        #: each, for the app to show; empty for a new project or a clean load.
        self.warnings: list[str] = []

    @classmethod
    def restored(
        cls, start: StartSettings, branches: dict[int, Branch], current_id: int, cursor: int, next_id: int | None = None
    ) -> Project:
        """A project rebuilt from saved parts (session files); checks that the current branch and cursor exist.
        ``next_id`` (default: one past the largest id) numbers the next fork, so a discarded take's id is not reused."""
        if current_id not in branches:
            raise SanaWMInputError(f"current branch: expected one of {sorted(branches)}, found {current_id}")
        if not 0 <= cursor <= len(branches[current_id].chunks):
            raise SanaWMInputError(
                f"cursor: expected 0..{len(branches[current_id].chunks)} on branch {current_id}, found {cursor}"
            )
        project = cls(start)
        project.branches = dict(branches)
        project.current_id = current_id
        project.cursor = cursor
        project._next_id = max(max(branches) + 1, next_id or 0)
        return project

    @property
    def next_id(self) -> int:
        """The id the next forked take will get."""
        return self._next_id

    def _changed(self) -> None:
        self.dirty = True
        self.revision += 1

    # ----- reading ------------------------------------------------------------------------------------------------
    @property
    def current(self) -> Branch:
        return self.branches[self.current_id]

    @property
    def live_chunks(self) -> list[ChunkEntry]:
        """The chunks the session has generated on its current path (up to the cursor)."""
        return self.current.chunks[: self.cursor]

    def frames(self, branch_id: int | None = None, chunks: tuple[int, int] | None = None) -> np.ndarray:
        """Frames ``(F, H, W, 3)`` of a branch (default: the current one, all chunks), or of chunks ``[a, b)``."""
        entries = self._entries(branch_id, chunks)
        if not entries:
            raise SanaWMInputError("frames: the branch has no generated chunks yet")
        return np.concatenate([e.frames for e in entries])

    def trajectory(self, branch_id: int | None = None, chunks: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(c2w (F, 4, 4), intrinsics (F, 4))`` aligned with :meth:`frames`."""
        entries = self._entries(branch_id, chunks)
        if not entries:
            raise SanaWMInputError("trajectory: the branch has no generated chunks yet")
        return np.concatenate([e.record.c2w for e in entries]), np.concatenate([e.record.intrinsics for e in entries])

    def snapshot_at(self, chunk_index: int) -> SessionSnapshot | None:
        """The session state right after chunk ``chunk_index`` of the current branch (what a rewind restores), or
        None when the session kept no snapshot."""
        return self.current.chunks[chunk_index].record.snapshot

    def entries(self, branch_id: int | None = None, chunks: tuple[int, int] | None = None) -> list[ChunkEntry]:
        """The chunk entries of a branch (default: the current one, all chunks), or of chunks ``[a, b)``."""
        return self._entries(branch_id, chunks)

    def _entries(self, branch_id: int | None, chunks: tuple[int, int] | None) -> list[ChunkEntry]:
        branch = self.branches[self.current_id if branch_id is None else branch_id]
        if chunks is None:
            return list(branch.chunks)
        a, b = chunks
        if not 0 <= a < b <= len(branch.chunks):
            raise SanaWMInputError(f"chunks: expected a range inside [0, {len(branch.chunks)}], found [{a}, {b})")
        return branch.chunks[a:b]

    # ----- changing -----------------------------------------------------------------------------------------------
    def add_chunk(self, record: ChunkRecord) -> ChunkEntry:
        """Record a newly generated chunk at the cursor; forks a new branch if the cursor is not at the end."""
        if record.index != self.cursor:
            raise SanaWMInputError(f"chunk: expected chunk {self.cursor} after the cursor, found chunk {record.index}")
        entry = ChunkEntry(record)
        if self.cursor < len(self.current.chunks):
            parent = self.current
            branch = Branch(self._next_id, f"Take {self._next_id + 1}", parent.chunks[: self.cursor], parent.id, self.cursor)
            self.branches[branch.id] = branch
            self._next_id += 1
            self.current_id = branch.id
        self.current.chunks.append(entry)
        self.cursor += 1
        self._changed()
        return entry

    def rewind(self, chunk_index: int) -> None:
        """Keep chunks ``0..chunk_index`` of the current branch live (-1: before chunk 0)."""
        if not -1 <= chunk_index < len(self.current.chunks):
            raise SanaWMInputError(
                f"rewind: expected a chunk in [-1, {len(self.current.chunks) - 1}], found {chunk_index}"
            )
        self.cursor = chunk_index + 1
        self._changed()

    def switch(self, branch_id: int) -> None:
        """Make another branch current, with its cursor at its end."""
        if branch_id not in self.branches:
            raise SanaWMInputError(f"branch: no branch with id {branch_id} (have {sorted(self.branches)})")
        self.current_id = branch_id
        self.cursor = len(self.current.chunks)
        self._changed()

    def discard(self, branch_id: int) -> None:
        """Forget a branch (not the current one, and never the last)."""
        if branch_id == self.current_id:
            raise SanaWMInputError("discard: switch to another branch before discarding the current one")
        if branch_id not in self.branches:
            raise SanaWMInputError(f"branch: no branch with id {branch_id} (have {sorted(self.branches)})")
        del self.branches[branch_id]
        self._changed()

    def set_refined(self, chunk_index: int, frames: np.ndarray, *, branch_id: int | None = None) -> None:
        """Replace a chunk's preview frames on a branch (default: the current one) with refined ones (same shape).
        Entries are shared by the takes that fork after them, so those show the refined frames too."""
        entry = self._entries(branch_id, None)[chunk_index]
        if frames.shape != entry.record.frames.shape:
            raise SanaWMInputError(
                f"refined frames: expected shape {entry.record.frames.shape}, found {tuple(frames.shape)}"
            )
        entry.refined_frames = frames
        self._changed()

    def set_camera_path(self, path: CameraPath | None) -> None:
        """Record the authored camera path (a copy: the path editor goes on editing its own, and the autosaver
        writes this one from another thread); a change to save."""
        self.camera_path = None if path is None else path.copy()
        self._changed()

    def set_keymap(self, keymap: KeyMap) -> None:
        """Record the key map driving uses (immutable, kept as is) and its name in the start settings; a change
        to save."""
        self.keymap = keymap
        self.start.keymap = keymap.name
        self._changed()

    def rename(self, branch_id: int, name: str) -> None:
        """Give a take a new name (leading and trailing spaces dropped; must not be empty)."""
        if branch_id not in self.branches:
            raise SanaWMInputError(f"branch: no branch with id {branch_id} (have {sorted(self.branches)})")
        name = name.strip()
        if not name:
            raise SanaWMInputError("rename: expected a non-empty take name, found an empty one")
        self.branches[branch_id].name = name
        self._changed()
