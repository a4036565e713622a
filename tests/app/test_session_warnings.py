"""A session file that opens without part of it (a damaged world-cache part) says so and still continues."""

from app import sessions

TIMEOUT = 60_000


def test_a_session_opened_without_part_of_it_says_so(qtbot, driver, make_window, start_image, tmp_path, monkeypatch):
    window = make_window()
    driver.start(window, start_image)
    driver.step(window, "w")
    driver.idle(window)
    assert window._save(tmp_path / "take.swm")
    real = sessions.load_project

    def damaged(path, **kwargs):
        project = real(path, **kwargs)
        project.warnings = [f"{path}: chunk 0: the world cache part chunks/0000/world.safetensors is damaged"]
        return project

    monkeypatch.setattr(sessions, "load_project", damaged)
    other = make_window()
    with qtbot.waitSignal(other.client.restored, timeout=TIMEOUT):
        assert other.open_session(tmp_path / "take.swm")
    qtbot.waitUntil(lambda: "without part of it" in other.last_error, timeout=TIMEOUT)
    assert "world cache" in other.last_error and "take.swm" in other.last_error
    assert other.started and other.project.cursor == 1
