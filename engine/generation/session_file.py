"""``.swm`` session files: a whole :class:`~engine.generation.project.Project` on disk, so a session can be closed and
continued — from the explorer or from a script, with no Qt (the explorer's autosave and crash recovery, in
:mod:`app.autosave`, call this module).

A ``.swm`` file is a zip archive (entries *stored*: the tensors do not compress and the images are compressed
already; only ``manifest.json`` is deflated)::

    manifest.json                       format, version, app version, start settings (no image), stream settings,
                                        every chunk entry (index, ranges, timings, snapshot layout), the branch tree
                                        (names, parents, fork points, chunk entry ids), current branch and cursor,
                                        the authored camera path and the key map in use (version 2),
                                        strides of the tensors stored from views
    image.png                           the user's start image, as loaded (lossless)
    chunks/<e>/tensors.safetensors      chunk entry <e>: latents, c2w, intrinsics, and every snapshot tensor first
                                        seen in this entry (StreamCache states and K/V, decoder state, trajectory,
                                        first latent)
    chunks/<e>/preview/00000.jpg ...    the stage-1 preview frames (JPEG q95 by default; PNG on request)
    chunks/<e>/refined/00000.png ...    refined frames, lossless (they cost a refiner run to make again)
    chunks/<e>/world.safetensors        the world cache of entry <e>'s snapshot (sessions with a depth source;
                                        deflated; a part of its own, so damage to it costs only the cache)

Chunk entries shared by several takes (a fork shares the chunks before its fork point) are stored once, and a tensor
shared by several snapshots (the sink chunk's softmax K/V, the first latent) is stored once, in the first entry
that holds it: snapshots refer to tensors by ``"<entry>/<key>"``.

Preview frames: stored as JPEG, because they are derived data — :func:`redecode_previews` decodes them again
from the stored latents and decoder states, bit for bit, once the model's codec is loaded, so a file does not carry
24 lossless frames per chunk (~36 MB at 1280x704) for pixels it can recompute; the JPEGs let the timeline and
exports work before (or without) the model. ``preview_format="png"`` stores them losslessly instead. Refined
frames are always PNG.

Each part serialises itself: a snapshot is :meth:`SessionSnapshot.to_tensors
<engine.generation.state.SessionSnapshot.to_tensors>` (its stream cache and decoder state in turn theirs); this module
only places the named tensors in the archive and the metadata in the manifest, in the layout of version 3. The
archive plumbing (the tensor pool with shared tensors stored once, frames as images) is
:mod:`engine.generation.swm_archive`.

Continuing: :func:`load_project` restores every chunk record with its snapshot; :func:`resume_session` starts a
:class:`~engine.generation.session.WorldSession` on the loaded first latent and restores the cursor's snapshot, after
which stepping gives exactly what the unsaved session would have given.

Versions: 2 added ``camera_path`` (the path editor's keyframes, length and frame size) and ``keymap`` (preset name,
mapping version and key table, as :meth:`app.keymap.KeyMap.to_json` writes it). The key map holds Qt key codes, so
the engine keeps it as JSON: a loaded project's ``keymap`` is a :class:`StoredKeyMap` (its name and JSON text), which
saves back unchanged and which the app turns into its own key map. Version 1 files still load: they
come back with ``project.camera_path`` and ``project.keymap`` None (the app then uses its default path and the
preset named by ``start.keymap``). Version 3 added the re-anchoring state of each snapshot (``anchor``, the stream
frame where the model's current context begins, and ``recent_latents``, the frames a re-anchor commits) and the
``reanchor`` stream setting; older files were made without re-anchoring and load with it off, so they continue
exactly as before. Older apps refuse version 3, whose re-anchored snapshots they would continue wrongly.
**Compact files.** A snapshot is most of a chunk's size (the model's recurrent and attention state: ~6 MB per
chunk for the embedded model at 320x176), yet all but a few can be recomputed exactly from the stored latents:
:func:`save_project` stores the full snapshot of chunk 0, of every :data:`SNAPSHOT_EVERY`-th chunk, of each
take's last chunk and of the cursor, and marks the others ``"replay": true`` (``"snapshot": null``); the
entries come back with ``ChunkEntry.replay`` set and no snapshot, and :func:`resume_session` rebuilds them in
chunk order with :meth:`WorldSession.replay <engine.generation.session.WorldSession.replay>` (the commit pass,
the decode and the world cache of each chunk, no sampling), bit for bit given the same code, thread count and
device, with the exact frames instead of the JPEG previews. ``snapshot_every=1`` stores every snapshot. A reader
that predates this sees those chunks without a snapshot (it can show them but not rewind to them).

Within version 3, a snapshot may carry ``"world": {"meta", "member"}`` (the world cache, :mod:`engine.world_cache`);
readers that predate it ignore the key and the member. A missing or damaged world part is not an error: the session
opens without that cache (the next chunk starts a new one) and ``project.warnings`` says so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from engine import __version__ as ENGINE_VERSION
from engine.camera.keyframes import CameraPath, Keyframe
from engine.components.contrast_floor import check_floor
from engine.components.guided_decode import SHARP_DECODES
from engine.errors import SanaWMInputError, SessionFileError, clip_text
from engine.export.progress import CancelFlag, ProgressCallback, check_cancel, report
from engine.generation.project import Branch, ChunkEntry, Project, StartSettings
from engine.generation import session_manifest as checks
from engine.generation.session import WorldSession
from engine.generation.start_image import prepare_start_frame
from engine.generation.state import ChunkRecord, SessionSnapshot, StreamSettings, check_reanchor_sink
from engine.generation.swm_archive import (
    PREVIEW_FORMATS,
    TensorReader,
    TensorWriter,
    decode_image,
    encode_image,
    read_frames,
    read_member,
    write_frames,
)
from engine.io.atomic import atomic_path
from engine.io.bounded import MAX_JSON_BYTES, json_type, parse_json
from engine.model.chunks import AttentionWindow

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "READABLE_VERSIONS", "SUFFIX", "VERSION", "SessionFileError", "StoredKeyMap", "load_project",
           "read_manifest", "redecode_previews", "resume_session", "save_project"]  # fmt: skip

FORMAT = "sana-wm-session"
VERSION = 3
#: Chunks between stored full snapshots in a compact file (see "Compact files" in the module docstring).
SNAPSHOT_EVERY = 32
#: Versions this build reads: 1 lacks the camera path and the key map (they load as None).
READABLE_VERSIONS = (1, 2, 3)
SUFFIX = ".swm"


@dataclass(frozen=True)
class StoredKeyMap:
    """A key map as a session file holds it (a :class:`~engine.generation.project.KeyMap`): its name and the JSON
    that :meth:`app.keymap.KeyMap.to_json` wrote. Saved back as it is; the app reads it with
    ``app.keymap.KeyMap.from_json(stored.to_json())``."""

    name: str
    json: str

    def to_json(self) -> str:
        return self.json


# ----- snapshots: each part flattens itself, this file places the pieces (the layout of version 3) ----------------
# A decoder state sits in the manifest as {"kind": "tensor", "ref": ...} for the patch codec's one-tensor state (its
# layout since version 1) and as {"kind": kind, **meta, "contexts": {name: ref}} for every other kind.
_ONE_TENSOR_STATES = {"tensor": "last"}  # kind -> the name of its one tensor


def _snapshot_out(snap: SessionSnapshot, tensors: TensorWriter, world_member: str) -> tuple[dict[str, Any], bytes | None]:
    """The snapshot's manifest spec, and the world cache's own tensor file (None without a world cache) to be
    stored as ``world_member``: a part of its own, so a damaged cache costs only the cache."""
    named, meta = snap.to_tensors()
    world = {name[len("world.") :]: named.pop(name) for name in [n for n in named if n.startswith("world.")]}
    refs = {name: tensors.ref(t) for name, t in named.items()}
    decoder = meta["decoder"]
    decoder_refs = _group(refs, "decoder")
    if decoder is None:
        decoder_spec = None
    elif decoder["kind"] in _ONE_TENSOR_STATES:
        decoder_spec = {"kind": decoder["kind"], "ref": decoder_refs[_ONE_TENSOR_STATES[decoder["kind"]]]}
    else:
        decoder_spec = {"kind": decoder["kind"], **decoder["meta"], "contexts": decoder_refs}
    spec = {
        "chunks_done": meta["chunks_done"],
        "history_length": meta["history_length"],
        "cache": {"meta": meta["cache"], "tensors": _group(refs, "cache")},
        "decoder_state": decoder_spec,
        "c2w": refs["c2w"],
        "intrinsics": refs["intrinsics"],
        "first_latent": refs["first_latent"],
        "anchor": meta["anchor"],
        "recent_latents": refs.get("recent_latents"),
    }
    if "world" not in meta:
        return spec, None
    spec["world"] = {"meta": meta["world"], "member": world_member}
    return spec, save_safetensors({k: v.contiguous() for k, v in world.items()})


def _group(refs: dict[str, str], prefix: str) -> dict[str, str]:
    return {name[len(prefix) + 1 :]: ref for name, ref in refs.items() if name.startswith(prefix + ".")}


def _snapshot_in(spec: dict[str, Any], tensors: TensorReader, warnings: list[str]) -> SessionSnapshot:
    named = {f"cache.{name}": tensors.tensor(ref) for name, ref in spec["cache"]["tensors"].items()}
    world_meta = _world_in(spec.get("world"), tensors, named, warnings)
    decoder = spec["decoder_state"]
    decoder_meta = None
    if decoder is not None:
        kind = decoder["kind"]
        if kind in _ONE_TENSOR_STATES:
            named[f"decoder.{_ONE_TENSOR_STATES[kind]}"] = tensors.tensor(decoder["ref"])
            decoder_meta = {"kind": kind, "meta": {}}
        else:
            named.update({f"decoder.{name}": tensors.tensor(ref) for name, ref in decoder["contexts"].items()})
            rest = {k: v for k, v in decoder.items() if k not in ("kind", "contexts")}
            decoder_meta = {"kind": kind, "meta": rest}
    for name in ("c2w", "intrinsics", "first_latent", "recent_latents"):
        if spec.get(name) is not None:
            named[name] = tensors.tensor(spec[name])
    meta = {"chunks_done": spec["chunks_done"], "history_length": spec["history_length"],
            "anchor": spec.get("anchor", 0), "cache": spec["cache"]["meta"], "decoder": decoder_meta,
            "world": world_meta}  # fmt: skip
    try:
        world_errors: list[str] = []
        snapshot = SessionSnapshot.from_tensors(named, meta, world_errors=world_errors)
        warnings.extend(f"{tensors.path}: chunk {spec['chunks_done'] - 1}: {e}" for e in world_errors)
        return snapshot
    except SanaWMInputError as exc:
        raise SessionFileError(f"{tensors.path}: a session snapshot is malformed ({exc})") from None


def _world_in(spec: Any, tensors: TensorReader, named: dict[str, torch.Tensor], warnings: list[str]) -> dict | None:
    """Adds the snapshot's world-cache tensors to ``named`` and returns its meta; a missing or unreadable world part
    is a warning (the snapshot opens without its cache), never an error. None: saved without a world cache."""
    if spec is None:
        return None
    try:
        member = spec["member"]
        data = read_member(tensors.archive, tensors.path, member)
        loaded = load_safetensors(data)
    except SessionFileError as exc:
        warnings.append(f"{exc}; the world cache of this chunk is not restored")
        return None
    except Exception as exc:  # safetensors raises its own error types for damaged data; a bad spec is KeyError/TypeError
        warnings.append(f"{tensors.path}: the world cache part {spec.get('member') if isinstance(spec, dict) else spec!r} "
                        f"is damaged ({type(exc).__name__}: {exc}); the world cache of this chunk is not restored")
        return None
    named.update({f"world.{k}": v for k, v in loaded.items()})
    return spec.get("meta")


# ----- saving ----------------------------------------------------------------------------------------------------
def _start_out(start: StartSettings) -> dict[str, Any]:
    fields = {f.name: getattr(start, f.name) for f in dataclasses.fields(start) if f.name != "image"}
    fields["intrinsics"] = None if start.intrinsics is None else [float(v) for v in start.intrinsics]
    try:
        json.dumps(fields["extras"])
    except (TypeError, ValueError) as exc:
        raise SessionFileError(f"start settings extras: expected JSON values (numbers, text, lists, dicts), {exc}") from None
    return fields


def _stream_out(settings: StreamSettings | None) -> dict[str, Any] | None:
    if settings is None:
        return None
    window = {"num_cached_chunks": settings.window.num_cached_chunks, "sink": settings.window.sink}
    return {"window": window, "timesteps": list(settings.timesteps),
            "chunk_latent_frames": settings.chunk_latent_frames, "seed": settings.seed,
            "reanchor": settings.reanchor, "sharp_frames": settings.sharp_frames,
            "commit_shown": settings.commit_shown, "sharp_decode": settings.sharp_decode,
            "contrast_floor": settings.contrast_floor, "contrast_cap": settings.contrast_cap,
            "reanchor_sink": settings.reanchor_sink}  # fmt: skip


def _camera_path_out(path: CameraPath | None) -> dict[str, Any] | None:
    if path is None:
        return None
    keyframes = [{"frame": k.frame, "position": list(k.position), "quaternion": list(k.quaternion),
                  "vfov_deg": k.vfov_deg} for k in path.keyframes]  # fmt: skip
    return {"length": path.length, "frame_size": list(path.frame_size), "keyframes": keyframes}


def save_project(
    project: Project,
    path: str | os.PathLike,
    *,
    preview_format: str = "jpeg",
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    snapshot_every: int = SNAPSHOT_EVERY,
) -> Path:
    """Write ``project`` to ``path`` (a ``.swm`` file) atomically: an error or a cancel leaves any older file as it
    was and no temporary file.

    ``snapshot_every``: store the full session state of chunk 0, of every ``snapshot_every``-th chunk, of each
    take's last chunk and of the cursor; the others are marked ``"replay"`` and rebuilt exactly by
    :func:`resume_session` (see "Compact files" in the module docstring). 1 stores every snapshot.

    ``preview_format``: ``"jpeg"`` (default; see the module docstring) or ``"png"`` (lossless, larger).
    ``progress`` / ``cancel`` as in :mod:`engine.export.progress` (stage ``"save"``, one unit per chunk entry), so
    the app can save a large session with :func:`app.jobs.run_with_progress`. Does not touch ``project.dirty``
    (the caller decides whether this was the user's save or an autosave).
    """
    if preview_format not in PREVIEW_FORMATS:
        raise SessionFileError(f"preview_format: expected one of {', '.join(PREVIEW_FORMATS)}, found {preview_format!r}")
    if int(snapshot_every) != snapshot_every or snapshot_every < 1:
        raise SessionFileError(f"snapshot_every: expected a positive integer, found {snapshot_every!r}")
    path = Path(path)
    replayed = _replayable(project, int(snapshot_every))
    entries: dict[int, tuple[str, ChunkEntry]] = {}  # id(entry) -> (entry name, entry), in first-seen order
    for branch in project.branches.values():
        for entry in branch.chunks:
            entries.setdefault(id(entry), (f"{len(entries):04d}", entry))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "app_version": ENGINE_VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "start": _start_out(project.start),
        "image": "image.png",
        "stream_settings": _stream_out(project.stream_settings),
        "entries": {},
        "branches": [
            {"id": b.id, "name": b.name, "parent": b.parent, "fork_chunk": b.fork_chunk,
             "chunks": [entries[id(e)][0] for e in b.chunks]}  # fmt: skip
            for b in project.branches.values()
        ],
        "current": project.current_id,
        "cursor": project.cursor,
        "next_id": project.next_id,
        "camera_path": _camera_path_out(project.camera_path),
        "keymap": None if project.keymap is None else json.loads(project.keymap.to_json()),
    }
    tensors = TensorWriter()
    try:
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            image = np.ascontiguousarray(project.start.image)
            archive.writestr("image.png", encode_image(image, "png"))
            for done, (name, entry) in enumerate(entries.values()):
                check_cancel(cancel, str(path))
                report(progress, "save", done, len(entries))
                tensors.begin(name)
                record = entry.record
                spec = {
                    "index": record.index,
                    "latent_range": list(record.latent_range),
                    "pixel_range": list(record.pixel_range),
                    "timings": {k: float(v) for k, v in record.timings.items()},
                    "latents": tensors.ref(record.latents),
                    "c2w": tensors.ref(record.c2w),
                    "intrinsics": tensors.ref(record.intrinsics),
                    "frames": {"count": int(record.frames.shape[0]), "format": preview_format},
                    "refined": entry.refined,
                    "snapshot": None,
                }
                if id(entry) in replayed:
                    spec["replay"] = True
                elif record.snapshot is not None:
                    spec["snapshot"], world = _snapshot_out(record.snapshot, tensors, f"chunks/{name}/world.safetensors")
                    if world is not None:
                        archive.writestr(f"chunks/{name}/world.safetensors", world, zipfile.ZIP_DEFLATED)
                manifest["entries"][name] = spec
                archive.writestr(f"chunks/{name}/tensors.safetensors", tensors.payload())
                write_frames(archive, f"chunks/{name}/preview", record.frames, preview_format)
                if entry.refined_frames is not None:
                    write_frames(archive, f"chunks/{name}/refined", entry.refined_frames, "png")
            manifest["strides"] = tensors.strides
            archive.writestr("manifest.json", json.dumps(manifest, indent=1), zipfile.ZIP_DEFLATED)
            check_cancel(cancel, str(path))
        report(progress, "save", len(entries), len(entries))
    except OSError as exc:
        raise SessionFileError(f"{path}: cannot write the session file ({exc.strerror or exc})") from None
    log.info("saved %s (%d chunk entries)", path, len(entries))
    return path


def _replayable(project: Project, every: int) -> set[int]:
    """``id`` of the entries saved without their snapshot: those with one whose previous chunk has one too (so it can
    be rebuilt), except chunk 0, every ``every``-th chunk, each take's last chunk and the cursor's chunk."""
    keep = {id(b.chunks[-1]) for b in project.branches.values() if b.chunks}
    if project.cursor > 0:
        keep.add(id(project.current.chunks[project.cursor - 1]))
    out = set()
    for branch in project.branches.values():
        for k, entry in enumerate(branch.chunks):
            if k == 0 or (k + 1) % every == 0 or id(entry) in keep or entry.record.snapshot is None:
                continue
            if branch.chunks[k - 1].record.snapshot is not None:
                out.add(id(entry))
    return out


# ----- loading ---------------------------------------------------------------------------------------------------
def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a ``.swm`` file, checked for format and version (cheap: reads no tensors or frames)."""
    path = Path(path)
    with _open(path) as archive:
        return _manifest(archive, path)


def _open(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise SessionFileError(f"{path}: expected a session file (.swm), found no such file")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SessionFileError(f"{path}: expected a .swm session file (a zip archive), found something else ({exc})") from None


def _manifest(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    data = read_member(archive, path, "manifest.json", max_bytes=MAX_JSON_BYTES)
    manifest = parse_json(data, where=f"{path}: manifest.json", error=SessionFileError, allow_nan=True)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = clip_text(repr(manifest.get("format")), 40) if isinstance(manifest, dict) else json_type(manifest)
        raise SessionFileError(f"{path}: expected a {FORMAT!r} file, found format {found}")
    if manifest.get("version") not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS[:-1])) + f" or {READABLE_VERSIONS[-1]}"
        raise SessionFileError(
            f"{path}: expected session file version {readable}, found version {clip_text(repr(manifest.get('version')), 20)} "
            f"(written by SANA-WM Explorer {clip_text(manifest.get('app_version', '?'), 20)}); open it with a matching version"
        )
    return manifest


def _stream_in(spec: dict[str, Any] | None) -> StreamSettings | None:
    if spec is None:
        return None
    window = AttentionWindow(checks.count(spec["window"]["num_cached_chunks"], "num_cached_chunks"), bool(spec["window"]["sink"]))
    reanchor = bool(spec.get("reanchor", False))  # files before version 3 never re-anchored
    sharp = bool(spec.get("sharp_frames", False))  # files before sharp frames decoded without the world cache
    shown = bool(spec.get("commit_shown", False))  # files before it committed the sampled latents
    # files before the version was saved: the decode trusting the start image came with commit_shown
    decode = spec.get("sharp_decode", 2 if "commit_shown" in spec else 1)
    if isinstance(decode, bool) or not isinstance(decode, int) or decode not in SHARP_DECODES:
        raise ValueError(f"stream_settings.sharp_decode: expected one of {', '.join(map(str, SHARP_DECODES))}, "
                         f"found {clip_text(repr(decode), 60)} (a file from a newer SANA-WM Explorer?)")  # fmt: skip
    # files before the contrast floor streamed without one; a null floor is the model's own
    floor, cap = spec.get("contrast_floor", 0.0), spec.get("contrast_cap", StreamSettings.contrast_cap)
    for key, value, nullable in (("contrast_floor", floor, True), ("contrast_cap", cap, False)):
        if not (nullable and value is None) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"stream_settings.{key}: expected a number, found {clip_text(repr(value), 60)}")
    sink = spec.get("reanchor_sink", "recent")  # files before it re-anchored on the last committed frames
    try:
        check_floor(0.0 if floor is None else float(floor), float(cap))
        check_reanchor_sink(sink)
    except SanaWMInputError as exc:
        raise ValueError(f"stream_settings.{exc}") from None
    timesteps = tuple(float(t) for t in spec["timesteps"])
    if not timesteps or not all(0.0 <= t <= 1000.0 for t in timesteps):  # also False for NaN
        raise ValueError(f"stream_settings.timesteps: expected numbers in [0, 1000], found {clip_text(timesteps, 60)}")
    return StreamSettings(window=window, timesteps=timesteps,
                          chunk_latent_frames=checks.count(spec["chunk_latent_frames"], "chunk_latent_frames", low=1),
                          seed=checks.count(spec["seed"], "seed", high=2**63 - 1), reanchor=reanchor,
                          sharp_frames=sharp, commit_shown=shown, sharp_decode=decode,
                          contrast_floor=None if floor is None else float(floor), contrast_cap=float(cap),
                          reanchor_sink=sink)  # fmt: skip


def _camera_path_in(spec: Any, path: Path) -> CameraPath | None:
    """The ``camera_path`` member: None (absent, version 1) or length, frame size and keyframes."""
    if spec is None:
        return None
    try:
        keyframes = [
            Keyframe(int(k["frame"]), tuple(float(v) for v in k["position"]),
                     tuple(float(v) for v in k["quaternion"]), float(k["vfov_deg"]))  # fmt: skip
            for k in spec["keyframes"]
        ]
        width, height = (int(v) for v in spec["frame_size"])
        return CameraPath(keyframes, length=int(spec["length"]), frame_size=(width, height))
    except SanaWMInputError as exc:  # a keyframe or path the path editor itself would refuse
        raise SessionFileError(f"{path}: manifest.json camera_path is not a valid camera path ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"no {exc}" if isinstance(exc, KeyError) else clip_text(exc, 60)
        raise SessionFileError(
            f"{path}: manifest.json camera_path: expected length, frame_size [w, h] and keyframes (frame, position, "
            f"quaternion, vfov_deg), found {clip_text(json.dumps(spec), 100)} ({problem})"
        ) from None


def _keymap_in(spec: Any, path: Path) -> StoredKeyMap | None:
    """The ``keymap`` member: None (absent, version 1) or what :meth:`app.keymap.KeyMap.to_json` wrote, kept as JSON
    (its key names are Qt's: the app checks them when it reads the map)."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise SessionFileError(
            f"{path}: manifest.json keymap is not a valid key map (expected JSON with name, version and keys, "
            f"found {clip_text(json.dumps(spec), 80)})"
        )
    return StoredKeyMap(spec["name"], json.dumps(spec))


def load_project(path: str | os.PathLike, *, device: torch.device | str = "cpu") -> Project:
    """Read a ``.swm`` file written by :func:`save_project`: every take, chunk record and session snapshot.

    Tensors are placed on ``device`` (the device the session will run on). The project comes back clean
    (``dirty`` False). Raises :class:`SessionFileError` for a missing, damaged or wrong-version file.
    """
    path = Path(path)
    with _open(path) as archive:
        manifest = _manifest(archive, path)
        try:
            return _project(archive, path, manifest, device)
        except SessionFileError:
            raise
        except SanaWMInputError as exc:  # a part the camera layer, the model or the project would refuse
            message = str(exc)
            raise SessionFileError(message if str(path) in message else f"{path}: manifest.json: {message}") from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            what = f"missing entry {exc}" if isinstance(exc, KeyError) else clip_text(exc, 160)
            raise SessionFileError(f"{path}: manifest.json does not describe a valid session ({what})") from None


def _project(archive: zipfile.ZipFile, path: Path, manifest: dict[str, Any], device: torch.device | str) -> Project:
    for key, kind in (("entries", dict), ("branches", list), ("strides", dict)):
        if not isinstance(manifest.get(key, kind()), kind):
            raise ValueError(f"{key}: expected {'an object' if kind is dict else 'a list'}, found {json_type(manifest[key])}")
    image_name = manifest["image"]
    if not isinstance(image_name, str):
        raise ValueError(f"image: expected a member name, found {json_type(image_name)}")
    image = decode_image(read_member(archive, path, image_name), path, image_name)
    start = checks.start_settings(manifest["start"], path, image)
    tensors = TensorReader(archive, path, device, checks.strides(manifest.get("strides", {})))
    warnings: list[str] = []
    entries: dict[str, ChunkEntry] = {}
    members = len(archive.infolist())
    for name, spec in manifest["entries"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("frames"), dict):
            raise ValueError(f"entries.{clip_text(name, 30)}: expected an object with 'frames', found {json_type(spec)}")
        frames_spec = spec["frames"]
        count = checks.count(frames_spec["count"], f"entries.{clip_text(name, 30)}.frames.count", high=members)  # no more
        frames = read_frames(archive, path, f"chunks/{name}/preview", count, frames_spec["format"])  # frames than members
        record = ChunkRecord(
            index=checks.count(spec["index"], "index"),
            latent_range=checks.index_range(spec["latent_range"], "latent_range"),
            pixel_range=checks.index_range(spec["pixel_range"], "pixel_range"),
            latents=tensors.tensor(spec["latents"]),
            frames=frames,
            c2w=tensors.array(spec["c2w"]),
            intrinsics=tensors.array(spec["intrinsics"]),
            timings=dict(spec["timings"]),
            snapshot=None if spec["snapshot"] is None else _snapshot_in(spec["snapshot"], tensors, warnings),
        )
        refined = read_frames(archive, path, f"chunks/{name}/refined", count, "png") if spec["refined"] else None
        entries[name] = ChunkEntry(record, refined, replay=spec.get("replay") is True)
    branches: dict[int, Branch] = {}
    for spec in manifest["branches"]:
        chunks = [entries[name] for name in spec["chunks"]]
        if [e.index for e in chunks] != list(range(len(chunks))):
            raise SessionFileError(f"{path}: take {clip_text(repr(spec['name']), 40)} does not hold chunks 0, 1, 2, ... in order")
        branches[int(spec["id"])] = Branch(int(spec["id"]), str(spec["name"]), chunks, spec["parent"], int(spec["fork_chunk"]))
    project = Project.restored(start, branches, int(manifest["current"]), int(manifest["cursor"]), manifest.get("next_id"))
    project.stream_settings = _stream_in(manifest.get("stream_settings"))
    project.camera_path = _camera_path_in(manifest.get("camera_path"), path)
    project.keymap = _keymap_in(manifest.get("keymap"), path)
    project.warnings = warnings
    for warning in warnings:
        log.warning("%s", warning)
    return project


# ----- continuing a loaded project -------------------------------------------------------------------------------
def _unique_entries(project: Project) -> list[ChunkEntry]:
    seen: dict[int, ChunkEntry] = {}
    for branch in project.branches.values():
        for entry in branch.chunks:
            seen.setdefault(id(entry), entry)
    return list(seen.values())


def redecode_previews(project: Project, codec: Any) -> int:
    """Replace the stored (JPEG) preview frames with an exact decode of the stored latents; returns the number of
    chunks decoded. Chunk ``k`` is decoded from the decoder state after chunk ``k - 1`` of its take (the state a
    streaming decode had), so this needs the snapshots; chunks without one keep their stored frames, and so do chunks
    decoded with sharp frames (their decode needs the session's world cache, :mod:`engine.components.guided_decode`)."""
    missing = object()  # the previous chunk kept no snapshot: its decoder state is unknown
    previous: dict[int, Any] = {}  # id(entry) -> decoder state before it
    for branch in project.branches.values():
        for k, entry in enumerate(branch.chunks):
            if k == 0:
                previous[id(entry)] = None
            else:
                snap = branch.chunks[k - 1].record.snapshot
                previous[id(entry)] = missing if snap is None else snap.decoder_state
    done = 0
    for entry in _unique_entries(project):
        state = previous[id(entry)]
        after = entry.record.snapshot
        if state is missing or "guided" in (getattr(state, "kind", None), getattr(after and after.decoder_state, "kind", None)):
            continue  # sharp frames need the world cache and poses: resume_session (replay) rebuilds those exactly
        decoder = codec.stream_decoder()
        decoder.restore(state)
        frames = decoder.decode_next(entry.record.latents)
        entry.record = dataclasses.replace(entry.record, frames=frames)
        done += 1
    return done


def resume_session(
    session: WorldSession,
    project: Project,
    *,
    caption: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """Make ``session`` continue ``project`` at its cursor, exactly as the session that generated it would have.

    Starts ``session`` on the project's first latent (stored, so no re-encoding) and start frame, prompt and seed,
    with the project's stream settings when it has them; then points every stored snapshot at this stream (a
    :meth:`WorldSession.restore` only accepts snapshots of its own stream), rebuilds the snapshots a compact file
    left out (:meth:`WorldSession.replay`, in chunk order; ``progress("resume", done, total)``), and restores the
    cursor's snapshot. Later rewinds restore ``project.snapshot_at(k)``. A project with no chunks starts from the
    start image.
    """
    start = project.start
    if project.stream_settings is not None:
        session.settings = project.stream_settings
    seed = start.seed if project.stream_settings is None else project.stream_settings.seed
    entries = _unique_entries(project)
    if not entries:
        session.start(start.image, intrinsics=start.intrinsics, prompt=start.prompt, caption=caption, seed=seed)
        return
    root = next((b.chunks[0] for b in project.branches.values() if b.chunks), None)
    snap = next((e.record.snapshot for e in entries if e.record.snapshot is not None), None)
    first = snap.first_latent if snap is not None else root.record.latents[:, :, :1]
    w, h = session.bundle.latent_grid
    expected = (1, session.bundle.config.in_channels, 1, h, w)
    if tuple(first.shape) != expected:
        raise SessionFileError(
            f"model: the session was generated with latents of shape {tuple(first.shape)}, the loaded model "
            f"{session.bundle.name!r} makes {expected}; open it with the model it was made with ({start.model or 'embedded'})"
        )
    frame = prepare_start_frame(start.image, session.bundle.frame_size)[0]
    session.start(first_latent=first, intrinsics=root.record.intrinsics[0], prompt=start.prompt, caption=caption,
                  seed=seed, start_frame=frame)  # fmt: skip
    own = session.snapshot().first_latent
    for entry in entries:
        if entry.record.snapshot is not None:
            snapshot = dataclasses.replace(entry.record.snapshot, first_latent=own)
            entry.record = dataclasses.replace(entry.record, snapshot=snapshot)
    _replay_missing(session, project, progress)
    if project.cursor > 0:
        snapshot = project.snapshot_at(project.cursor - 1)
        if snapshot is None:
            raise SessionFileError(f"resume: chunk {project.cursor - 1} has no stored snapshot to continue from")
        session.restore(snapshot)


def _replay_missing(session: WorldSession, project: Project, progress: ProgressCallback | None) -> None:
    """Rebuild the snapshots of the entries a compact file marked ``replay``, each from the previous chunk's (which
    is stored or rebuilt first: takes are walked from chunk 0 on). The exact frames come with them."""
    pending = [e for e in _unique_entries(project) if e.replay]
    done = 0
    for branch in project.branches.values():
        for k, entry in enumerate(branch.chunks):
            if not entry.replay:
                continue
            previous = branch.chunks[k - 1].record.snapshot if k else None
            if previous is None:
                raise SessionFileError(f"resume: chunk {k} of take {branch.name!r} cannot be rebuilt: chunk {k - 1} has no snapshot")
            report(progress, "resume", done, len(pending))
            snapshot, frames = session.replay(previous, entry.record)
            entry.record = dataclasses.replace(entry.record, snapshot=snapshot, frames=frames)
            entry.replay = False
            done += 1
    if pending:
        report(progress, "resume", done, len(pending))
