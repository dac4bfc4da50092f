"""The lock file that guards a run folder while one process writes it (DESIGN section 7).

Protocol: a writer (train, resume, a sweep's worker) creates ``RUN/.lock`` with
O_CREAT|O_EXCL and writes into it its pid, host, start time and a random token; a second
writer finds the file there and is refused with one line naming that pid and host. A lock
whose holder is dead (this host: the pid is gone; another host: no heartbeat for STALE_AFTER
seconds, as `effective_status` rules) is taken over; the holder removes it when it stops
writing, after a normal end, a divergence, an exception or an interrupt.

Why O_EXCL and not fcntl.flock: an exclusive create is atomic on every local filesystem and on
NFSv3+, Lustre, GPFS and CephFS, and needs no lock daemon; flock on NFS is emulated by POSIX
locks that need lockd (a ``nolock`` mount keeps them host-local, so two hosts would both "hold"
the folder) and Lustre refuses flock unless mounted with ``-o flock``. Its one weakness, a lock
left by a killed process, is what the pid and heartbeat checks are for.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import RnnInitError
from .runs import effective_status, read_summary

LOCK_NAME = ".lock"


class RunLocked(RnnInitError):
    """The run folder is being written by another live process (the message names it)."""


def _read(path: Path) -> tuple[str, dict] | None:
    """The lock file's text and holder, or None when there is no lock. A lock caught between
    its creation and its first write reads as an unknown holder, aged by the file's mtime."""
    try:
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        holder = None
    if not isinstance(holder, dict):
        holder = {}
    holder.setdefault("time", mtime)
    return text, holder


def _alive(run_dir: Path, holder: dict) -> bool:
    """Is the holder alive? effective_status's rule: on this host ask the pid; elsewhere, the
    heartbeat is the holder's last summary.json update (or the lock's start time)."""
    heartbeat = holder["time"]
    try:
        summary = read_summary(run_dir)
    except RnnInitError:
        summary = {}
    if (summary.get("pid"), summary.get("host")) == (holder.get("pid"), holder.get("host")):
        heartbeat = max(heartbeat, summary.get("updated") or 0)
    as_summary = {"status": "running", "pid": holder.get("pid"), "host": holder.get("host"),
                  "updated": heartbeat}  # fmt: skip
    return effective_status(as_summary) == "running"


def live_holder(run_dir: str | os.PathLike) -> dict | None:
    """Who holds run_dir's lock ({pid, host, started, ...}) when a live process does, else None."""
    found = _read(Path(run_dir) / LOCK_NAME)
    if found is None or not _alive(Path(run_dir), found[1]):
        return None
    return found[1]


def describe(holder: dict) -> str:
    """'pid 123 on host node7 since 2024-05-01T10:00:00'."""
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(holder["time"]))
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {since}"


def _take_over(path: Path, stale_text: str) -> None:
    """Remove a dead holder's lock, unless it was replaced meanwhile. The rename is atomic, so
    of two processes taking over the same lock only one moves it aside; a lock that turns out
    to be a fresh one (taken between our read and our rename) is put back."""
    aside = path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if aside.read_text(encoding="utf-8") != stale_text:
        os.rename(aside, path)
    else:
        aside.unlink()


def _acquire(run_dir: Path) -> tuple[Path, str]:
    path = run_dir / LOCK_NAME
    mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                       "token": secrets.token_hex(8)})  # fmt: skip
    for _ in range(20):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:
            raise RnnInitError(f"{run_dir}: no such folder") from None
        except NotADirectoryError:
            raise RnnInitError(f"{run_dir}: not a folder") from None
        except FileExistsError:
            found = _read(path)
            if found is None:  # released meanwhile: try again
                continue
            text, holder = found
            if _alive(run_dir, holder):
                raise RunLocked(f"{run_dir}: in use by {describe(holder)} (lock file "
                                f"{path}); wait for it to finish or stop it") from None  # fmt: skip
            _take_over(path, text)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(mine)
            f.flush()
            os.fsync(f.fileno())
        return path, mine
    raise RnnInitError(f"{path}: could not take the lock (other processes keep taking it)")


def _release(path: Path, mine: str) -> None:
    """Remove the lock if it is still ours (one taken over as stale belongs to its taker)."""
    try:
        if path.read_text(encoding="utf-8") == mine:
            path.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def hold(run_dir: str | os.PathLike | None) -> Iterator[None]:
    """Hold run_dir's lock for the block; None holds nothing (a run that writes no folder).

    Raises:
        RunLocked: a live process holds it (the message names its pid and host).
        RnnInitError: run_dir is missing or not a folder.
    """
    if run_dir is None:
        yield
        return
    path, mine = _acquire(Path(run_dir))
    try:
        yield
    finally:
        _release(path, mine)
