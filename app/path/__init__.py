"""Path mode: a keyframed 3D camera-path editor (issue #7 item 4).

* :mod:`engine.camera.keyframes` — the document (keyframes, interpolation, Trajectory conversion); no Qt;
* :mod:`app.path.files` — import/export through :mod:`engine.camera.formats`, dialog-free;
* :mod:`app.path.commands` — QUndoCommands for every edit;
* :mod:`app.path.gl_view` — the moderngl viewport in a QOpenGLWidget (shaders in ``shaders/editor``);
* :mod:`app.path.view_math` — orbit camera, projection, picking and line geometry of the view (numpy);
* :mod:`app.path.panel` — the side panel (keyframe list, numeric fields, playback, files, generate);
* :mod:`app.path.editor` — :class:`PathEditor`, the public widget (view + panel) that owns the undo stack;
* :mod:`app.path.gl_selftest` — renders the editor under a real X server for the screenshot tests.

``PathEditor`` is imported lazily so the Qt-free parts can be used without PySide6 loaded.
"""

from __future__ import annotations

from typing import Any

from engine.camera.keyframes import CameraPath, Keyframe


def __getattr__(name: str) -> Any:
    if name == "PathEditor":
        from app.path.editor import PathEditor

        return PathEditor
    raise AttributeError(f"module 'app.path' has no attribute {name!r}")


__all__ = ["CameraPath", "Keyframe", "PathEditor"]
