"""The SANA-WM Stage-1 DiT: config presets and the transformer (see ../shared/DESIGN.md, spec/sana_wm_model.md).

Build with ``SanaWMTransformer(SanaWMConfig.from_preset(name))``; load official or diffusers checkpoints with
:func:`engine.bundles.weights.load_transformer`.
"""

from engine.model.config import CAMERA_VARIANTS, PRESETS, SanaWMConfig
from engine.model.transformer import SanaWMTransformer

__all__ = ["CAMERA_VARIANTS", "PRESETS", "SanaWMConfig", "SanaWMTransformer"]
