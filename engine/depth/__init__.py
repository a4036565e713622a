"""Monocular metric depth for any start image (see docs/depth.md).

``net`` the network, ``estimator`` the shipped weights (load, validate, predict), ``metrics`` AbsRel and δ,
``data`` training/eval frames rendered from procedural worlds with exact depth, ``train`` the resumable loop.
"""
