"""Model bundles: the loaded model and its companions (:class:`ModelBundle`), how to find one
(:func:`load_bundle`), the embedded folder format, the official SANA-WM folder layouts, local-folder loading of
library models (diffusers, transformers) and the Stage-1 checkpoint loader."""

from engine.bundles.bundle import EMBEDDED_MODEL_DIR, RESOURCES, ModelBundle, TextEncoder
from engine.bundles.embedded import load_embedded_bundle, save_bundle
from engine.bundles.load import load_bundle

__all__ = ["EMBEDDED_MODEL_DIR", "RESOURCES", "ModelBundle", "TextEncoder", "load_bundle", "load_embedded_bundle",
           "save_bundle"]
