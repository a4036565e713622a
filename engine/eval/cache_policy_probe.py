"""Measure what a cache-conditioned model (v2) should be shown of the world cache (docs/embedded_model.md, "What the
model sees"): ``sana-wm eval``'s model row, with the session's world memory swapped for one policy at a time.

Policies: ``shown-observed`` (shipped: generated chunks fused, the model shown the start image's voxels),
``shown-all`` (shown every voxel, :attr:`WorldCacheSettings.model_sees_generated`), ``start-only`` (nothing
generated is fused), ``fill-only`` (a generated frame adds only pixels the cache did not cover; shown all),
``hidden`` (the model is shown nothing, as a session without a world cache: what the cache input adds at all).

    OMP_NUM_THREADS=1 python -m engine.eval.cache_policy_probe --model BUNDLE --policies shown-observed,start-only
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch

import engine.generation.session as session_module
from engine.bundles import load_bundle
from engine.errors import SanaWMInputError, one_line
from engine.eval.protocol import EvalConfig, evaluate
from engine.generation.world_memory import WorldMemory, depth_source_for, fused_frame_indices
from engine.world_cache import CacheState, empty_state, update, unproject

POLICIES = ("shown-observed", "shown-all", "start-only", "fill-only", "hidden")


def memory_class(policy: str) -> type[WorldMemory]:
    """A :class:`WorldMemory` that builds and shows the cache as ``policy`` says (module docstring)."""

    class PolicyMemory(WorldMemory):
        def __init__(self, depth, settings=None) -> None:
            super().__init__(depth, settings)
            if policy in ("shown-all", "fill-only"):
                self.settings = replace(self.settings, model_sees_generated=True)

        def model_view(self, world: CacheState) -> CacheState:
            return empty_state(world.config) if policy == "hidden" else super().model_view(world)

        def after_chunk(self, world, frames, c2w, intrinsics, *, first_chunk=False):
            if policy == "start-only":
                return world
            if policy != "fill-only":
                return super().after_chunk(world, frames, c2w, intrinsics, first_chunk=first_chunk)
            picks = fused_frame_indices(len(frames), self.settings.fuse_every, skip_first=first_chunk)
            frames, c2w, intrinsics = frames[picks], c2w[picks], intrinsics[picks]
            depth = np.asarray(self.depth(np.ascontiguousarray(frames), np.asarray(intrinsics, np.float32)))
            for frame, z, pose, k in zip(frames, depth, c2w, intrinsics):
                covered = self.render(world, pose, k, (frame.shape[1], frame.shape[0])).coverage
                world = update(world, unproject(frame, np.where(covered, np.inf, z), pose, k,
                                                stride=self.settings.stride))  # fmt: skip
            return world

    return PolicyMemory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a cache-conditioned bundle folder (with depth.safetensors)")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="offset of the first held-out world (sana-wm eval --seed)")
    parser.add_argument("--drift-seconds", type=float, default=0.0)
    args = parser.parse_args()
    policies = args.policies.split(",")
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        parser.error(f"--policies: expected names among {', '.join(POLICIES)}, found {', '.join(map(repr, unknown))}")
    torch.set_num_threads(1)
    try:
        bundle = load_bundle(args.model)
        if not bundle.config.cache_channels or depth_source_for(bundle.source) is None:
            parser.error(f"--model {args.model}: expected a model with a world-cache input and depth.safetensors "
                         "beside it (model v2), found one without")  # fmt: skip
        config = EvalConfig(scenes=args.scenes, seed=args.seed, drift_seconds=args.drift_seconds)
    except SanaWMInputError as exc:
        parser.error(one_line(exc))
    original = session_module.WorldMemory
    for policy in policies:
        session_module.WorldMemory = memory_class(policy)
        try:
            row = evaluate(bundle, config, baselines=False).rows[0]
        finally:
            session_module.WorldMemory = original
        print(json.dumps({"policy": policy, "psnr": {k: round(v["psnr"], 2) for k, v in row.horizons.items()},
                          "sharpness": {k: round(v["sharpness"], 2) for k, v in row.horizons.items()},
                          "revisit_self_gt": [round(row.revisit_self_psnr, 2), round(row.revisit_truth_psnr, 2)],
                          "per_world_psnr": [{k: round(v["psnr"], 2) for k, v in w.items()} for w in row.per_world]}))


if __name__ == "__main__":
    main()
