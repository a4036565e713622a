"""Sub-commands of ``sana-wm``: each module has ``register(subparsers)`` and handler functions."""
