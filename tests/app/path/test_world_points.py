"""The 3D path editor's "World points" box: disabled until there are points, and it switches the view's drawing.
(The pixels themselves are checked under Xvfb in test_gl_view.py.)"""

import numpy as np

from app.path.editor import PathEditor


def test_the_box_follows_the_points_and_switches_the_view(qtbot):
    editor = PathEditor()
    qtbot.addWidget(editor)
    box = editor.panel.world_points_box
    assert not box.isEnabled() and box.isChecked()
    toggles = []
    editor.panel.world_points_toggled.connect(toggles.append)
    editor.set_world_points(np.zeros((3, 3), np.float32), np.zeros((3, 3), np.uint8))
    assert box.isEnabled() == (editor.gl_view is not None)
    box.setChecked(False)
    assert toggles == [False]
    if editor.gl_view is not None:
        assert not editor.gl_view.show_cloud and len(editor.gl_view.cloud[0]) == 3
    editor.set_world_points(None)
    assert not box.isEnabled()
