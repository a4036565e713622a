"""Fixtures shared by every test folder."""

from __future__ import annotations

import socket

import pytest


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
