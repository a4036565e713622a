"""SANA-WM Explorer engine: the headless core (camera layer, model, streaming session, export).

Nothing in this package imports Qt; the desktop app in :mod:`app` drives it through
:mod:`engine.session`, :mod:`engine.camera`, :mod:`engine.export` and :mod:`engine.weights`.
"""

__version__ = "0.1.0"
