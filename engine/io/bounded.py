"""Bounded readers: JSON, ``.npy`` / ``.npz`` arrays and images, read with their size checked *before* anything is
allocated, and every failure turned into one typed error that names the input.

Why one module: a file is the user's input, and a file can lie. A 30-byte ``.npy`` may declare 10^12 frames, a
10 KB PNG may declare 10^10 pixels, a JSON file may nest 100,000 brackets deep, an ``.npz`` may hold a pickled
object. Each reader here looks at what the file *declares* (the array header, the image size, the zip member
size), compares it with a cap and with the bytes actually present, and only then reads. Callers pass the error
class of their input kind (:class:`~engine.errors.TrajectoryFormatError`, :class:`~engine.errors.BundleError`,
:class:`~engine.errors.SessionFileError`, ...) and a ``where`` label (the path, or the flag with its path), so the
message reads ``"<where>: expected ..., found ..."`` on one line.

Caps are generous for real inputs (a 2 GiB array, a 64 MiB JSON document, an 8k x 8k image) and far below
what would exhaust memory; pass a different cap where an input kind needs one.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from engine.errors import SanaWMInputError, clip_text

#: Largest JSON document read (bytes): far above any manifest, camera path or config the project writes.
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Deepest JSON nesting accepted: the project's documents nest fewer than 10 levels.
MAX_JSON_DEPTH = 64
#: Largest array read from a ``.npy`` / ``.npz`` (bytes of data).
MAX_ARRAY_BYTES = 2 * 1024**3
#: Most members an ``.npz`` may hold.
MAX_NPZ_MEMBERS = 256
#: Largest image accepted (pixels): 8192 x 8192, below PIL's own decompression-bomb warning (89 Mpx).
MAX_IMAGE_PIXELS = 8192 * 8192

ErrorType = type[SanaWMInputError]


# ----- JSON --------------------------------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard constant {name}")


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[1]`` and ``{}`` are 1), computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(
    data: bytes | str,
    *,
    where: str,
    error: ErrorType,
    max_depth: int = MAX_JSON_DEPTH,
    allow_nan: bool = False,
) -> Any:
    """Parse a JSON document, refusing invalid syntax, nesting deeper than ``max_depth`` and (unless ``allow_nan``)
    the non-standard ``NaN`` / ``Infinity`` constants, each with one :class:`error` naming ``where``."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"{where}: expected UTF-8 JSON text, found undecodable bytes at offset {exc.start}") from None
    elif data.startswith("\ufeff"):
        data = data[1:]
    try:
        value = json.loads(data) if allow_nan else json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: expected JSON, found invalid syntax at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except RecursionError:
        raise error(f"{where}: expected JSON nested at most {max_depth} levels deep, found deeper nesting") from None
    except ValueError as exc:  # the constant hook
        raise error(f"{where}: expected standard JSON numbers, found a {exc}") from None
    depth = json_depth(value)
    if depth > max_depth:
        raise error(f"{where}: expected JSON nested at most {max_depth} levels deep, found {depth} levels")
    return value


def read_json(
    path: str | os.PathLike,
    *,
    error: ErrorType,
    where: str | None = None,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    allow_nan: bool = False,
    expect: type | None = None,
) -> Any:
    """Read and parse a JSON file of at most ``max_bytes``; ``expect`` (``dict`` or ``list``) checks the top-level
    type. Every failure is one :class:`error` naming ``where`` (default: the path)."""
    path = Path(path)
    where = str(path) if where is None else where
    data = read_bytes(path, where=where, error=error, max_bytes=max_bytes, what="a JSON file")
    value = parse_json(data, where=where, error=error, max_depth=max_depth, allow_nan=allow_nan)
    if expect is not None and not isinstance(value, expect):
        kind = {dict: "a JSON object", list: "a JSON list"}.get(expect, expect.__name__)
        raise error(f"{where}: expected {kind}, found {json_type(value)}")
    return value


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages (``"a list"``, ``"the number 3"``, ``"null"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {clip_text(value, 40)}"
    if isinstance(value, str):
        return f"the string {clip_text(repr(value), 40)}"
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


# ----- plain files -------------------------------------------------------------------------------------------------
def read_bytes(path: Path, *, where: str, error: ErrorType, max_bytes: int, what: str = "a file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (the size is checked before reading)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise error(f"{where}: expected {what}, found none ({exc.strerror or exc})") from None
    if not path.is_file():
        raise error(f"{where}: expected {what}, found a folder or special file")
    if size > max_bytes:
        raise error(f"{where}: expected {what} of at most {_bytes(max_bytes)}, found {_bytes(size)}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{where}: cannot read it ({exc.strerror or exc})") from None


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


# ----- arrays ------------------------------------------------------------------------------------------------------
def _array_header(fh: IO[bytes], *, where: str, error: ErrorType) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read the magic and header of a ``.npy`` stream: ``(shape, fortran_order, dtype)``, nothing more."""
    try:
        version = np.lib.format.read_magic(fh)
    except (ValueError, EOFError, OSError) as exc:
        found = "an empty file" if "EOF" in str(exc) or "empty" in str(exc) else "other data"
        raise error(f"{where}: expected a numpy .npy array, found {found}") from None
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise error(f"{where}: expected a .npy array of format version 1.0 or 2.0, found version {version}")
    try:
        shape, fortran, dtype = readers[version](fh)
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise error(f"{where}: the .npy header is damaged ({clip_text(exc, 100)})") from None
    if dtype.hasobject:
        raise error(f"{where}: expected a numeric array, found an object array (pickled Python objects are refused)")
    return tuple(int(n) for n in shape), bool(fortran), dtype


def _check_declared(
    shape: tuple[int, ...], dtype: np.dtype, available: int, *, where: str, error: ErrorType, max_bytes: int
) -> None:
    """Refuse an array whose declared size exceeds ``max_bytes`` or the ``available`` bytes of data."""
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a lying header cannot overflow this
    if nbytes > max_bytes:
        raise error(
            f"{where}: expected an array of at most {_bytes(max_bytes)}, found a header declaring shape "
            f"{clip_text(shape, 60)} {dtype} ({_bytes(nbytes)})"
        )
    if nbytes > available:
        raise error(
            f"{where}: the header declares shape {clip_text(shape, 60)} {dtype} ({_bytes(nbytes)}) but the file "
            f"holds {_bytes(available)} of data; the file is truncated"
        )


def load_npy(path: str | os.PathLike, *, error: ErrorType, where: str | None = None, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """A ``.npy`` array, its header checked before the data is read: no pickles, no size beyond ``max_bytes`` or
    beyond the bytes in the file. An ``.npz`` or any other file is refused with a message naming ``where``."""
    path = Path(path)
    where = str(path) if where is None else where
    size = _existing_file(path, where=where, error=error, what="a numpy .npy array")
    with open(path, "rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            raise error(f"{where}: expected a single .npy array, found an .npz (zip) archive")
        fh.seek(0)
        shape, _, dtype = _array_header(fh, where=where, error=error)
        _check_declared(shape, dtype, size - fh.tell(), where=where, error=error, max_bytes=max_bytes)
        fh.seek(0)
        try:
            return np.load(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise error(f"{where}: the .npy data cannot be read ({clip_text(exc, 100)})") from None


def load_npz(
    path: str | os.PathLike,
    *,
    error: ErrorType,
    where: str | None = None,
    max_bytes: int = MAX_ARRAY_BYTES,
    max_members: int = MAX_NPZ_MEMBERS,
) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive by name, each member's header checked before its data is read: no pickles,
    at most ``max_members`` members and ``max_bytes`` of data in all."""
    path = Path(path)
    where = str(path) if where is None else where
    _existing_file(path, where=where, error=error, what="a numpy .npz archive")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        found = "an empty file" if path.stat().st_size == 0 else f"other data ({clip_text(exc, 60)})"
        raise error(f"{where}: expected a numpy .npz archive, found {found}") from None
    with archive:
        members = archive.infolist()
        if len(members) > max_members:
            raise error(f"{where}: expected an .npz of at most {max_members} arrays, found {len(members)} members")
        arrays: dict[str, np.ndarray] = {}
        total = 0
        for info in members:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            label = f"{where} [{clip_text(name, 40)}]"
            total += info.file_size
            if total > max_bytes:
                raise error(f"{where}: expected at most {_bytes(max_bytes)} of arrays, found members declaring more")
            try:
                with archive.open(info) as fh:
                    shape, _, dtype = _array_header(fh, where=label, error=error)
                    header_end = fh.tell()
                _check_declared(shape, dtype, info.file_size - header_end, where=label, error=error, max_bytes=max_bytes)
                with archive.open(info) as fh:
                    arrays[name] = np.lib.format.read_array(fh, allow_pickle=False)
            except SanaWMInputError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise error(f"{label}: cannot be read ({clip_text(exc, 100)}); the archive is damaged") from None
    return arrays


def _existing_file(path: Path, *, where: str, error: ErrorType, what: str) -> int:
    """The size of ``path``, which must be a regular, non-empty file."""
    if not path.exists():
        raise error(f"{where}: expected {what}, found no such file")
    if not path.is_file():
        raise error(f"{where}: expected {what}, found a folder or special file")
    size = path.stat().st_size
    if size == 0:
        raise error(f"{where}: expected {what}, found an empty file")
    return size


# ----- images ------------------------------------------------------------------------------------------------------
def open_image_rgb(
    source: str | os.PathLike | bytes, *, where: str, error: ErrorType, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """An image file (a path, or its bytes) as RGB ``uint8 (H, W, 3)``: the declared size is checked against
    ``max_pixels`` before any pixel is decoded, so a decompression bomb is refused, not decoded."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise error(f"{where}: expected an image file, found no file at {path}")
        if path.stat().st_size == 0:
            raise error(f"{where}: expected an image file, found an empty file")
        opened: Any = path
    else:
        opened = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(opened) as image:
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > max_pixels:
                    raise error(
                        f"{where}: expected an image of at most {max_pixels:,} pixels, found {width}x{height}"
                    )
                return np.asarray(image.convert("RGB"))
    except SanaWMInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise error(f"{where}: expected an image of at most {max_pixels:,} pixels, found a larger one (the decoder refuses it as a decompression bomb)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, Image.UnidentifiedImageError) as exc:
        raise error(f"{where}: expected a readable image (PNG, JPEG, ...), could not read it ({clip_text(exc, 120)})") from None


__all__ = [
    "MAX_ARRAY_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_NPZ_MEMBERS",
    "json_depth",
    "json_type",
    "load_npy",
    "load_npz",
    "open_image_rgb",
    "parse_json",
    "read_bytes",
    "read_json",
]
