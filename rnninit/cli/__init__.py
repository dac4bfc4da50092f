"""The command line: the top layer. It parses, calls one library function and renders.

``main`` imports the app inside a guard, so that a broken module inside the package is reported
as an internal error (exit 1; the traceback with --debug), never as "No such command".
"""

from __future__ import annotations

import sys
import traceback


def main() -> None:
    """Console-script entry point."""
    try:
        from .app import app
    except Exception as e:  # an ImportError (or any error) while loading the package's modules
        if "--debug" in sys.argv[1:]:
            traceback.print_exc()
        first = str(e).splitlines()[0] if str(e) else ""
        print(f"rnninit: internal error: {type(e).__name__}: {first} (rerun with --debug)",
              file=sys.stderr, flush=True)  # fmt: skip
        raise SystemExit(1) from None
    app()
