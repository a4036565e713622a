"""``sana-wm bench stream --device ...``: streaming speed and peak memory for every scan implementation x memory tier.

Why: the product's GPU claims (stage-1 streaming at 720p faster than real time, the memory tiers) must come from one
run on one card, reported per implementation of the gated delta scan (:data:`engine.ops.gated_delta.IMPLEMENTATIONS`,
read when the benchmark runs, so a new kernel is measured without editing this file) and per tier
(:mod:`engine.memory.tiers`). Weights are random (speed and memory do not depend on their values), built directly on
the device: the DiT of a preset (``sana-wm-1600m-720p``: the released network) and, with ``codec="ltx2"``, the
LTX-2.0 VAE (:data:`engine.memory.parts.LTX2_VAE_CONFIG`), so a chunk costs what it costs with the official stack:
4 denoising calls, the t = 0 pass and the causal VAE decode (no text encoder, no refiner: the stage-1 stream).

What a tier changes here: ``low`` holds fp8 DiT weights (torchao) and decodes one latent frame per call, ``balanced``
three, ``full`` a whole chunk. Each combination streams ``chunks`` chunks with the official window from a random
start frame; per-chunk time is wall time (the decode copies frames to the host, which synchronises the device), peak
memory is ``torch.cuda.max_memory_allocated`` (the CPU: growth of the process's resident memory). An implementation
that cannot run (``triton`` off CUDA, a missing library, out of memory) is reported with its one-line reason.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn

from engine.bench.memory import current_rss_bytes
from engine.bundles import ModelBundle
from engine.camera.controls import get_mapping
from engine.camera.integrator import MotionIntegrator
from engine.errors import ConfigError, SanaWMInputError, one_line
from engine.generation.session import StreamSettings, WorldSession
from engine.memory.tiers import POLICIES, TIERS
from engine.ops.gated_delta import IMPLEMENTATIONS, gated_delta_scan

#: Frames per second of the official output (a chunk's 24 frames are 1.5 s of video).
VIDEO_FPS = 16.0
CODECS = ("patch", "ltx2")


@dataclass
class MatrixRow:
    """One (scan, tier) run. Times in ms, memory in bytes; ``status`` is ``ok`` or the one-line reason it did not run."""

    scan: str
    tier: str
    status: str = "ok"
    chunk_ms: list[float] = field(default_factory=list)
    peak_bytes: int = 0

    @property
    def late_ms(self) -> float:
        """Median of the chunks after chunk 0 (it holds one more frame and warms up kernels and the allocator)."""
        body = self.chunk_ms[1:] or self.chunk_ms
        return statistics.median(body) if body else float("nan")

    @property
    def fps(self) -> float:
        return 24 / (self.late_ms / 1000) if self.chunk_ms else 0.0

    def summary(self) -> dict:
        return {**asdict(self), "late_ms": round(self.late_ms, 2), "fps": round(self.fps, 2),
                "realtime": round(self.fps / VIDEO_FPS, 3), "peak_gib": round(self.peak_bytes / 2**30, 3)}  # fmt: skip


def parse_list(text: str, valid: tuple[str, ...], option: str) -> tuple[str, ...]:
    """``"all"`` or a comma-separated subset of ``valid`` (order kept, duplicates dropped)."""
    if text == "all":
        return valid
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in valid]
    if not names or unknown:
        raise ConfigError(f"{option}: expected 'all' or names from {', '.join(valid)}, found {one_line(text, 60)!r}")
    return names


def _init_(module: nn.Module, seed: int) -> None:
    """Random values for a module made with ``to_empty`` (its memory is whatever was there): N(0, 0.02) everywhere,
    then the default initialisers of linear and conv layers."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.normal_(0.0, 0.02)
            else:
                tensor.zero_()
        for sub in module.modules():
            if isinstance(sub, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                sub.reset_parameters()


def random_bundle(preset: str, device: torch.device, dtype: torch.dtype, *, frame_size: tuple[int, int],
                  spatial_factor: int, codec: str = "patch", seed: int = 0) -> ModelBundle:  # fmt: skip
    """A random-weight bundle built directly on ``device`` (no host copy of a 2.7 B-parameter model)."""
    from engine.components.patch_codec import PatchDCTCodec
    from engine.model.config import SanaWMConfig
    from engine.model.transformer import SanaWMTransformer

    if codec not in CODECS:
        raise ConfigError(f"--codec: expected one of {', '.join(CODECS)}, found {codec!r}")
    config = SanaWMConfig.from_preset(preset, caption_channels=None)
    with torch.device("meta"):
        model = SanaWMTransformer(config)
    model = model.to_empty(device=device).to(dtype).eval()
    _init_(model, seed)
    if codec == "ltx2":
        from diffusers import AutoencoderKLLTX2Video

        import engine.bundles.local_models  # noqa: F401  (before the VAE adapter, which imports it)
        from engine.components.ltx2_vae import LTX2VideoCodec
        from engine.memory.parts import LTX2_VAE_CONFIG

        vae_config = {**LTX2_VAE_CONFIG, "latent_channels": config.in_channels}
        with torch.device("meta"):
            vae = AutoencoderKLLTX2Video(**vae_config)
        vae = vae.to_empty(device=device).to(dtype).eval()
        _init_(vae, seed + 1)
        with torch.no_grad():
            vae.latents_std.fill_(1.0)  # a unit latent scale: decoded pixels stay finite
        latent_codec = LTX2VideoCodec(vae)
    else:
        latent_codec = PatchDCTCodec(config.in_channels, spatial_factor)
    width, height = frame_size
    s = latent_codec.spatial_factor
    if width % s or height % s:
        raise ConfigError(f"--size {width}x{height}: expected multiples of the codec's {s} pixels")
    focal = 0.5 * width / np.tan(np.radians(60.0) / 2)
    return ModelBundle(name=config.preset or preset, transformer=model, codec=latent_codec, frame_size=frame_size,
                       default_intrinsics=np.array([focal, focal, width / 2, height / 2]),
                       label="random weights: speed and memory only")  # fmt: skip


def use_scan(model: nn.Module, name: str) -> None:
    """Make every Gated-DeltaNet block of ``model`` run the scan ``name`` (resolved as the model resolves it)."""
    scan = gated_delta_scan(name)
    for module in model.modules():
        if hasattr(module, "scan") and hasattr(module.scan, "numerator"):
            module.scan = scan


def _peak_reset(device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        return 0
    return current_rss_bytes()


def _peak(device: torch.device, base: int) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return max(current_rss_bytes() - base, 0)


def stream_once(bundle: ModelBundle, chunks: int, device: torch.device, *, seed: int = 0,
                on_chunk: Callable[[int, float], None] | None = None) -> tuple[list[float], int]:  # fmt: skip
    """Stream ``chunks`` chunks driving forward with gentle turns: ``(ms per chunk, peak bytes)``."""
    base = _peak_reset(device)
    session = WorldSession(bundle, StreamSettings(seed=seed), keep_history=False, keep_snapshots=False, depth=None)
    width, height = bundle.frame_size
    session.start(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))
    integrator = MotionIntegrator(get_mapping("v2"))
    times = []
    for k in range(chunks):
        poses = np.stack([integrator.step({"w", "l"} if k % 5 == 4 else {"w"}) for _ in range(session.frames_per_chunk)])
        began = time.perf_counter()
        session.step(poses)
        times.append((time.perf_counter() - began) * 1000)
        if on_chunk is not None:
            on_chunk(k, times[-1])
    peak = _peak(device, base)
    del session
    return times, peak


def benchmark_matrix(
    preset: str,
    device: torch.device | str,
    *,
    dtype: torch.dtype = torch.bfloat16,
    scans: tuple[str, ...] = IMPLEMENTATIONS,
    tiers: tuple[str, ...] = TIERS,
    chunks: int = 10,
    frame_size: tuple[int, int] = (1280, 704),
    spatial_factor: int = 32,
    codec: str = "patch",
    seed: int = 0,
    deadline: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[MatrixRow]:
    """Every (tier, scan) combination in ``tiers`` x ``scans`` order (fp8 conversion is one-way, so ``low`` comes
    last); combinations still to run at ``deadline`` (a ``time.monotonic()`` value) are reported as skipped."""
    device = torch.device(device)
    bundle = random_bundle(preset, device, dtype, frame_size=frame_size, spatial_factor=spatial_factor, codec=codec,
                           seed=seed)  # fmt: skip
    rows: list[MatrixRow] = []
    for tier in sorted(tiers, key=TIERS.index):
        policy = POLICIES[tier]
        bundle.memory = policy
        if policy.dit_fp8 and not any(r.tier == tier for r in rows):
            try:
                from engine.memory.fp8 import quantize_fp8

                quantize_fp8(bundle.transformer)
            except (SanaWMInputError, ImportError, RuntimeError) as exc:
                rows += [MatrixRow(scan, tier, f"unavailable: {one_line(exc, 160)}") for scan in scans]
                continue
        for scan in scans:
            row = MatrixRow(scan, tier)
            rows.append(row)
            if deadline is not None and time.monotonic() > deadline:
                row.status = "skipped: time budget spent"
                continue
            if scan == "triton" and device.type != "cuda":
                # off CUDA a triton kernel runs only in Triton's interpreter (TRITON_INTERPRET=1, as the test suite
                # sets it): exact, but a test tool thousands of times slower, so timing it would mislead
                row.status = "unavailable: the triton scan needs CUDA (off CUDA only its interpreter, for tests)"
                continue
            report = None if progress is None else (lambda k, ms, label=f"{scan}/{tier}": progress(label, k + 1, chunks))
            try:
                use_scan(bundle.transformer, scan)
                row.chunk_ms, row.peak_bytes = stream_once(bundle, chunks, device, seed=seed, on_chunk=report)
            except torch.OutOfMemoryError as exc:
                row.status = f"failed: out of memory ({one_line(exc, 120)})"
            except (RuntimeError, ImportError, SanaWMInputError, NotImplementedError) as exc:
                row.status = f"unavailable: {type(exc).__name__}: {one_line(exc, 160)}"
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    return rows


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def format_matrix(rows: list[MatrixRow], *, header: str) -> str:
    """A plain-text table of the rows (one per scan x tier) under ``header``."""
    lines = [header, f"{'scan':<8} {'tier':<9} {'ms/chunk':>9} {'fps':>7} {'x real time':>11} {'peak GiB':>9}  status"]
    for r in rows:
        if r.status == "ok":
            lines.append(f"{r.scan:<8} {r.tier:<9} {r.late_ms:>9.1f} {r.fps:>7.1f} {r.fps / VIDEO_FPS:>11.2f} "
                         f"{r.peak_bytes / 2**30:>9.2f}  ok")  # fmt: skip
        else:
            lines.append(f"{r.scan:<8} {r.tier:<9} {'-':>9} {'-':>7} {'-':>11} {'-':>9}  {r.status}")
    lines.append("ms/chunk: median of the chunks after chunk 0 (24 frames = 1.5 s of video at 16 fps); peak: "
                 "max_memory_allocated on CUDA, RSS growth on the CPU")  # fmt: skip
    return "\n".join(lines)


__all__ = ["CODECS", "MatrixRow", "benchmark_matrix", "describe_device", "format_matrix", "parse_list",
           "random_bundle", "stream_once", "use_scan"]  # fmt: skip
