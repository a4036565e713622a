"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from engine.synth.renderer import load_triton_before_gl

# Triton reads TRITON_INTERPRET once, when it is first imported, and several libraries the suite loads (diffusers,
# torchao, torch's own lazy modules) may import it before tests/engine/ops/test_gated_delta_fused_frame.py runs.
# Without CUDA a triton kernel can only run in the interpreter, so the whole test process sets it up front.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
# Before any test makes a Mesa GL context, Qt's or moderngl's: triton imported after llvmpipe segfaults the process,
# and torch imports triton lazily (e.g. from torch._dynamo)
load_triton_before_gl()


@pytest.fixture
def blocked_network(monkeypatch) -> list[object]:
    """Make every outgoing connection and name lookup fail; returns the list of attempts (empty = none made)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(OSError, match="blocked"):  # the block is in force
        socket.create_connection(("example.org", 443))
    attempts.clear()
    return attempts
