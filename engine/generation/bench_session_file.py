"""How big a session file is and how long it takes to open: ``python -m engine.generation.bench_session_file``.

Drives a world forward for ``--chunks`` chunks (a turn every fifth), saves it with each ``snapshot_every`` (1 =
every snapshot stored; the default is compact, :mod:`engine.generation.session_file`), then loads and resumes the
compact file and reports the rebuild time. Numbers in docs/explorer_sessions.md come from this.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.bundles.load import load_bundle
from engine.camera.controls import get_mapping
from engine.camera.integrator import MotionIntegrator
from engine.generation.project import Project, StartSettings
from engine.generation.session import WorldSession
from engine.generation.session_file import SNAPSHOT_EVERY, load_project, resume_session, save_project
from engine.generation.start_image import load_image


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/models/sana-wm-tiny", help="model folder (default: embedded)")
    parser.add_argument("--image", default="resources/demos/meadow_stroll/image.png")
    parser.add_argument("--chunks", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 8, 16, SNAPSHOT_EVERY])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.model)
    session = WorldSession(bundle)
    image = load_image(args.image)
    session.start(image)
    project = Project(StartSettings(image=image))
    project.stream_settings = session.settings
    integrator = MotionIntegrator(get_mapping("v2"))
    for k in range(args.chunks):
        keys = {"w", "l"} if k % 5 == 4 else {"w"}
        project.add_chunk(session.step(np.stack([integrator.step(keys) for _ in range(session.frames_per_chunk)])))
    print(f"{bundle.name}, {args.chunks} chunks at {bundle.frame_size[0]}x{bundle.frame_size[1]}, "
          f"world cache {'on' if session.world_cache is not None else 'off'}, {args.threads} thread(s)")
    with tempfile.TemporaryDirectory() as folder:
        for every in args.every:
            path = Path(folder) / f"every{every}.swm"
            save_project(project, path, snapshot_every=every)
            size = path.stat().st_size / 2**20
            print(f"snapshot_every {every:>3}: {size:7.1f} MB, {size / args.chunks:.2f} MB per chunk")
        loaded = load_project(Path(folder) / f"every{args.every[-1]}.swm")
        rebuilt = sum(e.replay for e in loaded.current.chunks)
        wall, cpu = time.perf_counter(), time.process_time()
        resume_session(WorldSession(bundle), loaded)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"resume of snapshot_every {args.every[-1]}: {rebuilt} chunks rebuilt in {cpu:.1f} s CPU "
              f"({cpu / max(rebuilt, 1):.2f} s per chunk), {wall:.1f} s wall")


if __name__ == "__main__":
    main()
