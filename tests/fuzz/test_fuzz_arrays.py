"""Fuzz: camera and intrinsics arrays (``.npy`` / ``.npz``) through ``sana-wm trajectory info`` and ``convert``.

Inputs are generated arrays of every dtype kind, shape and value class (NaN, inf, 1e308, complex, object), plus files
whose header lies (10^12 frames declared, truncated data, empty files, a pickle). An accepted camera must be finite
and rigid with bounded translations, accepted intrinsics real, finite and positive.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
from fuzz_contract import case_dir, fuzz, run_cli
from hypothesis import given
from hypothesis import strategies as st

from engine.camera.poses import MAX_TRANSLATION


def rigid_poses(n: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q *= np.sign(np.linalg.det(q))[:, None, None]
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3], c2w[:, :3, 3] = q, rng.normal(size=(n, 3))
    return c2w


@st.composite
def camera_arrays(draw: st.DrawFn) -> np.ndarray | bytes:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.sampled_from([0, 1, 2, 9]))
    kind = draw(st.sampled_from(["valid", "valid3x4", "shape", "nan", "inf", "huge", "scaled", "complex", "int", "bool",
                                 "bottom", "float16", "text", "lying", "empty", "pickle", "npz", "truncated"]))  # fmt: skip
    c2w = rigid_poses(max(n, 1), rng)[:n]
    if kind == "valid3x4":
        return c2w[:, :3]
    if kind == "shape":
        return rng.normal(size=draw(st.sampled_from([(4, 4), (n, 4), (n, 4, 3), (n, 2, 4, 4), (n, 16)])))
    if kind in ("nan", "inf", "huge") and n:
        c2w[rng.integers(n), rng.integers(3), rng.integers(4)] = {"nan": np.nan, "inf": np.inf, "huge": 1e308}[kind]
    if kind == "scaled" and n:
        c2w[:, :3, :3] *= 5.0
    if kind == "complex":
        return c2w.astype(np.complex128) + 1j * draw(st.sampled_from([0.0, 1.0]))
    if kind == "int":
        return np.round(c2w).astype(np.int32)
    if kind == "bool":
        return c2w != 0
    if kind == "bottom" and n:
        c2w[:, 3] = [0, 0, 1, 1]
    if kind == "float16":
        return c2w.astype(np.float16)
    if kind == "text":
        return np.array(["a", "b"])
    if kind == "lying":
        buffer = io.BytesIO()
        shape = draw(st.sampled_from([(10**12, 4, 4), (2**62, 4, 4), (1000, 4, 4)]))
        np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
        return buffer.getvalue() + b"\0" * draw(st.integers(0, 200))
    if kind == "empty":
        return b""
    if kind == "pickle":
        return pickle.dumps({"c2w": c2w})
    if kind == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, c2w=c2w)
        return buffer.getvalue()
    if kind == "truncated":
        buffer = io.BytesIO()
        np.save(buffer, c2w)
        data = buffer.getvalue()
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    return c2w


def write_input(path, value) -> None:
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        np.save(path, value, allow_pickle=False)


def check_summary(outcome) -> None:
    info = json.loads(outcome.stdout)
    assert info["frames"] >= 1 and np.isfinite(info["path_length"]) and info["path_length"] >= 0


def check_written_camera(path) -> None:
    c2w = np.load(path, allow_pickle=False)
    assert c2w.dtype.kind == "f" and c2w.ndim == 3 and c2w.shape[1:] == (4, 4) and np.isfinite(c2w).all()
    rot = c2w[:, :3, :3].astype(np.float64)
    assert np.allclose(rot.transpose(0, 2, 1) @ rot, np.eye(3), atol=2e-3)
    assert (np.abs(c2w[:, :3, 3]) <= MAX_TRANSLATION).all()


@fuzz(90)
@given(camera=camera_arrays())
def test_camera_arrays_are_refused_clearly_or_accepted_only_when_rigid_and_finite(camera):
    with case_dir() as d:
        write_input(d / "cam.npy", camera)
        outcome = run_cli(["trajectory", "info", str(d / "cam.npy"), "--json"], d, "camera arrays")
        if outcome.code == 0:
            check_summary(outcome)
            converted = run_cli(["trajectory", "convert", str(d / "cam.npy"), str(d / "out.npy")], d, "camera arrays")
            assert converted.code == 0
            check_written_camera(d / "out.npy")
        else:
            assert "cam.npy" in outcome.error  # the file at fault is named


@st.composite
def intrinsics_arrays(draw: st.DrawFn) -> np.ndarray | bytes:
    base = np.array([800.0, 800.0, 640.0, 352.0])
    form = draw(st.sampled_from(["vec", "K", "rows", "Ks", "shape", "bytes"]))
    if form == "bytes":
        return draw(st.sampled_from([b"", b"\x93NUMPY", pickle.dumps(base), b"garbage" * 3]))
    values = {"vec": base, "K": np.array([[800.0, 0, 640], [0, 800, 352], [0, 0, 1]]),
              "rows": np.tile(base, (3, 1)), "Ks": np.tile(np.array([[800.0, 0, 640], [0, 800, 352], [0, 0, 1]]), (2, 1, 1)),
              "shape": np.ones(draw(st.sampled_from([(3,), (2, 2), (0, 4), (4, 4), (1, 3, 3, 1)])))}[form].copy()  # fmt: skip
    flat = values.reshape(-1)
    for _ in range(draw(st.integers(0, 2))):
        if flat.size:
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -800.0, 0.0, 1e308, 1e12, 5.0]))
    cast = draw(st.sampled_from(["float64", "float32", "int64", "complex128", "bool"]))
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 as float32 is inf: an input like any other
        return values.astype(cast)


@fuzz(70)
@given(k=intrinsics_arrays(), allow=st.booleans())
def test_intrinsics_files_are_refused_naming_the_flag_or_accepted_only_when_positive_and_finite(k, allow):
    with case_dir() as d:
        write_input(d / "K.npy", k)
        argv = ["trajectory", "from-action", "w-16", "-o", str(d / "p.npz"), "--intrinsics", str(d / "K.npy")]
        outcome = run_cli(argv + (["--allow-any-fov"] if allow else []), d, "intrinsics arrays")
        if outcome.code == 0:
            with np.load(d / "p.npz", allow_pickle=False) as data:
                vec = data["intrinsics"]
            assert np.isfinite(vec).all() and (vec[:, :2] > 0).all()
            assert isinstance(k, np.ndarray) and k.dtype.kind in "iuf"  # never complex or bool
        else:
            assert "--intrinsics" in outcome.error or "FOV" in outcome.error


def test_a_pickled_npz_member_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Exploit(str(marker)))
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as archive:
        archive.writestr("c2w.npy", buffer.getvalue() + payload)
        archive.writestr("convention.npy", _npy_bytes(np.asarray("opencv_c2w")))
    outcome = run_cli(["trajectory", "info", str(tmp_path / "evil.npz")], tmp_path, "camera arrays")
    assert outcome.code == 2 and "object array" in outcome.error and not marker.exists()


class _Exploit:
    """Unpickling this would create ``path``: proof that a payload ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
