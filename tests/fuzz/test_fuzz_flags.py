"""Fuzz: every option of every ``sana-wm`` sub-command, found by walking the argument parser (a new sub-command or
option is covered without editing this file), given values no command can use: NaN, infinities, 1e308, text where
a number belongs, empty strings, paths that do not exist.

Each case must end with exit code 2 and one clear line, or (where the value happens to be usable) exit 0; a command
that accepts a non-finite number and starts its real work runs into the per-case time limit and fails the case.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fuzz_contract import case_dir, fuzz, run_cli
from hypothesis import given
from hypothesis import strategies as st

from engine.cli import build_parser

#: Values no option of the kind can use: numbers (int / float types), paths (Path types: empty, or inside a plain
#: file, so neither readable nor creatable) and sizes. Options typed as free text are left out:
#: any text may be a valid name.
NASTY = {
    "number": ["nan", "inf", "-inf", "1e308", "-1e308", "abc", "", "0x10", "NaN", "1e999", "-nan", "1,5", "x" * 5000],
    "path": ["", " ", "{d}/blocker/sub/file.out", "{d}/blocker/x"],  # empty, or under a plain file: never usable
    "size": ["0x0", "-1x5", "abc", "99999999x2", "", "nanxnan"],
}


def kind_of(action: argparse.Action) -> str | None:
    if action.type in (int, float):
        return "number"
    if action.type is Path:
        return "path"
    if getattr(action.type, "__name__", "") == "image_size":
        return "size"
    return None


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(argv prefix, parser)`` of every runnable sub-command, however deeply nested."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(prefix, parser)]
    return [leaf for name, sub in subs[0].choices.items() for leaf in leaf_commands(sub, (*prefix, name))]


def value_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Options that take one value (not flags, not --help)."""
    return [a for a in parser._actions if a.option_strings and a.nargs in (None, "?") and kind_of(a) and not isinstance(
        a, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction, argparse._VersionAction,
            argparse._StoreConstAction, argparse._CountAction, argparse._AppendConstAction))]  # fmt: skip


def required_argv(parser: argparse.ArgumentParser, blocker: Path, skip: str) -> list[str]:
    """Values for the positional and required arguments except ``skip``: paths under the plain file ``blocker``, which
    can neither be read nor created, so a command whose other options are usable still stops at once."""
    argv: list[str] = []
    for action in parser._actions:
        if (action.option_strings and not action.required) or skip in action.option_strings:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        value = action.choices[0] if action.choices else str(blocker / f"missing-{action.dest}")
        argv += ([action.option_strings[0]] if action.option_strings else []) + [str(value)]
    return argv


LEAVES = leaf_commands(build_parser())
CASES = [(prefix, option.option_strings[-1], kind_of(option)) for prefix, parser in LEAVES for option in value_options(parser)]


@fuzz(150)
@given(case=st.sampled_from(CASES), pick=st.integers(0, 100))
def test_every_option_of_every_sub_command_refuses_unusable_values_clearly(case, pick):
    prefix, option, kind = case
    parser = dict(LEAVES)[prefix]
    with case_dir() as d:
        value = NASTY[kind][pick % len(NASTY[kind])].format(d=d)
        (d / "blocker").write_text("a file, not a folder")
        argv = [*prefix, f"{option}={value}", *required_argv(parser, d / "blocker", option)]
        run_cli(argv, d, f"flags: {prefix[0]}")


def test_the_walk_finds_every_sub_command():
    names = {prefix[0] for prefix, _ in LEAVES}
    assert {"generate", "trajectory", "synth", "bench", "train", "eval", "depth"} <= names
    assert len(CASES) > 50
