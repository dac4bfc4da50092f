"""What every command shares: the console, the error and exit-code rules, graceful stops.

User mistakes arrive as RnnInitError and leave as one line on stderr with exit code 2;
interrupts exit 130; anything else is an internal error, exit 1 (traceback with --debug).
A reader that closes the pipe early (`rnninit show RUN | head -1`) ends the command quietly,
exit 0.
"""

from __future__ import annotations

import errno
import os
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


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich exits 1 here; raise instead, so that handled() ends the command quietly, exit 0."""
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def stdout_console() -> Console:
    """rich's console; off a terminal (logs, pipes) it gets a fixed 160 columns, not 80 (the widest table, summarize --by, fits)."""
    console = _Console(highlight=False)
    if not console.is_terminal:
        console = _Console(highlight=False, width=160)
    return console


def fail(message: str, code: int) -> typer.Exit:
    print(f"rnninit: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


@contextmanager
def handled():
    """Turn library exceptions into one stderr line and the documented exit code."""
    try:
        yield
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
    except BrokenPipeError:
        _quiet_stdout()
        raise typer.Exit(0) from None
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


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of what is still
    buffered cannot fail again and print 'Exception ignored' (Python's SIGPIPE recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to flush
        pass


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
