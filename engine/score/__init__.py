"""How well a video follows its camera path: SfM poses (:mod:`engine.score.sfm`), similarity alignment
(:mod:`engine.score.align`), SANA-WM benchmark errors (:mod:`engine.score.metrics`), the scorer
(:mod:`engine.score.scorer`), its plot and its validation on procedural ground truth; ``sana-wm score``,
docs/score.md."""

from engine.score.scorer import ScoreReport, ScoreSettings, score_frames, score_video

__all__ = ["ScoreReport", "ScoreSettings", "score_frames", "score_video"]
