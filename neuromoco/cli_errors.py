"""How both command-line programs (``neuromoco``, ``neuromoco-app``) end on a user's error: one
line naming the file/argument and the reason, no traceback, and a conventional exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_reporting_errors(prog: str, fn: Callable[[], int | None]) -> int:
    """Run ``fn`` and return its exit status; a bad input (``OSError``/``ValueError``: our
    errors name the file and the reason — ``EventFormatError``, ``CheckpointError``,
    ``ModelError``...), a missing optional dependency (``ImportError`` saying how to install
    it) is printed as ``PROG: error: ...`` and gives 1; Ctrl-C gives 130."""
    try:
        return int(fn() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, ImportError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
