"""The explorer's rollout state machine, in plain Python: what the engine is doing for the user, what waits to be
sent, and which chunks belong to the document.

Why a separate object: the decisions (may a step go now, which chunks are stale after a rewind, when does a
Generate-along-path run send its next chunk, does a refine result still fit the take) are product logic, and a test
or a script must be able to exercise them without a display. :class:`ExplorerController` imports no Qt; it talks to
the engine worker through an :class:`~app.explorer_state.EnginePort` (the app's :class:`~app.worker.EngineClient`,
a fake in tests) and reports to an :class:`~app.explorer_state.ExplorerView` (the main
window). The worker's results come in through the ``on_*`` methods, which the window connects to the client's
signals. The states and records are in :mod:`app.explorer_state`.

States (:class:`~app.explorer_state.Phase`) and transitions::

    IDLE ──start / resume──▶ STARTING ──started──▶ READY | REWOUND
                               └── finished without started (error, cancel) ──▶ the state before it
    READY | REWOUND ──step──▶ DRIVING ──idle──▶ READY | REWOUND (READY once the chunk came)
    READY | REWOUND ──generate path──▶ PATH ──chunk, chunks left: next step──▶ PATH ──idle──▶ READY
        (cursor > 0 or engine busy: RESTORING first; the run waits until the rewind is confirmed)
    a running world ──rewind / switch take──▶ RESTORING ──restored (all confirmed) or idle──▶ REWOUND | READY
    READY | REWOUND ──refine──▶ REFINING ──idle──▶ READY | REWOUND
    DRIVING | RESTORING ──refine──▶ the same state; the refine is sent when it settles ──▶ REFINING
    any ──cancel──▶ the same state, the worker told to stop ──idle──▶ READY | REWOUND
    any ──new──▶ IDLE (the running command cancelled); a model load outside a start ──▶ IDLE

READY and REWOUND are the resting states of a running world: REWOUND when the cursor is inside the current take (the
next chunk forks a new take), READY when it is at the take's end. A command that does not fit the state raises
:class:`~app.explorer_state.IllegalTransition` (a :class:`~engine.errors.SanaWMInputError`, so the window shows it
and keeps its state); :class:`~app.explorer_state.EngineBusy` is the one a window may silently ignore (its menu
entry is greyed meanwhile).

Stale chunks: a chunk that finished just before a rewind or take switch reached the worker belongs to an abandoned
future. The worker runs commands in order, so every chunk that arrives while a restore is unconfirmed is stale and is
dropped; the count is exact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.explorer_state import (
    RESTING,
    UNDER_WAY,
    EngineBusy,
    EnginePort,
    ExplorerView,
    IllegalTransition,
    PathRun,
    PathSampler,
    PendingStart,
    Phase,
    RefineJob,
    StartReport,
)
from engine.camera.playback import chunk_poses, frames_through_chunk, path_chunk_count
from engine.errors import SanaWMInputError
from engine.generation.project import Project, StartSettings
from engine.generation.session import ChunkRecord

log = logging.getLogger(__name__)


class ExplorerController:
    """The rollout state machine (see the module docstring).

    Attributes:
        project: the document (None before the first start); replaced only when a start or resume succeeds.
        start_info: the worker's report of the running stream's start (None when no stream runs).
        session_path: the session file the document is tied to (None: untitled).
        frames_per_chunk: pixel frames per chunk of the loaded model (paths are cut in chunks of it).
        phase: the :class:`Phase`.
        starting, path_run, refine_job: the work in flight or waiting (see :class:`Phase`).
    """

    def __init__(self, engine: EnginePort, view: ExplorerView, frames_per_chunk: int = 24) -> None:
        self.engine = engine
        self.view = view
        self.frames_per_chunk = frames_per_chunk
        self.project: Project | None = None
        self.start_info: Any = None
        self.session_path: Path | None = None
        self.phase = Phase.IDLE
        self.starting: PendingStart | None = None
        self.path_run: PathRun | None = None
        self.refine_job: RefineJob | None = None  # REFINING: running; DRIVING / RESTORING: waiting to be sent
        self.unconfirmed_restores = 0  # rewinds / take switches sent and not confirmed: chunks meanwhile are stale
        self.needs_sync = False  # driving resyncs with the live chunks once the engine is idle

    # ----- reading --------------------------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """A world runs on the worker and the document follows it."""
        return self.start_info is not None and self.project is not None

    @property
    def can_step(self) -> bool:
        """A chunk may be sent now (a world runs, nothing is in flight)."""
        return self.phase in RESTING and not self.engine.busy

    @property
    def path_chunks_left(self) -> int:
        """Chunks of a Generate-along-path run not sent to the worker yet (0 when none runs)."""
        return self.path_run.chunks_left if self.path_run is not None else 0

    def _resting(self) -> Phase:
        if not self.started:
            return Phase.IDLE
        return Phase.REWOUND if self.project.cursor < len(self.project.current.chunks) else Phase.READY

    def _go(self, phase: Phase) -> None:
        if phase is not self.phase:
            log.debug("explorer: %s -> %s", self.phase.value, phase.value)
            self.phase = phase
            self.view.show_phase(phase)

    def _require_world(self, what: str) -> None:
        if self.phase is Phase.STARTING:
            raise IllegalTransition(f"{what}: wait until the world has started (Esc cancels the start)")
        if not self.started:
            raise IllegalTransition(f"{what}: start a world first (open an image or pick a demo, then Start)")

    # ----- starting -------------------------------------------------------------------------------------------------
    def start(self, settings: StartSettings) -> PendingStart:
        """A new world from ``settings``; whatever runs is cancelled. The document changes once the worker has
        started it (:meth:`on_started`)."""
        self._drop_work()
        pending = PendingStart(Project(settings), None, self.engine.start(settings), loaded=False)
        return self._wait_for(pending)

    def resume(self, project: Project, path: Path | None = None) -> PendingStart:
        """Continue ``project`` (read from ``path``, or a recovered autosave when None) at its cursor."""
        self._drop_work()
        pending = PendingStart(project, path, self.engine.resume(project), loaded=True)
        return self._wait_for(pending)

    def _wait_for(self, pending: PendingStart) -> PendingStart:
        self.starting = pending
        self._go(Phase.STARTING)
        return pending

    def new(self) -> None:
        """Forget the world (File ▸ New): cancel whatever runs, no document."""
        self._drop_work()
        self.starting = None
        self.project, self.start_info, self.session_path = None, None, None
        self.view.show_document(None)
        self._go(Phase.IDLE)

    def _drop_work(self) -> None:
        """Stop what runs or waits (a path run, a refine) and cancel the worker's commands."""
        self.path_run = None
        self.refine_job = None
        if self.engine.busy:
            self.engine.cancel()

    # ----- generating -----------------------------------------------------------------------------------------------
    def check_step(self, what: str = "step") -> None:
        """Raise unless a chunk may be sent now (:class:`EngineBusy` when only the engine's work is in the way)."""
        self._require_world(what)
        if self.phase not in RESTING or self.engine.busy:
            raise EngineBusy(f"{what}: wait for {UNDER_WAY.get(self.phase, 'the command under way')} (Esc cancels it)")

    def step(self, poses: np.ndarray, intrinsics: np.ndarray | None = None) -> int:
        """Generate the next chunk along ``poses`` (from the keys, or given); returns the worker's ticket."""
        self.check_step()
        return self._send_step(poses, intrinsics, Phase.DRIVING)

    def step_path(self, sample: PathSampler) -> int:
        """Generate the next chunk along a path (Step one chunk in path mode)."""
        self.check_step()
        poses, intrinsics = self._path_chunk(sample)
        return self._send_step(poses, intrinsics, Phase.DRIVING)

    def _send_step(self, poses: np.ndarray, intrinsics: np.ndarray | None, phase: Phase) -> int:
        self.view.set_state(f"generating chunk {self.project.cursor}…")
        ticket = self.engine.step(poses, intrinsics)
        self._go(phase)
        return ticket

    def _path_chunk(self, sample: PathSampler) -> tuple[np.ndarray, np.ndarray | None]:
        i, n = self.project.cursor, self.frames_per_chunk
        c2w, intrinsics = sample(frames_through_chunk(i, n))
        return chunk_poses(c2w, intrinsics, i, n)

    def generate_path(self, sample: PathSampler) -> None:
        """A new take along the whole path: back to the start image, then one chunk after another (cancel stops)."""
        what = "generate along the path"
        self._require_world(what)
        c2w, _ = sample(None)
        chunks = path_chunk_count(len(c2w), self.frames_per_chunk)
        if chunks < 1:
            raise IllegalTransition(
                f"{what}: expected at least {self.frames_per_chunk + 1} frames, found a path of {len(c2w)}"
            )
        run = PathRun(sample, chunks)
        if self.project.cursor > 0:
            self.rewind(-1)
        elif self.engine.busy:  # a chunk 0 under way: its result would be stale
            self._go_live()
        if self.phase is Phase.RESTORING:
            self.path_run = run  # sent once the worker confirms the rewind (:meth:`_settle`)
        else:
            self._begin_path(run)

    def _begin_path(self, run: PathRun) -> None:
        self.path_run = run
        self._go(Phase.PATH)
        self._continue_path()

    def _continue_path(self) -> None:
        run = self.path_run
        if run is None or run.chunks_left <= 0:
            return
        try:
            poses, intrinsics = self._path_chunk(run.sample)
        except SanaWMInputError as exc:
            self.path_run = None
            self.view.show_error(str(exc))
            if not self.engine.busy:
                self._settle()
            return
        run.chunks_left -= 1
        self._send_step(poses, intrinsics, Phase.PATH)

    def cancel(self) -> None:
        """Stop what runs (Esc): the path run and any waiting refine are dropped, the worker cancels its commands."""
        self.path_run = None
        self.refine_job = None
        if self.engine.busy:
            self.engine.cancel()
            self.view.set_state("cancelling…")

    # ----- rewinding and takes ------------------------------------------------------------------------------------
    def rewind(self, chunk_index: int) -> None:
        """Keep chunks ``0..chunk_index`` of the take live (-1: back to the start image); the next chunk forks."""
        self._require_world("rewind")
        self.project.rewind(chunk_index)
        self._go_live()
        where = "the start image" if chunk_index == -1 else f"chunk {chunk_index}"
        self.view.set_state(f"rewound to {where}: driving on makes a new branch")

    def switch(self, branch_id: int) -> None:
        """Make take ``branch_id`` current and continue from its end."""
        self._require_world("switch take")
        self.project.switch(branch_id)
        self._go_live()
        self.view.set_state(f"switched to {self.project.current.name}")

    def _go_live(self) -> None:
        """Cancel what runs, put the worker on the last live chunk's snapshot (the start image when there is none)."""
        self._drop_work()
        live = self.project.live_chunks
        if live:
            self.engine.restore(live[-1].record.snapshot)
        else:
            self.engine.rewind(-1)
        self.unconfirmed_restores += 1
        self._go(Phase.RESTORING)
        self.view.show_live(live)

    # ----- refining -------------------------------------------------------------------------------------------------
    def refine(self, first: int, end: int) -> None:
        """Refine chunks ``[first, end)`` of the current take. While a chunk or a rewind is under way, the refine
        waits for it; the worker says when the model has no refiner."""
        if self.phase in (Phase.STARTING, Phase.PATH):
            raise IllegalTransition(f"refine: wait for {UNDER_WAY[self.phase]} (Esc cancels it)")
        if self.project is None:
            raise IllegalTransition("refine: start a world first (open an image or pick a demo, then Start)")
        if self.phase is Phase.REFINING:
            raise IllegalTransition(f"refine: {self.refine_job.span} are being refined; wait for them (Esc cancels)")
        chunks = self.project.current.chunks
        if not 0 <= first < end <= len(chunks):
            raise SanaWMInputError(f"refine: expected a chunk range inside [0, {len(chunks)}], found [{first}, {end})")
        job = RefineJob(first, end, tuple(e.record for e in chunks), tuple(chunks[first:end]))
        if self.phase in (Phase.DRIVING, Phase.RESTORING):
            self.refine_job = job
            self.view.set_state(f"refining {job.span} after {UNDER_WAY[self.phase]}…")
            return
        self._send_refine(job)

    def _send_refine(self, job: RefineJob) -> None:
        self.engine.refine(job.take, job.first, job.end)
        self.refine_job = job
        self.view.set_state(f"refining {job.span}…")
        self._go(Phase.REFINING)

    # ----- the worker's results -------------------------------------------------------------------------------------
    def on_model_loaded(self, info: Any) -> None:
        """A model loaded: the worker's stream (if any) ended with it; the document stays for viewing."""
        self.frames_per_chunk = int(info.frames_per_chunk)
        self.start_info = None
        if self.phase is not Phase.STARTING:
            self._go(Phase.IDLE)

    def on_started(self, info: StartReport) -> None:
        pending = self.starting
        if pending is None or pending.ticket != info.ticket:
            return  # a start the user has since replaced by another
        self.starting = None
        self.project, self.session_path, self.start_info = pending.project, pending.path, info
        self.unconfirmed_restores = 0
        self.needs_sync = True  # a resumed session: drive on from its cursor once the worker is idle
        self.view.show_document(pending.project)
        self._go(self._resting())
        self.view.show_started(pending, info)

    def on_chunk(self, record: ChunkRecord) -> None:
        if not self.started or self.unconfirmed_restores:
            # a chunk of a stream the user has since left, or one that finished just before a rewind reached the
            # worker: it belongs to an abandoned future (the worker's queue keeps order, so this is exact)
            log.info("ignored chunk %d of an abandoned stream", record.index)
            return
        try:
            self.project.add_chunk(record)
        except SanaWMInputError as exc:  # a chunk of a stream the user has since left
            log.info("ignored chunk %d: %s", record.index, exc)
            return
        self.view.show_chunk(record)
        if self.phase is Phase.PATH:
            self._continue_path()

    def on_restored(self, chunks_done: int) -> None:
        self.unconfirmed_restores = max(0, self.unconfirmed_restores - 1)
        if self.phase is Phase.RESTORING and not self.unconfirmed_restores:
            self._settle()

    def on_refined(self, first: int, end: int, frames: np.ndarray) -> None:
        job = self.refine_job
        if self.phase is not Phase.REFINING or job is None or (job.first, job.end) != (first, end):
            return
        self.refine_job = None
        chunks = self.project.current.chunks
        if len(chunks) < end or not all(chunks[first + i] is entry for i, entry in enumerate(job.entries)):
            self.view.show_error(f"refine: the take changed while {job.span} were refined; the result was dropped")
            return
        offset = 0
        for i, entry in enumerate(job.entries):
            n = entry.record.frames.shape[0]
            self.project.set_refined(first + i, frames[offset : offset + n])  # shared entries show it on every take
            offset += n
        self.view.set_state(f"refined {job.span}")
        self.view.show_refined(job)

    def on_error(self, message: str) -> None:
        """A command failed: what it was part of stops (a path run, a refine; work waiting behind a rewind, since
        the rewind may be what failed). A refine waiting for a chunk stays: the chunk's failure is not its own."""
        self.needs_sync = True
        if self.phase in (Phase.PATH, Phase.RESTORING):
            self.path_run = None
        if self.phase in (Phase.REFINING, Phase.RESTORING):
            self.refine_job = None
        self.view.show_error(message)

    def on_cancelled(self, message: str) -> None:
        """A command was cancelled: the path run or refine it belonged to stops. Work waiting behind a rewind
        stays: the cancelled command is the one the rewind replaced (a cancel by the user dropped it already)."""
        self.needs_sync = True
        if self.phase is Phase.PATH:
            self.path_run = None
        if self.phase is Phase.REFINING:
            self.refine_job = None
        self.view.set_state(message)

    def on_finished(self, ticket: int) -> None:
        """The worker is done with command ``ticket``: a start that ends without ``started`` failed or was
        cancelled, and the state goes back to what it was."""
        if self.starting is not None and self.starting.ticket == ticket:
            self.starting = None
            self._settle()

    def on_idle(self) -> None:
        """The worker has nothing left to do: a restore that failed never confirms, and what ran has settled."""
        self.unconfirmed_restores = 0
        if self.needs_sync:
            self.needs_sync = False
            self.view.sync_drive()
        if self.phase is not Phase.STARTING:
            self._settle()

    def _settle(self) -> None:
        """What ran is over: send the work that waited for it, or rest."""
        if self.phase is Phase.RESTORING and self.path_run is not None and self.started:
            self._begin_path(self.path_run)
            return
        job = self.refine_job
        if job is not None and self.phase in (Phase.DRIVING, Phase.RESTORING) and self.project is not None:
            try:
                self._send_refine(job)
                return
            except SanaWMInputError as exc:
                self.refine_job = None
                self.view.show_error(str(exc))
        self.path_run, self.refine_job = None, None
        self._go(self._resting())
