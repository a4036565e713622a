"""The `sana-wm-explorer` entry point exists and explains plainly that the window is not built yet."""

from app.main import main


def test_entry_point_explains_and_exits_non_zero(capsys):
    assert main([]) == 1
    err = capsys.readouterr().err
    assert "not available in this version yet" in err and "sana-wm trajectory" in err
