"""``sana-wm trajectory``: make, convert, inspect and plot camera trajectories.

* ``from-action`` — an action DSL string -> a trajectory file (with intrinsics for an image size and FOV);
* ``convert IN OUT`` — between formats (chosen by extension, or ``--from`` / ``--to``);
* ``info IN`` — frames, duration, path length, FOV range, validation verdict;
* ``plot IN -o PNG`` — top and side views with camera frustums.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.camera import intrinsics as intr
from engine.camera.actions import action_to_c2w
from engine.camera.controls import MAPPINGS, get_mapping
from engine.camera.formats import FORMATS, detect_format, read_trajectory, write_trajectory
from engine.camera.frames import BIDIRECTIONAL_STRIDE, STREAMING_STRIDE, snap_num_frames
from engine.camera.plot import plot_trajectory
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.commands.arguments import image_size, load_intrinsics_file
from engine.errors import InputFileError, IntrinsicsError, SanaWMInputError, TrajectoryError

DEFAULT_IMAGE_SIZE = (1280, 704)
DEFAULT_FOV_DEG = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    formats = ", ".join(sorted(FORMATS))
    p = sub.add_parser("trajectory", help="make, convert, inspect and plot camera trajectories")
    tsub = p.add_subparsers(dest="trajectory_command", metavar="ACTION", required=True)

    a = tsub.add_parser(
        "from-action",
        help="integrate an action string (e.g. 'w-40,jw-20') into a trajectory file",
        description="Integrate a SANA-WM action string into a camera trajectory and write it. "
        f"Output formats: {formats}.",
    )
    a.add_argument("action", help="action DSL, e.g. 'w-80,jw-40,none-8' (keys wasdijkl, 'none', '<keys>-<frames>')")
    a.add_argument("-o", "--output", required=True, type=Path, help="output file (format from the extension)")
    a.add_argument("--to", choices=sorted(FORMATS), help="output format (default: from the extension)")
    a.add_argument("--action-version", default="v2", choices=sorted(MAPPINGS), help="key mapping (default v2)")
    a.add_argument("--translation_speed", "--translation-speed", type=float, help="units per frame (v1 0.05, v2 0.025)")
    a.add_argument("--rotation_speed_deg", "--rotation-speed-deg", type=float, help="degrees per frame (v1 1.2, v2 0.6)")
    a.add_argument("--no-smooth", action="store_true", help="disable velocity smoothing (v2 smooths by default)")
    _add_camera_options(a, with_fov=True)
    a.add_argument("--num-frames", type=int, help="cut to this many frames, snapped to 8k+1 (or 24k+1 with --streaming)")
    a.add_argument("--streaming", action="store_true", help="snap --num-frames to 24k+1 (streaming chunks)")
    a.set_defaults(handler=run_from_action)

    c = tsub.add_parser("convert", help="convert a trajectory between formats", description=f"Formats: {formats}.")
    c.add_argument("input", type=Path)
    c.add_argument("output", type=Path)
    c.add_argument("--from", dest="from_format", choices=sorted(FORMATS), help="input format (default: by extension)")
    c.add_argument("--to", choices=sorted(FORMATS), help="output format (default: by extension)")
    _add_camera_options(c, with_fov=True)
    c.set_defaults(handler=run_convert)

    i = tsub.add_parser("info", help="summarise and validate a trajectory file")
    i.add_argument("input", type=Path)
    i.add_argument("--from", dest="from_format", choices=sorted(FORMATS))
    _add_camera_options(i, with_fov=False)
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(handler=run_info)

    pl = tsub.add_parser("plot", help="draw top and side views of a trajectory with camera frustums (PNG)")
    pl.add_argument("input", type=Path)
    pl.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    pl.add_argument("--from", dest="from_format", choices=sorted(FORMATS))
    _add_camera_options(pl, with_fov=False)
    pl.add_argument("--frustums", type=int, default=12, help="number of camera frustums to draw (default 12)")
    pl.set_defaults(handler=run_plot)


def _add_camera_options(p: argparse.ArgumentParser, *, with_fov: bool) -> None:
    p.add_argument("--image-size", type=image_size, metavar="WxH", help="image size the intrinsics refer to")
    p.add_argument("--intrinsics", type=Path, help="intrinsics .npy: (4,), (3,3), (F,4) or (F,3,3), in pixels")
    if with_fov:
        p.add_argument("--fov", type=float, help=f"horizontal FOV in degrees (default {DEFAULT_FOV_DEG:g} for from-action)")
        p.add_argument("--fps", type=float, help=f"frames per second (default {DEFAULT_FPS:g})")
    p.add_argument("--allow-any-fov", action="store_true", help="accept FOVs outside the model's 25-120 deg range")


def _read(args: argparse.Namespace) -> Trajectory:
    """Read ``args.input``; ``--image-size`` goes to readers of formats that store no image size (for the
    others it rescales the stored intrinsics afterwards, in :func:`_apply_camera_options`)."""
    name = args.from_format or detect_format(args.input)
    opts = {}
    if args.image_size is not None and "image_size" in FORMATS[name].read_options:
        opts["image_size"] = args.image_size
    return read_trajectory(args.input, format=name, **opts)


def _read_with_intrinsics(args: argparse.Namespace) -> Trajectory:
    """Read ``args.input`` and attach ``--intrinsics`` when given (no FOV check: ``info`` reports it)."""
    traj = _read(args)
    if args.intrinsics is not None:
        size = args.image_size or traj.image_size or DEFAULT_IMAGE_SIZE
        traj = traj.with_intrinsics(load_intrinsics_file(args.intrinsics), size)
    elif traj.intrinsics is not None and traj.image_size is None:
        # intrinsics without a size (a SANA .npy and its _intrinsics.npy sidecar): from-action writes a centred
        # principal point, so the image is 2 cx x 2 cy (--image-size overrides)
        cx, cy = intr.as_vec4(traj.intrinsics)[0, 2:]
        assumed = args.image_size is None
        traj = traj.with_intrinsics(traj.intrinsics, args.image_size or (round(2 * cx), round(2 * cy)))
        args.assumed_image_size = assumed
    return traj


def _apply_camera_options(traj: Trajectory, args: argparse.Namespace, *, default_fov: float | None) -> Trajectory:
    """Attach intrinsics from ``--intrinsics`` / ``--fov`` (for ``--image-size``), check FOV, set fps."""
    size = args.image_size or traj.image_size or DEFAULT_IMAGE_SIZE
    fov = getattr(args, "fov", None)
    if args.intrinsics is not None and fov is not None:
        raise IntrinsicsError("camera options: give either --intrinsics or --fov, not both")
    if args.intrinsics is not None:
        traj = traj.with_intrinsics(load_intrinsics_file(args.intrinsics), size)
    elif fov is not None or (traj.intrinsics is None and default_fov is not None):
        if fov is not None and not 0.0 < fov < 180.0:  # also False for NaN
            raise IntrinsicsError(f"--fov: expected a horizontal field of view in degrees in (0, 180), found {fov:g}")
        traj = traj.with_intrinsics(intr.from_fov(size[0], size[1], fov_x_deg=fov if fov is not None else default_fov), size)
    elif args.image_size is not None and traj.image_size not in (None, args.image_size) and traj.intrinsics is not None:
        # rescale existing intrinsics to the requested image size
        vec = intr.scale_to_grid(traj.intrinsics, traj.image_size, args.image_size)
        traj = traj.with_intrinsics(vec, args.image_size)
    if getattr(args, "fps", None) is not None:
        traj = replace(traj, fps=args.fps)
    if traj.intrinsics is not None and traj.image_size is not None:
        intr.check_fov(traj.intrinsics, *traj.image_size, allow_out_of_range=args.allow_any_fov)
    return traj


def run_from_action(args: argparse.Namespace) -> int:
    mapping = get_mapping(args.action_version)
    c2w = action_to_c2w(
        args.action,
        version=mapping,
        translation_speed=args.translation_speed,
        rotation_speed_deg=args.rotation_speed_deg,
        smooth=False if args.no_smooth else None,
    )
    if args.num_frames is not None:
        stride = STREAMING_STRIDE if args.streaming else BIDIRECTIONAL_STRIDE
        if args.num_frames < 1:
            raise TrajectoryError(f"--num-frames: expected a positive integer, found {args.num_frames}")
        c2w = c2w[: snap_num_frames(min(args.num_frames, len(c2w)), stride, upper_bound=len(c2w))]
    traj = Trajectory(c2w, action=" ".join(args.action.split()), action_version=mapping.version)
    traj = _apply_camera_options(traj, args, default_fov=DEFAULT_FOV_DEG)
    written = write_trajectory(traj, args.output, format=args.to)
    print(f"wrote {traj.num_frames} poses ({traj.duration_s:.2f} s at {traj.fps:g} fps) to " + ", ".join(map(str, written)))
    return 0


def run_convert(args: argparse.Namespace) -> int:
    traj = _read(args)
    traj = _apply_camera_options(traj, args, default_fov=None)
    written = write_trajectory(traj, args.output, format=args.to)
    print(f"converted {traj.num_frames} poses: {args.input} -> " + ", ".join(map(str, written)))
    return 0


def summarize(traj: Trajectory, *, allow_any_fov: bool = False) -> dict:
    """The facts ``info`` prints, as a JSON-ready dict."""
    fov = traj.fov_range_deg()
    verdict = "ok"
    if traj.intrinsics is not None and traj.image_size is not None:
        try:
            intr.check_fov(traj.intrinsics, *traj.image_size, allow_out_of_range=allow_any_fov)
        except SanaWMInputError as exc:
            verdict = f"invalid: {exc}"
    steps = np.linalg.norm(np.diff(traj.positions, axis=0), axis=1) if traj.num_frames > 1 else np.zeros(1)
    return {
        "frames": traj.num_frames,
        "fps": traj.fps,
        "duration_s": round(traj.duration_s, 6),
        "path_length": traj.path_length,
        "max_step": float(steps.max()),
        "snapped_frames_8k+1": snap_num_frames(traj.num_frames, BIDIRECTIONAL_STRIDE, upper_bound=traj.num_frames),
        "snapped_frames_24k+1": snap_num_frames(traj.num_frames, STREAMING_STRIDE, upper_bound=traj.num_frames),
        "image_size": list(traj.image_size) if traj.image_size else None,
        "fov_h_deg": list(fov[0]) if fov else None,
        "fov_v_deg": list(fov[1]) if fov else None,
        "action": traj.action,
        "action_version": traj.action_version,
        "validation": verdict,
    }


def run_info(args: argparse.Namespace) -> int:
    traj = _read_with_intrinsics(args)
    info = summarize(traj, allow_any_fov=args.allow_any_fov)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"file:          {args.input}")
    print(f"frames:        {info['frames']}  ({info['duration_s']:.2f} s at {info['fps']:g} fps)")
    print(f"snapped:       {info['snapped_frames_8k+1']} (8k+1, bidirectional), {info['snapped_frames_24k+1']} (24k+1, streaming)")
    print(f"path length:   {info['path_length']:.4f} units (largest step {info['max_step']:.4f})")
    if info["fov_h_deg"]:
        (hl, hh), (vl, vh) = info["fov_h_deg"], info["fov_v_deg"]
        w, h = info["image_size"]
        assumed = " (not stored: 2 cx x 2 cy; --image-size overrides)" if getattr(args, "assumed_image_size", False) else ""
        print(f"image size:    {w}x{h}{assumed}")
        print(f"FOV:           horizontal {hl:.2f}-{hh:.2f} deg, vertical {vl:.2f}-{vh:.2f} deg")
    else:
        print("FOV:           unknown (no intrinsics; pass --intrinsics and --image-size)")
    if info["action"]:
        print(f"action:        {info['action']} ({info['action_version']})")
    print(f"validation:    {info['validation']}")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    traj = _read_with_intrinsics(args)
    if args.frustums < 0:
        raise InputFileError(f"--frustums: expected a number >= 0, found {args.frustums}")
    plot_trajectory(traj, args.output, frustums=args.frustums, title=args.input.name)
    print(f"wrote {args.output}")
    return 0
