"""Model bundles: the loaded model and its companions (:class:`ModelBundle`), how to find one
(:func:`load_bundle`), the embedded folder format, the official SANA-WM folder layouts, local-folder loading of
library models (diffusers, transformers) and the Stage-1 checkpoint loader; the memory tiers a bundle loads in
(:data:`MEMORY_CHOICES`, :func:`cpu_notice`; :mod:`engine.memory`)."""

from engine.bundles.bundle import EMBEDDED_MODEL_DIR, RESOURCES, ModelBundle, TextEncoder
from engine.bundles.embedded import load_embedded_bundle, save_bundle
from engine.bundles.load import load_bundle
from engine.memory.fit import cpu_notice
from engine.memory.tiers import MEMORY_CHOICES

__all__ = ["EMBEDDED_MODEL_DIR", "MEMORY_CHOICES", "RESOURCES", "ModelBundle", "TextEncoder", "cpu_notice", "load_bundle",
           "load_embedded_bundle", "save_bundle"]
