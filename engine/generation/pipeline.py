"""Offline generation: start image + camera trajectory -> video frames (the engine behind ``sana-wm generate``).

Two modes, as the official scripts (spec streaming §4-5, ``ltx2_vae_refiner.md`` §2.7):

* ``streaming`` — the distilled streaming model through :class:`engine.generation.session.WorldSession`, chunk by chunk
  (``F = 24k + 1`` frames), with the noise of the whole clip drawn up front from the seed as the official script
  does (on the model's device and dtype; CPU and CUDA generators give different numbers). Without the refiner every chunk's frames go to the sink as soon as they are decoded;
  the first pixel frame (the reconstruction of the input image) is dropped, so ``24k`` frames come out.
* ``bidirectional`` — the whole latent volume denoised jointly (``F = 8k + 1``; 60 steps, CFG 5 by default), then
  decoded; all ``F`` frames come out.

With the stage-2 refiner (when the bundle has one and it is not switched off) the Stage-1 latents of the whole clip
are refined, decoded, and the first frame is dropped (``F - 1`` frames). The trajectory returned is aligned with
the frames that came out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from engine.bundles import ModelBundle
from engine.camera.conditioning import CameraConditioner
from engine.camera.frames import BIDIRECTIONAL_STRIDE, STREAMING_STRIDE
from engine.camera.intrinsics import apply_crop, plan_resize_crop
from engine.camera.poses import relative_to_first
from engine.camera.trajectory import Trajectory
from engine.errors import ConfigError, SanaWMInputError
from engine.generation.start_image import fit_image
from engine.generation.sampling import (
    CONFIG_FLOW_SHIFT,
    DEFAULT_CFG_SCALE,
    DEFAULT_STEPS,
    SELF_FORCING_TIMESTEPS,
    TextConditioning,
    sample_bidirectional,
    seeded_noise,
)
from engine.generation.session import StreamSettings, WorldSession
from engine.memory.decode import decode_clip

log = logging.getLogger(__name__)

MODES = ("streaming", "bidirectional")
#: ``progress(stage, done, total)``; stages: "chunk", "step", "refine", "decode".
Progress = Callable[[str, int, int], None]
#: Receives the output frames in order, ``uint8 (n, H, W, 3)`` per call.
FrameSink = Callable[[np.ndarray], None]


@dataclass
class GenerationRequest:
    """What to generate.

    Attributes:
        image: the start image ``uint8 (H, W, 3)`` at its original size.
        trajectory: ``F`` camera-to-world poses (any origin; made relative to frame 0) with intrinsics in pixels of
            ``image`` (``trajectory.image_size`` = the image's ``(W, H)``); ``F`` must already follow the mode's
            frame rule (``24k + 1`` streaming, ``8k + 1`` bidirectional, see :mod:`engine.camera.frames`).
        prompt, negative_prompt: text (ignored by models without text conditioning).
        mode: "streaming" or "bidirectional".
        seed: noise seed.
        steps: bidirectional Euler steps (streaming uses ``timesteps``).
        timesteps: the streaming denoising list.
        cfg_scale, flow_shift: bidirectional guidance and schedule shift.
        refine: run the bundle's stage-2 refiner (an error if it has none).
        contrast_floor: streaming: the session's contrast floor
            (:attr:`~engine.generation.state.StreamSettings.contrast_floor`); None = the model's own.
    """

    image: np.ndarray
    trajectory: Trajectory
    prompt: str = ""
    negative_prompt: str = ""
    mode: str = "streaming"
    seed: int = 42
    steps: int = DEFAULT_STEPS
    timesteps: tuple[float, ...] = SELF_FORCING_TIMESTEPS
    cfg_scale: float = DEFAULT_CFG_SCALE
    flow_shift: float = CONFIG_FLOW_SHIFT
    refine: bool = False
    contrast_floor: float | None = None


@dataclass
class GenerationResult:
    """What came out: the number of frames sent to the sink, their trajectory (intrinsics in frame pixels), the
    Stage-1 latents (refined ones when refined) and wall times in seconds."""

    num_frames: int
    trajectory: Trajectory
    latents: torch.Tensor
    timings: dict[str, float] = field(default_factory=dict)


def check_request(bundle: ModelBundle, request: GenerationRequest) -> None:
    """Refuse requests that cannot run, before any work starts."""
    if request.mode not in MODES:
        raise ConfigError(f"mode: expected one of {', '.join(MODES)}, found {request.mode!r}")
    f = request.trajectory.num_frames
    stride = STREAMING_STRIDE if request.mode == "streaming" else BIDIRECTIONAL_STRIDE
    if (f - 1) % stride or f < stride + 1:
        raise SanaWMInputError(
            f"num_frames: {request.mode} generation needs {stride}k + 1 frames (k >= 1), found {f} "
            "(the CLI snaps --num_frames for you)"
        )
    if request.trajectory.intrinsics is None:
        raise SanaWMInputError("trajectory: intrinsics are required (pass --intrinsics or use a model with a default)")
    if request.refine and bundle.refiner is None:
        raise ConfigError(f"refine: the model {bundle.name!r} has no stage-2 refiner (use --no_refiner)")


def first_output_pose(request: GenerationRequest) -> int:
    """Index of the trajectory pose shown by the first output frame: 1 when the image reconstruction is dropped
    (streaming, or refined), else 0."""
    return 1 if (request.refine or request.mode == "streaming") else 0


def frame_trajectory(bundle: ModelBundle, request: GenerationRequest) -> Trajectory:
    """The request's trajectory with intrinsics in pixels of the generated frames (after resize and crop)."""
    plan = plan_resize_crop((request.image.shape[1], request.image.shape[0]), bundle.frame_size)
    return replace(
        request.trajectory, intrinsics=apply_crop(request.trajectory.intrinsics, plan), image_size=bundle.frame_size
    )


def generate(
    bundle: ModelBundle, request: GenerationRequest, sink: FrameSink, *, progress: Progress | None = None
) -> GenerationResult:
    """Run ``request`` on ``bundle``; frames go to ``sink`` as they are ready (see the module docstring)."""
    check_request(bundle, request)
    started = time.perf_counter()
    frame, _ = fit_image(request.image, bundle.frame_size)
    framed = frame_trajectory(bundle, request)
    intrinsics = framed.intrinsics  # (F, 4) in frame pixels
    c2w = relative_to_first(request.trajectory.c2w)
    if request.mode == "streaming":
        latents, written = _streaming(bundle, request, frame, c2w, intrinsics, sink, progress)
    else:
        latents, written = _bidirectional(bundle, request, frame, c2w, intrinsics, progress), 0
    generated = time.perf_counter()
    if request.refine:
        report = None if progress is None else (lambda done, total: progress("refine", done, total))
        latents = bundle.refiner.refine(latents, request.prompt, seed=request.seed, progress=report)
    if written == 0:  # not streamed: decode the whole clip now (in pieces when the memory tier says so)
        frames = decode_clip(bundle.codec, latents, bundle.memory.decode_latents_per_call)
        if progress is not None:
            progress("decode", 1, 1)
        frames = frames[first_output_pose(request) :]
        sink(frames)
        written = frames.shape[0]
    first = first_output_pose(request)
    out_traj = framed.sliced(first + written, start=first)
    done = time.perf_counter()
    timings = {"generate": generated - started, "refine_decode": done - generated, "total": done - started}
    return GenerationResult(written, out_traj, latents, timings)


def _text(bundle: ModelBundle, prompt: str, negative: str | None) -> TextConditioning | None:
    if not bundle.config.text_conditioning:
        return None
    if bundle.text_encoder is None:
        raise ConfigError(f"the model {bundle.name!r} is text-conditioned but the bundle has no text encoder")
    caption, mask = bundle.text_encoder.encode(prompt)
    if negative is None:
        return TextConditioning(caption, mask)
    neg, neg_mask = bundle.text_encoder.encode_negative(negative)
    return TextConditioning(caption, mask, neg, neg_mask)


def _streaming(bundle, request, frame, c2w, intrinsics, sink, progress) -> tuple[torch.Tensor, int]:
    """Chunk by chunk through a WorldSession; frames are streamed to ``sink`` unless they will be refined."""
    settings = StreamSettings(timesteps=request.timesteps, seed=request.seed, contrast_floor=request.contrast_floor)
    session = WorldSession(bundle, settings, keep_snapshots=False)
    text = _text(bundle, request.prompt, None)
    caption = None if text is None else (text.caption, text.mask)
    w, h = bundle.latent_grid
    num_latents = (c2w.shape[0] - 1) // bundle.codec.temporal_factor + 1
    noise = seeded_noise((1, bundle.config.in_channels, num_latents, h, w), request.seed,
                         dtype=bundle.transformer.dtype, device=next(bundle.transformer.parameters()).device)  # fmt: skip
    session.start(frame, intrinsics=intrinsics[0], prompt=request.prompt, caption=caption, noise=noise)
    n = session.frames_per_chunk
    num_chunks = (c2w.shape[0] - 1) // n
    latents, written = [], 0
    for k in range(num_chunks):
        rows = slice(1 + n * k, 1 + n * (k + 1))
        record = session.step(c2w[rows], intrinsics[rows])
        latents.append(record.latents)
        if not request.refine:
            frames = record.frames[1:] if k == 0 else record.frames  # drop the image reconstruction
            sink(frames)
            written += frames.shape[0]
        if progress is not None:
            progress("chunk", k + 1, num_chunks)
    return torch.cat(latents, dim=2), written


def _bidirectional(bundle, request, frame, c2w, intrinsics, progress) -> torch.Tensor:
    model = bundle.transformer
    device = next(model.parameters()).device
    first_latent = bundle.codec.encode(frame[None]).to(dtype=model.dtype, device=device)
    cond = CameraConditioner(c2w, intrinsics, bundle.frame_size, bundle.latent_grid).conditioning()
    cond = cond.to(dtype=torch.float32, device=device)
    text = _text(bundle, request.prompt, request.negative_prompt if request.cfg_scale > 1 else None)
    with torch.inference_mode():
        return sample_bidirectional(
            model,
            first_latent,
            num_latent_frames=cond.stop,
            camera_conditions=cond.camera_conditions[None],
            chunk_plucker=cond.chunk_plucker[None].to(model.dtype),
            text=text,
            steps=request.steps,
            cfg_scale=request.cfg_scale,
            flow_shift=request.flow_shift,
            seed=request.seed,
            callback=None if progress is None else lambda i, total, _t: progress("step", i + 1, total),
        )
