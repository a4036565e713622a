"""GPU memory: tiers of placement (:mod:`.tiers`), the plan of what each stage needs (:mod:`.parts`,
:mod:`.activations`, :mod:`.trace`, :mod:`.plan`), choosing a tier before loading (:mod:`.fit`), and the pieces the
loaders and the session apply (:mod:`.fp8`, :mod:`.decode`). docs/gpu.md explains the numbers."""

from engine.memory.fit import MemoryChoice, choose_memory, cpu_notice
from engine.memory.tiers import FULL, MEMORY_CHOICES, TIERS, TierPolicy, tier_policy

__all__ = ["FULL", "MEMORY_CHOICES", "TIERS", "MemoryChoice", "TierPolicy", "choose_memory", "cpu_notice", "tier_policy"]
