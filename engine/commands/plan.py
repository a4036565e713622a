"""``sana-wm plan``: the GPU memory each stage of the official 720p stack needs in each memory tier, and the tier a
card gets (:mod:`engine.memory.plan`).

Weights come from the official configs built on the meta device (a few seconds, nothing downloaded); activations
from the traced numbers shipped in ``resources/memory`` (``--retrace`` traces them again on the meta device, about a
minute on one core, and ``--write-activations`` stores the new numbers there).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from engine.commands.arguments import check_output_folders, write_json_result
from engine.errors import ConfigError
from engine.memory.plan import ACTIVATIONS_FILE, PLAN_SIZES, format_plan, load_activations, plan_all, plan_as_dict

#: The largest card ``--gpu-mem`` accepts (GiB): no single accelerator comes near it.
MAX_GPU_GIB = 4096.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="GPU memory per stage and memory tier of the official 720p stack, and the tier a card gets",
        description="Print the peak GPU memory of every stage of the official SANA-WM 720p stack (caption, stage-1 "
        "chunk, VAE decode, refiner prompt, refine block, refined-clip decode) in each memory tier (full, balanced, "
        f"low), and the tier `--memory auto` picks on cards of {', '.join(map(str, PLAN_SIZES))} GiB and --gpu-mem. "
        "Weights: official configs built on the meta device; activations: traced on the meta device (computed, "
        "not measured on a GPU).",
    )
    p.add_argument("--gpu-mem", type=float, metavar="GIB", help="also show a card of this many GiB (e.g. 24)")
    p.add_argument("--retrace", action="store_true", help="trace the activations again instead of reading "
                   "resources/memory (about a minute on one CPU core)")  # fmt: skip
    p.add_argument("--write-activations", action="store_true",
                   help="with --retrace: store the traced numbers in resources/memory")  # fmt: skip
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the plan as JSON ('-' = stdout)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.gpu_mem is not None and not 0 < args.gpu_mem <= MAX_GPU_GIB:
        raise ConfigError(f"--gpu-mem: expected GiB of GPU memory in (0, {MAX_GPU_GIB:g}], found {args.gpu_mem:g}")
    if args.write_activations and not args.retrace:
        raise ConfigError("--write-activations: expected --retrace as well (it stores freshly traced numbers)")
    check_output_folders(json=args.json)
    from engine.memory.parts import official_parts

    if args.retrace:
        from engine.memory.activations import official_activations

        acts = official_activations()
        source = "activations traced now"
        if args.write_activations:
            _write_activations(acts)
            source += f", stored in {ACTIVATIONS_FILE}"
    else:
        acts = load_activations()
        source = f"activations traced by engine.memory.activations, read from {ACTIVATIONS_FILE.name}"
    plans = plan_all(official_parts(), acts)
    print(format_plan(plans, acts, gpu_gib=args.gpu_mem, source=source))
    write_json_result(args.json, {**plan_as_dict(plans, gpu_gib=args.gpu_mem), "activations": acts.as_dict()})
    return 0


def _write_activations(acts) -> None:  # noqa: ANN001 - StackActivations
    """Store traced activations with what produced them (versions, commit)."""
    import diffusers
    import torch
    import transformers

    from engine.io.atomic import atomic_write_text

    root = ACTIVATIONS_FILE.parents[2]
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    data = {
        "about": "activations of the official SANA-WM 720p stack traced on the meta device by "
        "engine.memory.activations (computed, not measured on a GPU); regenerate with: "
        "sana-wm plan --retrace --write-activations",
        "torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
        "commit": commit or "unknown", "activations": acts.as_dict(),
    }  # fmt: skip
    ACTIVATIONS_FILE.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ACTIVATIONS_FILE, json.dumps(data, indent=1) + "\n")
