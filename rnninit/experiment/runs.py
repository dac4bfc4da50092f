"""Run folders (DESIGN section 7): ids, atomic writes, appended CSVs, reading a run back.

Every whole-file write goes through rnninit.fileio (a temporary file in the same folder renamed
over the target), so a reader (or a crash) never sees half a file. Every CSV goes through
csv_cell and csv_lines (the csv module's quoting); a run's CSVs are appended a line at a time
and flushed, so a killed run leaves every finished row parseable.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import socket
import time
from pathlib import Path

from ..core.cells import CELL_COLUMNS
from ..core.stats import PARAM_COLUMNS, THEORY_COLUMNS, TIMESTEP_COLUMNS
from ..errors import RnnInitError
from ..fileio import atomic_write_text

METRICS_COLUMNS = ("step", "loss", "val_loss", "val_acc", "grad_norm", "lr", "seconds")
TIMESTEPS_COLUMNS = ("step", "t", *TIMESTEP_COLUMNS, *THEORY_COLUMNS, *CELL_COLUMNS)
PARAMS_COLUMNS = ("step", "param", *PARAM_COLUMNS)
CSV_FILES = {
    "metrics.csv": METRICS_COLUMNS,
    "timesteps.csv": TIMESTEPS_COLUMNS,
    "params.csv": PARAMS_COLUMNS,
}


def _json_safe(obj):
    """NaN and inf are not JSON: write them as null (the summary's status says why)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def json_dumps(data) -> str:
    """JSON text (indented, one final newline) with NaN and inf as null."""
    return json.dumps(_json_safe(data), indent=2) + "\n"


def write_json(path, data: dict) -> None:
    atomic_write_text(path, json_dumps(data))


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


# ---------------------------------------------------------------------------------------------
# The one CSV writer: every CSV the tool writes (run logs, compare.csv, sweep.csv, --csv).
# ---------------------------------------------------------------------------------------------
def csv_cell(value) -> str:
    """One CSV cell: '' for None, floats as repr (the shortest exact round trip; nan and inf as
    'nan', 'inf'), mappings and lists as JSON, anything else as str."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(float(value))  # float(): a NumPy float's repr would be 'np.float64(...)'
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def csv_lines(lines) -> str:
    """Rows of text cells as CSV text, one line each: the csv module quotes a cell that holds a
    comma, a quote or a line break, and leaves every other cell as it is."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(lines)
    return buf.getvalue()


def csv_text(rows: list[dict], columns=None) -> str:
    """A header and one line per row (columns: those of the first row unless given)."""
    if columns is None:
        columns = list(rows[0]) if rows else []
    if not columns:
        return ""
    return csv_lines([columns, *([csv_cell(r.get(c)) for c in columns] for r in rows)])


def write_csv(path: str | os.PathLike, rows: list[dict], columns=None) -> None:
    """A whole CSV, written atomically (its folder made if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, csv_text(rows, columns))


class CsvLog:
    """An append-only CSV: header once, then one flushed line per row.

    Appending to an existing file keeps that file's own header and columns, so that a run
    resumed after a column was added (jac_sq, ...) stays readable: its rows leave the new
    column out rather than outgrow the header.
    """

    def __init__(self, path: str | os.PathLike, columns, append: bool = False):
        self.path = Path(path)
        self.columns = tuple(columns)
        header = _header(self.path) if append and self.path.exists() else None
        if header:
            self.columns = tuple(header)
        fresh = not header
        self._f = open(self.path, "w" if fresh else "a", encoding="utf-8", newline="")
        if fresh:
            self._f.write(csv_lines([self.columns]))
            self._f.flush()

    def write(self, row: dict) -> None:
        self.write_many([row])

    def write_many(self, rows) -> None:
        self._f.write(csv_lines([csv_cell(row.get(c)) for c in self.columns] for row in rows))
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _header(path: Path) -> list[str] | None:
    with open(path, encoding="utf-8", newline="") as f:
        return next(csv.reader(f), None)


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
        lines = list(csv.reader(f))
    if not lines:
        return
    header, kept = lines[0], lines[:1]
    for cells in lines[1:]:
        if len(cells) == len(header) and keep(dict(zip(header, map(_parse, cells)))):
            kept.append(cells)
    atomic_write_text(path, csv_lines(kept))


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
    """The one reader of a run's status (show, summarize, sweep --resume, a worker's resume).

    Any status but running is returned as written. A run marked running is 'stale' when its
    process is gone, by one rule:
    - on this host (`host` is this machine's name, `pid` recorded) the pid is asked directly:
      no such process, or a live one whose start (`pid_start`, where recorded) differs from the
      run's, which is the pid reused by another process, means stale. A live process means
      running however old its heartbeat: an evaluation or a step may take longer than
      STALE_AFTER, and a second writer on a live run's folder is the one thing to avoid.
    - elsewhere, a heartbeat (`updated`, rewritten with every summary) older than STALE_AFTER
      seconds means stale: another machine's pids cannot be asked.
    """
    status = summary.get("status", "unknown")
    if status != "running":
        return status
    pid = summary.get("pid")
    if summary.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0:
        return "running" if _alive(pid, summary.get("pid_start")) else "stale"
    updated = summary.get("updated")
    if isinstance(updated, int | float) and time.time() - updated > STALE_AFTER:
        return "stale"
    return "running"


def _alive(pid: int, start: str | None) -> bool:
    """Is process `pid` of this host the one that started at `start` (any, when None)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    now = process_start(pid)
    return start is None or now is None or now == start


def process_start(pid: int) -> str | None:
    """A token of when process `pid` started: the boot id and the start time in clock ticks
    since boot (Linux /proc; immune to clock changes), or None where it cannot be read.
    Another process that gets the same pid later has another token."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, starttime
    except (OSError, IndexError):
        return None
