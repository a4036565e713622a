"""The fuzz suite's plumbing: its tests import :mod:`fuzz_contract` from this folder, and the run ends with the counts
per surface (cases, clear errors, accepted valid inputs); ``SANA_WM_FUZZ_REPORT=FILE`` also writes them as JSON."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from fuzz_contract import TALLY  # noqa: E402


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    terminalreporter.section("bad-input fuzz: cases per surface")
    total: Counter = Counter()
    for surface in sorted(TALLY):
        counts = TALLY[surface]
        total.update(counts)
        terminalreporter.write_line(_row(surface, counts))
    terminalreporter.write_line(_row("total", total))
    report = os.environ.get("SANA_WM_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({k: dict(v) for k, v in sorted(TALLY.items())}, indent=2) + "\n")


def _row(surface: str, counts: Counter) -> str:
    return (f"{surface:<24} {counts['cases']:5d} cases {counts['clear errors']:5d} clear errors "
            f"{counts['accepted valid inputs']:5d} accepted valid")  # fmt: skip
