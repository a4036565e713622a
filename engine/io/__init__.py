"""Files in and out: atomic writes, the demo scenes and the GLSL sources shipped with the project."""
