"""SANA-WM Explorer desktop application (PySide6). Depends on :mod:`engine`, never the reverse."""
