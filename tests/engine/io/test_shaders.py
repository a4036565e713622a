"""Shader lookup: the repository folder, the SANA_WM_SHADERS override, #include expansion, clear errors."""

from __future__ import annotations

import pytest

from engine.errors import InputFileError
from engine.io.shaders import load_shader, shader_path


def test_repository_shaders_are_found_and_includes_expanded():
    assert shader_path("synth/scene.frag").is_file()
    src = load_shader("synth/scene.frag", defines=("TERRAIN",))
    assert src.splitlines()[0].startswith("#version") and src.splitlines()[1] == "#define TERRAIN"
    assert "#include" not in src and "vec3 sky_color(vec3 dir)" in src


def test_override_folder_wins_and_missing_shader_names_the_places_tried(tmp_path, monkeypatch):
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "x.frag").write_text('#version 330\n#include "y.glsl"\nvoid main() {}\n')
    (tmp_path / "synth" / "y.glsl").write_text("float y() { return 1.0; }\n")
    monkeypatch.setenv("SANA_WM_SHADERS", str(tmp_path))
    assert "float y()" in load_shader("synth/x.frag")
    with pytest.raises(InputFileError, match="SANA_WM_SHADERS"):
        load_shader("synth/missing.frag")
