"""Weight initialisation for training from scratch (the Sana / PixArt recipe).

The modules in :mod:`engine.model` are built for *loading* checkpoints, so their constructors use PyTorch's
default initialisation. Training from scratch uses the recipe of the Sana and PixArt code bases instead:

* every linear map (and the 1x1x1 patch embedders, which are linear maps per token) Xavier-uniform, biases 0 —
  activations keep their scale through the depth;
* the timestep MLP and ``t_block`` (the adaLN-single modulation) normal with std 0.02 — the modulation starts
  small, so every block starts close to its un-modulated form;
* the final projection zero — the model starts by predicting ``v = 0``, whose loss is the data's
  ``E|ε - x0|²``, instead of a random large velocity; gradients still reach every layer after the first step;
* the Plücker injection ``plucker_proj`` zero — camera rays enter the residual stream gradually instead of as a
  large random offset in every block.

Gated-DeltaNet gates (``A_log``, ``dt_bias``), short convs, the FFN convolutions and the adaLN tables keep the
constructors' initialisation, which already follows the official code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn as nn

from engine.errors import ConfigError
from engine.model.transformer import SanaWMTransformer


def init_weights(model: SanaWMTransformer, seed: int) -> None:
    """Re-initialise ``model`` in place for training from scratch; deterministic given ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                _xavier_(module.weight, gen)
                if module.bias is not None:
                    module.bias.zero_()
        for embedder in (model.x_embedder, model.plucker_embedder, model.raymap_embedder):
            _xavier_(embedder.proj.weight, gen)  # (C, C_in, 1, 1, 1): a linear map per token
            embedder.proj.bias.zero_()
        for linear in (model.t_embedder.mlp[0], model.t_embedder.mlp[2], model.t_block[1]):
            linear.weight.copy_(0.02 * torch.randn(linear.weight.shape, generator=gen))
        if model.config.text_conditioning:
            for linear in (model.y_embedder.y_proj.fc1, model.y_embedder.y_proj.fc2):
                linear.weight.copy_(0.02 * torch.randn(linear.weight.shape, generator=gen))
        model.final_layer.linear.weight.zero_()
        model.final_layer.linear.bias.zero_()
        for block in model.blocks:
            block.plucker_proj.weight.zero_()
            block.plucker_proj.bias.zero_()


def _xavier_(weight: torch.Tensor, gen: torch.Generator) -> None:
    """Xavier-uniform on ``weight`` viewed as ``(fan_out, fan_in)``, drawn from ``gen``."""
    fan_out, fan_in = weight.shape[0], weight[0].numel()
    bound = (6.0 / (fan_in + fan_out)) ** 0.5
    weight.copy_((torch.rand(weight.shape, generator=gen) * 2 - 1) * bound)


def load_initial_weights(model: SanaWMTransformer, folder: str | Path, frame_size: tuple[int, int],
                         spatial_factor: int) -> None:  # fmt: skip
    """Start a fine-tune from the weights of the embedded bundle in ``folder`` (``--init-from``).

    The bundle must be the same model the run trains: equal architecture (every config field but the preset
    name), frame size and codec patch size; anything else is refused, because loading would silently train a
    different model than the config records.
    """
    from engine.bundles import load_embedded_bundle

    bundle = load_embedded_bundle(folder)
    theirs = {k: v for k, v in dataclasses.asdict(bundle.config).items() if k != "preset"}
    ours = {k: v for k, v in dataclasses.asdict(model.config).items() if k != "preset"}
    adds_cache = bool(ours["cache_channels"]) and not theirs.get("cache_channels")
    differ = sorted(k for k in ours if ours[k] != theirs.get(k) and not (adds_cache and k == "cache_channels"))
    problems = [f"{k}: run {ours[k]!r}, bundle {theirs.get(k)!r}" for k in differ]
    if tuple(bundle.frame_size) != tuple(frame_size):
        problems.append(f"frame size: run {frame_size}, bundle {tuple(bundle.frame_size)}")
    factor = getattr(bundle.codec, "spatial_factor", None)
    if factor != spatial_factor:
        problems.append(f"codec patch size: run {spatial_factor}, bundle {factor}")
    if problems:
        raise ConfigError(f"--init-from {folder}: the bundle is not the model this run trains ({'; '.join(problems)})")
    if not adds_cache:
        model.load_state_dict(bundle.transformer.state_dict(), strict=True)
        return
    # A model v2 from v1 weights: everything but the world-cache input, which starts at zero (the model then
    # computes exactly what the bundle's model computes, whatever the cache input).
    missing, unexpected = model.load_state_dict(bundle.transformer.state_dict(), strict=False)
    if unexpected or any(not k.startswith("cache_embedder.") for k in missing):
        raise ConfigError(f"--init-from {folder}: weights do not fit (missing {missing}, unexpected {unexpected})")
    with torch.no_grad():
        model.cache_embedder.proj.weight.zero_()
        model.cache_embedder.proj.bias.zero_()
