"""The engine worker: one QThread owns the model bundle and the :class:`~engine.generation.session.WorldSession`.

Why a thread of its own: a chunk takes from a tenth of a second (tiny models) to seconds (official checkpoints); the
UI thread must keep painting and reading keys meanwhile (DESIGN.md, Threading). Nothing but :class:`EngineWorker`
touches the session, so rollout state can never be mutated from two threads.

How the two sides talk:

* The UI holds an :class:`EngineClient` (UI thread). Its methods (``load_model``, ``start``, ``step``, ``rewind``,
  ``restore``, ``resume``, ``refine``) emit signals connected to the worker's slots; because the worker lives on
  another thread, Qt queues them, and the worker runs them one after another in order.
* The worker answers with signals (queued back to the UI thread): ``model_loaded(ModelInfo)``,
  ``started(StartInfo)``, ``chunk_ready(ChunkRecord)``, ``progress(stage, done, total)``,
  ``refined(a, b, frames)``, ``restored(chunks_done)``, ``error(message)``, ``cancelled(message)``, ``busy(bool)``,
  and ``done(ticket)`` after every command (the client re-emits it as ``finished``; ``load_model``, ``start`` and
  the other command methods return the ticket they sent).
* Frames for display also go into a :class:`~app.display_queue.DisplayQueue` (bounded, drops the oldest) that the
  viewport drains at the video frame rate.
* :meth:`EngineClient.cancel` is a direct, thread-safe call: it marks every command sent so far as cancelled (queued
  ones are skipped when they come up) and asks the running step to stop at its next model call. A cancelled or failed
  command leaves the session as it was (the engine commits state only when a step completes).

Engine input errors (:mod:`engine.errors`, :class:`~engine.errors.SessionStateError`) become ``error`` signals with the engine's message;
the UI shows them and keeps its state. A cancel is reported by ``cancelled``, not ``error``: nothing went wrong.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.display_queue import DisplayFrame, DisplayQueue
from engine.bundles import ModelBundle, load_bundle
from engine.errors import Cancelled, ConfigError, SanaWMInputError, SessionStateError
from engine.generation.project import Project, StartSettings
from engine.generation.refine import refine_span, refiner_input
from engine.generation.session import ChunkRecord, SessionSnapshot, StreamSettings, WorldSession
from engine.generation.session_file import resume_session
from engine.generation.world_memory import CacheState

log = logging.getLogger(__name__)

#: ``factory(source)`` -> bundle; ``source`` is None for the embedded default or a folder path.
BundleFactory = Callable[[str | None], ModelBundle]


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def default_bundle_factory(device: str | None = None, dtype: str | None = None,
                           memory: Callable[[], str] | None = None) -> BundleFactory:  # fmt: skip
    """:func:`engine.bundles.load_bundle` on ``device`` (default: CUDA when available, else the CPU) in ``dtype``
    (default: bfloat16 on CUDA, float32 on the CPU) — the same defaults as ``sana-wm generate`` — in the GPU memory
    tier ``memory()`` names when the model is loaded (None: ``full``; a tier that does not fit is an error)."""
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"--dtype: expected one of {', '.join(DTYPES)}, found {dtype!r}")

    def load(source: str | None) -> ModelBundle:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        kind = DTYPES[dtype] if dtype else (torch.bfloat16 if dev.type == "cuda" else torch.float32)
        return load_bundle(source, dtype=kind, device=dev, memory=None if memory is None else memory())

    return load


@dataclass(frozen=True)
class ModelInfo:
    """What the UI shows about the loaded model and needs to drive it."""

    name: str
    display_name: str
    label: str
    source: str | None
    frame_size: tuple[int, int]  # (width, height) of generated frames
    frames_per_chunk: int
    has_refiner: bool
    refiner_reason: str  # why refinement is unavailable ("" when it is available)
    default_intrinsics: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class StartInfo:
    """The start of a stream: the start frame as the model sees it (resized and cropped) and its intrinsics."""

    frame: np.ndarray | None  # (H, W, 3) uint8; None when resumed from a session file's stored latent
    intrinsics: np.ndarray  # (4,) fx, fy, cx, cy in frame pixels
    chunks_done: int
    ticket: int  # the start / resume command this answers
    world: CacheState | None = None  # the world cache at the start (None: the model has no depth source)


def model_info(bundle: ModelBundle, source: str | None) -> ModelInfo:
    """The :class:`ModelInfo` of a loaded bundle."""
    frames_per_chunk = StreamSettings().chunk_latent_frames * bundle.codec.temporal_factor
    reason = "" if bundle.refiner is not None else f"the model {bundle.name!r} has no stage-2 refiner"
    intr = bundle.default_intrinsics
    return ModelInfo(
        name=bundle.name,
        display_name=bundle.display_name,
        label=bundle.label,
        source=source,
        frame_size=tuple(bundle.frame_size),
        frames_per_chunk=frames_per_chunk,
        has_refiner=bundle.refiner is not None,
        refiner_reason=reason,
        default_intrinsics=None if intr is None else tuple(float(v) for v in intr),
    )


class EngineWorker(QObject):
    """Lives on the engine thread; every slot runs there (see the module docstring)."""

    model_loaded = Signal(object)  # ModelInfo
    started = Signal(object)  # StartInfo
    chunk_ready = Signal(object)  # ChunkRecord
    progress = Signal(str, int, int)  # stage, done, total
    refined = Signal(int, int, object)  # chunks [a, b), frames (F, H, W, 3) uint8
    restored = Signal(int)  # chunks done after a rewind / restore / resume
    error = Signal(str)
    cancelled = Signal(str)
    busy = Signal(bool)
    done = Signal(int)  # ticket of the command that finished (whatever its outcome)
    cache_view = Signal(object)  # (H, W, 3) uint8: the world cache rendered at the latest pose (debug view)

    def __init__(self, display: DisplayQueue, bundle_factory: BundleFactory | None = None) -> None:
        super().__init__()
        self.depth: Any = "auto"  # the sessions' depth source (WorldSession's ``depth``; tests give a function)
        self.cache_view_enabled = False  # set from the UI thread (a bool write): render the cache after each chunk
        self._display = display
        self._factory: BundleFactory = bundle_factory or default_bundle_factory()
        self._bundle: ModelBundle | None = None
        self._source: str | None = None
        self._session: WorldSession | None = None
        self._settings: StartSettings | None = None
        self._lock = threading.Lock()
        self._cancel_upto = 0  # commands with a ticket <= this are cancelled
        self._ticket = 0  # the command running now

    # ----- thread-safe, called directly from the UI thread ---------------------------------------------------------
    def cancel(self, upto_ticket: int) -> None:
        """Cancel every command with a ticket <= ``upto_ticket``: the running one at its next model call, queued ones
        when they come up."""
        with self._lock:
            self._cancel_upto = max(self._cancel_upto, upto_ticket)
            session = self._session
        if session is not None:
            session.cancel()

    def _is_cancelled(self) -> bool:
        with self._lock:
            return self._ticket <= self._cancel_upto

    def _check_cancel(self, what: str) -> None:
        if self._is_cancelled():
            raise Cancelled(f"{what} cancelled")

    # ----- slots (engine thread) -----------------------------------------------------------------------------------
    @Slot(int, object)
    def load_model(self, ticket: int, source: str | None) -> None:
        self._run(ticket, "load model", lambda: self._load(source))

    @Slot(int, object)
    def start(self, ticket: int, settings: StartSettings) -> None:
        self._run(ticket, "start", lambda: self._start(settings))

    @Slot(int, object, object)
    def step(self, ticket: int, poses: np.ndarray, intrinsics: np.ndarray | None) -> None:
        self._run(ticket, "step", lambda: self._step(poses, intrinsics))

    @Slot(int, int)
    def rewind(self, ticket: int, chunk_index: int) -> None:
        self._run(ticket, "rewind", lambda: self._rewind(chunk_index))

    @Slot(int, object)
    def restore(self, ticket: int, snapshot: SessionSnapshot) -> None:
        self._run(ticket, "restore", lambda: self._restore(snapshot))

    @Slot(int, object)
    def resume(self, ticket: int, project: Project) -> None:
        self._run(ticket, "resume", lambda: self._resume(project))

    @Slot(int, int, int, object)
    def refine(self, ticket: int, a: int, b: int, records: list[ChunkRecord]) -> None:
        self._run(ticket, "refine", lambda: self._refine(a, b, records))

    # ----- command bodies -------------------------------------------------------------------------------------------
    def _run(self, ticket: int, name: str, body: Callable[[], None]) -> None:
        with self._lock:
            self._ticket = ticket
        if self._is_cancelled():
            self.cancelled.emit(f"{name} cancelled before it began")
            self.done.emit(ticket)
            return
        self.busy.emit(True)
        try:
            body()
        except Cancelled as exc:
            self.cancelled.emit(str(exc) or f"{name} cancelled")
        except (SanaWMInputError, SessionStateError) as exc:
            self.error.emit(str(exc))
        except Exception as exc:  # the UI must survive any engine failure and keep its state
            log.exception("%s failed", name)
            self.error.emit(f"{name} failed: {type(exc).__name__}: {exc}")
        finally:
            self.busy.emit(False)
            self.done.emit(ticket)

    def _load(self, source: str | None) -> None:
        source = None if source is None else str(source)
        bundle = self._factory(source)
        self._bundle, self._source = bundle, source
        with self._lock:
            self._session = None  # a stream belongs to one model
        self.model_loaded.emit(model_info(bundle, source))

    def _ensure_model(self, source: str | None) -> ModelBundle:
        wanted = None if source is None else str(Path(source))
        if self._bundle is None or self._source != wanted:
            self._load(wanted)
        assert self._bundle is not None
        return self._bundle

    def _new_session(self, settings: StartSettings) -> WorldSession:
        """A fresh session on the settings' model; it replaces the current one only once it has started (see
        :meth:`_adopt`), so a start that fails on bad input leaves the running stream as it was."""
        bundle = self._ensure_model(settings.model)
        return WorldSession(bundle, StreamSettings(seed=settings.seed), keep_history=False, depth=self.depth)

    def _adopt(self, session: WorldSession, settings: StartSettings) -> None:
        with self._lock:
            self._session = session
            ticket = self._ticket
        self._settings = settings
        self.started.emit(StartInfo(session.start_frame, session.trajectory[1][0].copy(), session.chunks_done, ticket,
                                    session.world_cache))  # fmt: skip
        self._report_world(session)

    def _report_world(self, session: WorldSession) -> None:
        """When the debug view is on, the world cache rendered at the latest pose (after a start, a chunk, a rewind),
        here on the engine thread, where the GL context lives. (The 3D editor's points come from the snapshots.)"""
        if session.world_cache is not None and self.cache_view_enabled:
            self.cache_view.emit(session.render_cache(session.pose).colour)

    def _start(self, settings: StartSettings) -> None:
        session = self._new_session(settings)
        intr = None if settings.intrinsics is None else np.asarray(settings.intrinsics, dtype=np.float64)
        session.start(settings.image, intrinsics=intr, prompt=settings.prompt, seed=settings.seed)
        self._adopt(session, settings)

    def _require_session(self) -> WorldSession:
        if self._session is None or not self._session.started:
            raise SessionStateError("no world has been started yet: open an image or a demo and press Start")
        return self._session

    def _step(self, poses: np.ndarray, intrinsics: np.ndarray | None) -> None:
        session = self._require_session()
        self._check_cancel("step")

        def report(stage: str, done: int, total: int) -> None:
            self._check_cancel(f"chunk {session.chunks_done}")  # raising here leaves the session unchanged
            self.progress.emit(stage, done, total)

        before = session.snapshot()
        record: ChunkRecord = session.step(poses, intrinsics, progress=report)
        if not bool(torch.isfinite(record.latents).all()):  # a damaged model or a numeric fault: never show or keep it
            session.restore(before)
            raise RuntimeError(f"chunk {record.index} came out NaN or infinite and was discarded; the session is as it "
                               "was before it (is the model damaged?)")  # fmt: skip
        p0 = record.pixel_range[0]
        self._display.put_many([DisplayFrame(f, record.index, p0 + i) for i, f in enumerate(record.frames)])
        self.chunk_ready.emit(record)
        self._report_world(session)

    def _rewind(self, chunk_index: int) -> None:
        session = self._require_session()
        if chunk_index != -1:
            raise SessionStateError(
                f"rewind: the worker keeps no history; restore chunk {chunk_index}'s snapshot instead (only -1 here)"
            )
        session.rewind(-1)
        self.restored.emit(session.chunks_done)
        self._report_world(session)

    def _restore(self, snapshot: SessionSnapshot) -> None:
        session = self._require_session()
        session.restore(snapshot)
        self.restored.emit(session.chunks_done)
        self._report_world(session)

    def _resume(self, project: Project) -> None:
        """Continue a project read from a session file at its cursor, exactly as the session that made it would.

        :func:`engine.generation.session_file.resume_session` does the work (starts on the stored first latent with the stored
        stream settings and points the stored snapshots at the new stream, so later rewinds restore them). It replaces
        the project's chunk records by equal ones with re-pointed snapshots; records are immutable and the swap is one
        attribute assignment each, so the UI thread may keep reading meanwhile."""
        session = self._new_session(project.start)
        resume_session(session, project)
        self._adopt(session, project.start)
        self.restored.emit(session.chunks_done)

    def _refine(self, a: int, b: int, records: list[ChunkRecord]) -> None:
        """Refine chunks ``[a, b)`` of the take whose records are ``records`` (chunk 0 first) with
        :func:`engine.generation.refine.refine_span` on :func:`~engine.generation.refine.refiner_input` (frames
        aligned with the chunks)."""
        bundle = self._bundle
        if bundle is None:
            raise SessionStateError("refine: no model is loaded")
        if bundle.refiner is None:
            raise ConfigError(f"refine: {model_info(bundle, self._source).refiner_reason}")
        settings = self._settings
        prompt, seed = ("", 42) if settings is None else (settings.prompt, settings.seed)

        def report(stage: str, done: int, total: int) -> None:
            self._check_cancel(f"refining chunks {a}-{b - 1}")  # raising here drops the result
            self.progress.emit(stage, done, total)

        if not 0 <= a < b <= len(records):
            raise SanaWMInputError(f"refine: expected a chunk range inside [0, {len(records)}], found [{a}, {b})")
        latents = refiner_input(records, a, b - 1)
        self._check_cancel("refine")
        self.refined.emit(a, b, refine_span(bundle, latents, a, prompt=prompt, seed=seed, progress=report))


class EngineClient(QObject):
    """The UI thread's handle on the worker: starts the thread, sends commands, counts what is in flight.

    ``busy`` is true from the moment a command is sent until the worker reports it done, so the UI never queues a
    second step behind the first by accident. The worker's result signals are re-emitted by the client's signals of
    the same names on the UI thread: connect to those.
    """

    busy_changed = Signal(bool)
    # the worker's signals, re-emitted on the UI thread (see __init__)
    finished = Signal(int)  # ticket of a command the worker is done with (after its result or error signal)
    model_loaded = Signal(object)
    started = Signal(object)
    chunk_ready = Signal(object)
    progress = Signal(str, int, int)
    refined = Signal(int, int, object)
    restored = Signal(int)
    error = Signal(str)
    cancelled = Signal(str)
    cache_view = Signal(object)

    _load_model = Signal(int, object)
    _start = Signal(int, object)
    _step = Signal(int, object, object)
    _rewind = Signal(int, int)
    _restore = Signal(int, object)
    _resume = Signal(int, object)
    _refine = Signal(int, int, int, object)

    def __init__(
        self,
        bundle_factory: BundleFactory | None = None,
        display: DisplayQueue | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.display = display if display is not None else DisplayQueue()
        self.worker = EngineWorker(self.display, bundle_factory)
        self._thread = QThread()
        self._thread.setObjectName("engine-worker")
        self.worker.moveToThread(self._thread)
        self._load_model.connect(self.worker.load_model)
        self._start.connect(self.worker.start)
        self._step.connect(self.worker.step)
        self._rewind.connect(self.worker.rewind)
        self._restore.connect(self.worker.restore)
        self._resume.connect(self.worker.resume)
        self._refine.connect(self.worker.refine)
        self.worker.done.connect(self._on_done)
        self.worker.done.connect(self.finished)
        # Relay through this UI-thread object: a plain Python callable connected straight to a worker signal would
        # run on the worker thread (it has no thread affinity); connected to these signals it runs on the UI thread.
        for name in ("model_loaded", "started", "chunk_ready", "progress", "refined", "restored", "error", "cancelled",
                     "cache_view"):  # fmt: skip
            getattr(self.worker, name).connect(getattr(self, name))
        self._next_ticket = 0
        self._in_flight: set[int] = set()
        self._thread.start()

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    def _send(self, signal: Any, *args: Any) -> int:
        self._next_ticket += 1
        ticket = self._next_ticket
        was_busy = self.busy
        self._in_flight.add(ticket)
        if not was_busy:
            self.busy_changed.emit(True)
        signal.emit(ticket, *args)
        return ticket

    @Slot(int)
    def _on_done(self, ticket: int) -> None:
        self._in_flight.discard(ticket)
        if not self._in_flight:
            self.busy_changed.emit(False)

    # ----- commands -------------------------------------------------------------------------------------------------
    def load_model(self, source: str | Path | None) -> int:
        return self._send(self._load_model, None if source is None else str(source))

    def start(self, settings: StartSettings) -> int:
        self.display.clear()
        return self._send(self._start, settings)

    def step(self, poses: np.ndarray, intrinsics: np.ndarray | None = None) -> int:
        return self._send(self._step, np.asarray(poses, dtype=np.float64), intrinsics)

    def rewind(self, chunk_index: int) -> int:
        """Back to before chunk 0 (-1). For other chunks send the chunk record's snapshot with :meth:`restore`."""
        self.display.clear()
        return self._send(self._rewind, chunk_index)

    def restore(self, snapshot: SessionSnapshot) -> int:
        self.display.clear()
        return self._send(self._restore, snapshot)

    def resume(self, project: Project) -> int:
        """Continue a project loaded from a session file at its cursor (see :meth:`EngineWorker._resume`)."""
        self.display.clear()
        return self._send(self._resume, project)

    def refine(self, take: Sequence[ChunkRecord], first: int, end: int) -> int:
        """Refine chunks ``[first, end)`` of the take whose records (chunk 0 first) are ``take``."""
        return self._send(self._refine, first, end, list(take))

    def cancel(self) -> None:
        """Cancel everything sent so far (thread-safe, returns at once)."""
        self.worker.cancel(self._next_ticket)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel, stop the thread and wait for it (call before the application quits)."""
        if not self._thread.isRunning():
            return
        self.cancel()
        self._thread.quit()
        self._thread.wait(timeout_ms)

