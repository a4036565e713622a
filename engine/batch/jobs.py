"""Job files of ``sana-wm batch``: one generation per line, JSON Lines or CSV (docs/batch.md).

A job is turned into the exact argument list of ``sana-wm generate`` (:meth:`Job.generate_argv`), so a batch job and
a ``sana-wm generate`` call with the same inputs run the same code on the same settings and give the same video.

Fields (all optional except a start and a camera): ``name`` (output stem; ``id`` is accepted, as in SANA-WM-Bench's
``run_manifest.jsonl``), ``image`` (``image_path``) or ``demo``, ``prompt``, ``action`` or ``camera``
(``camera_path``), ``intrinsics`` (a ``.npy`` path), ``seed``, ``frames``, ``model``, ``mode``, ``png`` (true: also
the PNG sequence). Relative paths are
resolved against the job file's folder (or ``root``). A line that cannot be read gives a :class:`JobLineError`
naming its line number and field; the other lines still run.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputFileError, clip_text

#: Accepted field names and their aliases (SANA-WM-Bench manifests use ``id``, ``image_path``, ``camera_path``).
ALIASES = {"id": "name", "image_path": "image", "camera_path": "camera", "num_frames": "frames"}
FIELDS = ("name", "image", "demo", "prompt", "action", "camera", "intrinsics", "seed", "frames", "model", "mode",
          "png")
MODES = ("streaming", "bidirectional")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Job:
    """One generation. Paths are absolute; ``None`` means "the ``generate`` default"."""

    line: int
    name: str
    image: Path | None = None
    demo: str | None = None
    prompt: str = ""
    action: str | None = None
    camera: Path | None = None
    intrinsics: Path | None = None
    seed: int = 42
    frames: int | None = None
    model: Path | None = None
    mode: str = "streaming"
    png: bool = False

    def generate_argv(self, output_dir: Path, *, fps: float | None = None, name: str | None = None) -> list[str]:
        """The ``sana-wm generate`` arguments of this job writing into ``output_dir`` (``--quiet``: no bar)."""
        argv = ["--output_dir", str(output_dir), "--name", name or self.name, "--seed", str(self.seed),
                "--mode", self.mode, "--quiet"]
        if self.image is not None:
            argv += ["--image", str(self.image)]
        if self.demo is not None:
            argv += ["--demo", self.demo]
        if self.prompt:
            argv += ["--prompt", self.prompt]
        if self.action is not None:
            argv += ["--action", self.action]
        if self.camera is not None:
            argv += ["--camera", str(self.camera)]
        if self.intrinsics is not None:
            argv += ["--intrinsics", str(self.intrinsics)]
        if self.frames is not None:
            argv += ["--num_frames", str(self.frames)]
        if self.model is not None:
            argv += ["--model", str(self.model)]
        if fps is not None:
            argv += ["--fps", repr(float(fps))]
        if self.png:
            argv.append("--png")
        return argv


@dataclass(frozen=True)
class JobLineError:
    """A line of the job file that was skipped, and why (one line: file, line number, field, expected, found)."""

    line: int
    name: str
    message: str


def read_jobs(path: str | Path, *, root: str | Path | None = None, model: Path | None = None,
              mode: str | None = None, frames: int | None = None) -> tuple[list[Job], list[JobLineError]]:
    """Read a ``.jsonl`` / ``.json`` or ``.csv`` job file. ``model`` / ``mode`` / ``frames`` are defaults for jobs
    that do not set them. Returns the good jobs and one error per bad line; a missing or unreadable file raises."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: expected a job file (.jsonl or .csv), found none")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: expected a UTF-8 text job file, found {clip_text(exc)}") from None
    base = Path(root) if root is not None else path.parent
    rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _jsonl_rows(text)
    jobs: list[Job] = []
    errors: list[JobLineError] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        name = f"job{line}"
        if isinstance(row, dict) and isinstance(row.get("name", row.get("id")), str):
            name = clip_text(row.get("name", row.get("id")), 60)
        try:
            if isinstance(row, str):
                raise _FieldError("", row)
            job = _job(line, row, base, model=model, mode=mode, frames=frames)
            name = job.name
            if job.name in seen:
                raise _FieldError("name", f"a name not used before, found {job.name!r} again (line {seen[job.name]})")
            seen[job.name] = line
            jobs.append(job)
        except _FieldError as exc:
            field = f", field {exc.field!r}" if exc.field else ""
            errors.append(JobLineError(line, name, f"{path.name} line {line}{field}: expected {exc.expected}"))
    if not rows:
        raise InputFileError(f"{path}: expected at least one job line, found none")
    return jobs, errors


class _FieldError(Exception):
    def __init__(self, field: str, expected: str) -> None:
        super().__init__(expected)
        self.field = field
        self.expected = expected


def _jsonl_rows(text: str) -> list[tuple[int, dict | str]]:
    rows: list[tuple[int, dict | str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            rows.append((number, f"a JSON object, found invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        rows.append((number, row if isinstance(row, dict) else f"a JSON object, found {type(row).__name__}"))
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict | str]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, dict | str]] = []
    for row in reader:
        number = reader.line_num
        if None in row:
            rows.append((number, f"{len(reader.fieldnames or [])} columns, found more"))
            continue
        cleaned = {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        if cleaned:
            rows.append((number, cleaned))
    return rows


def _job(line: int, row: dict, base: Path, *, model: Path | None, mode: str | None, frames: int | None) -> Job:
    data: dict = {}
    for key, value in row.items():
        key = ALIASES.get(str(key).strip(), str(key).strip())
        if key not in FIELDS:
            raise _FieldError(key, f"one of {', '.join(FIELDS)}, found an unknown field")
        data[key] = value
    name = _text(data, "name", default=f"job{line}")
    if not _NAME.match(name):
        raise _FieldError("name", f"letters, digits, '.', '_' or '-' (a file name), found {clip_text(name, 40)!r}")
    image = _path(data, "image", base)
    demo = _text(data, "demo", default=None)
    if (image is None) == (demo is None):
        raise _FieldError("image", f"exactly one of 'image' and 'demo', found {'both' if image else 'neither'}")
    action = _text(data, "action", default=None)
    camera = _path(data, "camera", base)
    if action is not None and camera is not None:
        raise _FieldError("action", "either 'action' or 'camera', found both")
    if action is None and camera is None and demo is None:
        raise _FieldError("action", "an 'action' string or a 'camera' file, found neither")
    job_mode = _text(data, "mode", default=mode or "streaming")
    if job_mode not in MODES:
        raise _FieldError("mode", f"one of {', '.join(MODES)}, found {clip_text(job_mode, 40)!r}")
    return Job(
        line=line, name=name, image=image, demo=demo, prompt=_text(data, "prompt", default=""), action=action,
        camera=camera, intrinsics=_path(data, "intrinsics", base), seed=_int(data, "seed", 42, low=0),
        frames=_int(data, "frames", frames, low=1), model=_path(data, "model", base) or model, mode=job_mode,
        png=_bool(data, "png"),
    )


def _text(data: dict, key: str, *, default):
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, str):
        raise _FieldError(key, f"text, found {clip_text(json.dumps(value), 40)}")
    return value


def _path(data: dict, key: str, base: Path) -> Path | None:
    value = _text(data, key, default=None)
    if value is None:
        return None
    p = Path(value).expanduser()
    p = p if p.is_absolute() else base / p
    if not p.exists():
        raise _FieldError(key, f"an existing file, found no {p}")
    return p


def _bool(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no", ""):
        return False
    raise _FieldError(key, f"true or false, found {clip_text(json.dumps(value), 40)}")


def _int(data: dict, key: str, default: int | None, *, low: int) -> int | None:
    if key not in data:
        return default
    value = data[key]
    try:
        number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < low:
        raise _FieldError(key, f"an integer >= {low}, found {clip_text(json.dumps(value), 40)}")
    return number
