"""Fuzz: start images (``--image``) of every kind PIL reads, truncated, corrupted, empty, and decompression bombs
(PNG, GIF and BMP headers declaring billions of pixels in a few bytes). An accepted image must be an RGB uint8 array
of the size the file declares."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from fuzz_contract import case_dir, fuzz, run_cli, run_reader
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from engine.errors import SanaWMInputError
from engine.generation.start_image import load_image


def png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 256)) + chunk(b"IEND", b"")


def gif_bomb(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


def bmp_bomb(width: int, height: int) -> bytes:
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + header + b"\0" * 64


@st.composite
def image_files(draw: st.DrawFn) -> tuple[bytes, tuple[int, int] | None]:
    """File bytes and the (width, height) a valid file declares (None for files that must be refused)."""
    kind = draw(st.sampled_from(["valid", "valid", "truncated", "flipped", "empty", "random", "png-bomb", "gif-bomb",
                                 "bmp-bomb", "text"]))  # fmt: skip
    if kind.endswith("bomb"):
        side = draw(st.sampled_from([9000, 20000, 65535]))
        return {"png-bomb": png_bomb, "gif-bomb": gif_bomb, "bmp-bomb": bmp_bomb}[kind](side, side), None
    if kind == "empty":
        return b"", None
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=300)), None
    if kind == "text":
        return b"P3\n2 2\n255\n" + draw(st.binary(max_size=20)), None
    fmt = draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]))
    mode = draw(st.sampled_from(["RGB", "L", "RGBA", "P", "1", "I;16"] if fmt in ("PNG", "TIFF") else ["RGB", "L"]))
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(buffer, format=fmt)
    data = buffer.getvalue()
    if kind == "truncated":
        return data[: draw(st.integers(0, len(data) - 1))], None
    if kind == "flipped":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :], None
    return data, size


@fuzz(90)
@given(case=image_files())
def test_image_files_are_refused_clearly_or_read_at_their_declared_size(case):
    data, size = case
    with case_dir() as d:
        path = d / "start.img"
        path.write_bytes(data)
        result = run_reader(lambda: load_image(path, name="--image"), "images", workdir=d)
        if isinstance(result, SanaWMInputError):
            assert "--image" in str(result)
            assert size is None or "pixels" in str(result), f"a valid {size} image was refused: {result}"
        else:
            assert result.dtype == np.uint8 and result.ndim == 3 and result.shape[2] == 3
            if size is not None:
                assert result.shape[:2] == (size[1], size[0])


def test_generate_refuses_a_bomb_image_before_loading_any_model(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_bomb(100_000, 100_000))
    argv = ["generate", "--image", str(tmp_path / "bomb.png"), "--action", "w-48", "--output_dir", str(tmp_path / "out")]
    outcome = run_cli(argv, tmp_path, "images")
    assert outcome.code == 2 and "--image" in outcome.error and "pixels" in outcome.error
