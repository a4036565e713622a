"""Entry point of ``sana-wm-explorer``, the Qt desktop explorer.

    sana-wm-explorer                          # the window; pick a demo or open an image, press Start
    sana-wm-explorer --demo meadow_stroll     # a demo scene, started and ready to drive (hold W)
    sana-wm-explorer --image photo.jpg --model /models/SANA-WM_streaming
    sana-wm-explorer --session take.swm
    sana-wm-explorer --demo meadow_stroll --screenshot out/drive.png --after-chunks 4   # drive forward, save, quit
    sana-wm-explorer --demo meadow_stroll --quit-after-first-frame                     # start-up time
    sana-wm-explorer --demo meadow_stroll --mode path --screenshot out/path.png        # path mode screenshot

Without a display (Linux with neither ``DISPLAY`` nor ``WAYLAND_DISPLAY``, and no ``QT_QPA_PLATFORM`` chosen) it says
how to run it and exits with code 2 instead of letting Qt abort.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

NO_DISPLAY = (
    "sana-wm-explorer: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop session, under "
    "Xvfb (xvfb-run sana-wm-explorer ...), or without a screen with QT_QPA_PLATFORM=offscreen (for --screenshot runs)."
)


def has_display(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt can open windows: always off Linux; on Linux when an X or Wayland display or a Qt platform is set."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return True
    return any(env.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sana-wm-explorer",
        description="Drive a camera through a world generated live from one image (SANA-WM family models).",
    )
    parser.add_argument("--demo", metavar="NAME", help="open a shipped demo scene, started and ready to drive")
    parser.add_argument("--image", metavar="PATH", help="start image (started at once)")
    parser.add_argument("--model", metavar="FOLDER", help="model folder (official SANA-WM or trained); default: embedded")
    parser.add_argument("--session", metavar="FILE.swm", help="open a saved session")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                        help="default float32 on the CPU, bfloat16 on CUDA")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="noise seed of the started world")
    parser.add_argument("--mode", choices=["drive", "path"], default="drive",
                        help="open in drive mode (keys) or path mode (the 3D path editor); with --screenshot, path "
                        "mode generates along the path instead of driving forward")  # fmt: skip
    parser.add_argument("--screenshot", metavar="PATH", help="drive forward, save a window screenshot here, quit")
    parser.add_argument("--after-chunks", type=int, default=3, metavar="N",
                        help="chunks to generate before --screenshot (default 3)")  # fmt: skip
    parser.add_argument("--quit-after-first-frame", action="store_true",
                        help="print the time from launch to the first generated frame and quit")  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    launched = time.perf_counter()
    args = build_parser().parse_args(argv)
    if args.after_chunks < 1:
        print(f"sana-wm-explorer: --after-chunks: expected at least 1, found {args.after_chunks}", file=sys.stderr)
        return 2
    if (args.screenshot or args.quit_after_first_frame) and not (args.demo or args.image or args.session):
        print("sana-wm-explorer: --screenshot and --quit-after-first-frame need --demo, --image or --session",
              file=sys.stderr)  # fmt: skip
        return 2
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2

    from engine.synth.renderer import load_triton_before_gl

    load_triton_before_gl()  # before Qt's first GL context: triton loaded after Mesa's llvmpipe crashes the process
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import APPLICATION, ORGANIZATION, AppSettings
    from app.worker import default_bundle_factory

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(bundle_factory=default_bundle_factory(args.device, args.dtype,
                                                              memory=lambda: AppSettings().memory()))  # fmt: skip
    try:
        return _run(args, app, window, launched)
    finally:
        window.client.shutdown()  # also on early returns: never leave the engine thread running


def _run(args: argparse.Namespace, app, window, launched: float) -> int:
    from PySide6.QtCore import QTimer

    from app.main_window import PATH_MODE

    outcome = {"rc": 0}

    def fail(message: str, rc: int = 2) -> None:
        print(f"sana-wm-explorer: {message}", file=sys.stderr)
        outcome["rc"] = rc
        window.close()

    panel = window.start_panel
    if args.model:
        panel.model_edit.setText(str(Path(args.model)))
    if args.seed is not None:
        panel.seed.setValue(args.seed)
    scripted = bool(args.screenshot or args.quit_after_first_frame)
    if scripted:
        window.client.error.connect(fail)
        window.ask_save_changes = lambda: "discard"  # a scripted run saves nothing and asks nothing
    if args.demo and not panel.select_demo(args.demo):
        print(f"sana-wm-explorer: {window.last_error}", file=sys.stderr)
        return 2
    if args.image and not panel.set_image(args.image):
        print(f"sana-wm-explorer: {window.last_error}", file=sys.stderr)
        return 2
    window.show()
    if args.mode == "path":
        window.set_mode(PATH_MODE)
    if args.session:
        if not window.open_session(args.session) and scripted:
            print(f"sana-wm-explorer: {window.last_error}", file=sys.stderr)
            return 2
    elif args.demo or args.image:
        panel.request_start()
    else:
        window.preload_model()  # ready by the time an image is picked

    if args.quit_after_first_frame:
        def first(record) -> None:
            print(f"first generated frame after {time.perf_counter() - launched:.2f} s "
                  f"(model {window.model_info.display_name if window.model_info else '?'})")  # fmt: skip
            window.close()

        window.chunk_added.connect(first)
        window.world_started.connect(lambda: window.hold("w"))
    elif args.screenshot:
        target = Path(args.screenshot)

        def shoot() -> None:
            if len(window.client.display):  # let the viewport play the frames it has
                QTimer.singleShot(100, shoot)
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(target)):
                fail(f"--screenshot: could not write {target}", 1)
                return
            print(f"screenshot: {target}")
            window.close()

        def counted(record) -> None:
            if args.mode == "drive":
                window.hold("w")  # again: a focus change (window manager, screen lock) releases held keys
            if record.index + 1 >= args.after_chunks or (args.mode == "path" and window.path_chunks_left == 0):
                if window.path_chunks_left:
                    window.cancel()  # stops a path generation that would go on
                window.drive.clear_held()
                window.set_driving(False)
                QTimer.singleShot(0, shoot)

        window.chunk_added.connect(counted)
        if args.mode == "path":
            window.world_started.connect(lambda: QTimer.singleShot(0, window.generate_path))
        else:
            window.world_started.connect(lambda: window.hold("w"))
    app.exec()
    return outcome["rc"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
