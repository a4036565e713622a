"""engine.bench.gpu_stream: the scan x tier matrix (on the CPU, tiny preset): every implementation is listed, one that
cannot run says why, the time budget skips what is left, and the pieces it is made of."""

from __future__ import annotations

import time

import pytest
import torch

from engine.bench.gpu_stream import benchmark_matrix, format_matrix, parse_list, random_bundle, use_scan
from engine.errors import ConfigError
from engine.ops.gated_delta import IMPLEMENTATIONS

TINY = dict(frame_size=(64, 48), spatial_factor=16)


def test_lists_are_all_or_known_names() -> None:
    assert parse_list("all", IMPLEMENTATIONS, "--scan") == IMPLEMENTATIONS
    assert parse_list("chunk, naive,chunk", IMPLEMENTATIONS, "--scan") == ("chunk", "naive")
    with pytest.raises(ConfigError, match="--scan: expected 'all' or names from naive, chunk"):
        parse_list("chunk,fast", IMPLEMENTATIONS, "--scan")


def test_a_random_bundle_is_finite_and_every_gdn_block_takes_the_scan_asked_for() -> None:
    bundle = random_bundle("sana-wm-tiny-test", torch.device("cpu"), torch.float32, **TINY)
    assert all(torch.isfinite(p).all() for p in bundle.transformer.parameters())
    use_scan(bundle.transformer, "naive")
    scans = [m.scan.name for m in bundle.transformer.modules() if hasattr(m, "scan")]
    assert scans and set(scans) == {"naive"}


def test_the_matrix_has_a_row_per_scan_and_tier_with_a_reason_for_each_that_cannot_run() -> None:
    rows = benchmark_matrix("sana-wm-tiny-test", "cpu", dtype=torch.float32, scans=IMPLEMENTATIONS,
                            tiers=("full", "balanced"), chunks=2, **TINY)  # fmt: skip
    assert [(r.tier, r.scan) for r in rows] == [(t, s) for t in ("full", "balanced") for s in IMPLEMENTATIONS]
    for row in rows:
        if row.scan == "triton":  # a CUDA kernel: on the CPU it says so (and the others run)
            assert row.status.startswith("unavailable:") and "CUDA" in row.status
        else:
            assert row.status == "ok" and len(row.chunk_ms) == 2 and row.fps > 0
    table = format_matrix(rows, header="tiny")
    assert table.count("\n") == len(rows) + 2 and "x real time" in table


def test_what_is_left_when_the_budget_is_spent_is_skipped() -> None:
    rows = benchmark_matrix("sana-wm-tiny-test", "cpu", dtype=torch.float32, scans=("chunk",), tiers=("full",),
                            chunks=2, deadline=time.monotonic() - 1, **TINY)  # fmt: skip
    assert [r.status for r in rows] == ["skipped: time budget spent"]
