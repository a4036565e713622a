"""The archive plumbing of ``.swm`` session files (:mod:`engine.generation.session_file`): a pool of tensors per
chunk entry with shared tensors stored once, and frames as image members.

Tensors: a :class:`TensorWriter` collects the tensors of one entry (``chunks/<e>/tensors.safetensors``); a tensor
already stored, by identity, is referenced as ``"<entry>/<key>"`` instead of stored again, and the strides of a
non-dense tensor are kept so a :class:`TensorReader` rebuilds the very layout (it decides which kernel a later matmul
takes, and so its rounding). A reader resolves each reference to one tensor object, so shared tensors stay shared.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from engine.errors import SessionFileError, clip_text
from engine.io.bounded import open_image_rgb

PREVIEW_FORMATS = {"jpeg": ".jpg", "png": ".png"}
JPEG_QUALITY = 95
#: Largest member read from a session file (bytes, as declared): above any tensor file of an official-size session.
MAX_MEMBER_BYTES = 8 * 1024**3
#: Largest expansion of a deflated member above 64 MiB: tensors and images barely compress; a higher ratio is a bomb.
MAX_DEFLATE_RATIO = 100
#: Largest memory a stored view's strides may span (bytes).
MAX_LAYOUT_BYTES = 4 * 1024**3


class TensorWriter:
    """Collects the tensors of one chunk entry; a tensor already stored (by identity) is referenced, not stored."""

    def __init__(self) -> None:
        self._refs: dict[int, str] = {}
        self._alive: list[Any] = []  # keeps the objects whose id() is a key alive until the file is written
        self._pending: dict[str, torch.Tensor] = {}
        self._entry = ""
        #: ``{ref: strides}`` of tensors that are not contiguous. Kept because a view's layout decides which
        #: kernel a later matmul uses, and so its rounding: restoring it keeps a loaded session bit-exact.
        self.strides: dict[str, list[int]] = {}

    def begin(self, entry: str) -> None:
        self._entry, self._pending = entry, {}

    def ref(self, value: torch.Tensor | np.ndarray) -> str:
        known = self._refs.get(id(value))
        if known is not None:
            return known
        tensor = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        key = f"t{len(self._pending)}"
        # a private contiguous CPU copy: safetensors refuses tensors that share storage (views of one buffer)
        self._pending[key] = tensor.detach().to("cpu", copy=True).contiguous()
        ref = f"{self._entry}/{key}"
        if tuple(tensor.stride()) != dense_strides(tensor.shape):  # size-1 dims make is_contiguous() too lenient
            self.strides[ref] = list(tensor.stride())
        self._refs[id(value)] = ref
        self._alive.append(value)
        return ref

    def payload(self) -> bytes:
        return save_safetensors(self._pending)


def dense_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


class TensorReader:
    """Resolves ``"<entry>/<key>"`` references against the entries' tensor files, loading each file once."""

    def __init__(
        self, archive: zipfile.ZipFile, path: Path, device: torch.device | str, strides: dict[str, list[int]]
    ) -> None:
        self.archive, self.path, self.device, self.strides = archive, path, device, strides
        self._files: dict[str, dict[str, torch.Tensor]] = {}
        self._resolved: dict[str, torch.Tensor] = {}  # one tensor object per ref: shared tensors stay shared

    def tensor(self, ref: str) -> torch.Tensor:
        if not isinstance(ref, str):
            raise SessionFileError(f"{self.path}: expected a tensor reference '<entry>/<key>', found {clip_text(repr(ref), 40)}")
        if ref not in self._resolved:
            tensor = self._stored(ref)
            stride = self.strides.get(ref)
            if stride is not None:  # back to the layout it was saved from (see TensorWriter.strides)
                self._check_layout(ref, tensor, stride)
                tensor = torch.empty_strided(tensor.shape, stride, dtype=tensor.dtype, device=tensor.device).copy_(tensor)
            self._resolved[ref] = tensor
        return self._resolved[ref]

    def _check_layout(self, ref: str, tensor: torch.Tensor, stride: list[int]) -> None:
        """Refuse strides that do not fit the tensor: a wrong count, negative, or a layout spanning more memory than
        :data:`MAX_LAYOUT_BYTES` (a view is at most the buffer it was cut from)."""
        ok = len(stride) == tensor.dim() and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in stride)
        span = 1 + sum((n - 1) * v for n, v in zip(tensor.shape, stride)) if ok and tensor.numel() else 0
        if not ok or span * tensor.element_size() > MAX_LAYOUT_BYTES:
            raise SessionFileError(
                f"{self.path}: strides of tensor {clip_text(repr(ref), 40)}: expected {tensor.dim()} non-negative numbers "
                f"fitting shape {tuple(tensor.shape)}, found {clip_text(stride, 60)}"
            )

    def _stored(self, ref: str) -> torch.Tensor:
        entry, _, key = ref.rpartition("/")
        if entry not in self._files:
            data = read_member(self.archive, self.path, f"chunks/{entry}/tensors.safetensors")
            try:
                loaded = load_safetensors(data)
            except Exception as exc:  # safetensors raises its own error types for damaged data
                raise SessionFileError(f"{self.path}: chunks/{entry}/tensors.safetensors is damaged ({exc})") from None
            self._files[entry] = {k: v.to(self.device) for k, v in loaded.items()}
        try:
            return self._files[entry][key]
        except KeyError:
            raise SessionFileError(f"{self.path}: tensor {ref!r} is missing from chunks/{entry}/tensors.safetensors") from None

    def array(self, ref: str) -> np.ndarray:
        return self.tensor(ref).cpu().numpy()


def read_member(archive: zipfile.ZipFile, path: Path, name: str, *, max_bytes: int = MAX_MEMBER_BYTES) -> bytes:
    """One member's bytes; its declared size is checked against ``max_bytes`` first (a deflated member can expand
    a thousandfold, and zipfile never reads past the declared size)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise SessionFileError(f"{path}: expected {clip_text(name, 60)} in the session file, found none (the file is damaged)") from None
    if info.file_size > max_bytes:
        raise SessionFileError(f"{path}: {clip_text(name, 60)} declares {info.file_size:,} bytes; expected at most {max_bytes:,}")
    if info.file_size > 64 * 1024**2 and info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1):
        raise SessionFileError(f"{path}: {clip_text(name, 60)} expands {info.file_size // max(info.compress_size, 1):,}-fold; "
                               f"expected at most {MAX_DEFLATE_RATIO}-fold (what this program writes compresses far less)")
    try:
        return archive.read(info)
    except KeyError:
        raise SessionFileError(f"{path}: expected {name} in the session file, found none (the file is damaged)") from None
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:  # CRC error,
        # truncated member, unknown compression, encryption
        raise SessionFileError(f"{path}: {clip_text(name, 60)} cannot be read ({clip_text(exc, 80)}); the file is damaged") from None


# ----- images ----------------------------------------------------------------------------------------------------
def encode_image(frame: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_image(data: bytes, path: Path, name: str) -> np.ndarray:
    """An image member as RGB ``uint8``; its declared size is checked before decoding (:mod:`engine.io.bounded`)."""
    return open_image_rgb(data, where=f"{path}: {clip_text(name, 60)}", error=SessionFileError)


def write_frames(archive: zipfile.ZipFile, folder: str, frames: np.ndarray, fmt: str) -> None:
    for i, frame in enumerate(frames):
        archive.writestr(f"{folder}/{i:05d}{PREVIEW_FORMATS[fmt]}", encode_image(frame, fmt), zipfile.ZIP_STORED)


def read_frames(archive: zipfile.ZipFile, path: Path, folder: str, count: int, fmt: str) -> np.ndarray:
    if fmt not in PREVIEW_FORMATS:
        raise SessionFileError(f"{path}: {folder}: expected frames as {' or '.join(PREVIEW_FORMATS)}, found {clip_text(repr(fmt), 30)}")
    names = [f"{folder}/{i:05d}{PREVIEW_FORMATS[fmt]}" for i in range(count)]
    return np.stack([decode_image(read_member(archive, path, n), path, n) for n in names])
