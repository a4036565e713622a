"""SANA-WM Explorer engine: the headless core (camera layer, model, streaming session, export).

Nothing in this package imports Qt. The public API the desktop app (and any script) uses:
:mod:`engine.generation` (the streaming :class:`~engine.generation.session.WorldSession`, its ``.swm`` files and
refinement, the offline pipeline), :mod:`engine.bundles` (finding and loading models), :mod:`engine.camera`,
:mod:`engine.export`, :mod:`engine.io` and :mod:`engine.errors`.
"""

__version__ = "0.1.0"
