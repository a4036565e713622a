"""The ``gpu`` extra a tier needs, checked before anything is loaded.

The ``low`` tier uses two libraries that are not part of the base install: torchao for fp8 DiT weights
(:mod:`engine.memory.fp8`) and accelerate, which diffusers' group offloading needs to move inputs between devices
(the refiner and Gemma-3 stream from host memory). Both come with ``pip install -e '.[gpu]'``. Neither is a base
dependency: torchao's CUDA extensions cannot load on a CPU-only torch and it logs warnings at import, and a CPU
has no use for either. A tier whose library is missing fails with one line naming it instead of silently doing less.
"""

from __future__ import annotations

import importlib.util

from engine.errors import GPUMemoryError
from engine.memory.tiers import TierPolicy

#: What each need asks for: pip requirement and what it is for.
TORCHAO = ("torchao", "torchao>=0.18", "fp8 DiT weights")
ACCELERATE = ("accelerate", "accelerate>=1.0", "the refiner's group offloading")


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def require(need: tuple[str, str, str], tier: str) -> None:
    """Raise :class:`GPUMemoryError` when ``need``'s library is missing."""
    module, requirement, purpose = need
    if not available(module):
        raise GPUMemoryError(
            f"--memory {tier}: {purpose} need {module} ({requirement}, the gpu extra: pip install -e '.[gpu]'), "
            "found it not installed"
        )


def require_extras(policy: TierPolicy, *, refine: bool = True) -> None:
    """Every library ``policy`` uses (the refiner's only when it will refine)."""
    if policy.dit_fp8:
        require(TORCHAO, policy.name)
    if policy.refiner_offload and refine:
        require(ACCELERATE, policy.name)


__all__ = ["ACCELERATE", "TORCHAO", "available", "require", "require_extras"]
