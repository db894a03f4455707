"""How both command-line programs (``neuromoco``, ``neuromoco-app``) end on a user's error: one
line naming the file/argument and the reason, no traceback, and a conventional exit status."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_reporting_errors(prog: str, fn: Callable[[], int | None]) -> int:
    """Run ``fn`` and return its exit status; a bad input (``OSError``/``ValueError``: our
    errors name the file and the reason — ``EventFormatError``, ``CheckpointError``,
    ``ModelError``...), a missing optional dependency (``ImportError`` saying how to install
    it) is printed as ``PROG: error: ...`` and gives 1; Ctrl-C gives 130; a reader of the output
    that went away (``neuromoco info rec.raw | head -3``) ends it quietly with 141, as SIGPIPE
    would end a C program."""
    try:
        status = int(fn() or 0)
        sys.stdout.flush()  # a broken pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, ImportError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not raise the
    broken pipe again ("Exception ignored ... BrokenPipeError") on the way out."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is not a real file (tests, IDEs)
        pass
