"""Process memory as benchmarks and memory tests measure it."""

from __future__ import annotations

import ctypes
import gc
import os


def current_rss_bytes(trim: bool = True) -> int:
    """Resident set size of this process now (Linux ``/proc/self/statm``).

    With ``trim`` the C allocator first returns its free pages to the system (glibc ``malloc_trim``): without it,
    RSS also counts freed blocks that the allocator keeps around (it grows in steps with fragmentation of
    temporary tensors from several threads), which says nothing about what the engine holds.
    """
    if trim:
        gc.collect()
        _malloc_trim()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS then includes allocator slack
        pass
