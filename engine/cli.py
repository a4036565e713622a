"""The ``sana-wm`` command.

Sub-commands register themselves from :mod:`engine.commands`; this module owns what the user sees around
them: argument parsing, logging, and turning input errors into one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from engine import __version__
from engine.commands import batch as batch_cmd
from engine.commands import bench as bench_cmd
from engine.commands import depth as depth_cmd
from engine.commands import eval as eval_cmd
from engine.commands import generate as generate_cmd
from engine.commands import plan as plan_cmd
from engine.commands import score as score_cmd
from engine.commands import synth as synth_cmd
from engine.commands import train as train_cmd
from engine.commands import trajectory as trajectory_cmd
from engine.errors import SanaWMInputError, clip_text, one_line

#: Exit code for bad input (same as argparse's usage errors).
EXIT_INPUT_ERROR = 2


#: Largest magnitude a number option accepts: no option of this program means anything near it, and 1e308 would
#: overflow the arithmetic it feeds.
MAX_OPTION_MAGNITUDE = 1e15


def finite_float(text: str) -> float:
    """The ``float`` of every option: a finite number of sensible magnitude (``float()`` alone accepts ``nan``, ``inf``
    and ``1e308``, which no option can use and which would run a command for ever or poison its arithmetic)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {clip_text(repr(text), 40)}") from None
    if not math.isfinite(value) or abs(value) > MAX_OPTION_MAGNITUDE:
        raise argparse.ArgumentTypeError(f"expected a finite number of magnitude at most {MAX_OPTION_MAGNITUDE:g}, found {clip_text(repr(text), 40)}")
    return value


def given_path(text: str) -> Path:
    """The ``Path`` of every option: never empty (``Path("")`` is the current folder, so an empty value, say from an
    unset shell variable, would silently write or read there)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, found an empty string")
    return Path(text)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error printed as the one line every other input error gets (and exit code 2): the
    usage text is one ``--help`` away, and a long bad value is cut like any quoted input."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", float, finite_float)  # every type=float option of every sub-command
        self.register("type", Path, given_path)  # every type=Path option

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT_ERROR, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="sana-wm",
        description="SANA-WM Explorer engine: camera trajectories, generation, training, evaluation, benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show informational log messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    generate_cmd.register(sub)
    trajectory_cmd.register(sub)
    synth_cmd.register(sub)
    bench_cmd.register(sub)
    train_cmd.register(sub)
    eval_cmd.register(sub)
    depth_cmd.register(sub)
    batch_cmd.register(sub)
    score_cmd.register(sub)
    plan_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="sana-wm: %(levelname)s: %(message)s"
    )
    try:
        return int(args.handler(args) or 0)
    except SanaWMInputError as exc:
        print(f"sana-wm: error: {one_line(exc)}", file=sys.stderr)  # one line, however long the input it quotes
        return EXIT_INPUT_ERROR
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a real failure, shown in full
            raise
        # a path the operating system refused (under a plain file, no permission, a folder where a file belongs)
        print(f"sana-wm: error: {one_line(f'{exc.filename}: cannot be used ({exc.strerror or exc})')}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("sana-wm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
