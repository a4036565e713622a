"""The soak benchmark: drives, rewinds and branches, and reports first-tenth vs last-tenth figures."""

from __future__ import annotations

from engine.bench.soak import MAX_DRIVE_CHUNKS, SoakRun, format_table, run_soak
from engine.bundles import ModelBundle


def test_a_short_soak_rewinds_keeps_the_held_chunks_bounded_and_reports_ratios():
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32))
    run = run_soak(bundle, 0.01, seed=1)  # 0.6 s: at least one chunk and one rewind
    assert len(run.chunk_ms) >= 1 and run.rewinds >= 1
    assert max(run.held) <= MAX_DRIVE_CHUNKS and all(r > 0 for r in run.rss)
    summary = run.summary()
    assert summary["chunks"] == len(run.chunk_ms) and summary["rss_ratio"] > 0
    assert "process RSS (MiB)" in format_table(run)


def test_ratios_compare_the_last_tenth_with_the_first():
    run = SoakRun(model="m", minutes=1.0, chunk_ms=[500.0] + [100.0] * 10 + [200.0] * 10,
                  rss=[1] * 21, held=[1] * 21, t_s=list(range(21)))  # fmt: skip
    assert run.figure("chunk_ms", "start") == 100.0 and run.figure("chunk_ms", "end") == 200.0
    assert run.ratio("chunk_ms") == 2.0 and run.ratio("rss") == 1.0
