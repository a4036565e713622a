"""Former home of the time mixers, now :mod:`engine.model.time_mixing`; these names stay importable from here
until the callers outside ``engine/model`` (``engine.train.objective`` and two test modules) import the package.
"""

from engine.model.time_mixing import (
    BIDIRECTIONAL,
    Attend,
    BidirectionalMixer,
    ChunkCausalMixer,
    TimeMixer,
    TimeMixing,
    zero_padded_temporal_conv,
)

__all__ = [
    "BIDIRECTIONAL",
    "Attend",
    "BidirectionalMixer",
    "ChunkCausalMixer",
    "TimeMixer",
    "TimeMixing",
    "zero_padded_temporal_conv",
]
