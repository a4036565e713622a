"""Drive mode: held keys -> camera poses through the engine's one :class:`MotionIntegrator`, chunk by chunk.

Timing (the decision, and why): a :class:`QTimer` ticks at the video frame rate (16 fps). Every tick records the set
of DSL keys held at that moment — one entry per video frame, the same thing an action string spells out. When the
engine can take the next chunk, :meth:`DriveController.take_chunk` integrates the recorded key sets (topped up with
the keys held *now* when fewer than a chunk's worth were recorded) into the chunk's 24 poses. So the keys pressed
while one chunk is being generated steer the next chunk, frame for frame, and the poses equal what
``MotionIntegrator.run`` gives for the same key sets. Key sets, not poses, are buffered so that when the model is
slower than real time the buffer can keep the *newest* chunk's worth (the oldest key sets drop) without rewriting
integrated poses.

Pacing: while driving and keys are (or were, for a recorded frame) held, a chunk is requested on a tick when the
owner's ``ready()`` says the engine is idle and the display has less than a chunk of frames still to play; a model
faster than real time is held to real time, a slower one is asked for the next chunk as soon as it is free. Letting
go of the keys stops generation after the chunk that holds the release.

Held keys are cleared when the window loses focus (no camera that keeps flying after an Alt-Tab). Auto-repeat key
events are ignored: a key counts as held from its press to its release.
"""

from __future__ import annotations

import math
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


class DriveController(QObject):
    """Keyboard driving (see the module docstring).

    Signals:
        held_changed(frozenset): the DSL keys held changed.
        step_requested(object): ``(frames_per_chunk, 4, 4)`` poses of the next chunk, emitted on a tick while driving
            and ``ready()``.
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
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.keymap = keymap or preset("v2")
        self.frames_per_chunk = frames_per_chunk
        self.ready = ready or (lambda: False)
        self.integrator = MotionIntegrator(self.keymap.version)
        self.driving = False  # the Drive toggle: request chunks by itself while keys are held
        self._held: set[str] = set()
        self._qt_held: dict[int, str] = {}
        self._pending: deque[frozenset[str]] = deque(maxlen=frames_per_chunk)
        self._states: dict[bytes, IntegratorState] = {}
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / fps))
        self.timer.timeout.connect(self.tick)

    # ----- keys -----------------------------------------------------------------------------------------------------
    @property
    def held(self) -> frozenset[str]:
        """DSL keys held now."""
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
        """A key went down; True when it is a driving key (the caller then accepts the event)."""
        dsl = self.keymap.dsl_key(qt_key)
        if dsl is None:
            return False
        if not auto_repeat and self._qt_held.get(qt_key) != dsl:
            self._qt_held[qt_key] = dsl
            self._update_held()
        return True

    def release(self, qt_key: int, auto_repeat: bool = False) -> bool:
        """A key went up; auto-repeat releases are ignored."""
        dsl = self.keymap.dsl_key(qt_key)
        if dsl is None and qt_key not in self._qt_held:
            return False
        if not auto_repeat and self._qt_held.pop(qt_key, None) is not None:
            self._update_held()
        return True

    def hold(self, dsl_keys: str) -> None:
        """Hold DSL keys directly, whatever the key map (scripted driving: screenshots, measurements); released by
        :meth:`clear_held`."""
        for dsl in dsl_keys:
            if dsl not in DSL_KEYS:
                raise ConfigError(f"hold: expected DSL keys from '{DSL_KEYS}', found {dsl!r}")
            self._qt_held[-1 - DSL_KEYS.index(dsl)] = dsl  # negative ids never collide with Qt key codes
        self._update_held()

    def clear_held(self) -> None:
        """Release every key (the window lost focus)."""
        if self._qt_held:
            self._qt_held.clear()
            self._update_held()

    def _update_held(self) -> None:
        held = set(self._qt_held.values())
        if held != self._held:
            self._held = held
            self.held_changed.emit(frozenset(held))

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
        """Keys are held now, or were held during a frame recorded for the next chunk (a short tap while the engine
        was busy still moves the camera). A camera coasting after the keys are released does not keep the engine
        generating: its velocity carries into the next chunk the user asks for."""
        return bool(self._held) or any(self._pending)

    @property
    def pending(self) -> int:
        """Key sets recorded for the next chunk."""
        return len(self._pending)

    def tick(self) -> None:
        """One video frame: record the held keys; request the next chunk when driving and the engine is ready."""
        self._pending.append(frozenset(self._held))
        if self.driving and self.wants_chunk and self.ready():
            self.step_requested.emit(self.take_chunk())

    def take_chunk(self) -> np.ndarray:
        """The next chunk's ``(frames_per_chunk, 4, 4)`` poses from the recorded key sets (topped up with the keys
        held now); the recorded sets are consumed."""
        key_sets = list(self._pending)
        self._pending.clear()
        key_sets += [frozenset(self._held)] * (self.frames_per_chunk - len(key_sets))
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

