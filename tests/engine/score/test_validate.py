"""The validation table's rules (targets, controls, the model's row), on hand-made reports (no rendering, no SfM)."""

from __future__ import annotations

import numpy as np

from engine.score.scorer import ScoreReport
from engine.score.validate import ValidationTable, control_frames


def _report(status: str = "scored", rot: float | None = 0.1, share: float = 1.0) -> ScoreReport:
    return ScoreReport(video="v", trajectory="t", status=status, message="", num_frames=97,
                       scored_frames=list(range(0, 97, 4)), registered=round(25 * share), share_registered=share,
                       rot_err_deg=rot, trans_err=None if rot is None else 0.01, cammc=None if rot is None else 0.02)


def _row(truth: ScoreReport, **controls: ScoreReport) -> dict[str, ScoreReport]:
    out = {"truth": truth, "reversed": _report(rot=5.0), "shuffled": _report(rot=6.0), "static": _report("static", 3.0)}
    out.update(controls)
    return out


def test_a_world_passes_only_with_a_small_error_full_registration_and_separated_controls() -> None:
    table = ValidationTable([(1, "forest", _row(_report(rot=0.1)))])
    assert table.passed and table.world_passed(table.rows[0][2])
    assert not ValidationTable([(1, "f", _row(_report(rot=1.5)))]).passed            # error above 1 degree
    assert not ValidationTable([(1, "f", _row(_report(rot=0.1, share=0.8)))]).passed  # 80 % registered
    assert not ValidationTable([(1, "f", _row(_report(rot=0.7)))]).passed            # static only 4.3x worse
    unregistered_control = _row(_report(rot=0.1), shuffled=_report("unregistered", None, 0.3))
    assert ValidationTable([(1, "f", unregistered_control)]).passed                   # not scored counts as separated
    assert not ValidationTable([(1, "f", _row(_report("unregistered", None, 0.4)))]).passed
    assert not ValidationTable([]).passed


def test_the_markdown_has_one_row_per_world_and_the_model_columns_when_a_model_ran() -> None:
    rows = [(7, "desert", _row(_report(rot=0.1))), (8, "town", _row(_report("unregistered", None, 0.48)))]
    rows[0][2]["model"] = _report(rot=12.5)
    text = ValidationTable(rows).markdown().splitlines()
    assert len(text) == 4 and "model RotErr deg" in text[0]
    assert text[2].startswith("| 7 | desert | 0.10 |") and "| yes |" in text[2] and "scored (100 %) | 12.50" in text[2]
    assert text[3].startswith("| 8 | town | n/a |") and "48 %" in text[3] and "| no |" in text[3]


def test_controls_are_made_from_the_same_frames() -> None:
    frames = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    np.testing.assert_array_equal(control_frames(frames, "reversed"), frames[::-1])
    shuffled = control_frames(frames, "shuffled")
    assert sorted(shuffled[:, 0, 0, 0].tolist()) == frames[:, 0, 0, 0].tolist() and not np.array_equal(shuffled, frames)
    assert (control_frames(frames, "static") == frames[0]).all()
