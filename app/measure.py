"""Measure the explorer's responsiveness: UI event-loop lateness while the worker generates, and time to first frame.

    python -m app.measure --model tiny --chunks 8        # tiny random model (plumbing speed)
    python -m app.measure --model embedded --chunks 4    # the embedded default, load_bundle(None)

It opens the real main window (offscreen works: ``QT_QPA_PLATFORM=offscreen``), starts a demo scene, holds W, and
while the worker generates ``--chunks`` chunks a 10 ms QTimer on the UI thread records how late each tick fires
(lateness = interval between ticks minus 10 ms). The viewport plays frames meanwhile, so painting is included.
Printed: time from launch to the first generated chunk (imports, window, model load, start, first chunk), seconds per
chunk, and lateness percentiles. One run's numbers on a shared machine: compare ratios, not absolute values.

Measured 2026-11-21 on the project machine (2 shared cores, ``OMP_NUM_THREADS=1``, offscreen, demo meadow_stroll):

| model | launch -> first chunk | s / chunk | UI lateness p50 / p95 / p99 / max (10 ms timer) |
|---|---|---|---|
| tiny test model (96x64, random) | 1.9 s | 0.07 (paced to real time by the drive loop) | 0.2 / 0.8 / 3.5 / 6.8 ms |
| embedded default (``load_bundle(None)``: the shipped sana-wm-tiny, 320x176), 8 chunks | 4.3 s | 0.66 | 0.2 / 0.4 / 0.9 / 4.0 ms |
| the random sana-wm-small stand-in used before the model shipped | 3.9 s | 2.25 | 0.2 / 3.2 / 7.2 / 35.5 ms |
"""

from __future__ import annotations

import time

LAUNCHED = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank (no numpy needed for a handful of numbers)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.measure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "embedded"], default="tiny")
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--demo", default="meadow_stroll")
    parser.add_argument("--interval-ms", type=int, default=10)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import AppSettings
    from engine.bundles import ModelBundle, load_bundle

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
    marks: dict[str, float] = {}
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

    def on_started() -> None:
        marks["started"] = time.perf_counter()
        window.hold("w")

    def on_chunk(record) -> None:
        now = time.perf_counter()
        chunk_times.append(record.timings["total"])
        if "first" not in marks:
            marks["first"] = now
            last[0] = 0.0
            timer.start()  # measure lateness from the second chunk on (steady state)
        if len(chunk_times) >= args.chunks:
            marks["end"] = now
            timer.stop()
            window.drive.clear_held()
            window.set_driving(False)
            QTimer.singleShot(0, window.close)

    window.world_started.connect(on_started)
    window.chunk_added.connect(on_chunk)
    window.client.error.connect(lambda message: (print("error:", message, file=sys.stderr), window.close()))
    if not window.start_panel.select_demo(args.demo):
        print(window.last_error, file=sys.stderr)
        return 2
    window.start_panel.request_start()
    app.exec()
    window.client.shutdown()
    if "end" not in marks:
        print("the run did not finish", file=sys.stderr)
        return 1
    model = window.model_info.display_name if window.model_info else "?"
    span = marks["end"] - marks["first"]
    print(f"model: {model}; torch threads: {__import__('torch').get_num_threads()}")
    print(f"launch -> first generated chunk: {marks['first'] - LAUNCHED:.2f} s "
          f"(launch -> world started: {marks['started'] - LAUNCHED:.2f} s)")  # fmt: skip
    print(f"chunks: {len(chunk_times)}; generation per chunk: median {percentile(chunk_times, 0.5):.3f} s, "
          f"max {max(chunk_times):.3f} s; wall for chunks 2..{len(chunk_times)}: {span:.2f} s")  # fmt: skip
    if lateness:
        ms = [v * 1000 for v in lateness]
        print(f"UI timer ({args.interval_ms} ms) lateness over {len(ms)} ticks: p50 {percentile(ms, 0.5):.1f} ms, "
              f"p95 {percentile(ms, 0.95):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
