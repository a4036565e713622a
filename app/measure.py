"""Measure the explorer's responsiveness: time to start, key press -> first frame showing the motion, and UI
event-loop lateness while the worker generates.

    python -m app.measure --model embedded --chunks 6    # the embedded default, load_bundle(None)
    python -m app.measure --model tiny --chunks 8        # tiny random model (plumbing speed)

It opens the real main window (offscreen works: ``QT_QPA_PLATFORM=offscreen``) and picks a demo scene; then:

1. **Start**: from the Start request to the start image on screen ("ready: hold W"), split into model load and the
   worker's start (encoding the image, the world cache's first frame), and the window's own time around them.
2. **Key press -> motion**: after ``--rest`` seconds at rest (nothing held, the drive loop ticking), a real
   ``QKeyEvent`` press of W is sent to the viewport; the time until the viewport shows the first frame whose camera
   has moved from the rest pose is compared with that chunk's generation time (the target: at most that + 100 ms).
3. **Lateness**: W stays held for ``--chunks`` chunks; a 10 ms QTimer on the UI thread records how late each tick
   fires (interval between ticks minus 10 ms) while the viewport plays frames, so painting is included.

One run's numbers on a shared machine: compare ratios, not absolute values. The numbers quoted in docs/explorer.md
are this command's output, with the date and machine.
"""

from __future__ import annotations

import time

LAUNCHED = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

#: Translation (trajectory units) from the rest pose that counts as "the camera moved".
MOVED = 1e-6


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank (no numpy needed for a handful of numbers)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.measure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "embedded"], default="tiny")
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--demo", default="meadow_stroll")
    parser.add_argument("--rest", type=float, default=2.0, help="seconds at rest before W is pressed")
    parser.add_argument("--interval-ms", type=int, default=10)
    parser.add_argument("--preload", action="store_true",
                        help="load the model first (as the explorer does while an image is picked), then Start")
    args = parser.parse_args(argv)
    if args.chunks < 1 or args.rest < 0 or args.interval_ms < 1:
        print("python -m app.measure: expected --chunks >= 1, --rest >= 0 and --interval-ms >= 1, found "
              f"{args.chunks}, {args.rest}, {args.interval_ms}", file=sys.stderr)  # fmt: skip
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QEvent, QSettings, Qt, QTimer
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import AppSettings
    from engine.bundles import ModelBundle, load_bundle

    imported = time.perf_counter()
    if args.model == "tiny":
        tiny = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)
        factory = lambda source: tiny  # noqa: E731
    else:
        factory = lambda source: load_bundle(source)  # noqa: E731
    app = QApplication.instance() or QApplication([sys.argv[0]])
    import tempfile

    scratch = tempfile.TemporaryDirectory()
    settings = AppSettings(QSettings(os.path.join(scratch.name, "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings, factory)
    window.ask_save_changes = lambda: "discard"  # nothing to keep from a measurement
    window.show()
    marks: dict[str, float] = {"imported": imported, "window": time.perf_counter()}
    chunk_times: list[float] = []
    lateness: list[float] = []
    last = [0.0]
    interval = args.interval_ms / 1000

    def tick() -> None:
        now = time.perf_counter()
        if last[0]:
            lateness.append(max(0.0, now - last[0] - interval))
        last[0] = now

    timer = QTimer()
    timer.setInterval(args.interval_ms)
    timer.timeout.connect(tick)

    def key(kind: QEvent.Type) -> None:
        QApplication.sendEvent(window.viewport, QKeyEvent(kind, Qt.Key.Key_W, Qt.KeyboardModifier.NoModifier, "w"))

    def press() -> None:
        marks["press"] = time.perf_counter()
        key(QEvent.Type.KeyPress)

    def on_started() -> None:
        marks["started"] = time.perf_counter()
        window.viewport.setFocus()
        QTimer.singleShot(round(args.rest * 1000), press)

    def on_frame(chunk: int, frame: int) -> None:
        if "press" not in marks or "moved" in marks or window.project is None:
            return
        record = window.project.current.chunks[chunk].record
        pose = record.c2w[frame - record.pixel_range[0]]
        if abs(pose[:3, 3]).max() > MOVED:
            marks["moved"] = time.perf_counter()
            marks["moved_chunk_s"] = record.timings["total"]

    def on_chunk(record) -> None:
        now = time.perf_counter()
        chunk_times.append(record.timings["total"])
        if "first" not in marks:
            marks["first"] = now
            last[0] = 0.0
            timer.start()  # measure lateness from the second chunk on (steady state)
        if len(chunk_times) >= args.chunks and "moved" in marks:
            marks["end"] = now
            timer.stop()
            key(QEvent.Type.KeyRelease)
            window.set_driving(False)
            QTimer.singleShot(0, window.close)

    window.client.model_loaded.connect(lambda info: marks.setdefault("loaded", time.perf_counter()))
    window.world_started.connect(on_started)
    window.chunk_added.connect(on_chunk)
    window.viewport.frame_shown.connect(on_frame)
    window.client.error.connect(lambda message: (print("error:", message, file=sys.stderr), window.close()))
    if not window.start_panel.select_demo(args.demo):
        print(window.last_error, file=sys.stderr)
        return 2

    def request() -> None:
        marks["request"] = time.perf_counter()
        window.start_panel.request_start()

    if args.preload:
        window.client.model_loaded.connect(lambda info: QTimer.singleShot(0, request) if "request" not in marks else None)
        window.preload_model()
    else:
        request()
    app.exec()
    window.client.shutdown()
    if "end" not in marks:
        print("the run did not finish", file=sys.stderr)
        return 1
    model = window.model_info.display_name if window.model_info else "?"
    m = {k: v for k, v in marks.items()}
    print(f"model: {model}; torch threads: {__import__('torch').get_num_threads()}")
    print(f"launch -> window shown: {m['window'] - LAUNCHED:.2f} s (imports {m['imported'] - LAUNCHED:.2f} s)")
    if args.preload:
        print(f"model preloaded in {m['loaded'] - m['window']:.2f} s; start -> start image on screen (ready: hold W): "
              f"{m['started'] - m['request']:.2f} s (the worker's start and the window)")  # fmt: skip
    else:
        load = m["loaded"] - m["request"]
        print(f"start -> start image on screen (ready: hold W): {m['started'] - m['request']:.2f} s "
              f"(model load {load:.2f} s, worker start and window {m['started'] - m['loaded']:.2f} s)")  # fmt: skip
    lag, budget = m["moved"] - m["press"], m["moved_chunk_s"] + 0.1
    verdict = "met" if lag <= budget else "NOT met"
    print(f"key press -> first frame showing the motion: {lag * 1000:.0f} ms after {args.rest:.1f} s at rest "
          f"(that chunk's generation {m['moved_chunk_s'] * 1000:.0f} ms; target <= generation + 100 ms: {verdict})")
    print(f"chunks: {len(chunk_times)}; generation per chunk: median {percentile(chunk_times, 0.5):.3f} s, "
          f"max {max(chunk_times):.3f} s; wall for chunks 2..{len(chunk_times)}: {m['end'] - m['first']:.2f} s")
    if lateness:
        ms = [v * 1000 for v in lateness]
        print(f"UI timer ({args.interval_ms} ms) lateness over {len(ms)} ticks: p50 {percentile(ms, 0.5):.1f} ms, "
              f"p95 {percentile(ms, 0.95):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
