"""How the latent frames of one model call mix in time: bidirectional, chunk-causal, or streaming from a cache.

Only five operations of the DiT look across frames (spec streaming §2): the short conv on K, the Gated-DeltaNet
scans (main branch with normaliser, camera branch numerator-only), softmax attention (main and camera) and the
FFN's temporal conv. Every block hands these to a *time mixer* (:class:`TimeMixer`), so one block implementation
serves all modes. The three mixers, side by side:

* :mod:`.bidirectional` — :data:`BIDIRECTIONAL`: the bidirectional model; whole-clip scans, full attention,
  zero-padded convs;
* :mod:`.chunk_causal` — :class:`ChunkCausalMixer`: the uncached chunk-causal teacher over a whole clip cut into
  chunks (the reference the streaming mode is tested against);
* :mod:`.streaming` — :class:`CachedMixer`: one chunk continued from the previous chunk's :class:`BlockCache`.
  A streaming model call passes :class:`engine.model.stream_cache.CachedStep`, which holds the whole model's
  :class:`~engine.model.stream_cache.StreamCache` and hands each block its ``CachedMixer``.

All three run the same ops: the bidirectional gated delta scan of :mod:`engine.ops.gated_delta.bidirectional`
(they differ only in its initial states and where its reverse pass is cut) and the short-conv halves of
:mod:`engine.ops.short_conv`. The scan implementation is not chosen here: each GDN block holds the
:class:`~engine.ops.gated_delta.GatedDeltaScan` its config names and passes it in.
"""

from engine.model.time_mixing.bidirectional import BIDIRECTIONAL, BidirectionalMixer, zero_padded_temporal_conv
from engine.model.time_mixing.chunk_causal import ChunkCausalMixer
from engine.model.time_mixing.protocol import Attend, TimeMixer, TimeMixing
from engine.model.time_mixing.streaming import BlockCache, CachedMixer

__all__ = [
    "BIDIRECTIONAL",
    "Attend",
    "BidirectionalMixer",
    "BlockCache",
    "CachedMixer",
    "ChunkCausalMixer",
    "TimeMixer",
    "TimeMixing",
    "zero_padded_temporal_conv",
]
