"""Helpers for tests and demos that need model files: tiny random-weight bundles built on the spot, offline."""
