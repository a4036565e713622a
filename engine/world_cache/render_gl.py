"""The world cache rendered with moderngl on a headless EGL context (Mesa's llvmpipe on any CPU, or a GPU driver).

Why GL and not numpy: a rollout renders the cache at every frame's pose (55k pixels, up to 200k splats); the
rasteriser does the per-pixel z-buffer in a few milliseconds where the numpy reference
(:mod:`engine.world_cache.render_reference`, the specification this is tested against) takes far longer.

The splat model is :mod:`engine.world_cache.splats` (shaders ``world_cache/splat.vert`` / ``splat.frag``): point
sprites sized by depth, a depth test on ``z + offset * size * r^2``. One pass writes colour (RGBA8, alpha =
coverage) and camera z (R32F) to two targets. The camera model is the synth renderer's
(:func:`engine.synth.renderer.projection_matrix`: OpenCV axes, pixel ``i`` covers ``[i, i + 1)``, row 0 at the top).

A state's vertex buffer is uploaded once and reused while the same state is rendered at several poses (a state is
immutable, so its identity says whether the buffer is current).
"""

from __future__ import annotations

import numpy as np

from engine.camera.intrinsics import as_vec4
from engine.camera.poses import se3_inverse, validate_c2w
from engine.errors import ConfigError
from engine.io.shaders import load_shader
from engine.synth.renderer import create_context, projection_matrix
from engine.world_cache.memory import CacheState, positions
from engine.world_cache.render_types import CacheRender
from engine.world_cache.splats import DEPTH_OFFSET, FAR, MAX_SPLAT_PX, NEAR, SPLAT_SCALE


class CacheRenderer:
    """Renders :class:`CacheState` s. Keep one and reuse it (the context and program cost far more than a frame).

    Example::

        with CacheRenderer() as r:
            out = r.render(cache.state, c2w, [fx, fy, cx, cy], (320, 176))  # out.colour, out.coverage, out.depth
    """

    def __init__(self, ctx=None) -> None:
        import moderngl

        self._mgl = moderngl
        self.ctx = ctx if ctx is not None else create_context()
        self._own_ctx = ctx is None
        self.prog = self.ctx.program(vertex_shader=load_shader("world_cache/splat.vert"),
                                     fragment_shader=load_shader("world_cache/splat.frag"))
        self.prog["u_scale"].value = SPLAT_SCALE
        self.prog["u_max_px"].value = MAX_SPLAT_PX
        self.prog["u_depth_offset"].value = DEPTH_OFFSET
        a, b = (FAR + NEAR) / (FAR - NEAR), -2.0 * FAR * NEAR / (FAR - NEAR)
        self.prog["u_ndc_z"].value = (a, b)
        self._state: CacheState | None = None
        self._buffers: list = []
        self._vao = None
        self._targets: dict[tuple[int, int], tuple] = {}

    def release(self) -> None:
        with self.ctx:
            self._drop_buffers()
            for target in self._targets.values():
                for obj in target:
                    obj.release()
            self._targets.clear()
            self.prog.release()
        if self._own_ctx:
            self.ctx.release()

    def __enter__(self) -> "CacheRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def render(self, state: CacheState, c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int]) -> CacheRender:
        """Render ``state`` at pose ``c2w`` ``(4, 4)`` (OpenCV camera-to-world) with ``[fx, fy, cx, cy]`` (pixels of
        the output) to a ``size = (W, H)`` :class:`CacheRender`."""
        pose = validate_c2w(np.asarray(c2w, dtype=np.float64).reshape(1, 4, 4), name="world cache render pose")[0]
        k = as_vec4(intrinsics, name="world cache render intrinsics")[0]
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0 or w > 8192 or h > 8192:
            raise ConfigError(f"world cache render size: expected 1..8192 pixels per side, found {w}x{h}")
        with self.ctx:
            return self._render(state, pose, k, (w, h))

    def _render(self, state: CacheState, pose: np.ndarray, k: np.ndarray, size: tuple[int, int]) -> CacheRender:
        w, h = size
        fbo = self._target(size)
        fbo.use()
        self.ctx.viewport = (0, 0, w, h)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        if len(state):
            self._upload(state)
            self._matrix("u_view", se3_inverse(pose))
            self._matrix("u_proj", projection_matrix(k, size, NEAR, FAR))
            self.prog["u_focal"].value = float(max(k[0], k[1]))
            self.ctx.enable(self._mgl.DEPTH_TEST | self._mgl.PROGRAM_POINT_SIZE)
            self.ctx.depth_func = "<"
            self._vao.render(self._mgl.POINTS, vertices=len(state))
        rgba = np.empty((h, w, 4), np.uint8)
        z = np.empty((h, w), np.float32)
        fbo.read_into(rgba, components=4, attachment=0, alignment=1)
        fbo.read_into(z, components=1, attachment=1, dtype="f4", alignment=1)
        coverage = rgba[..., 3] > 0
        colour = np.where(coverage[..., None], rgba[..., :3], 0).astype(np.uint8)
        depth = np.where(coverage, z, np.inf).astype(np.float32)
        return CacheRender(colour, coverage, depth)

    def _matrix(self, name: str, m: np.ndarray) -> None:
        self.prog[name].write(np.ascontiguousarray(m.T, dtype=np.float32).tobytes())  # GL is column-major

    def _upload(self, state: CacheState) -> None:
        if self._state is state:
            return
        self._drop_buffers()
        ctx = self.ctx
        pos = ctx.buffer(positions(state, np.float32).tobytes())
        rgba = np.zeros((len(state), 4), np.uint8)
        rgba[:, :3] = state.colours
        col = ctx.buffer(rgba.tobytes())
        siz = ctx.buffer(state.sizes.astype(np.float32).tobytes())
        self._vao = ctx.vertex_array(self.prog, [(pos, "3f", "in_pos"), (col, "4f1", "in_colour"),
                                                 (siz, "1f", "in_size")])
        self._buffers = [pos, col, siz]
        self._state = state

    def _drop_buffers(self) -> None:
        if self._vao is not None:
            self._vao.release()
        for b in self._buffers:
            b.release()
        self._vao, self._buffers, self._state = None, [], None

    def _target(self, size: tuple[int, int]):
        if size not in self._targets:
            ctx = self.ctx
            colour = ctx.renderbuffer(size, 4)
            z = ctx.renderbuffer(size, 1, dtype="f4")
            depth = ctx.depth_renderbuffer(size)
            self._targets[size] = (ctx.framebuffer([colour, z], depth), colour, z, depth)
        return self._targets[size][0]
