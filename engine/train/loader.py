"""Training batches in order, built in the training process or ahead of it in worker processes.

Why workers: a window of the world-cache model (v2) costs fusions, 13 GL renders and, for the predicted-depth
share, 19 depth estimates, all on the CPU (0.48-0.67 s per window on one core of the project machine,
docs/embedded_model.md). A GPU step on such a window takes milliseconds, so built in the training process the
data alone would leave the GPU idle nearly all the time. Workers build the next windows while the GPU trains.

Why the batches do not depend on the worker count: a sample is a pure function of ``(seed, sample index)``
(:meth:`~engine.train.data.TrainingData.sample`), and the loader hands out consecutive indices and collects the
results in index order, whichever worker finishes first. A run with 0 workers and one with 8 train on the same
windows (tested), so a run resumed with another ``data_workers`` continues exactly.

Workers are *spawned*, never forked: the training process may hold a CUDA context, and an EGL context (the
renderer's, made on first use) must not be inherited through ``fork``. Each worker gets a pickled copy of the
:class:`~engine.train.data.TrainingData` without its GL renderer, depth estimator or latent cache
(``__getstate__`` of those classes), makes its own on first use, and runs torch and llvmpipe on one thread, so
``N`` workers use ``N`` cores. A plain :class:`multiprocessing.pool.Pool`, not torch's DataLoader: stopping a
DataLoader whose workers are still sending windows lets a worker exit with a result in flight, which aborts it
("terminate called without an active exception", reported as a failed worker); the pool's ``terminate`` ends its
workers at once, and windows built ahead are simply dropped.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterator

import torch

from engine.train.data import TrainingBatch, TrainingData, TrainingSample

#: Samples queued per worker ahead of the training step: enough that no worker waits for its next index, few
#: enough that the windows in flight (each passed as shared-memory file descriptors) stay far below open-file limits.
AHEAD_PER_WORKER = 2

#: Longest a close waits for the windows already asked for (see batch_stream's finally).
CLOSE_WAIT_S = 60.0

_DATA: TrainingData | None = None  # the worker's copy (set by _init_worker)


def _init_worker(data: TrainingData) -> None:
    """Each worker on one core: torch's intra-op pool, and llvmpipe's rasteriser threads (read when the GL
    context is made, on the first window)."""
    global _DATA
    torch.set_num_threads(1)
    os.environ["LP_NUM_THREADS"] = "1"
    _DATA = data


def _sample(n: int) -> TrainingSample:
    assert _DATA is not None, "data worker used before _init_worker"
    return _DATA.sample(n)


def batch_stream(data: TrainingData, first: int, batch_size: int, workers: int = 0, *,
                 pin_memory: bool = False) -> Iterator[TrainingBatch]:  # fmt: skip
    """Batches of samples ``first .. first + batch_size - 1``, then the next ``batch_size``, and so on, for ever.

    Args:
        data: the run's windows.
        first: the first sample index (the run's ``samples_seen``).
        batch_size: samples per batch.
        workers: processes building samples ahead (0 = build each batch when it is asked for).
        pin_memory: page-lock each batch (for asynchronous copies to a GPU).

    Close the iterator to stop the workers (windows built ahead are dropped). A window that fails in a worker
    raises its error here, when its batch is reached.
    """
    if workers <= 0:
        for start in itertools.count(int(first), int(batch_size)):
            batch = data.batch(start, batch_size)
            yield batch.pin_memory() if pin_memory else batch
        return
    pool = multiprocessing.get_context("spawn").Pool(int(workers), initializer=_init_worker, initargs=(data,))
    pending: collections.deque = collections.deque()
    try:
        indices = itertools.count(int(first))
        while True:
            while len(pending) < int(workers) * AHEAD_PER_WORKER + batch_size:
                pending.append(pool.apply_async(_sample, (next(indices),)))
            batch = TrainingBatch.stack([pending.popleft().get() for _ in range(batch_size)])
            yield batch.pin_memory() if pin_memory else batch
    finally:
        # Let the windows already asked for finish first: CPython's Pool.terminate() races its own result thread and
        # raises "Cannot have cache with result_hander not alive" when results are still pending (1 close in 5 in
        # tests/engine/train/test_loader.py). A few windows per worker, so a close waits at most CLOSE_WAIT_S.
        deadline = time.monotonic() + CLOSE_WAIT_S
        for result in pending:
            result.wait(max(0.0, deadline - time.monotonic()))
        pool.terminate()
        pool.join()
