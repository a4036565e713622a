"""Batch generation on Ray: job files (:mod:`engine.batch.jobs`), the worker that keeps its model loaded
(:mod:`engine.batch.worker`) and the Ray runner (:mod:`engine.batch.runner`); ``sana-wm batch``, docs/batch.md."""
