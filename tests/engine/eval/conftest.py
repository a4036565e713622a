"""Shared by the eval tests: running a probe's command line that must refuse its flags."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture
def refused_flags():
    """``refused_flags(module, *flags) -> stderr`` of ``python -m module flags``, asserting it ended with argparse's
    exit status 2 and no traceback (the probes check their flags before loading anything)."""

    def run(module: str, *flags: str) -> str:
        done = subprocess.run([sys.executable, "-m", module, *flags], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        return done.stderr

    return run
