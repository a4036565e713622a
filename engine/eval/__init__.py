"""Evaluation against ground truth (docs/eval.md).

* :mod:`engine.eval.metrics` — PSNR, luma SSIM, sharpness and per-frame image statistics (numpy/torch, no
  scikit-image);
* :mod:`engine.eval.parallax` — block-matching flow and the forward-driving expansion check;
* :mod:`engine.eval.rollout` — a held-out scene, a streaming rollout along its poses, the repeat-first-frame baseline;
* :mod:`engine.eval.protocol` — held-out worlds, horizon / revisit / drift scores and baselines,
  used by ``sana-wm eval`` (:mod:`engine.commands.eval`);
* :mod:`engine.eval.exposure` — free vs teacher-forced per-chunk PSNR (``sana-wm eval --exposure``).
"""
