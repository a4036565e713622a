"""Drive mode: held keys -> camera poses through the engine's one :class:`MotionIntegrator`, chunk by chunk.

Timing (the decision, and why): the poses of a chunk are read as late as possible. When the engine can take the
next chunk, :meth:`DriveController.take_chunk` integrates the keys held *at that moment* into the chunk's 24 poses
(every frame of the chunk holds them), so a key pressed while the engine is idle is sent at once
(:meth:`DriveController.press` asks for the chunk without waiting for a tick) and the first chunk after a press moves
at full speed. The earlier design replayed the key sets recorded at every 16 fps tick, the newest chunk's worth: the
ticks before a press were mostly empty, so the first chunk after a press barely moved and the motion showed one
chunk later (issue 18, item 1).

Taps: a key pressed and released before the engine could take a chunk still moves the camera. A :class:`QTimer`
ticks at the video frame rate and records the held key sets from the first tick with a key held (idle ticks before
it are not recorded); when nothing is held at the request, the recorded sets are replayed (topped up with empty
sets), frame for frame. The poses always equal what ``MotionIntegrator.run`` gives for the same key sets.

Pacing: while driving and keys are held (or a tap is recorded), a chunk is requested on a tick, on a press, or when
the engine goes idle, once the owner's ``ready()`` says the engine is free and the display will run out of frames
within about one chunk's generation time (:func:`display_needs_chunk`); a model faster than real time is held to
real time without queueing a chunk of stale poses, a slower one is asked for the next chunk as soon as it is free.
Letting go of the keys stops generation after the chunk that holds the release.

Key auto-repeat: a desktop's auto-repeat sends release/press pairs while a key is held. Qt flags them
(``isAutoRepeat``) when it sees both at once; on X11 a loaded event loop can see the release alone and report it as
a real one. So a release takes effect only after :data:`RELEASE_GRACE_MS` without a new press of the key, and any
press of a key not held (auto-repeat flagged or not) holds it again. Held keys are cleared at once when the window
loses focus (no camera that keeps flying after an Alt-Tab).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal

from app.keymap import KeyMap, preset
from engine.camera.controls import DSL_KEYS
from engine.camera.integrator import IntegratorState, MotionIntegrator
from engine.errors import ConfigError

_M = Qt.KeyboardModifier
_SHORTCUT_MODIFIERS = _M.ControlModifier | _M.AltModifier | _M.MetaModifier

#: How long a key release waits for the auto-repeat press that may follow it (X11 sends both at the same moment;
#: the key repeat interval is 25-40 ms, a human re-press takes longer than this).
RELEASE_GRACE_MS = 45


def display_needs_chunk(queued_frames: int, fps: float, chunk_seconds: float | None, frames_per_chunk: int) -> bool:
    """True when the frames still queued for display will run out within about one chunk's generation time
    (``chunk_seconds``, the last chunk's; None before the first): asking now keeps playback continuous while the
    poses are read as late as possible. Never more than one chunk of frames is queued ahead."""
    if chunk_seconds is None:
        return queued_frames < frames_per_chunk
    lead = math.ceil(1.25 * chunk_seconds * fps) + 2  # frames that play while the next chunk is generated
    return queued_frames <= min(lead, frames_per_chunk - 1)


class DriveController(QObject):
    """Keyboard driving (see the module docstring).

    Signals:
        held_changed(frozenset): the DSL keys held changed.
        step_requested(object): ``(frames_per_chunk, 4, 4)`` poses of the next chunk, emitted while driving and
            ``ready()`` (on a tick, a press or :meth:`poll`).

    Args:
        release_grace_ms: see :data:`RELEASE_GRACE_MS`; 0 releases at once (scripts that call :meth:`release`).
    """

    held_changed = Signal(object)
    step_requested = Signal(object)

    def __init__(
        self,
        keymap: KeyMap | None = None,
        *,
        frames_per_chunk: int = 24,
        fps: float = 16.0,
        ready: Callable[[], bool] | None = None,
        release_grace_ms: int = RELEASE_GRACE_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.keymap = keymap or preset("v2")
        self._pending: deque[frozenset[str]] = deque(maxlen=frames_per_chunk)
        self.ready = ready or (lambda: False)
        self.integrator = MotionIntegrator(self.keymap.version)
        self.driving = False  # the Drive toggle: request chunks by itself while keys are held
        self._held: set[str] = set()
        self._qt_held: dict[int, str] = {}
        # Real releases waiting out the auto-repeat grace: Qt key -> monotonic deadline (s). One single-shot timer,
        # connected to a bound method, serves them all. (A timer per release whose slot was a lambda holding
        # ``self`` kept an unparented controller alive only through its own child: deleting that timer freed the
        # controller, which deleted the timer a second time, a segfault in the next event loop.)
        self._releasing: dict[int, float] = {}
        self._grace_ms = int(release_grace_ms)
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.timeout.connect(self._release_expired)
        self._states: dict[bytes, IntegratorState] = {}
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / fps))
        self.timer.timeout.connect(self.tick)

    @property
    def frames_per_chunk(self) -> int:
        """Poses per chunk (the loaded model's); changing it forgets a recorded tap."""
        return self._pending.maxlen or 0

    @frames_per_chunk.setter
    def frames_per_chunk(self, value: int) -> None:
        if value != self._pending.maxlen:
            self._pending = deque(maxlen=int(value))

    # ----- keys -----------------------------------------------------------------------------------------------------
    @property
    def held(self) -> frozenset[str]:
        """DSL keys held now (a key whose release waits out the auto-repeat grace still counts)."""
        return frozenset(self._held)

    def set_keymap(self, keymap: KeyMap) -> None:
        """Use another key map; a different mapping version restarts the integrator at the current pose."""
        self.clear_held()
        if keymap.version != self.keymap.version:
            pose = self.integrator.pose
            self.integrator = MotionIntegrator(keymap.version, pose=pose)
            self._states.clear()
        self.keymap = keymap

    def press(self, qt_key: int, auto_repeat: bool = False) -> bool:
        """A key went down; True when it is a driving key (the caller then accepts the event). A press cancels a
        waiting release of the key; a key not held is held whether or not the press is flagged auto-repeat (its
        release may have been taken for a real one). A new key asks for a chunk at once when the engine is ready."""
        dsl = self.keymap.dsl_key(qt_key)
        if dsl is None:
            return False
        self._releasing.pop(qt_key, None)  # the timer may still fire: it finishes only keys whose deadline passed
        if self._qt_held.get(qt_key) != dsl:
            self._qt_held[qt_key] = dsl
            if self._update_held():
                self.poll()
        return True

    def release(self, qt_key: int, auto_repeat: bool = False) -> bool:
        """A key went up. Flagged auto-repeat releases are ignored; a real one takes effect after the grace
        (:data:`RELEASE_GRACE_MS`) unless the key is pressed again meanwhile."""
        dsl = self.keymap.dsl_key(qt_key)
        if dsl is None and qt_key not in self._qt_held:
            return False
        if auto_repeat or qt_key not in self._qt_held:
            return True
        if self._grace_ms <= 0:
            self._finish_release(qt_key)
        elif qt_key not in self._releasing:
            self._releasing[qt_key] = time.monotonic() + self._grace_ms / 1000
            if not self._release_timer.isActive():
                self._release_timer.start(self._grace_ms)
        return True

    def _finish_release(self, qt_key: int) -> None:
        self._releasing.pop(qt_key, None)
        if self._qt_held.pop(qt_key, None) is not None:
            self._update_held()

    def _release_expired(self) -> None:
        """The grace timer fired: finish the releases whose grace is over, wait again for the others."""
        now = time.monotonic()
        for qt_key in [k for k, due in self._releasing.items() if due <= now]:
            self._finish_release(qt_key)
        if self._releasing:
            wait_s = min(self._releasing.values()) - now
            self._release_timer.start(max(1, math.ceil(wait_s * 1000)))

    def hold(self, dsl_keys: str) -> None:
        """Hold DSL keys directly, whatever the key map (scripted driving: screenshots, measurements); released by
        :meth:`clear_held`."""
        for dsl in dsl_keys:
            if dsl not in DSL_KEYS:
                raise ConfigError(f"hold: expected DSL keys from '{DSL_KEYS}', found {dsl!r}")
            self._qt_held[-1 - DSL_KEYS.index(dsl)] = dsl  # negative ids never collide with Qt key codes
        self._update_held()

    def clear_held(self) -> None:
        """Release every key at once (the window lost focus)."""
        self._release_timer.stop()
        self._releasing.clear()
        if self._qt_held:
            self._qt_held.clear()
            self._update_held()

    def _update_held(self) -> bool:
        """Recompute the held DSL keys; True when a key was added."""
        held = set(self._qt_held.values())
        if held == self._held:
            return False
        added = bool(held - self._held)
        self._held = held
        self.held_changed.emit(frozenset(held))
        return added

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """Install on the widgets that drive (the viewport, the window): keys in, focus loss clears."""
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            if kind == QEvent.Type.KeyPress and event.modifiers() & _SHORTCUT_MODIFIERS:
                return False  # Ctrl+S and friends are shortcuts, not driving (releases always count)
            handle = self.press if kind == QEvent.Type.KeyPress else self.release
            return handle(event.key(), event.isAutoRepeat())
        if kind in (QEvent.Type.FocusOut, QEvent.Type.WindowDeactivate, QEvent.Type.Hide):
            self.clear_held()
        return False

    # ----- poses ----------------------------------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        """Ground speed in trajectory units per second (from the integrator's smoothed velocity)."""
        forward, strafe, _, _ = self.integrator.velocity
        return math.hypot(forward, strafe) * self.integrator.mapping.fps

    @property
    def wants_chunk(self) -> bool:
        """Keys are held now, or a tap was recorded for the next chunk (a short tap while the engine was busy still
        moves the camera). A camera coasting after the keys are released does not keep the engine generating: its
        velocity carries into the next chunk the user asks for."""
        return bool(self._held) or any(self._pending)

    @property
    def pending(self) -> int:
        """Key sets recorded for the next chunk (from the first tick with a key held)."""
        return len(self._pending)

    def tick(self) -> None:
        """One video frame: record the held keys (once a key has been held); request the next chunk when driving
        and the engine is ready."""
        if self._held or self._pending:
            self._pending.append(frozenset(self._held))
        self.poll()

    def poll(self) -> None:
        """Request the next chunk now if driving, keys want one and ``ready()`` (a press, the engine going idle)."""
        if self.driving and self.wants_chunk and self.ready():
            self.step_requested.emit(self.take_chunk())

    def chunk_keys(self) -> list[frozenset[str]]:
        """The key set of each frame of the next chunk: the keys held now on every frame; with nothing held, the
        recorded tap (then empty frames)."""
        if self._held:
            return [frozenset(self._held)] * self.frames_per_chunk
        recorded = list(self._pending)
        return recorded + [frozenset()] * (self.frames_per_chunk - len(recorded))

    def take_chunk(self) -> np.ndarray:
        """The next chunk's ``(frames_per_chunk, 4, 4)`` poses from :meth:`chunk_keys`; the recorded sets are
        consumed."""
        key_sets = self.chunk_keys()
        self._pending.clear()
        poses = np.stack([self.integrator.step(keys) for keys in key_sets])
        self._states[poses[-1].tobytes()] = self.integrator.state()
        return poses

    def sync(self, c2w_last: np.ndarray | None) -> None:
        """Continue from a chunk's last pose (None: the start pose) — after a rewind, a branch switch, a cancelled
        or failed step, or a chunk generated along a path. The integrator's own state (velocity, pitch) is restored
        when this controller integrated that pose; otherwise it is rebuilt from the pose, at rest."""
        self._pending.clear()
        if c2w_last is None:
            self.integrator = MotionIntegrator(self.keymap.version)
            return
        pose = np.asarray(c2w_last, dtype=np.float64)
        state = self._states.get(pose.tobytes())
        if state is None:
            forward = pose[:3, 2]
            pitch = math.atan2(-forward[1], math.hypot(forward[0], forward[2]))
            state = IntegratorState(pose=pose.copy(), pitch=pitch, velocity=(0.0, 0.0, 0.0, 0.0),
                                    previous_controls=frozenset(), frame=0)  # fmt: skip
        self.integrator.restore(state)

    def reset(self) -> None:
        """A new stream: start pose, nothing held, nothing recorded."""
        self.clear_held()
        self._states.clear()
        self.sync(None)

