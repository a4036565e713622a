"""The GPU benchmark in one run, for a lent card: ``python -m engine.bench.gpu_script --out DIR``.

Why one file: a borrowed GPU machine gets a copy of the repository and a few minutes, maybe no network. This script
needs nothing but what is already installed there, writes every result into one folder, and stays inside a time
budget (default 540 s, under the 10 minutes such a machine is lent for), reporting what it had to skip:

1. ``env.json`` — torch / CUDA / GPU, free memory, which optional libraries are importable (triton, torchao,
   accelerate, diffusers);
2. ``plan.txt`` / ``plan.json`` — ``sana-wm plan`` for this card's size (needs diffusers and transformers);
3. ``scans.json`` — every gated-delta scan implementation on one 720p chunk's shape (20 heads x 112, 3 frames x 880
   tokens), forward and reverse with a carried state: max error against ``naive`` and median time per call;
4. ``bench.txt`` / ``bench.json`` — ``sana-wm bench stream --device cuda`` of the 720p preset with random weights
   (the LTX-2.0 VAE with random weights when diffusers is there, else the zero-parameter patch codec): per-chunk
   time, fps, real-time factor and peak memory for every scan implementation x memory tier.

Assumptions (docs/gpu.md): run from the repository root (``python -m`` finds ``engine`` there; no ``pip install``);
torch with CUDA, numpy and pillow installed; diffusers 0.42.1 and transformers for the VAE and the plan, triton for
the ``triton`` scan, torchao for the ``low`` tier (each one that is missing is reported, not fatal). Nothing is
downloaded. On a machine without CUDA, ``--device cpu --preset sana-wm-tiny-test`` is a dry run of the same steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

#: The time a lent GPU machine gives one command (s), less a margin for start-up and copying results back.
DEFAULT_BUDGET_S = 540.0
OPTIONAL = ("triton", "torchao", "accelerate", "diffusers", "transformers")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.bench.gpu_script", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="results folder (default: $OUT, else ./gpu-bench-results)")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    p.add_argument("--preset", default="sana-wm-1600m-720p", help="model preset (random weights)")
    p.add_argument("--size", default=None, metavar="WxH", help="frame size (default 1280x704 for the 720p preset, "
                   "else 64x48)")  # fmt: skip
    p.add_argument("--spatial-factor", type=int, default=None, help="pixels per latent cell (default 32 / 16)")
    p.add_argument("--codec", choices=("auto", "ltx2", "patch"), default="auto",
                   help="ltx2 = random LTX-2.0 VAE (default when diffusers is there and the preset is 720p)")  # fmt: skip
    p.add_argument("--chunks", type=int, default=12, help="chunks per run (default 12)")
    p.add_argument("--scan", default="all", help="scan implementations (default all)")
    p.add_argument("--memory", default="all", help="memory tiers (default all)")
    p.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="time budget in seconds (default 540)")
    p.add_argument("--skip-plan", action="store_true", help="leave out sana-wm plan")
    p.add_argument("--skip-scans", action="store_true", help="leave out the scan check")
    return p


def fail(message: str) -> int:
    print(f"gpu_script: error: {message}", file=sys.stderr)
    return 2


def check_args(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments, as one line (None: fine)."""
    from engine.model.config import PRESETS

    if args.preset not in PRESETS:
        return f"--preset: expected one of {', '.join(PRESETS)}, found {args.preset!r}"
    if not 2 <= args.chunks <= 1000:
        return f"--chunks: expected a whole number in [2, 1000], found {args.chunks}"
    if not (args.budget_s == args.budget_s and 10 <= args.budget_s <= 24 * 3600):
        return f"--budget-s: expected seconds in [10, 86400], found {args.budget_s}"
    if args.spatial_factor is not None and args.spatial_factor < 1:
        return f"--spatial-factor: expected a whole number >= 1, found {args.spatial_factor}"
    if args.size is not None:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
            if not (0 < w <= 16384 and 0 < h <= 16384):
                raise ValueError
        except ValueError:
            return f"--size: expected WIDTHxHEIGHT such as 1280x704, found {args.size!r}"
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        return f"--device: expected cuda, cuda:N or cpu, found {args.device!r}"
    if device.type not in ("cuda", "cpu"):
        return f"--device: expected cuda, cuda:N or cpu, found {args.device!r}"
    if device.type == "cuda" and not torch.cuda.is_available():
        return "--device cuda: expected a CUDA device, found none (torch.cuda.is_available() is False); use --device cpu for a dry run"
    return None


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "device": str(device), "optional": {m: importlib.util.find_spec(m) is not None for m in OPTIONAL},
        "threads": torch.get_num_threads(),
    }  # fmt: skip
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, capability=f"{props.major}.{props.minor}", total_gib=round(total / 2**30, 2),
                   free_gib=round(free / 2**30, 2))  # fmt: skip
    return env


def run_plan(out: Path, card_gib: float | None) -> str:
    from engine.cli import main as cli

    argv = ["plan", "--json", str(out / "plan.json")] + ([] if card_gib is None else ["--gpu-mem", f"{card_gib:g}"])
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = cli(argv)
    (out / "plan.txt").write_text(text.getvalue())
    return f"plan: exit {code}"


def check_scans(device: torch.device, *, tokens: int, heads: int = 20, dim: int = 112, frames: int = 3,
                repeats: int = 5) -> list[dict[str, Any]]:  # fmt: skip
    """Every scan implementation on one chunk's shape against ``naive``: max error (relative to the output scale) and
    median time per forward + reverse pair of calls."""
    from engine.ops.gated_delta import IMPLEMENTATIONS, gated_delta_scan

    g = torch.Generator(device="cpu").manual_seed(0)
    shape = (1, heads, frames, tokens, dim)
    kappa = (dim * tokens) ** -0.5
    q = torch.relu(torch.randn(shape, generator=g))
    k = torch.relu(torch.randn(shape, generator=g)) * kappa
    v = torch.randn(shape, generator=g)
    beta = torch.rand(shape[:-1], generator=g)
    gate = 0.9 + 0.1 * torch.rand(shape[:3], generator=g)
    state = 0.1 * torch.randn(1, heads, dim, dim, generator=g)
    inputs = [x.to(device) for x in (q, k, v, beta, gate, state)]

    def run(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        scan = gated_delta_scan(name)
        q, k, v, beta, gate, state = inputs
        forward, _ = scan.numerator(q, k, v, beta, gate, initial_state=state)
        reverse, _ = scan.numerator(q, k, v, beta, gate, reverse=True)
        return forward, reverse

    reference = run("naive")
    scale = max(float(t.abs().max()) for t in reference)
    rows = []
    for name in IMPLEMENTATIONS:
        row: dict[str, Any] = {"scan": name}
        try:
            outputs = run(name)
            row["max_error_over_scale"] = max(float((a.float() - b.float()).abs().max()) for a, b in zip(outputs, reference)) / scale
            times = []
            for _ in range(repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                began = time.perf_counter()
                run(name)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append((time.perf_counter() - began) * 1000)
            row["ms_per_forward_and_reverse"] = round(statistics.median(times), 3)
        except Exception as exc:  # noqa: BLE001 - any failure of one implementation is a result to report
            row["status"] = f"unavailable: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = check_args(args)
    if problem:
        return fail(problem)
    started = time.monotonic()
    deadline = started + args.budget_s
    device = torch.device(args.device)
    official = args.preset == "sana-wm-1600m-720p"
    size = tuple(int(v) for v in (args.size or ("1280x704" if official else "64x48")).lower().split("x"))
    factor = args.spatial_factor or (32 if official else 16)
    have_diffusers = importlib.util.find_spec("diffusers") is not None
    codec = args.codec if args.codec != "auto" else ("ltx2" if official and have_diffusers else "patch")
    out = args.out or Path(os.environ.get("OUT") or "gpu-bench-results")
    out.mkdir(parents=True, exist_ok=True)

    from engine.bench.gpu_stream import benchmark_matrix, describe_device, format_matrix, parse_list
    from engine.errors import SanaWMInputError
    from engine.memory.tiers import TIERS
    from engine.ops.gated_delta import IMPLEMENTATIONS

    try:
        scans = parse_list(args.scan, IMPLEMENTATIONS, "--scan")
        tiers = parse_list(args.memory, TIERS, "--memory")
    except SanaWMInputError as exc:
        return fail(str(exc))
    env = environment(device)
    (out / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    log = [f"environment: {json.dumps(env)}"]
    print(log[-1], flush=True)
    if not args.skip_plan:
        if have_diffusers and importlib.util.find_spec("transformers") is not None:
            log.append(run_plan(out, env.get("total_gib")))
        else:
            log.append("plan: skipped (needs diffusers and transformers)")
        print(log[-1], flush=True)
    if not args.skip_scans:
        tokens = (size[0] // factor) * (size[1] // factor)
        rows = check_scans(device, tokens=tokens)
        (out / "scans.json").write_text(json.dumps(rows, indent=2) + "\n")
        log.append("scans: " + "; ".join(f"{r['scan']} {r.get('ms_per_forward_and_reverse', '-')} ms, error "
                                         f"{r.get('max_error_over_scale', '-')}" + (f" ({r['status']})" if 'status' in r else "")
                                         for r in rows))  # fmt: skip
        print(log[-1], flush=True)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    matrix = benchmark_matrix(args.preset, device, dtype=dtype, scans=scans, tiers=tiers, chunks=args.chunks,
                              frame_size=size, spatial_factor=factor, codec=codec, deadline=deadline,
                              progress=lambda label, done, total: print(f"  {label}: chunk {done}/{total}",
                                                                        file=sys.stderr, flush=True))  # fmt: skip
    header = (f"streaming: preset {args.preset} (random weights), {size[0]}x{size[1]}, {describe_device(device)}, "
              f"{str(dtype).removeprefix('torch.')}, codec {codec}, {args.chunks} chunks of 24 frames per run")  # fmt: skip
    table = format_matrix(matrix, header=header)
    (out / "bench.txt").write_text(table + "\n")
    (out / "bench.json").write_text(json.dumps({"header": header, "rows": [r.summary() for r in matrix]}, indent=2) + "\n")
    log += [table, f"total {time.monotonic() - started:.0f} s of a {args.budget_s:.0f} s budget; results in {out}"]
    (out / "summary.txt").write_text("\n".join(log) + "\n")
    print("\n".join(log[-2:]))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
