"""Headless OpenGL rendering of :class:`engine.synth.world.World` scenes with moderngl on EGL.

Why moderngl + EGL: it runs without a display server, on Mesa's software rasteriser (llvmpipe) on any
CPU and on a GPU driver when there is one, and the GLSL is shared with the explorer's 3D editor.

**Camera model (exact).** A frame is a camera-to-world pose ``c2w`` (OpenCV axes: +X right, +Y down,
+Z forward) and pinhole intrinsics ``[fx, fy, cx, cy]`` in pixels of the output image. A world point ``X``
with camera coordinates ``(x, y, z) = inv(c2w) X`` lands at continuous pixel coordinates
``u = fx x / z + cx``, ``v = fy y / z + cy``, where pixel column ``i`` covers ``u`` in ``[i, i + 1)`` (its
centre is ``i + 0.5``; ``cx = W / 2`` is the image centre, as :func:`engine.camera.intrinsics.from_fov`
assumes) and row 0 is the top of the image. :func:`projection_matrix` maps camera coordinates straight to
GL clip space with this relation (no axis flips, principal point included), so the rendered pixels agree
with the poses to rasteriser precision; ``tests/engine/synth/test_renderer.py`` pins it.

**Anti-aliasing.** Textures are mipmapped (trilinear); geometry edges use MSAA (``msaa`` samples) and,
optionally, ordered supersampling (``supersample`` x ``supersample``, box-filtered, which keeps the
continuous-pixel convention exact because pixel ``i`` is the mean of sub-pixels ``s i .. s i + s - 1``).

**Depth.** ``render(..., depth=True)`` also returns exact metric depth: per pixel, the camera-space ``z``
(distance along the camera's +Z axis, scene units = metres, *not* the ray length) of the surface seen through
the pixel centre, float32, ``inf`` where no surface is hit (sky). It comes from a second, single-sample pass
over the same geometry (same projection, culling and depth test) writing ``z`` to a float target, so it is
exact at pixel centres; anti-aliased colour edges blend two surfaces while depth picks the one at the centre.
With supersampling the depth is still sampled at the output pixel centres.

**Determinism.** The same world, poses, intrinsics, size and settings give bit-identical pixels on the same
machine and Mesa build (the rasteriser is deterministic); other GL drivers may differ in the last bits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from engine.camera.intrinsics import as_vec4
from engine.camera.poses import se3_inverse, validate_c2w
from engine.errors import ConfigError, IntrinsicsError
from engine.synth.meshes import VERTEX_ATTRIBUTES, VERTEX_FORMAT, scene_meshes
from engine.io.shaders import load_shader
from engine.synth.textures import NUM_VARIANTS, TEXTURE_KINDS, TEXTURE_METRES, TEXTURE_SIZE, cloud_texture, texture_stack
from engine.synth.world import World

log = logging.getLogger(__name__)

#: Clip planes in metres: near enough for a camera brushing past a rock, far enough for the mountains.
NEAR = 0.05
FAR = 1500.0
#: Half-size (metres) of the square around the origin that receives shadows.
SHADOW_REACH = 90.0
#: Packages that provide software EGL on Debian/Ubuntu (named in the error when no context can be made).
EGL_PACKAGES = "libegl1 libgl1-mesa-dri libegl-mesa0 libgles2"


class RendererUnavailableError(RuntimeError):
    """No OpenGL 3.3 context could be created (EGL or Mesa missing); the message says what to install."""


def load_triton_before_gl() -> None:
    """Import triton, where it is installed, before the first GL context is made.

    Why: Mesa's llvmpipe and triton each bring their own LLVM, and triton loaded *after* llvmpipe crashes the
    process (a segfault inside ``import triton``; Mesa 22.3 / LLVM 15 with triton 3.x). torch imports triton
    lazily, for example the first time a model is built, so a process that rendered first and built a model
    second (a training run without data workers, a test file) died there. Loaded in this order, both work. The
    explorer calls it before Qt makes its GL contexts, and the test suite before any test runs.
    """
    try:
        import triton  # noqa: F401
    except ImportError:
        pass


def create_context():
    """A standalone moderngl context on EGL (no display server). Raises :class:`RendererUnavailableError`."""
    load_triton_before_gl()
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - moderngl is a dependency
        raise RendererUnavailableError(f"moderngl is not installed ({exc}); pip install 'moderngl>=5.10'") from None
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions with the EGL error text
        raise RendererUnavailableError(
            f"could not create a headless OpenGL 3.3 context with EGL ({exc}); on Debian/Ubuntu install "
            f"the Mesa EGL/GL packages: apt-get install {EGL_PACKAGES}"
        ) from None
    return ctx


def projection_matrix(intrinsics: np.ndarray, size: tuple[int, int], near: float = NEAR, far: float = FAR) -> np.ndarray:
    """``(4, 4)`` float64 matrix from OpenCV camera coordinates to GL clip space for a ``size = (W, H)`` target.

    ``ndc_x = 2 u / W - 1`` and ``ndc_y = 2 v / H - 1`` with ``(u, v)`` the continuous pixel coordinates of
    the module docstring, so GL window coordinates equal ``(u, v)`` and the framebuffer's first row in
    memory is the top image row. Depth maps ``z = near .. far`` to ``-1 .. 1``.
    """
    fx, fy, cx, cy = (float(v) for v in np.asarray(intrinsics, dtype=np.float64).reshape(4))
    w, h = size
    return np.array(
        [
            [2.0 * fx / w, 0.0, 2.0 * cx / w - 1.0, 0.0],
            [0.0, 2.0 * fy / h, 2.0 * cy / h - 1.0, 0.0],
            [0.0, 0.0, (far + near) / (far - near), -2.0 * far * near / (far - near)],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )


def project_points(points: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Continuous pixel coordinates ``(N, 2)`` of world points ``(N, 3)`` for one camera (the renderer's model)."""
    cam = (se3_inverse(np.asarray(c2w, dtype=np.float64)) @ np.c_[points, np.ones(len(points))].T).T[:, :3]
    fx, fy, cx, cy = np.asarray(intrinsics, dtype=np.float64).reshape(4)
    return np.stack([fx * cam[:, 0] / cam[:, 2] + cx, fy * cam[:, 1] / cam[:, 2] + cy], axis=1)


def light_matrix(sun_direction: np.ndarray, y_range: tuple[float, float], reach: float = SHADOW_REACH) -> np.ndarray:
    """World -> shadow clip (orthographic along the sunlight), fitted to the box ``|x|, |z| <= reach`` and
    ``y`` in ``y_range``, so a low sun does not stretch the shadow texels."""
    fwd = -np.asarray(sun_direction, dtype=np.float64)
    fwd /= np.linalg.norm(fwd)
    ref = np.array([0.0, 0.0, 1.0]) if abs(fwd[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(ref, fwd)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    basis = np.stack([right, down, fwd])  # rows: light-space axes in world coordinates
    corners = np.array([[x, y, z] for x in (-reach, reach) for y in y_range for z in (-reach, reach)])
    local = corners @ basis.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    lo[2] -= 50.0  # casters (tall objects, hills) slightly outside the box
    scale = 2.0 / (hi - lo)
    m = np.eye(4)
    m[:3, :3] = basis * scale[:, None]
    m[:3, 3] = -(lo + hi) / 2.0 * scale
    return m


def visible_runs(groups: np.ndarray, spheres: np.ndarray, view_proj: np.ndarray) -> list[tuple[int, int]]:
    """Triangle runs ``(first, count)`` of the groups whose bounding spheres touch the view frustum of
    ``view_proj`` (world -> clip), adjacent runs merged. Conservative: never drops a visible triangle."""
    if len(groups) == 0:
        return []
    m = view_proj
    planes = np.stack([m[3] + m[0], m[3] - m[0], m[3] + m[1], m[3] - m[1], m[3] + m[2], m[3] - m[2]])
    norms = np.linalg.norm(planes[:, :3], axis=1)
    dist = spheres[:, :3] @ planes[:, :3].T + planes[:, 3]  # (G, 6)
    keep = (dist >= -spheres[:, 3:4] * norms).all(axis=1)
    runs: list[tuple[int, int]] = []
    for first, count in groups[keep]:
        if runs and runs[-1][0] + runs[-1][1] == first:
            runs[-1] = (runs[-1][0], runs[-1][1] + int(count))
        else:
            runs.append((int(first), int(count)))
    return runs


@dataclass
class _GpuMesh:
    """A mesh on the GPU: its main and shadow-pass vertex arrays and its cullable groups."""

    vao: object
    shadow_vao: object
    depth_vao: object
    groups: np.ndarray
    spheres: np.ndarray

    def draw(self, view_proj: np.ndarray, vao=None) -> None:
        vao = self.vao if vao is None else vao
        for first, count in visible_runs(self.groups, self.spheres, view_proj):
            vao.render(vertices=3 * count, first=3 * first)


@dataclass
class _GpuScene:
    """GPU resources of one world (kept while consecutive calls render the same world)."""

    world: World
    meshes: list[_GpuMesh]
    resources: list


class Renderer:
    """Renders clips of a world. Keep one per process (or worker) and reuse it: creating the context, the
    programs and a world's buffers costs far more than a frame.

    Example::

        with Renderer() as r:
            frames = r.render(world, c2w, intrinsics, (320, 176))   # (F, 176, 320, 3) uint8
    """

    def __init__(self, *, msaa: int = 4, supersample: int = 1, shadow_size: int = 2048, ctx=None) -> None:
        import moderngl

        if msaa not in (0, 2, 4, 8):
            raise ConfigError(f"renderer msaa: expected 0, 2, 4 or 8 samples, found {msaa}")
        if supersample not in (1, 2, 3, 4):
            raise ConfigError(f"renderer supersample: expected 1..4, found {supersample}")
        self._mgl = moderngl
        self.ctx = ctx if ctx is not None else create_context()
        log.info("synth renderer: %s (OpenGL %s)", self.ctx.info.get("GL_RENDERER"), self.ctx.info.get("GL_VERSION"))
        self.msaa = min(msaa, self.ctx.max_samples) if msaa else 0
        self.supersample = supersample
        self.shadow_size = shadow_size
        self.terrain_prog = self.ctx.program(
            vertex_shader=load_shader("synth/scene.vert"),
            fragment_shader=load_shader("synth/scene.frag", defines=("TERRAIN",)),
        )
        self.object_prog = self.ctx.program(
            vertex_shader=load_shader("synth/scene.vert"), fragment_shader=load_shader("synth/scene.frag")
        )
        self.sky_prog = self.ctx.program(
            vertex_shader=load_shader("synth/sky.vert"), fragment_shader=load_shader("synth/sky.frag")
        )
        self.shadow_prog = self.ctx.program(
            vertex_shader=load_shader("synth/shadow.vert"), fragment_shader=load_shader("synth/shadow.frag")
        )
        self.depth_prog = self.ctx.program(
            vertex_shader=load_shader("synth/depth.vert"), fragment_shader=load_shader("synth/depth.frag")
        )
        self.sky_vao = self.ctx.vertex_array(self.sky_prog, [])
        self._scene: _GpuScene | None = None
        self._targets: dict[tuple[int, int], tuple] = {}
        self._depth_targets: dict[tuple[int, int], tuple] = {}
        scales = [1.0 / TEXTURE_METRES[k] for k in TEXTURE_KINDS] + [1.0] * (32 - len(TEXTURE_KINDS))
        for prog in (self.terrain_prog, self.object_prog):
            self._set(prog, "u_layer_scale", scales)
            self._set(prog, "u_textures", 0)
            self._set(prog, "u_shadow", 1)
        self._set(self.sky_prog, "u_clouds", 2)

    # -- lifecycle ------------------------------------------------------------------------------------------

    def release(self) -> None:
        """Free the world's buffers, the render targets and the context."""
        with self.ctx:
            self._drop_scene()
            for target in list(self._targets.values()) + list(self._depth_targets.values()):
                for obj in target:
                    if obj is not None:
                        obj.release()
            self._targets.clear()
        self.ctx.release()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # -- rendering ------------------------------------------------------------------------------------------

    def render(self, world: World, c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int], *,
               depth: bool = False):
        """Render one frame per pose (and, with ``depth=True``, its metric depth).

        Args:
            world: the scene.
            c2w: ``(F, 4, 4)`` (or ``(4, 4)``) camera-to-world poses, OpenCV axes, world frame of
                :mod:`engine.synth.world`.
            intrinsics: ``(F, 4)`` or ``(4,)`` ``[fx, fy, cx, cy]`` in pixels of a ``size`` image.
            size: ``(W, H)`` of the output.
            depth: also return the depth maps (see the module docstring).

        Returns:
            ``(F, H, W, 3)`` uint8 RGB, row 0 at the top; with ``depth=True`` the pair ``(frames, depth)``,
            ``depth`` ``(F, H, W)`` float32 camera-space z in metres, ``inf`` for sky.
        """
        with self.ctx:  # several renderers (contexts) may live in one thread: make ours current
            return self._render(world, c2w, intrinsics, size, depth)

    def _render(self, world: World, c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int],
                want_depth: bool = False):
        c2w = np.asarray(c2w, dtype=np.float64)
        poses = validate_c2w(c2w[None] if c2w.ndim == 2 else c2w, name="render poses")
        n = len(poses)
        intr = as_vec4(intrinsics, name="render intrinsics")
        if len(intr) == 1:
            intr = np.repeat(intr, n, axis=0)
        if len(intr) != n:
            raise IntrinsicsError(f"render intrinsics: expected 1 or {n} rows (one per pose), found {len(intr)}")
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0 or w > 8192 or h > 8192:
            raise ConfigError(f"render size: expected 1..8192 pixels per side, found {w}x{h}")
        self._use_world(world)
        s = self.supersample
        rw, rh = w * s, h * s
        fbo, resolve = self._target((rw, rh))
        ctx = self.ctx
        out = np.empty((n, h, w, 3), np.uint8)
        hi = np.empty((rh, rw, 3), np.uint8) if s > 1 else None
        depth = np.empty((n, h, w), np.float32) if want_depth else None
        ctx.enable(self._mgl.DEPTH_TEST | self._mgl.CULL_FACE)
        ctx.front_face = "cw"  # (u, v) window coordinates flip GL's usual y-up orientation
        for i in range(n):
            k = intr[i] * s
            w2c = se3_inverse(poses[i])
            vp = projection_matrix(k, (rw, rh)) @ w2c
            for prog in (self.terrain_prog, self.object_prog):
                self._set(prog, "u_view_proj", vp)
                self._set(prog, "u_cam_pos", poses[i, :3, 3])
            self._set(self.sky_prog, "u_rot", poses[i, :3, :3])
            self._set(self.sky_prog, "u_intr", k)
            self._set(self.sky_prog, "u_cam_pos", poses[i, :3, 3])
            fbo.use()
            ctx.viewport = (0, 0, rw, rh)
            fbo.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
            ctx.depth_func = "<"
            for mesh in self._scene.meshes:
                mesh.draw(vp)
            ctx.depth_func = "<="  # the sky triangle sits exactly at the far plane: only empty pixels pass
            ctx.disable(self._mgl.CULL_FACE)
            self.sky_vao.render(vertices=3)
            ctx.enable(self._mgl.CULL_FACE)
            if resolve is not None:
                ctx.copy_framebuffer(resolve, fbo)
            src = resolve if resolve is not None else fbo
            if s > 1:
                src.read_into(hi, components=3, alignment=1)
                block = hi.reshape(h, s, w, s, 3).astype(np.uint16).sum(axis=(1, 3))
                out[i] = ((block + (s * s) // 2) // (s * s)).astype(np.uint8)
            else:
                src.read_into(out[i], components=3, alignment=1)
            if depth is not None:
                self._depth_pass(w2c, intr[i], (w, h), depth[i])
        if depth is not None:
            depth[depth <= 0.0] = np.inf  # cleared pixels: no surface along the ray (sky)
            return out, depth
        return out

    def _depth_pass(self, w2c: np.ndarray, k: np.ndarray, size: tuple[int, int], out: np.ndarray) -> None:
        """Single-sample pass at the output size writing camera-space z into ``out`` ``(H, W)`` float32."""
        fbo = self._depth_target(size)
        vp = projection_matrix(k, size) @ w2c
        self._set(self.depth_prog, "u_view_proj", vp)
        self._set(self.depth_prog, "u_view_z", w2c[2])
        fbo.use()
        self.ctx.viewport = (0, 0, size[0], size[1])
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.depth_func = "<"
        for mesh in self._scene.meshes:
            mesh.draw(vp, mesh.depth_vao)
        fbo.read_into(out, components=1, dtype="f4", alignment=1)

    # -- internals ------------------------------------------------------------------------------------------

    @staticmethod
    def _set(prog, name: str, value) -> None:
        """Set a uniform if the compiled program kept it (GLSL drops unused ones)."""
        try:
            member = prog[name]
        except KeyError:
            return
        if isinstance(value, np.ndarray) and value.ndim == 2:
            member.write(np.ascontiguousarray(value.T, dtype=np.float32).tobytes())  # GL is column-major
        elif isinstance(value, np.ndarray):
            member.value = tuple(float(v) for v in value)
        else:
            member.value = value

    def _target(self, size: tuple[int, int]):
        if size not in self._targets:
            ctx = self.ctx
            color = ctx.renderbuffer(size, 4, samples=self.msaa)
            depth = ctx.depth_renderbuffer(size, samples=self.msaa)
            fbo = ctx.framebuffer([color], depth)
            resolve = ctx.framebuffer([ctx.renderbuffer(size, 4)]) if self.msaa else None
            self._targets[size] = (fbo, resolve, color, depth)
        fbo, resolve, _, _ = self._targets[size]
        return fbo, resolve

    def _depth_target(self, size: tuple[int, int]):
        if size not in self._depth_targets:
            ctx = self.ctx
            color = ctx.renderbuffer(size, 1, dtype="f4")
            depth = ctx.depth_renderbuffer(size)
            self._depth_targets[size] = (ctx.framebuffer([color], depth), color, depth)
        return self._depth_targets[size][0]

    def _drop_scene(self) -> None:
        if self._scene is not None:
            for obj in self._scene.resources:
                obj.release()
            self._scene = None

    def _use_world(self, world: World) -> None:
        if self._scene is not None and self._scene.world is world:
            return
        self._drop_scene()
        mgl, ctx = self._mgl, self.ctx
        terrain, objects = scene_meshes(world)
        resources: list = []

        meshes: list[_GpuMesh] = []
        # objects first: they hide terrain more often than the reverse, and early depth tests skip hidden fragments
        for mesh, prog in ((objects, self.object_prog), (terrain, self.terrain_prog)):
            if mesh.num_triangles == 0:
                continue
            vbo = ctx.buffer(mesh.vertices.tobytes())
            ibo = ctx.buffer(mesh.indices.tobytes())
            main = ctx.vertex_array(
                prog, [(vbo, VERTEX_FORMAT, *VERTEX_ATTRIBUTES)], ibo, index_element_size=4, skip_errors=True
            )
            shadow = ctx.vertex_array(self.shadow_prog, [(vbo, "3f 52x", "in_pos")], ibo, index_element_size=4)
            depth = ctx.vertex_array(self.depth_prog, [(vbo, "3f 52x", "in_pos")], ibo, index_element_size=4)
            resources.extend([vbo, ibo, main, shadow, depth])
            meshes.append(_GpuMesh(main, shadow, depth, mesh.groups, mesh.spheres))

        stack = texture_stack(world.texture_variants)  # (L, S, S, 3)
        tex = ctx.texture_array((TEXTURE_SIZE, TEXTURE_SIZE, len(TEXTURE_KINDS)), 3, np.ascontiguousarray(stack).tobytes())
        tex.build_mipmaps()
        tex.filter = (mgl.LINEAR_MIPMAP_LINEAR, mgl.LINEAR)
        clouds = ctx.texture((TEXTURE_SIZE, TEXTURE_SIZE), 1, cloud_texture(world.seed % NUM_VARIANTS).tobytes())
        clouds.build_mipmaps()
        clouds.filter = (mgl.LINEAR_MIPMAP_LINEAR, mgl.LINEAR)
        resources.extend([tex, clouds])

        # shadow map: rendered once, the sun and the scene are static
        light = world.lighting
        sun = np.asarray(light.sun_direction, dtype=np.float64)
        heights = [float(terrain.vertices[:, 1].min()), float(terrain.vertices[:, 1].max())]
        if objects.num_triangles:
            heights[0] = min(heights[0], float(objects.vertices[:, 1].min()))
        light_vp = light_matrix(sun, (heights[0], heights[1]))
        shadow = ctx.depth_texture((self.shadow_size, self.shadow_size))
        shadow.compare_func = "<="
        shadow.filter = (mgl.LINEAR, mgl.LINEAR)
        shadow.repeat_x = shadow.repeat_y = False
        shadow_fbo = ctx.framebuffer(depth_attachment=shadow)
        resources.extend([shadow, shadow_fbo])
        shadow_fbo.use()
        ctx.viewport = (0, 0, self.shadow_size, self.shadow_size)
        shadow_fbo.clear(depth=1.0)
        ctx.enable(mgl.DEPTH_TEST)
        ctx.disable(mgl.CULL_FACE)
        ctx.depth_func = "<"
        ctx.polygon_offset = (1.5, 4.0)
        self._set(self.shadow_prog, "u_light_vp", light_vp)
        for mesh in meshes:
            mesh.shadow_vao.render()
        ctx.polygon_offset = (0.0, 0.0)

        tex.use(0)
        shadow.use(1)
        clouds.use(2)
        kp = self.sky_prog
        for sp in (self.terrain_prog, self.object_prog):
            self._set(sp, "u_light_vp", light_vp)
            self._set(sp, "u_sky_ambient", np.asarray(light.sky_ambient))
            self._set(sp, "u_ground_ambient", np.asarray(light.ground_ambient))
            self._set(sp, "u_fog_density", float(light.fog_density))
            self._set(sp, "u_shadow_strength", float(light.shadow_strength))
        sky = world.sky
        for prog in (self.terrain_prog, self.object_prog, kp):
            self._set(prog, "u_sun_dir", sun / np.linalg.norm(sun))
            self._set(prog, "u_sun_color", np.asarray(light.sun_color))
            self._set(prog, "u_zenith", np.asarray(sky.zenith))
            self._set(prog, "u_horizon", np.asarray(sky.horizon))
        self._set(kp, "u_cloud_cover", float(sky.cloud_cover))
        self._set(kp, "u_cloud_color", np.asarray(sky.cloud_color))
        self._set(kp, "u_cloud_height", float(sky.cloud_height))
        self._set(kp, "u_cloud_scale", float(sky.cloud_scale))
        self._set(kp, "u_sun_cos", math.cos(math.radians(0.6)))
        self._scene = _GpuScene(world, meshes, resources)


def render(world: World, c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int], *, depth: bool = False,
           **renderer_options):
    """One-shot :meth:`Renderer.render` with a temporary renderer (convenient, but batch work should keep a
    :class:`Renderer`)."""
    with Renderer(**renderer_options) as r:
        return r.render(world, c2w, intrinsics, size, depth=depth)
