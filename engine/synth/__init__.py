"""Procedural 3D worlds rendered headless: training clips, ground truth and demo scenes for the embedded model.

Modules (one concept each; see docs/synth.md for the world frame, the dataset format and measured speed):

* :mod:`engine.synth.scene` — the scene description (terrain, sky, sun, fog, objects) and the world frame; numpy only;
* :mod:`engine.synth.world` — seeded worlds from ``(seed, theme)``: terrain relief, ground materials, weather;
* :mod:`engine.synth.placement` — the objects of each theme and where they stand;
* :mod:`engine.synth.textures` and :mod:`engine.synth.noise` — baked, tileable procedural textures;
* :mod:`engine.synth.meshes` — triangle meshes of terrain and objects;
* :mod:`engine.synth.renderer` — moderngl/EGL renderer with exact OpenCV intrinsics (GLSL in ``shaders/synth``,
  found by :mod:`engine.io.shaders`);
* :mod:`engine.synth.trajectories` — random held-key camera paths through the MotionIntegrator;
* :mod:`engine.synth.dataset` — clip generation and the on-disk format;
* :mod:`engine.synth.demos` — demo scenes (start image, camera, title, suggested action).

Nothing here imports moderngl until a renderer is created, so the scene and path code runs without GL.
"""
