"""RSS measurement returns freed memory first, so it sees what is held."""

import numpy as np

from engine.bench.memory import current_rss_bytes


def test_rss_rises_with_held_memory_and_falls_when_it_is_freed():
    before = current_rss_bytes()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    held = current_rss_bytes()
    del block
    after = current_rss_bytes()
    assert held - before > 60 * 2**20
    assert after - before < 8 * 2**20
