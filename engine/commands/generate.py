"""``sana-wm generate``: the official inference scripts' inputs -> an MP4 (+ trajectory, storyboard, PNGs).

Accepts the official flags (``--image --prompt --action | --camera --intrinsics --translation_speed
--rotation_speed_deg --num_frames --output_dir --no_refiner --seed --step --cfg_scale --flow_shift --fps``) and
``--action-version``, ``--model``, ``--mode``, ``--dtype``, ``--device``, ``--memory``, ``--demo``. Runs fully
offline.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from engine.bundles import MEMORY_CHOICES, cpu_notice
from engine.camera import intrinsics as intr
from engine.camera.actions import action_to_c2w
from engine.camera.controls import MAPPINGS
from engine.camera.formats import read_trajectory
from engine.camera.frames import BIDIRECTIONAL_STRIDE, STREAMING_STRIDE, resolve_num_frames
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.commands.arguments import load_intrinsics_file
from engine.commands.progress import ProgressLine
from engine.components.contrast_floor import check_floor
from engine.errors import ConfigError, SanaWMInputError, clip_text
from engine.export import ExportJob, ExportOptions
from engine.generation.pipeline import MODES, GenerationRequest, first_output_pose, frame_trajectory, generate
from engine.generation.start_image import describe_fit, load_image
from engine.generation.state import StreamSettings
from engine.generation.sampling import CONFIG_FLOW_SHIFT, DEFAULT_CFG_SCALE, DEFAULT_STEPS, SELF_FORCING_TIMESTEPS

log = logging.getLogger(__name__)

#: Official defaults of ``--num_frames`` per script.
DEFAULT_NUM_FRAMES = {"streaming": 241, "bidirectional": 161}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate a video from an image and a camera path",
        description="Generate a video from a start image and a camera trajectory (an action string or a c2w "
        "file), with the embedded model by default or an official SANA-WM bundle from a local folder. "
        "Writes <output_dir>/<name>_<mode>.mp4 and the trajectory of its frames beside it.",
    )
    src = p.add_argument_group("inputs")
    src.add_argument("--image", type=Path, help="start image")
    src.add_argument("--demo", help="a shipped demo scene (image, intrinsics, action); see --list-demos")
    src.add_argument("--list-demos", action="store_true", help="list the demo scenes and exit")
    src.add_argument("--prompt", default="", help="text prompt (text-conditioned models)")
    src.add_argument("--negative_prompt", "--negative-prompt", default="", help="negative prompt for CFG")
    cam = src.add_mutually_exclusive_group()
    cam.add_argument("--action", help="action DSL, e.g. 'w-80,jw-40,w-40' (keys wasdijkl, none)")
    cam.add_argument("--camera", type=Path, help="camera trajectory: c2w .npy (F,4,4) or any supported format")
    src.add_argument("--intrinsics", type=Path, help=".npy intrinsics in pixels of --image: (4,), (3,3), (F,4), (F,3,3)")
    src.add_argument("--pi3x", type=Path, metavar="FOLDER",
                     help="estimate missing intrinsics with Pi3X weights from this local folder (needs the Pi3 code)")  # fmt: skip
    src.add_argument("--pi3-code", type=Path, metavar="FOLDER", help="a checkout of the Pi3 code (if not installed)")
    src.add_argument("--allow-any-fov", action="store_true", help="skip the 25-120 degree FOV check")
    src.add_argument("--action-version", default="v2", choices=sorted(MAPPINGS), help="key mapping (default v2)")
    src.add_argument("--translation_speed", "--translation-speed", type=float, help="units per frame")
    src.add_argument("--rotation_speed_deg", "--rotation-speed-deg", type=float, help="degrees per frame")
    gen = p.add_argument_group("generation")
    gen.add_argument("--model", type=Path, help="model folder (official bundle or embedded); default: embedded")
    gen.add_argument("--mode", choices=MODES, default="streaming", help="default streaming")
    gen.add_argument("--num_frames", "--num-frames", type=int,
                     help="frames to generate, snapped to 24k+1 (streaming) or 8k+1 (default 241 / 161)")  # fmt: skip
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--step", type=int, default=DEFAULT_STEPS, help="bidirectional sampling steps (default 60)")
    gen.add_argument("--denoising_step_list", "--denoising-step-list", default=None,
                     help="streaming timesteps, e.g. 1000,960,889,727 (the trailing 0 is implied)")  # fmt: skip
    gen.add_argument("--cfg_scale", "--cfg-scale", type=float, default=DEFAULT_CFG_SCALE, help="bidirectional CFG")
    gen.add_argument("--flow_shift", "--flow-shift", type=float, default=CONFIG_FLOW_SHIFT, help="bidirectional shift")
    gen.add_argument("--no_refiner", "--no-refiner", action="store_true", help="skip the stage-2 refiner")
    gen.add_argument("--contrast_floor", "--contrast-floor", type=float, metavar="SHARE",
                     help="streaming: no frame flatter than SHARE of the start image's luma spread (0 = none; "
                     "default: the model's own, none for the shipped models; see docs/streaming.md)")  # fmt: skip
    gen.add_argument("--dtype", choices=sorted(DTYPES), help="default float32 on CPU, bfloat16 on CUDA")
    gen.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    gen.add_argument("--memory", choices=MEMORY_CHOICES, default="auto",
                     help="GPU memory tier: full, balanced, low (fp8 DiT, offloaded refiner) or auto = the most "
                     "resident that fits (default; see sana-wm plan)")  # fmt: skip
    out = p.add_argument_group("output")
    out.add_argument("--output_dir", "--output-dir", type=Path, default=Path("output"), help="default ./output")
    out.add_argument("--name", help="file stem (default: the image's or demo's name)")
    out.add_argument("--fps", type=float, default=DEFAULT_FPS, help="video frame rate (default 16)")
    out.add_argument("--png", action="store_true", help="also write the frames as a PNG sequence")
    out.add_argument("--storyboard", action="store_true", help="also write a storyboard (PNG + PDF)")
    out.add_argument("--storyboard-every", type=float, default=1.0, metavar="SECONDS", help="panel spacing")
    out.add_argument("--overlay", action="store_true", help="draw the held keys on the video")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, bundle=None) -> int:
    """``bundle``: an already loaded model for these arguments (``sana-wm batch`` workers keep theirs loaded)."""
    from engine.io.demos import list_demos, load_demo
    from engine.bundles import load_bundle

    if args.list_demos:
        for demo in list_demos():
            print(f"{demo.name:<20} {demo.title}  (action: {demo.action})")
        return 0
    demo = load_demo(args.demo) if args.demo else None
    if args.image is None and demo is None:
        raise SanaWMInputError("--image: expected a start image (or --demo NAME), found neither")
    _check_options(args)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = DTYPES[args.dtype] if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    # everything that can be checked without the model first: bad input fails fast, before any loading
    image = load_image(args.image if args.image is not None else demo.image_path, name="--image")
    trajectory = _trajectory(args, demo)
    timesteps = _timesteps(args.denoising_step_list)
    if args.contrast_floor is not None:
        try:
            check_floor(args.contrast_floor, StreamSettings.contrast_cap)
        except SanaWMInputError as exc:
            raise ConfigError(f"--{exc}") from None
    given_intrinsics = load_intrinsics_file(args.intrinsics) if args.intrinsics is not None else None
    _quiet_libraries()  # imports diffusers and transformers (seconds): only once the inputs are known to be good
    notice = cpu_notice(args.memory) if device.type != "cuda" else None
    if notice is not None:
        print(f"sana-wm: {notice}", file=sys.stderr)
    if bundle is None:
        bundle = load_bundle(args.model, dtype=dtype, device=device, refiner=not args.no_refiner, memory=args.memory)
    if device.type == "cuda":
        print(f"sana-wm: memory tier {bundle.memory.name} (--memory {args.memory})", file=sys.stderr)
    if bundle.label:
        print(f"sana-wm: model {bundle.display_name}", file=sys.stderr)
    if not args.quiet:  # the model's frame size decides the video's: say what became of the picture
        source = args.image if args.image is not None else f"demo {demo.name}"
        print(f"sana-wm: start image {source}: {describe_fit(image.shape[1::-1], bundle.frame_size)}", file=sys.stderr)

    trajectory = _with_intrinsics(args, trajectory, image, bundle, demo, device, given_intrinsics)
    stride = STREAMING_STRIDE if args.mode == "streaming" else BIDIRECTIONAL_STRIDE
    wanted = args.num_frames if args.num_frames is not None else DEFAULT_NUM_FRAMES[args.mode]
    num_frames = resolve_num_frames(wanted, trajectory.num_frames, stride)
    if num_frames < stride + 1:
        raise SanaWMInputError(
            f"camera path: {args.mode} generation needs at least {stride + 1} frames, found {trajectory.num_frames}"
        )
    if args.num_frames is not None and args.num_frames > trajectory.num_frames:
        print(f"sana-wm: --num_frames {args.num_frames}: the camera path has {trajectory.num_frames} poses, so "
              f"{num_frames} frames are generated (make the action string longer for more)", file=sys.stderr)
    trajectory = trajectory.sliced(num_frames)
    request = GenerationRequest(
        image=image,
        trajectory=replace(trajectory, fps=args.fps),
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        mode=args.mode,
        seed=args.seed,
        steps=args.step,
        timesteps=timesteps,
        cfg_scale=args.cfg_scale,
        flow_shift=args.flow_shift,
        refine=bundle.refiner is not None and not args.no_refiner,
        contrast_floor=args.contrast_floor,
    )
    name = args.name or (demo.name if demo is not None and args.image is None else Path(args.image).stem)
    video = args.output_dir / f"{name}_{args.mode}.mp4"
    options = ExportOptions(
        fps=args.fps, png_sequence=args.png, storyboard=args.storyboard, storyboard_every_s=args.storyboard_every,
        overlay=args.overlay,
    )  # fmt: skip
    bar = ProgressLine(enabled=not args.quiet)
    job = ExportJob(
        video,
        options,
        trajectory=frame_trajectory(bundle, request),
        first_pose=first_output_pose(request),
        prompt=args.prompt or None,
        title=f"{name} — {bundle.display_name}",
    )
    with job:
        result = generate(bundle, request, job.write, progress=bar.update)
    bar.close()
    seconds = result.num_frames / args.fps
    print(f"wrote {video} ({result.num_frames} frames, {seconds:.1f} s of video) in {result.timings['total']:.1f} s")
    for line in job.result.describe()[1:]:  # every other output too: the camera path, storyboard, frames
        print(f"wrote {line}")
    return 0


def _quiet_libraries() -> None:
    """The command draws its own progress line: switch off the libraries' download/loading bars and chatter."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import diffusers.utils.logging as diffusers_logging
        import transformers.utils.logging as transformers_logging
    except ImportError:  # pragma: no cover - both are dependencies
        return
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()


def _trajectory(args: argparse.Namespace, demo) -> Trajectory:
    """The camera path from --action / --camera / the demo's suggested action."""
    action = args.action if args.action is not None else (demo.action if demo is not None and args.camera is None else None)
    if action is not None:
        c2w = action_to_c2w(
            action,
            version=args.action_version,
            translation_speed=args.translation_speed,
            rotation_speed_deg=args.rotation_speed_deg,
        )
        return Trajectory(c2w, action=action, action_version=args.action_version)
    if args.camera is not None:
        return read_trajectory(args.camera)
    raise SanaWMInputError("camera: expected --action or --camera (or --demo NAME), found neither")


def _with_intrinsics(
    args, trajectory: Trajectory, image: np.ndarray, bundle, demo, device, given: np.ndarray | None = None
) -> Trajectory:
    """Intrinsics in pixels of ``image``: --intrinsics, else the camera file's, else a Pi3X estimate (--pi3x), else
    the demo's, else the model's default field of view; then the official FOV check on the frames the model sees."""
    size = (image.shape[1], image.shape[0])
    if given is not None:  # --intrinsics, read before the model loaded
        vec = given
    elif trajectory.intrinsics is not None and trajectory.image_size is not None:
        vec = intr.scale_to_grid(trajectory.intrinsics, trajectory.image_size, size)
    elif args.pi3x is not None:
        from engine.components.pi3x_intrinsics import estimate_intrinsics

        vec = intr.as_vec4(estimate_intrinsics(image, args.pi3x, pi3_code=args.pi3_code, device=device))
        intr.check_fov(vec, *size, allow_out_of_range=args.allow_any_fov)  # the official check, uncropped image
        log.info("Pi3X intrinsics: %s", np.round(vec[0], 2).tolist())
    elif demo is not None and args.image is None:
        vec = intr.as_vec4(demo.intrinsics)
    elif bundle.default_intrinsics is not None:
        plan = intr.plan_resize_crop(size, bundle.frame_size)
        vec = intr.undo_crop(bundle.default_intrinsics, plan)
    else:
        raise SanaWMInputError(
            f"--intrinsics: the model {bundle.name!r} has no default field of view; pass a .npy with fx, fy, cx, cy "
            "in pixels of --image (for example from a calibration, or fx = width / (2 tan(fov_x / 2))), or estimate "
            "them with --pi3x FOLDER (local Pi3X weights)"
        )
    vec = intr.fit_to_frames(vec, trajectory.num_frames, name="--intrinsics")
    plan = intr.plan_resize_crop(size, bundle.frame_size)
    intr.check_fov(intr.apply_crop(vec, plan), *bundle.frame_size, allow_out_of_range=args.allow_any_fov)
    return replace(trajectory, intrinsics=vec, image_size=size)


def _check_options(args: argparse.Namespace) -> None:
    """Every numeric flag within the range the pipeline's math assumes, and the output names, before any work."""
    ranges = (("--fps", args.fps, 0.0, 240.0, False), ("--storyboard-every", args.storyboard_every, 0.0, 3600.0, False),
              ("--cfg_scale", args.cfg_scale, 0.0, 100.0, True), ("--flow_shift", args.flow_shift, 0.0, 100.0, False),
              ("--step", args.step, 1, 1000, True), ("--num_frames", args.num_frames, 1, 100_000, True),
              ("--seed", args.seed, 0, 2**63 - 1, True))  # fmt: skip
    for flag, value, low, high, low_included in ranges:
        if value is None:
            continue
        inside = (low <= value if low_included else low < value) and value <= high  # False for NaN
        if not inside:
            bracket = "[" if low_included else "("
            raise ConfigError(f"{flag}: expected a number in {bracket}{low:g}, {high:g}], found {value:g}")
    if args.name is not None and (Path(args.name).name != args.name or args.name in (".", "..")):
        raise ConfigError(f"--name: expected a file stem without folders, found {clip_text(repr(args.name), 60)}")
    if args.device is not None:
        try:
            device = torch.device(args.device)
        except (RuntimeError, ValueError):
            raise ConfigError(f"--device: expected cpu or cuda (cuda:N), found {clip_text(repr(args.device), 40)}") from None
        if device.type not in ("cpu", "cuda") or (device.type == "cuda" and not torch.cuda.is_available()):
            found = "cuda, but no CUDA device is available" if device.type == "cuda" else repr(args.device)
            raise ConfigError(f"--device: expected cpu or an available cuda device, found {found}")


def _timesteps(text: str | None) -> tuple[float, ...]:
    if text is None:
        return SELF_FORCING_TIMESTEPS
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--denoising_step_list: expected comma-separated numbers, found {clip_text(repr(text), 60)}") from None
    if values and values[-1] == 0:
        values = values[:-1]
    if not values or not all(0.0 < v <= 1000.0 for v in values):  # also False for NaN
        raise ConfigError(f"--denoising_step_list: expected timesteps in (0, 1000], found {clip_text(repr(text), 60)}")
    return tuple(values)
