"""Key maps: presets, editing, JSON round trip with portable key names, clear errors."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.keymap import PRESETS, KeyMap, key_code, key_name, preset
from engine.errors import ConfigError

K = Qt.Key


def test_v2_is_wasd_ijkl_with_the_v2_mapping_and_v1_keeps_the_keys_with_the_v1_mapping():
    v2, v1 = preset("v2"), preset("v1")
    assert v2.version == "v2" and v1.version == "v1"
    for km in (v1, v2):
        assert [km.dsl_key(getattr(K, f"Key_{c.upper()}").value) for c in "wasdijkl"] == list("wasdijkl")
        assert km.dsl_key(K.Key_Up.value) is None


def test_arrow_preset_drives_with_arrows_and_page_keys():
    arrows = preset("arrows")
    assert arrows.version == "v2"
    assert arrows.dsl_key(K.Key_Up.value) == "w" and arrows.dsl_key(K.Key_Left.value) == "a"
    assert arrows.dsl_key(K.Key_PageDown.value) == "k" and arrows.dsl_key(K.Key_W.value) is None
    assert sorted(arrows.keys.values()) == sorted("wasdijkl")


def test_with_key_moves_a_dsl_key_to_another_physical_key_and_frees_the_old_one():
    km = preset("v2").with_key("w", K.Key_Up.value)
    assert km.dsl_key(K.Key_Up.value) == "w" and km.dsl_key(K.Key_W.value) is None and km.name == "custom"
    km2 = km.with_key("s", K.Key_Up.value)  # Up now presses s, so w has no key any more
    assert km2.keys_for("s") == [K.Key_Up.value] and km2.keys_for("w") == []


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_uses_portable_key_names(name):
    km = PRESETS[name]
    text = km.to_json()
    assert KeyMap.from_json(text) == km
    if name == "arrows":
        assert '"Up": "w"' in text and '"PgUp": "i"' in text


def test_key_names_and_codes_are_inverse():
    assert key_name(K.Key_W.value) == "W" and key_code("Left") == K.Key_Left.value


def test_bad_key_maps_are_rejected_with_what_was_expected():
    with pytest.raises(ConfigError, match="expected DSL keys"):
        KeyMap.make("x", "v2", {K.Key_Q.value: "q"})
    with pytest.raises(ConfigError, match="expected version one of"):
        KeyMap.make("x", "v9", {})
    with pytest.raises(ConfigError, match="expected JSON"):
        KeyMap.from_json("{not json")
    with pytest.raises(ConfigError, match="one key name"):
        key_code("")
    with pytest.raises(ConfigError, match="one key name such as 'W' or 'Up', found 'NoSuchKey'"):
        key_code("NoSuchKey")  # Qt parses it as Key_unknown
    with pytest.raises(ConfigError, match="preset: expected one of v2, v1, arrows"):
        preset("dvorak")


def test_describe_keys_lists_every_dsl_key_with_its_keys_and_what_it_does():
    from app.keymap import describe_keys

    rows = describe_keys(preset("arrows").with_key("w", Qt.Key.Key_Home))
    assert [r[1] for r in rows] == list("wasdijkl")
    assert rows[0] == ("Home", "w", "forward") and rows[1] == ("Left", "a", "yaw left")
    assert describe_keys(preset("v1"))[1] == ("A", "a", "strafe left")
