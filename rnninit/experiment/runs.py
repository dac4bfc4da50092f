"""Run folders (DESIGN section 7): ids, atomic writes, appended CSVs, reading a run back.

Every whole-file write goes to a temporary file in the same folder and is renamed over the
target, so a reader (or a crash) never sees half a file. CSVs are appended a line at a time and
flushed, so a killed run leaves every finished row parseable.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import tempfile
import time
from pathlib import Path

from ..core.stats import PARAM_COLUMNS, THEORY_COLUMNS, TIMESTEP_COLUMNS
from ..errors import RnnInitError

METRICS_COLUMNS = ("step", "loss", "val_loss", "grad_norm", "lr", "seconds")
TIMESTEPS_COLUMNS = ("step", "t", *TIMESTEP_COLUMNS, *THEORY_COLUMNS)
PARAMS_COLUMNS = ("step", "param", *PARAM_COLUMNS)
_UMASK = os.umask(0)  # read once at import (os has no getter); restored on the next line
os.umask(_UMASK)
CSV_FILES = {
    "metrics.csv": METRICS_COLUMNS,
    "timesteps.csv": TIMESTEPS_COLUMNS,
    "params.csv": PARAMS_COLUMNS,
}


def _mkstemp(path: Path) -> tuple[int, str]:
    """A temp file beside `path`, with the permissions an ordinary open() would give it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; run folders are meant to be shared
    return fd, tmp


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` via a temp file in the same folder and an atomic rename."""
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Call write(file_object) on a temp file in path's folder, then rename it over path."""
    path = Path(path)
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(obj):
    """NaN and inf are not JSON: write them as null (the summary's status says why)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path, data: dict) -> None:
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2) + "\n")


def new_run_id(name: str) -> str:
    """<name>-<YYYYmmdd-HHMMSS>-<4 hex>; the hex is random so parallel runs never collide."""
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def create_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """Make a fresh run folder under runs_dir (never outside it)."""
    root = Path(runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RnnInitError(f"log.runs_dir: cannot create '{root}': {e.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise RnnInitError(f"log.runs_dir: '{root}' is not writable")
    for _ in range(100):
        run_dir = root / new_run_id(name)
        if run_dir.resolve().parent != root.resolve():
            raise RnnInitError(f"name: '{name}' would place the run outside '{root}'")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise RnnInitError(f"log.runs_dir: could not create a fresh run folder in '{root}'")


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact round trip; nan and inf as 'nan', 'inf'
    return str(value)


class CsvLog:
    """An append-only CSV: header once, then one flushed line per row."""

    def __init__(self, path: str | os.PathLike, columns, append: bool = False):
        self.path = Path(path)
        self.columns = tuple(columns)
        fresh = not (append and self.path.exists())
        self._f = open(self.path, "w" if fresh else "a", encoding="utf-8", newline="")
        if fresh:
            self._write_line(self.columns)

    def _write_line(self, values) -> None:
        self._f.write(",".join(values) + "\n")
        self._f.flush()

    def write(self, row: dict) -> None:
        self._write_line(_fmt(row.get(c)) for c in self.columns)

    def write_many(self, rows) -> None:
        buf = io.StringIO()
        for row in rows:
            buf.write(",".join(_fmt(row.get(c)) for c in self.columns) + "\n")
        self._f.write(buf.getvalue())
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _parse(value: str):
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a run CSV as dicts of int/float/str (empty cells as None); a torn last line is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return []
        return [dict(zip(header, map(_parse, r))) for r in reader if len(r) == len(header)]


def truncate_csv(path: str | os.PathLike, keep) -> None:
    """Rewrite a CSV atomically with only the rows for which keep(row_dict) is true."""
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines()
    if not lines:
        return
    header = lines[0].split(",")
    kept = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) == len(header) and keep(dict(zip(header, map(_parse, cells)))):
            kept.append(line)
    atomic_write_text(path, "\n".join(kept) + "\n")


def is_run_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / "summary.json").is_file() and (p / "config.yaml").is_file()


def require_run_dir(path: str | os.PathLike) -> Path:
    """path as a Path when it is a run folder; else RnnInitError saying what it is instead."""
    p = Path(path)
    if not p.exists():
        raise RnnInitError(f"{p}: no such folder")
    if not p.is_dir():
        raise RnnInitError(f"{p}: not a folder (a run folder holds summary.json and config.yaml)")
    for name in ("summary.json", "config.yaml"):
        if not (p / name).is_file():
            raise RnnInitError(f"{p}: not a run folder (no {name})")
    return p


def read_summary(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RnnInitError(f"{run_dir}: not a run folder (no summary.json)") from None
    except json.JSONDecodeError as e:
        raise RnnInitError(f"{path}: unreadable summary ({e.msg} at line {e.lineno})") from None


STALE_AFTER = 600.0  # seconds without a heartbeat before a run on another host counts as dead


def effective_status(summary: dict) -> str:
    """The summary's status, except that a run marked running whose process is gone is 'stale'.

    On this host the pid is asked directly; elsewhere, a heartbeat (`updated`) older than
    STALE_AFTER seconds means the process is gone.
    """
    import socket

    status = summary.get("status", "unknown")
    if status != "running":
        return status
    pid = summary.get("pid")
    if summary.get("host") == socket.gethostname() and isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "stale"
        except PermissionError:
            return "running"
        return "running"
    updated = summary.get("updated")
    if isinstance(updated, int | float) and time.time() - updated > STALE_AFTER:
        return "stale"
    return "running"
