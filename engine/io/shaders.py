"""Finding and loading the GLSL sources in the repository's ``shaders/`` folder.

Why a folder outside the package: the explorer's 3D editor and ``engine.synth`` share GLSL, and shader
authors edit plain ``.vert``/``.frag`` files. The folder is looked up in this order:

1. ``$SANA_WM_SHADERS`` (a folder holding ``synth/`` etc.), for development and unusual installs;
2. ``<repo>/shaders`` next to the ``engine`` package (source checkout and editable installs);
3. ``<sys.prefix>/share/sana-wm/shaders`` (a wheel that ships the folder as data files).

Sources may contain ``#include "name.glsl"`` lines (resolved relative to the including file, once per
file) so shared functions such as the sky colour are written once.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from engine.errors import InputFileError

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$', re.MULTILINE)


def shader_roots() -> list[Path]:
    """Candidate ``shaders/`` folders in lookup order (existing or not)."""
    roots = []
    env = os.environ.get("SANA_WM_SHADERS")
    if env:
        roots.append(Path(env))
    roots.append(Path(__file__).resolve().parents[2] / "shaders")
    roots.append(Path(sys.prefix) / "share" / "sana-wm" / "shaders")
    return roots


def shader_path(name: str) -> Path:
    """The file ``name`` (e.g. ``"synth/scene.frag"``) in the first shader root that has it."""
    roots = shader_roots()
    for root in roots:
        candidate = root / name
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(r / name) for r in roots)
    raise InputFileError(
        f"shader {name!r}: not found (tried {tried}); set SANA_WM_SHADERS to the repository's shaders/ folder"
    )


def load_shader(name: str, defines: tuple[str, ...] = ()) -> str:
    """The source of shader ``name`` with its ``#include`` lines expanded and ``#define`` lines for
    ``defines`` inserted after the ``#version`` line (GLSL requires ``#version`` first)."""
    text = _expand(shader_path(name), seen=set())
    if not defines:
        return text
    lines = text.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.strip().startswith("#version")), 0)
    return "\n".join(lines[:at] + [f"#define {d}" for d in defines] + lines[at:])


def _expand(path: Path, seen: set[Path]) -> str:
    if path in seen:
        return ""
    seen.add(path)
    text = path.read_text(encoding="utf-8")

    def include(match: re.Match) -> str:
        target = path.parent / match.group(1)
        if not target.is_file():
            raise InputFileError(f"shader {path.name}: #include {match.group(1)!r} not found at {target}")
        return _expand(target, seen)

    return _INCLUDE.sub(include, text)
