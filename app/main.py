"""Entry point of ``sana-wm-explorer``, the Qt desktop explorer.

The explorer window is not built yet (it depends on the streaming engine and the embedded model). Until it is,
this entry point says so plainly and points to what works today instead of failing with an import error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

NOT_YET = (
    "sana-wm-explorer: the desktop explorer is not available in this version yet.\n"
    "What works today is the engine's camera toolkit, e.g.:\n"
    "  sana-wm trajectory from-action \"w-48,jw-32,lw-40\" -o out/path.npz\n"
    "  sana-wm trajectory plot out/path.npz -o out/path.png\n"
    "See README.md (Status) for what is planned."
)


def main(argv: Sequence[str] | None = None) -> int:
    print(NOT_YET, file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
