"""Weight-space interpolation of a fine-tuned bundle with the bundle it was fine-tuned from (WiSE-FT,
Wortsman et al. 2022, arXiv 2109.01903).

Why: every CPU fine-tune of the embedded model gained at the short horizons and lost some of the robustness to its
own frames that the base's self-rollout stage gave it (docs/embedded_model.md, "Model v2"). Fine-tuning from a base
moves the weights a short way, and the points between the two models are often good models too (the WiSE-FT
finding): a mix ``base + alpha * (tuned - base)`` may keep most of what the fine-tune learnt and some of what it
wore off. Measured on v2 and v1, and not shipped: docs/embedded_model.md, "Mixing v2 with v1".

Weights the base lacks (v2's ``cache_embedder``: v1 has no world-cache input) are the tuned model's as they are:
the base's equivalent would be zeros. (A choice: mixes that scale the new input by alpha were not measured.)

    python -m engine.train.weight_mix --base runs/v1 --tuned runs/v2 --alpha 0.75 --out runs/v2_mix
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import shutil
import sys
from pathlib import Path

import torch

from engine.bundles import ModelBundle, load_embedded_bundle, save_bundle
from engine.errors import ConfigError, SanaWMInputError
from engine.io.atomic import atomic_path

#: Files beside an embedded bundle that belong to it and travel with the mix (the world cache's depth estimator).
COMPANIONS = ("depth.safetensors",)


def check_alpha(alpha: float) -> None:
    """Raise ConfigError unless ``alpha`` (the tuned model's share) is a number in [0, 1]."""
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ConfigError(f"alpha: expected the tuned model's share in [0, 1], found {alpha!r}")


def mix_state(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``base + alpha * (tuned - base)`` for every weight both hold; ``tuned``'s own weights where ``base`` has none.

    Raises ConfigError when ``base`` holds a weight ``tuned`` lacks or one of another shape: then the two are not
    one architecture and a mix means nothing."""
    check_alpha(alpha)
    missing = sorted(set(base) - set(tuned))
    if missing:
        raise ConfigError(f"the tuned model lacks {len(missing)} weight(s) of the base, e.g. {missing[0]!r}: "
                          "expected a fine-tune of the base")  # fmt: skip
    mixed = {}
    for key, weight in tuned.items():
        if key not in base:
            mixed[key] = weight.clone()
            continue
        if base[key].shape != weight.shape:
            raise ConfigError(f"{key}: the base's shape {tuple(base[key].shape)} differs from the tuned model's "
                              f"{tuple(weight.shape)}: expected a fine-tune of the base")  # fmt: skip
        start = base[key].to(weight.dtype)
        mixed[key] = start + float(alpha) * (weight - start)
    return mixed


def mix_bundles(base: ModelBundle, tuned: ModelBundle, alpha: float) -> ModelBundle:
    """The tuned bundle with its weights mixed with the base's (:func:`mix_state`); everything else is the tuned
    bundle's. The codec and frame size must agree, since the mix is only one model if both read the same latents."""
    if base.codec.name != tuned.codec.name or base.codec.latent_channels != tuned.codec.latent_channels \
            or base.codec.spatial_factor != tuned.codec.spatial_factor or base.frame_size != tuned.frame_size:
        raise ConfigError(f"the base ({base.codec.name}, {base.frame_size}) and the tuned model ({tuned.codec.name}, "
                          f"{tuned.frame_size}) read different latents: expected the same codec and frame size")  # fmt: skip
    state = mix_state(base.transformer.state_dict(), tuned.transformer.state_dict(), alpha)
    model = type(tuned.transformer)(tuned.config).to(next(tuned.transformer.parameters()).dtype)
    model.load_state_dict(state, strict=True)
    return dataclasses.replace(tuned, transformer=model.eval(), source=None)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_mix(base_dir: str | Path, tuned_dir: str | Path, alpha: float, out_dir: str | Path) -> Path:
    """Mix two embedded bundle folders into ``out_dir`` (``bundle.json``, ``model.safetensors`` and the tuned
    folder's companions). ``extras["weight_mix"]`` records alpha and both inputs' weight digests, so the mix can be
    traced and rebuilt."""
    base_dir, tuned_dir, out_dir = Path(base_dir), Path(tuned_dir), Path(out_dir)
    check_alpha(alpha)
    if out_dir.resolve() in (base_dir.resolve(), tuned_dir.resolve()):
        raise ConfigError(f"--out {out_dir}: expected a new folder, found one of the inputs")
    if (out_dir / "bundle.json").exists():
        raise ConfigError(f"--out {out_dir}: expected a new folder, found a bundle there (it is not overwritten)")
    base = load_embedded_bundle(base_dir)
    tuned = load_embedded_bundle(tuned_dir)
    mixed = mix_bundles(base, tuned, alpha)
    mixed.extras = {**tuned.extras, "weight_mix": {
        "alpha": float(alpha),
        "base": {"name": base.name, "model_sha256": _digest(base_dir / "model.safetensors")},
        "tuned": {"name": tuned.name, "model_sha256": _digest(tuned_dir / "model.safetensors")},
    }}
    save_bundle(mixed, out_dir)
    for name in COMPANIONS:
        if (tuned_dir / name).is_file():
            with atomic_path(out_dir / name) as tmp:
                shutil.copyfile(tuned_dir / name, tmp)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.train.weight_mix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the bundle folder the tuned model was fine-tuned from")
    parser.add_argument("--tuned", required=True, help="the fine-tuned bundle folder")
    parser.add_argument("--alpha", type=float, required=True, help="the tuned model's share in [0, 1]")
    parser.add_argument("--out", required=True, help="the new bundle folder")
    args = parser.parse_args(argv)
    try:
        out = write_mix(args.base, args.tuned, args.alpha, args.out)
    except SanaWMInputError as exc:
        print(f"weight_mix: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.alpha:g} of {args.tuned}, {1 - args.alpha:g} of {args.base})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
