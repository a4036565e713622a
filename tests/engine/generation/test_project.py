"""Project: the explorer's document model — chunks at the cursor, rewind, fork into takes, switch, discard, refine."""

from __future__ import annotations

import numpy as np
import pytest

from engine.generation.project import Project, StartSettings
from engine.bundles import ModelBundle
from engine.errors import SanaWMInputError
from engine.generation.session import WorldSession


@pytest.fixture(scope="module")
def session() -> WorldSession:
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)
    session = WorldSession(bundle)
    session.start(np.full((64, 96, 3), 100, np.uint8))
    return session


def poses(shift: float) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = shift * np.arange(1, 25) / 24
    return c2w


def new_project(session: WorldSession, chunks: int) -> tuple[Project, list]:
    """A project with ``chunks`` chunks generated straight from the start (the session is rewound first)."""
    session.rewind(-1)
    project = Project(StartSettings(image=np.zeros((64, 96, 3), np.uint8)))
    records = [session.step(poses(0.1 * k)) for k in range(chunks)]
    for record in records:
        project.add_chunk(record)
    return project, records


def fork(project: Project, session: WorldSession, after: int, shift: float):
    """Rewind both to chunk ``after`` and generate one chunk there (which forks a new take)."""
    project.rewind(after)
    session.rewind(after)
    return project.add_chunk(session.step(poses(shift)))


def test_add_chunk_appends_at_the_cursor_and_marks_dirty(session):
    project, records = new_project(session, 3)
    assert project.cursor == 3 and len(project.current.chunks) == 3 and project.dirty
    assert [e.record for e in project.live_chunks] == records
    assert project.frames().shape == (25 + 24 + 24, 64, 96, 3)
    c2w, intr = project.trajectory()
    assert c2w.shape == (73, 4, 4) and intr.shape == (73, 4)
    np.testing.assert_array_equal(project.frames(chunks=(1, 2)), records[1].frames)


def test_add_chunk_refuses_a_chunk_that_does_not_follow_the_cursor(session):
    project, records = new_project(session, 2)
    with pytest.raises(SanaWMInputError, match="expected chunk 2 after the cursor, found chunk 1"):
        project.add_chunk(records[1])


def test_rewind_moves_the_cursor_and_keeps_later_chunks(session):
    project, _ = new_project(session, 3)
    project.rewind(0)
    assert project.cursor == 1 and len(project.live_chunks) == 1 and len(project.current.chunks) == 3
    project.rewind(-1)
    assert project.cursor == 0 and project.live_chunks == []
    with pytest.raises(SanaWMInputError, match=r"rewind: expected a chunk in \[-1, 2\], found 3"):
        project.rewind(3)


def test_generating_after_a_rewind_forks_a_take_that_shares_the_earlier_chunks(session):
    project, records = new_project(session, 3)
    entry = fork(project, session, 0, -0.3)
    assert project.current_id == 1 and project.current.name == "Take 2"
    assert project.current.parent == 0 and project.current.fork_chunk == 1
    assert project.current.chunks[0] is project.branches[0].chunks[0]  # shared by reference, not copied
    assert project.current.chunks[1] is entry and project.cursor == 2
    assert len(project.branches[0].chunks) == 3  # the old take is kept whole
    assert not np.array_equal(project.frames(chunks=(1, 2)), project.frames(0, (1, 2)))


def test_switch_selects_a_take_with_its_cursor_at_the_end(session):
    project, _ = new_project(session, 3)
    fork(project, session, 1, 0.5)
    project.switch(0)
    assert project.current_id == 0 and project.cursor == 3
    project.switch(1)
    assert project.cursor == 3 and project.current.fork_chunk == 2
    with pytest.raises(SanaWMInputError, match=r"no branch with id 7 \(have \[0, 1\]\)"):
        project.switch(7)


def test_discard_forgets_other_takes_but_never_the_current_one(session):
    project, _ = new_project(session, 2)
    fork(project, session, 0, 0.2)
    with pytest.raises(SanaWMInputError, match="switch to another branch"):
        project.discard(1)
    project.dirty = False
    project.discard(0)
    assert list(project.branches) == [1] and project.dirty
    with pytest.raises(SanaWMInputError, match="no branch with id 0"):
        project.discard(0)


def test_set_refined_replaces_what_is_shown_but_keeps_the_preview(session):
    project, records = new_project(session, 2)
    refined = np.full_like(records[1].frames, 7)
    project.set_refined(1, refined)
    entry = project.current.chunks[1]
    assert entry.refined and not project.current.chunks[0].refined
    np.testing.assert_array_equal(entry.frames, refined)
    assert entry.record.frames is records[1].frames
    np.testing.assert_array_equal(project.frames(chunks=(1, 2)), refined)
    with pytest.raises(SanaWMInputError, match="refined frames: expected shape"):
        project.set_refined(0, refined)


def test_frames_and_trajectory_of_an_empty_take_or_a_bad_range_are_errors(session):
    project = Project(StartSettings(image=np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(SanaWMInputError, match="no generated chunks yet"):
        project.frames()
    with pytest.raises(SanaWMInputError, match="no generated chunks yet"):
        project.trajectory()
    project, _ = new_project(session, 2)
    with pytest.raises(SanaWMInputError, match=r"expected a range inside \[0, 2\], found \[1, 3\)"):
        project.frames(chunks=(1, 3))


def test_rename_strips_the_name_and_refuses_an_empty_one(session):
    project, _ = new_project(session, 1)
    project.rename(0, "  The long walk ")
    assert project.current.name == "The long walk"
    with pytest.raises(SanaWMInputError, match="non-empty take name"):
        project.rename(0, "   ")
    with pytest.raises(SanaWMInputError, match="no branch with id 4"):
        project.rename(4, "x")


def test_every_change_bumps_the_revision(session):
    project, _ = new_project(session, 2)
    before = project.revision
    assert before == 2  # one per chunk added
    project.rewind(0)
    project.rename(0, "a")
    project.set_refined(0, project.current.chunks[0].record.frames.copy())
    assert project.revision == before + 3
    project.frames()
    assert project.revision == before + 3  # reading changes nothing


def test_snapshot_at_is_the_state_after_that_chunk(session):
    project, records = new_project(session, 2)
    assert project.snapshot_at(1) is records[1].snapshot and project.snapshot_at(1).chunks_done == 2


def test_restored_checks_the_current_take_and_cursor_and_numbers_new_takes_after_the_largest_id(session):
    project, _ = new_project(session, 2)
    branches = {0: project.branches[0], 3: project.branches[0]}
    restored = Project.restored(project.start, branches, 3, 1)
    assert restored.current_id == 3 and restored.cursor == 1 and restored.next_id == 4 and not restored.dirty
    assert Project.restored(project.start, branches, 0, 2, next_id=9).next_id == 9
    with pytest.raises(SanaWMInputError, match=r"current branch: expected one of \[0, 3\], found 1"):
        Project.restored(project.start, branches, 1, 0)
    with pytest.raises(SanaWMInputError, match="cursor: expected 0..2 on branch 0, found 3"):
        Project.restored(project.start, branches, 0, 3)


def test_entries_are_the_take_entries_themselves(session):
    project, records = new_project(session, 3)
    assert [e.record for e in project.entries()] == records
    assert project.entries(chunks=(1, 3)) == project.current.chunks[1:3]
