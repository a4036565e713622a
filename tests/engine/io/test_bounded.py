"""Bounded readers: what a file declares is checked before anything is allocated, and every failure is one typed,
one-line error naming the input."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from engine.errors import InputFileError
from engine.io.bounded import json_depth, load_npy, load_npz, open_image_rgb, parse_json, read_json


def _npy_header_only(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A .npy file whose header declares ``shape`` but which holds no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG declaring ``width x height`` RGB pixels, with almost no image data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_a_npy_declaring_a_trillion_frames_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(_npy_header_only((10**12, 4, 4)))
    with pytest.raises(InputFileError, match=r"huge.npy: expected an array of at most 2.0 GiB, found a header declaring"):
        load_npy(path, error=InputFileError)


def test_a_npy_declaring_more_data_than_it_holds_is_called_truncated(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(_npy_header_only((100, 4, 4)) + b"\0" * 64)
    with pytest.raises(InputFileError, match="truncated"):
        load_npy(path, error=InputFileError)


@pytest.mark.parametrize("content, found", [(b"", "an empty file"), (b"hello world", "other data"),
                                            (b"PK\x03\x04rest", "an .npz")])  # fmt: skip
def test_not_a_npy_says_what_was_found(tmp_path, content, found):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=found):
        load_npy(path, error=InputFileError, where="--camera x.npy")


def test_a_valid_npy_and_npz_load_unchanged(tmp_path):
    arr = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "a.npy", arr)
    np.savez(tmp_path / "b.npz", c2w=arr, fps=np.asarray(16.0))
    assert np.array_equal(load_npy(tmp_path / "a.npy", error=InputFileError), arr)
    loaded = load_npz(tmp_path / "b.npz", error=InputFileError)
    assert sorted(loaded) == ["c2w", "fps"] and np.array_equal(loaded["c2w"], arr)


def test_npz_object_arrays_and_lying_members_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputFileError, match=r"obj.npz \[a\]: .*object array"):
        load_npz(tmp_path / "obj.npz", error=InputFileError)
    with zipfile.ZipFile(tmp_path / "lie.npz", "w") as archive:
        archive.writestr("c2w.npy", _npy_header_only((10**9, 4, 4)))
    with pytest.raises(InputFileError, match=r"lie.npz \[c2w\]: expected an array of at most"):
        load_npz(tmp_path / "lie.npz", error=InputFileError)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InputFileError, match="empty file"):
        load_npz(tmp_path / "empty.npz", error=InputFileError)


def test_json_nesting_is_capped_without_a_recursion_error():
    with pytest.raises(InputFileError, match="nested at most 64 levels"):
        parse_json("[" * 200_000, where="x.json", error=InputFileError)
    with pytest.raises(InputFileError, match="found 70 levels"):
        parse_json("[" * 70 + "]" * 70, where="x.json", error=InputFileError)
    assert json_depth(parse_json('{"a": [1, {"b": []}]}', where="x", error=InputFileError)) == 4


def test_json_size_type_and_constants_are_checked(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"a": 1}' + " " * 200)
    with pytest.raises(InputFileError, match="at most 100 bytes, found 208 bytes"):
        read_json(path, error=InputFileError, max_bytes=100)
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match="expected a JSON object, found a list"):
        read_json(path, error=InputFileError, expect=dict)
    with pytest.raises(InputFileError, match="NaN"):
        parse_json('{"fov": NaN}', where="c.json", error=InputFileError)
    assert parse_json('{"t": NaN}', where="m", error=InputFileError, allow_nan=True)["t"] != 0


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(100_000, 100_000))  # 10^10 pixels declared in ~80 bytes
    with pytest.raises(InputFileError, match=r"--image .*bomb.png: expected an image of at most"):
        open_image_rgb(path, where=f"--image {path}", error=InputFileError)
    Image.new("RGB", (20, 10)).save(tmp_path / "big.png")  # over a given cap, far under PIL's own
    with pytest.raises(InputFileError, match="at most 100 pixels, found 20x10"):
        open_image_rgb(tmp_path / "big.png", where="big.png", error=InputFileError, max_pixels=100)
    Image.new("RGB", (4, 3), (10, 20, 30)).save(tmp_path / "ok.png")
    assert open_image_rgb((tmp_path / "ok.png").read_bytes(), where="ok", error=InputFileError).shape == (3, 4, 3)
