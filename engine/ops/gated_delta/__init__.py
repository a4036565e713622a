"""Frame-wise gated delta rule (spec model §5.4-5.5): a readable reference and a chunked form.

``naive`` is the specification (frame-recurrent loop); ``chunk`` is the vectorised algorithm. Both expose
``numerator_scan`` and ``normaliser_scan`` with the same contract; pick one through :mod:`engine.ops.dispatch`.
"""

from . import chunk, naive

__all__ = ["chunk", "naive"]
