"""What the world cache makes of ordinary photos: the domain-gap check of a depth estimator trained only on
procedural worlds, as a picture a user can judge (issue 16: "measure it on a few ordinary photos").

``python -m engine.world_cache.photo_view PHOTO... --out FIGURE.jpg [--fov 60] [--model FOLDER]``

Per photo, one row: the start frame (fitted to the model's frame size as a session does), its estimated depth
(log colours, near warm, far blue, sky black), the session's world cache of that frame rendered 1 m forward, and
the same cache seen from above and to the side (an orbit camera 1.5x the median depth away, looking at the median
depth point): flat ground should stay flat, objects should stand up, the sky should be empty. It prints the
depth statistics per photo. No number here is a score: there is no ground truth for a photo.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.depth.colormap import depth_to_rgb
from engine.generation.start_image import prepare_start_frame
from engine.generation.world_memory import WorldMemory, depth_source_for
from engine.io.atomic import atomic_path


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """An OpenCV camera-to-world pose (x right, y down, z forward) at ``eye`` looking at ``target``, world +y down."""
    z = np.asarray(target, np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, np.cross(z, x), z, eye
    return c2w


def photo_row(memory: WorldMemory, photo: Path, size: tuple[int, int], fov_deg: float) -> tuple[np.ndarray, str]:
    """The figure row of one photo and a line of its depth statistics."""
    with Image.open(photo) as image:
        w, h = image.size  # the field of view is the photo's; the fit to the frame size crops it like a session
    f = 0.5 * w / np.tan(np.radians(fov_deg) / 2)
    frame, k = prepare_start_frame(str(photo), size, np.array([[f, f, w / 2, h / 2]]))
    k = np.asarray(k, np.float64).reshape(4)
    depth = memory.depth(frame[None], k[None].astype(np.float32))[0]
    world = memory.start(frame, k)
    forward = np.eye(4)
    forward[2, 3] = 1.0
    surface = np.isfinite(depth)
    median = float(np.median(depth[surface])) if surface.any() else 5.0
    target = np.array([0.0, 0.0, median])
    orbit = look_at(np.array([1.0 * median, -1.0 * median, -0.2 * median]), target)
    views = [memory.render(world, pose, k, size).colour for pose in (forward, orbit)]
    stats = (f"{photo.name}: sky {100 * (1 - surface.mean()):.0f}% of pixels, surface depth 5/50/95th percentile "
             + " / ".join(f"{v:.1f}" for v in np.percentile(depth[surface], [5, 50, 95])) + f" m, {len(world)} voxels"
             if surface.any() else f"{photo.name}: all sky")  # fmt: skip
    return np.concatenate([frame, depth_to_rgb(depth), *views], axis=1), stats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="figure (.jpg or .png)")
    parser.add_argument("--model", type=Path, default=Path("resources/models/sana-wm-tiny"),
                        help="bundle folder with depth.safetensors (default: the embedded model)")
    parser.add_argument("--fov", type=float, default=60.0, help="horizontal field of view assumed for the photos")
    parser.add_argument("--size", default="320x176", help="frame size WxH (default 320x176)")
    args = parser.parse_args(argv)
    depth = depth_source_for(args.model)
    if depth is None:
        raise SystemExit(f"--model {args.model}: expected a folder with depth.safetensors, found none")
    size = tuple(int(v) for v in args.size.split("x"))
    memory = WorldMemory(depth)
    rows = []
    for photo in args.photos:
        row, stats = photo_row(memory, photo, size, args.fov)
        rows.append(row)
        print(stats)
    memory.release()
    header = np.full((18, rows[0].shape[1], 3), 255, np.uint8)
    figure = Image.fromarray(np.concatenate([header, *rows], axis=0))
    draw = ImageDraw.Draw(figure)
    for i, title in enumerate(["photo", "estimated depth", "cache, 1 m forward", "cache from above and beside"]):
        draw.text((i * size[0] + 4, 3), title, fill=(0, 0, 0))
    with atomic_path(args.out) as tmp:
        figure.save(tmp, format="JPEG" if args.out.suffix.lower() in (".jpg", ".jpeg") else "PNG", quality=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
