"""The explorer's rollout states and the records that travel with them: the :class:`Phase` enum, the work that
waits or runs (:class:`PendingStart`, :class:`PathRun`, :class:`RefineJob`), the errors a refused command raises, and
the two protocols the :class:`~app.controller.ExplorerController` talks through (:class:`EnginePort` to the engine
worker, :class:`ExplorerView` to the window). No Qt: see :mod:`app.controller` for the transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.errors import SanaWMInputError
from engine.generation.project import ChunkEntry, Project, StartSettings
from engine.generation.session import ChunkRecord, SessionSnapshot

#: ``sample(num_frames)`` -> ``(c2w (N, 4, 4), intrinsics (N, 4) | None)`` of a camera path from the start image's
#: frame on; ``num_frames=None`` gives the path's own length (the path editor's ``trajectory``).
PathSampler = Callable[[int | None], tuple[np.ndarray, np.ndarray | None]]


class Phase(Enum):
    """What the explorer's world is doing (the transitions are drawn in :mod:`app.controller`'s docstring)."""

    IDLE = "idle"  # no world is running (none started, File ▸ New, or a model load ended the stream)
    STARTING = "starting"  # a start or resume was sent; the new document waits in ``starting``
    READY = "ready"  # a world runs, nothing of ours in flight, the cursor at the take's end
    REWOUND = "rewound"  # as READY, with the cursor inside the take: the next chunk forks a new take
    DRIVING = "driving"  # a chunk from the keys (or Step one chunk) is being generated
    PATH = "generating a path"  # Generate along path: chunks are generated one after another
    RESTORING = "restoring"  # a rewind or take switch was sent and is not confirmed yet
    REFINING = "refining"  # a span of the take is being refined


#: The states in which a world runs and nothing of ours is in flight.
RESTING = (Phase.READY, Phase.REWOUND)
#: What the engine is busy with, by phase (for "wait for ..." messages).
UNDER_WAY = {
    Phase.STARTING: "the world to start",
    Phase.DRIVING: "the chunk being generated",
    Phase.PATH: "the path being generated",
    Phase.RESTORING: "the rewind",
    Phase.REFINING: "the refine",
}


class IllegalTransition(SanaWMInputError):
    """A command that does not fit the explorer's state; the message names the command and what to do."""


class EngineBusy(IllegalTransition):
    """A step asked for while the engine is still working on the previous command."""


class StartReport(Protocol):
    """What the controller reads of the worker's ``started`` report (:class:`app.worker.StartInfo`)."""

    ticket: int


class EnginePort(Protocol):
    """The engine worker as the controller sees it: commands return the ticket they were sent with; results come
    back through the controller's ``on_*`` methods. :class:`app.worker.EngineClient` implements it."""

    @property
    def busy(self) -> bool: ...

    def start(self, settings: StartSettings) -> int: ...

    def step(self, poses: np.ndarray, intrinsics: np.ndarray | None = None) -> int: ...

    def rewind(self, chunk_index: int) -> int: ...

    def restore(self, snapshot: SessionSnapshot) -> int: ...

    def resume(self, project: Project) -> int: ...

    def refine(self, take: Sequence[ChunkRecord], first: int, end: int) -> int:
        """Refine chunks ``[first, end)`` of the take whose records (chunk 0 first) are ``take``."""
        ...

    def cancel(self) -> None: ...


class ExplorerView(Protocol):
    """What the controller reports; the main window renders it (tests record it)."""

    def set_state(self, text: str) -> None:
        """A one-line status ("generating chunk 3…", "rewound to chunk 1: …")."""

    def show_error(self, message: str) -> None:
        """An error to show; nothing was lost."""

    def show_document(self, project: Project | None) -> None:
        """The document changed (a new world started, a session opened, File ▸ New)."""

    def show_started(self, start: PendingStart, info: Any) -> None:
        """The worker started (or resumed) ``start.project``; ``info`` is its :class:`StartReport`."""

    def show_chunk(self, record: ChunkRecord) -> None:
        """A chunk was recorded on the document."""

    def show_live(self, live: list[ChunkEntry]) -> None:
        """After a rewind or take switch: ``live`` are the chunks the stream now continues after."""

    def show_refined(self, job: RefineJob) -> None:
        """Refined frames replaced the preview of ``job``'s chunks."""

    def sync_drive(self) -> None:
        """Driving must go on from the end of the live chunks (after a failure, a cancel, a start)."""

    def show_phase(self, phase: Phase) -> None:
        """The phase changed (menus and buttons follow)."""


@dataclass(frozen=True)
class PendingStart:
    """A document waiting for the worker to start (or resume) it. The current document stays until the worker
    confirms, so a start that fails keeps everything as it was."""

    project: Project
    path: Path | None  # the session file it came from (None: a new world, or a recovered autosave)
    ticket: int  # the start / resume command
    loaded: bool  # read from a file: its path and key map replace the window's


@dataclass
class PathRun:
    """Generate along path: the path's sampler and how many chunks are still to be sent."""

    sample: PathSampler
    chunks_left: int


@dataclass(frozen=True)
class RefineJob:
    """Chunks ``[first, end)`` of a take sent to the refiner: ``take`` is every record of the take when asked
    (the refiner's sink is chunk 0's first latent frame), ``entries`` the refined chunks' entries (the result only
    applies while the take still holds these very entries)."""

    first: int
    end: int
    take: tuple[ChunkRecord, ...]
    entries: tuple[ChunkEntry, ...]

    @property
    def span(self) -> str:
        return f"chunks {self.first}-{self.end - 1}"
