"""What every command shares: the console, the error and exit-code rules, graceful stops.

User mistakes arrive as RnnInitError and leave as one line on stderr with exit code 2;
interrupts exit 130; anything else is an internal error, exit 1 (traceback with --debug).
"""

from __future__ import annotations

import errno
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from ..errors import RnnInitError

STATE = {"debug": False}
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}  # only writes raise these


def stdout_console() -> Console:
    """rich's console; off a terminal (logs, pipes) it gets a fixed 140 columns, not 80."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=140)
    return console


def fail(message: str, code: int) -> typer.Exit:
    print(f"rnninit: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


@contextmanager
def handled():
    """Turn library exceptions into one stderr line and the documented exit code."""
    try:
        yield
    except RnnInitError as e:
        raise fail(f"error: {e}", 2) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except (typer.Exit, typer.Abort):
        raise
    except OSError as e:  # disk full, permissions: what was written before stays as it was
        if STATE["debug"]:
            traceback.print_exc()
        what = "cannot write" if e.errno in WRITE_ERRORS else "cannot access"
        where = f" '{e.filename}'" if e.filename else ""
        raise fail(f"{what}{where}: {e.strerror or e}", 1) from None
    except Exception as e:
        if STATE["debug"]:
            traceback.print_exc()
        first = str(e).splitlines()[0] if str(e) else ""
        raise fail(f"internal error: {type(e).__name__}: {first} (rerun with --debug)", 1) from None


@contextmanager
def graceful_stop():
    """First Ctrl-C or SIGTERM: finish the current step, write a checkpoint, exit 130.
    A second Ctrl-C stops at once (every file is written atomically or line by line)."""
    requested = []

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)
        print("rnninit: stopping after this step (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(requested)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def blame(config: Path | None):
    """Name the config file in errors found after loading it (a corpus, the runs folder)."""
    try:
        yield
    except RnnInitError as e:
        if config is not None and not str(e).startswith(str(config)):
            raise RnnInitError(f"{config}: {e}") from None
        raise


def exit_for(summary: dict) -> None:
    """Exit 130 with one line when a run was interrupted; otherwise return (exit 0)."""
    if summary["status"] == "interrupted":
        where = summary.get("run_dir")
        hint = f"; continue it with: rnninit train --resume {where}" if where else ""
        raise fail(f"interrupted at step {summary['steps_done']}{hint}", 130)
