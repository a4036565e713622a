"""The explorer's engine thread under faults: a model folder that cannot load, memory running out in the middle of a
chunk, a chunk that comes out NaN. Each must arrive as an error message, leave the session as it was (same chunks,
same pose) and leave the worker ready for the next command."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.display_queue import DisplayQueue
from app.worker import EngineClient
from engine.camera.integrator import MotionIntegrator
from engine.errors import BundleError
from engine.generation.project import StartSettings

TIMEOUT = 20000  # ms; generous: the machine is shared


def poses(integ: MotionIntegrator) -> np.ndarray:
    return np.stack([integ.step({"w"}) for _ in range(24)])


@pytest.fixture
def client(qtbot, tiny_bundle):
    def factory(source):
        if source is not None and "broken" in str(source):
            raise BundleError(f"--model {source}: expected a model folder, found nothing at that path")
        return tiny_bundle

    made = EngineClient(factory, DisplayQueue(64))
    yield made
    made.shutdown()


def started_with_one_chunk(qtbot, client, image):
    integ = MotionIntegrator("v2")
    with qtbot.waitSignal(client.started, timeout=TIMEOUT):
        client.start(StartSettings(image=image))
    with qtbot.waitSignal(client.chunk_ready, timeout=TIMEOUT) as first:
        client.step(poses(integ))
    return integ, first.args[0]


def assert_usable_and_intact(qtbot, client, integ, last_index: int) -> None:
    """The next chunk continues right after ``last_index``: nothing was lost, nothing half-applied."""
    qtbot.waitUntil(lambda: not client.busy, timeout=TIMEOUT)
    with qtbot.waitSignal(client.chunk_ready, timeout=TIMEOUT) as nxt:
        client.step(poses(integ))
    record = nxt.args[0]
    assert record.index == last_index + 1 and np.isfinite(record.latents.numpy()).all()


def test_a_model_that_cannot_load_is_a_message_and_the_running_session_goes_on(qtbot, client, start_image):
    integ, first = started_with_one_chunk(qtbot, client, start_image)
    with qtbot.waitSignal(client.error, timeout=TIMEOUT) as err:
        client.load_model("/models/broken")
    assert "/models/broken" in err.args[0] and "\n" not in err.args[0]
    assert_usable_and_intact(qtbot, client, integ, first.index)


@pytest.mark.parametrize("fault", [MemoryError("out of memory"), torch.OutOfMemoryError("CUDA out of memory")],
                         ids=["MemoryError", "torch.OutOfMemoryError"])  # fmt: skip
def test_running_out_of_memory_mid_chunk_is_a_message_and_the_session_is_unchanged(qtbot, client, tiny_bundle,
                                                                                    start_image, monkeypatch, fault):  # fmt: skip
    integ, first = started_with_one_chunk(qtbot, client, start_image)
    calls = {"n": 0}
    forward = tiny_bundle.transformer.forward

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second model call of the chunk: part of the work is done
            raise fault
        return forward(*args, **kwargs)

    monkeypatch.setattr(tiny_bundle.transformer, "forward", failing)
    with qtbot.waitSignal(client.error, timeout=TIMEOUT) as err:
        client.step(poses(MotionIntegrator("v2")))
    assert "out of memory" in err.args[0].lower()
    monkeypatch.setattr(tiny_bundle.transformer, "forward", forward)
    assert_usable_and_intact(qtbot, client, integ, first.index)


def test_a_nan_chunk_is_a_message_and_is_not_added_to_the_session(qtbot, client, tiny_bundle, start_image, monkeypatch):
    integ, first = started_with_one_chunk(qtbot, client, start_image)
    forward = tiny_bundle.transformer.forward
    shown: list[object] = []
    client.chunk_ready.connect(shown.append)
    monkeypatch.setattr(tiny_bundle.transformer, "forward", lambda *a, **k: forward(*a, **k) * float("nan"))
    with qtbot.waitSignal(client.error, timeout=TIMEOUT) as err:
        client.step(poses(MotionIntegrator("v2")))
    assert "NaN" in err.args[0] and not shown  # no NaN frames reached the view
    monkeypatch.setattr(tiny_bundle.transformer, "forward", forward)
    assert_usable_and_intact(qtbot, client, integ, first.index)
