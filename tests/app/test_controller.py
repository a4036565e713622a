"""The explorer's rollout state machine without Qt: a fake engine port records the commands, a fake view records
what the window would show; the worker's results are played in by hand, in the order the real worker sends them
(result signal, then idle, then finished)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from app.controller import ExplorerController
from app.explorer_state import EngineBusy, IllegalTransition, Phase, RefineJob
from engine.errors import SanaWMInputError
from engine.generation.project import StartSettings
from engine.generation.session import ChunkRecord

N = 24  # frames per chunk


class FakeEngine:
    """Tickets like :class:`app.worker.EngineClient`: busy while any command is unfinished."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []
        self.in_flight: list[int] = []
        self.cancels = 0
        self._ticket = 0

    @property
    def busy(self) -> bool:
        return bool(self.in_flight)

    def _send(self, *command) -> int:
        self._ticket += 1
        self.in_flight.append(self._ticket)
        self.sent.append(command)
        return self._ticket

    def start(self, settings):
        return self._send("start", settings)

    def step(self, poses, intrinsics=None):
        return self._send("step", poses, intrinsics)

    def rewind(self, chunk_index):
        return self._send("rewind", chunk_index)

    def restore(self, snapshot):
        return self._send("restore", snapshot)

    def resume(self, project):
        return self._send("resume", project)

    def refine(self, take, first, end):
        return self._send("refine", tuple(take), first, end)

    def cancel(self):
        self.cancels += 1

    def names(self) -> list[str]:
        return [c[0] for c in self.sent]


class View:
    """Records every report; ``calls`` keeps their order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.states: list[str] = []
        self.errors: list[str] = []
        self.chunks: list[ChunkRecord] = []
        self.phases: list[Phase] = []

    def set_state(self, text):
        self.states.append(text)

    def show_error(self, message):
        self.errors.append(message)

    def show_document(self, project):
        self.calls.append(("document", project))

    def show_started(self, start, info):
        self.calls.append(("started", start.project))

    def show_chunk(self, record):
        self.chunks.append(record)

    def show_live(self, live):
        self.calls.append(("live", [e.index for e in live]))

    def show_refined(self, job):
        self.calls.append(("refined", job.first, job.end))

    def sync_drive(self):
        self.calls.append(("sync",))

    def show_phase(self, phase):
        self.phases.append(phase)


@dataclass(frozen=True)
class Info:
    ticket: int
    frames_per_chunk: int = N


def record(index: int) -> ChunkRecord:
    p0 = 0 if index == 0 else 1 + N * index
    frames = N + (index == 0)
    c2w = np.tile(np.eye(4), (frames, 1, 1))
    c2w[:, 2, 3] = np.arange(p0, p0 + frames) * 0.1
    return ChunkRecord(index=index, latent_range=(3 * index, 3 * index + 3), pixel_range=(p0, p0 + frames),
                       latents=torch.full((1, 2, 3, 2, 2), float(index)), frames=np.zeros((frames, 4, 6, 3), np.uint8),
                       c2w=c2w, intrinsics=np.tile([8.0, 8.0, 3.0, 2.0], (frames, 1)), timings={},
                       snapshot=f"after chunk {index}")  # fmt: skip


class Rig:
    """A controller on a fake engine and view, with the worker's answers as methods."""

    def __init__(self) -> None:
        self.engine = FakeEngine()
        self.view = View()
        self.c = ExplorerController(self.engine, self.view, frames_per_chunk=N)

    def done(self, ticket: int | None = None) -> None:
        """The worker finishes ``ticket`` (default: the oldest): idle first when it was the last, then finished."""
        ticket = self.engine.in_flight[0] if ticket is None else ticket
        self.engine.in_flight.remove(ticket)
        if not self.engine.in_flight:
            self.c.on_idle()
        self.c.on_finished(ticket)

    def start(self) -> None:
        self.c.start(StartSettings(image=np.zeros((4, 6, 3), np.uint8)))
        ticket = self.engine.in_flight[-1]
        self.c.on_started(Info(ticket))
        self.done(ticket)

    def chunk(self, index: int | None = None) -> ChunkRecord:
        """The step in flight answers with its chunk, then finishes."""
        rec = record(self.c.project.cursor if index is None else index)
        self.c.on_chunk(rec)
        self.done()
        return rec

    def drive(self, chunks: int) -> list[ChunkRecord]:
        out = []
        for _ in range(chunks):
            self.c.step(np.tile(np.eye(4), (N, 1, 1)))
            out.append(self.chunk())
        return out

    def restored(self) -> None:
        self.c.on_restored(0)
        self.done()


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_the_controller_module_imports_without_qt():
    code = "import sys, app.controller; assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_start_waits_for_the_worker_then_adopts_the_document_and_rests_ready(rig):
    c = rig.c
    assert c.phase is Phase.IDLE and not c.started
    pending = c.start(StartSettings(image=np.zeros((4, 6, 3), np.uint8)))
    assert c.phase is Phase.STARTING and c.project is None and c.starting is pending
    c.on_started(Info(pending.ticket + 99))  # a start the user has since replaced: ignored
    assert c.project is None
    c.on_started(Info(pending.ticket))
    assert c.project is pending.project and c.started and c.phase is Phase.READY
    assert ("document", pending.project) in rig.view.calls and ("started", pending.project) in rig.view.calls
    rig.done()
    assert rig.view.calls[-1] == ("sync",)  # driving starts from the stream's start once the worker is idle


def test_a_failed_start_keeps_the_running_world_and_its_state(rig):
    rig.start()
    rig.drive(1)
    project = rig.c.project
    rig.c.start(StartSettings(image=np.zeros((4, 6, 3), np.uint8), intrinsics=(-5.0, 5.0, 3.0, 2.0)))
    rig.c.on_error("intrinsics: focal lengths must be positive")
    rig.done()
    assert rig.c.project is project and rig.c.started and rig.c.phase is Phase.READY and rig.c.starting is None
    assert rig.view.errors == ["intrinsics: focal lengths must be positive"]


def test_illegal_transitions_are_refused_with_a_clear_error(rig):
    c = rig.c
    with pytest.raises(IllegalTransition, match="step: start a world first"):
        c.step(np.tile(np.eye(4), (N, 1, 1)))
    with pytest.raises(IllegalTransition, match="rewind: start a world first"):
        c.rewind(-1)
    with pytest.raises(IllegalTransition, match="generate along the path: start a world first"):
        c.generate_path(lambda n=None: (np.tile(np.eye(4), (49, 1, 1)), None))
    with pytest.raises(IllegalTransition, match="refine: start a world first"):
        c.refine(0, 1)
    c.start(StartSettings(image=np.zeros((4, 6, 3), np.uint8)))
    with pytest.raises(IllegalTransition, match="rewind: wait until the world has started"):
        c.rewind(-1)
    with pytest.raises(IllegalTransition, match="refine: wait for the world to start"):
        c.refine(0, 1)
    assert c.phase is Phase.STARTING and rig.engine.names() == ["start"]  # nothing else was sent


def test_a_step_while_busy_is_refused_as_engine_busy_and_nothing_is_sent(rig):
    rig.start()
    rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    assert rig.c.phase is Phase.DRIVING and not rig.c.can_step
    with pytest.raises(EngineBusy, match="step: wait for the chunk being generated"):
        rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    assert rig.engine.names() == ["start", "step"]
    rig.chunk()
    assert rig.c.phase is Phase.READY and rig.c.can_step and rig.view.states[-1] == "generating chunk 0…"


def test_rewind_then_drive_forks_a_take_and_stale_chunks_are_dropped(rig):
    rig.start()
    first = rig.drive(3)
    rig.c.rewind(0)
    assert rig.engine.sent[-1] == ("restore", "after chunk 0") and rig.c.phase is Phase.RESTORING
    assert rig.view.calls[-1] == ("live", [0])
    assert rig.view.states[-1] == "rewound to chunk 0: driving on makes a new branch"
    rig.c.on_chunk(record(1))  # finished just before the rewind reached the worker: stale
    assert rig.c.project.cursor == 1 and len(rig.view.chunks) == 3
    rig.restored()
    assert rig.c.phase is Phase.REWOUND and rig.c.can_step
    rig.drive(1)
    project = rig.c.project
    assert sorted(project.branches) == [0, 1] and project.current.fork_chunk == 1
    assert project.current.chunks[0].record is first[0] and rig.c.phase is Phase.READY


def test_rewind_to_the_start_image_rewinds_the_worker_instead_of_restoring(rig):
    rig.start()
    rig.drive(1)
    rig.c.rewind(-1)
    assert rig.engine.sent[-1] == ("rewind", -1) and rig.view.calls[-1] == ("live", [])
    assert rig.view.states[-1] == "rewound to the start image: driving on makes a new branch"


def test_a_rewind_while_a_chunk_runs_cancels_it_and_a_failed_restore_settles_on_idle(rig):
    rig.start()
    rig.drive(2)
    rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    rig.c.rewind(0)
    assert rig.engine.cancels == 1
    rig.c.on_cancelled("chunk 2 cancelled")
    rig.done()  # the cancelled step
    assert rig.c.phase is Phase.RESTORING
    rig.c.on_error("restore: the snapshot belongs to another stream")
    rig.done()  # the restore failed: it never confirms
    assert rig.c.phase is Phase.REWOUND and rig.c.unconfirmed_restores == 0 and rig.c.can_step


def test_switching_takes_restores_the_end_of_the_other_take(rig):
    rig.start()
    rig.drive(2)
    rig.c.rewind(0)
    rig.restored()
    rig.drive(1)
    rig.c.switch(0)
    assert rig.engine.sent[-1] == ("restore", "after chunk 1") and rig.view.states[-1] == "switched to Take 1"
    rig.restored()
    assert rig.c.project.current_id == 0 and rig.c.phase is Phase.READY
    with pytest.raises(SanaWMInputError, match="no branch with id 7"):
        rig.c.switch(7)


def path_sampler(frames: int = 49):
    c2w = np.tile(np.eye(4), (frames, 1, 1))
    c2w[:, 0, 3] = 3.0  # the path's world: frame 0 is not the origin
    c2w[:, 2, 3] = 0.05 * np.arange(frames)
    calls = []

    def sample(n=None):
        calls.append(n)
        return c2w[: n or frames], None

    return sample, calls


def test_generate_path_sends_chunk_after_chunk_relative_to_the_start(rig):
    rig.start()
    sample, calls = path_sampler(73)
    rig.c.generate_path(sample)
    assert rig.c.phase is Phase.PATH and rig.c.path_chunks_left == 2 and calls == [None, 25]
    poses = rig.engine.sent[-1][1]
    np.testing.assert_allclose(poses[:, 0, 3], 0.0) and np.testing.assert_allclose(poses[-1, 2, 3], 1.2)
    rig.c.on_chunk(record(0))  # the next step goes out at once, behind the finishing one
    assert rig.engine.names().count("step") == 2 and rig.c.path_chunks_left == 1 and calls[-1] == 49
    rig.done()
    assert rig.c.phase is Phase.PATH  # still busy with chunk 1
    rig.chunk()
    rig.chunk()
    assert rig.c.phase is Phase.READY and rig.c.project.cursor == 3 and rig.engine.names().count("step") == 3


def test_generate_path_from_a_later_chunk_waits_for_the_rewind_then_goes(rig):
    rig.start()
    rig.drive(2)
    sample, _ = path_sampler()
    rig.c.generate_path(sample)
    assert rig.engine.sent[-1] == ("rewind", -1) and rig.c.phase is Phase.RESTORING
    assert rig.c.path_chunks_left == 2  # queued: nothing sent behind the rewind yet
    rig.c.on_restored(0)
    assert rig.c.phase is Phase.PATH and rig.engine.names()[-1] == "step" and rig.c.path_chunks_left == 1
    rig.done()  # the rewind's done; the step keeps the engine busy
    rig.chunk()
    rig.chunk()
    assert rig.c.project.cursor == 2 and len(rig.c.project.branches) == 2 and rig.c.phase is Phase.READY


def test_generate_path_while_driving_survives_the_cancelled_steps_report(rig):
    rig.start()
    rig.drive(1)
    rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    sample, _ = path_sampler(73)
    rig.c.generate_path(sample)  # cursor 1: back to the start image, the running step cancelled
    assert rig.engine.cancels == 1 and rig.c.phase is Phase.RESTORING and rig.c.path_chunks_left == 3
    rig.c.on_cancelled("chunk 1 cancelled")
    rig.done()
    rig.c.on_restored(0)
    rig.done()
    for _ in range(3):
        rig.chunk()
    assert rig.c.project.cursor == 3 and rig.c.phase is Phase.READY and rig.engine.names().count("step") == 5


def test_work_waiting_behind_a_failed_rewind_is_dropped(rig):
    rig.start()
    rig.drive(2)
    sample, _ = path_sampler()
    rig.c.generate_path(sample)
    rig.c.on_error("rewind: the session was lost")
    rig.done()
    assert rig.c.phase is Phase.REWOUND and rig.c.path_run is None and rig.engine.names()[-1] == "rewind"


def test_a_path_too_short_for_a_chunk_is_refused(rig):
    rig.start()
    sample, _ = path_sampler(20)
    with pytest.raises(IllegalTransition, match="expected at least 25 frames, found a path of 20"):
        rig.c.generate_path(sample)
    assert rig.c.phase is Phase.READY and rig.engine.names() == ["start"]


def test_cancel_stops_a_path_run_and_returns_to_a_consistent_resting_state(rig):
    rig.start()
    sample, _ = path_sampler(73)
    rig.c.generate_path(sample)
    rig.c.cancel()
    assert rig.engine.cancels == 1 and rig.c.path_chunks_left == 0 and rig.view.states[-1] == "cancelling…"
    rig.c.on_cancelled("chunk 0 cancelled")
    rig.done()
    assert rig.c.phase is Phase.READY and rig.c.project.cursor == 0 and rig.c.path_run is None
    assert rig.view.calls[-1] == ("sync",)  # the uncommitted poses are rolled back
    assert rig.engine.names() == ["start", "step"]  # no further path chunk was sent
    rig.c.cancel()  # nothing runs: nothing to tell the worker
    assert rig.engine.cancels == 1


def test_an_error_during_a_path_run_stops_it(rig):
    rig.start()
    sample, _ = path_sampler(73)
    rig.c.generate_path(sample)
    rig.c.on_error("step: out of memory")
    rig.done()
    assert rig.c.phase is Phase.READY and rig.c.path_chunks_left == 0 and rig.view.errors == ["step: out of memory"]


def test_refine_bookkeeping_applies_frames_to_the_asked_span(rig):
    rig.start()
    records = rig.drive(3)
    rig.c.refine(1, 3)
    assert rig.c.phase is Phase.REFINING and rig.view.states[-1] == "refining chunks 1-2…"
    assert rig.engine.sent[-1] == ("refine", tuple(records), 1, 3)
    with pytest.raises(IllegalTransition, match="chunks 1-2 are being refined"):
        rig.c.refine(0, 1)
    frames = np.full((2 * N, 4, 6, 3), 9, np.uint8)
    rig.c.on_refined(0, 2, frames)  # not the span asked for: ignored
    assert not any(e.refined for e in rig.c.project.current.chunks)
    rig.c.on_refined(1, 3, frames)
    rig.done()
    chunks = rig.c.project.current.chunks
    assert [e.refined for e in chunks] == [False, True, True] and chunks[2].frames.shape == (N, 4, 6, 3)
    assert rig.view.calls[-1] == ("refined", 1, 3) and rig.view.states[-1] == "refined chunks 1-2"
    assert rig.c.phase is Phase.READY and rig.c.refine_job is None


def test_a_refine_result_for_a_take_that_changed_is_dropped(rig):
    rig.start()
    rig.drive(2)
    rig.c.refine(0, 2)
    job = rig.c.refine_job
    rig.c.project.rewind(0)  # a script changes the take underneath
    rig.c.project.add_chunk(record(1))
    rig.c.on_refined(0, 2, np.zeros((2 * N + 1, 4, 6, 3), np.uint8))
    assert "the take changed while chunks 0-1 were refined" in rig.view.errors[-1]
    assert isinstance(job, RefineJob) and not any(e.refined for e in rig.c.project.current.chunks)


def test_a_refine_asked_while_a_chunk_runs_is_queued_until_it_settles(rig):
    rig.start()
    rig.drive(2)
    rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    rig.c.refine(0, 2)
    assert rig.engine.names()[-1] == "step" and rig.c.phase is Phase.DRIVING
    assert rig.view.states[-1] == "refining chunks 0-1 after the chunk being generated…"
    rig.chunk()
    assert rig.engine.sent[-1][0] == "refine" and rig.c.phase is Phase.REFINING


def test_a_refine_asked_behind_a_take_switch_goes_once_the_switch_is_confirmed(rig):
    rig.start()
    rig.drive(2)
    rig.c.rewind(0)
    rig.restored()
    rig.drive(1)
    rig.c.switch(0)
    rig.c.refine(0, 2)
    assert rig.engine.names()[-1] == "restore"
    rig.c.on_restored(2)
    assert rig.engine.sent[-1][0] == "refine" and rig.engine.sent[-1][2:] == (0, 2)
    rig.c.on_error("refine: the model 'tiny' has no stage-2 refiner")
    rig.done()
    rig.done()
    assert rig.c.phase is Phase.READY and rig.c.refine_job is None


def test_a_refine_waiting_behind_a_rewind_survives_the_cancelled_step(rig):
    rig.start()
    rig.drive(2)
    rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    rig.c.rewind(1)
    rig.c.refine(0, 2)
    rig.c.on_cancelled("chunk 2 cancelled")  # the step the rewind replaced
    rig.done()
    rig.c.on_restored(2)
    assert rig.engine.sent[-1][0] == "refine" and rig.c.phase is Phase.REFINING


def test_a_refine_range_outside_the_take_is_an_input_error(rig):
    rig.start()
    rig.drive(1)
    with pytest.raises(SanaWMInputError, match=r"refine: expected a chunk range inside \[0, 1\], found \[0, 2\)"):
        rig.c.refine(0, 2)
    assert rig.c.phase is Phase.READY


def test_rewinding_during_a_refine_cancels_it_and_its_late_result_is_ignored(rig):
    rig.start()
    rig.drive(2)
    rig.c.refine(0, 1)
    rig.c.rewind(0)
    assert rig.engine.cancels == 1 and rig.c.refine_job is None and rig.c.phase is Phase.RESTORING
    rig.c.on_refined(0, 1, np.zeros((N + 1, 4, 6, 3), np.uint8))
    assert not rig.c.project.current.chunks[0].refined


def test_new_forgets_the_world_and_cancels_what_runs(rig):
    rig.start()
    rig.c.step(np.tile(np.eye(4), (N, 1, 1)))
    rig.c.new()
    assert rig.engine.cancels == 1 and rig.c.project is None and not rig.c.started and rig.c.phase is Phase.IDLE
    assert rig.view.calls[-1] == ("document", None)
    rig.c.on_chunk(record(0))  # the cancelled step's chunk: no document to put it on
    assert rig.view.chunks == []


def test_a_resumed_session_rests_rewound_at_its_cursor_and_keeps_its_file(rig, tmp_path):
    rig.start()
    rig.drive(2)
    project = rig.c.project
    project.rewind(0)
    other = Rig()
    pending = other.c.resume(project, tmp_path / "take.swm")
    assert other.engine.sent == [("resume", project)] and pending.loaded
    other.c.on_started(Info(pending.ticket))
    other.c.on_restored(1)
    other.done()
    assert other.c.phase is Phase.REWOUND and other.c.session_path == tmp_path / "take.swm"


def test_a_model_load_ends_the_stream_but_keeps_the_document(rig):
    rig.start()
    rig.drive(1)
    project = rig.c.project
    rig.c.on_model_loaded(Info(0, frames_per_chunk=8))
    assert rig.c.phase is Phase.IDLE and rig.c.project is project and not rig.c.started
    assert rig.c.frames_per_chunk == 8
    rig.c.on_chunk(record(1))  # a chunk of the ended stream
    assert project.cursor == 1
