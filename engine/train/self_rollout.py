"""Self-rollout context: replace a training window's context chunks with the model's own streaming rollout.

Why: a model trained only on ground-truth context (teacher forcing, even with a little context noise) meets its
own imperfect chunks for the first time at inference. Its errors then compound: measured on the first shipped
embedded model, chunk-by-chunk PSNR with ground-truth context committed to the cache stayed near 21 dB for 12
chunks, while the free rollout fell from 22 to 15 dB (docs/embedded_model.md). Training the next chunk on context
the model generated itself, as the streaming session generates it, closes that gap (the idea of Self Forcing,
Huang et al. 2025, without its distribution-matching loss: the target here stays the ground-truth chunk, so the
model learns to steer back towards the world after its own mistakes).

How: for a window of chunks ``0 .. K`` (:func:`~engine.model.chunks.teacher_chunk_starts`; chunk 0 holds the
image latent), chunks ``0 .. K - 1`` are sampled exactly as :class:`~engine.generation.session.WorldSession` samples them:
the same self-forcing timesteps, the camera tensors of the window, absolute RoPE positions, the same streaming
cache (:class:`~engine.model.stream_cache.CachedStep`) with a ``t = 0`` pass that commits each finished chunk. The
image latent (frame 0) and the last chunk (the training target) keep their ground-truth values. No gradient flows
through the rollout.

**Context as shown** (``show_cache``): a session that commits the chunk as shown (``StreamSettings.commit_shown``)
feeds the next chunks the decoded key frames encoded again, and its sharp decode shows the start image wherever the
camera sees it again (docs/embedded_model.md, "Trusting the start image"). Decoding and warping every training
window would cost more than the rollout itself, so the rollout approximates it in latent space: in each generated
chunk, the latent cells the window's cache input covers entirely take the cache input's latent (the codec of the
cache's render there), before the chunk is committed and passed on. Cells covered in part keep the generated
latent (the cache input greys their unknown pixels, so it is not what a decode would show there).

**Re-anchored windows** (:func:`reanchor_start`): after a session re-anchors, its context is the last 4 committed
latent frames as a fresh chunk 0, so its sink (the frame every chunk attends to, and the first frame of the
context) is a generated frame, not the start image. A training window of chunks ``0 .. K`` (``K >= 2``) emulates
that: chunks ``0 .. K - 1`` are rolled out as above, then the window is cut to the rolled-out frames that a session
would keep plus the ground-truth last chunk, with camera poses re-based to its first frame as the session re-bases
them (:mod:`engine.train.objective` builds that sample).
"""

from __future__ import annotations

import torch

from engine.model.chunks import AttentionWindow, chunk_bounds, teacher_chunk_starts
from engine.model.stream_cache import CachedStep, StreamCache
from engine.generation.sampling import SELF_FORCING_TIMESTEPS, sample_chunk


@torch.no_grad()
def rollout_context(
    model: torch.nn.Module,
    latents: torch.Tensor,
    camera_conditions: torch.Tensor,
    chunk_plucker: torch.Tensor,
    window: AttentionWindow,
    generator: torch.Generator,
    *,
    timesteps: tuple[float, ...] = SELF_FORCING_TIMESTEPS,
    cache_input: torch.Tensor | None = None,
    show_cache: bool = False,
) -> torch.Tensor:
    """The window ``latents`` with every chunk but the last replaced by the model's streaming rollout.

    Args:
        model: the transformer being trained (its current weights generate the context).
        latents: ``(B, C, T, h, w)`` clean ground-truth windows; frame 0 is the conditioning image latent.
        camera_conditions: ``(B, T, 20)`` and ``chunk_plucker``: ``(B, 48, T, h, w)``, the window's camera tensors.
        window: the softmax attention window of the streaming cache (the objective's window).
        generator: CPU generator of the rollout's starting noise (one draw of ``latents``' shape).
        timesteps: the self-forcing denoising list (the session's default).
        cache_input: ``(B, C + 1, T, h, w)`` the window's world-cache input (models with one), sliced per chunk.
        show_cache: each generated chunk, as the context of the next, takes the cache input's latent in the cells
            the cache covers entirely (the context as a session shows it; module docstring). Needs ``cache_input``.

    Returns:
        ``(B, C, T, h, w)`` float32: frame 0 and the last chunk from ``latents``, the frames between generated.
        A window of a single chunk is returned unchanged (there is no context to generate).
    """
    if show_cache and cache_input is None:
        raise ValueError("rollout_context: show_cache needs the window's cache_input, found None")
    x0 = latents.float()
    b, _, t, _, _ = x0.shape
    bounds = chunk_bounds(teacher_chunk_starts(t), t)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    out = x0.clone()
    cache = StreamCache.empty(len(model.blocks), window)
    dtype = next(model.parameters()).dtype
    for a, end in bounds[:-1]:
        cams = camera_conditions[:, a:end].float()
        plucker = chunk_plucker[:, :, a:end].to(dtype)
        extra = {} if cache_input is None else {"cache": cache_input[:, :, a:end]}

        def velocity(x: torch.Tensor, frame_t: torch.Tensor, mixing: CachedStep, a: int = a, cams=cams, plucker=plucker,
                     extra=extra):  # fmt: skip
            return model(x, frame_t, camera_conditions=cams, chunk_plucker=plucker, frame_offset=a, mixing=mixing,
                         **extra)  # fmt: skip

        start = noise[:, :, a:end].clone()
        condition = 1 if a == 0 else 0
        start[:, :, :condition] = x0[:, :, :condition]
        chunk = sample_chunk(lambda x, ft: velocity(x, ft, CachedStep(cache)), start,
                             num_condition_frames=condition, timesteps=timesteps).float()  # fmt: skip
        if show_cache:
            chunk[:, :, condition:] = shown(chunk[:, :, condition:], cache_input[:, :, a + condition : end])
        saving = CachedStep(cache, save=True)
        velocity(chunk, torch.zeros(b, end - a, device=x0.device), saving)
        cache = saving.next_cache()
        out[:, :, a + condition : end] = chunk[:, :, condition:]
    return out


def shown(generated: torch.Tensor, cache_input: torch.Tensor) -> torch.Tensor:
    """``generated (B, C, n, h, w)`` latents with the cells that ``cache_input (B, C + 1, n, h, w)`` covers entirely
    replaced by its latent: the context as a session shows it (module docstring)."""
    known = (cache_input[:, -1:] >= 1.0 - 1e-6).to(generated.dtype)  # (B, 1, n, h, w)
    return generated * (1.0 - known) + cache_input[:, :-1].to(generated.dtype) * known


def reanchor_start(num_frames: int) -> int:
    """The first latent frame of the re-anchored window of a ``num_frames`` training window (module docstring): the
    latent frame a session re-anchors to before the window's last chunk, which keeps chunk 0's length of frames
    (for 13 frames, chunks ``[0, 4) [4, 7) [7, 10) [10, 13)``: frame 6, so the window is 4 kept frames + 3)."""
    bounds = chunk_bounds(teacher_chunk_starts(num_frames), num_frames)
    if len(bounds) < 3:
        raise ValueError(f"re-anchored windows need at least 3 chunks (10 latent frames), found {num_frames} frames")
    return bounds[-1][0] - bounds[0][1]
