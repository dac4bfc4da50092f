"""report.html of a run, compare or sweep folder: read the folder, build the page, write it.

The page itself is built in rnninit.report.html from the tables the terminal prints; this
module reads what it needs from the folder (summaries, CSV rows, config.yaml, the plots' bytes,
the names of the files beside it) and writes the page atomically. `rnninit report DIR` calls
one of the three writers; a compare writes its own when it writes its outputs, a sweep too,
and a run at its end. No import of compare, sweep or training: they import this module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from ..errors import RnnInitError
from ..fileio import atomic_write_text
from ..report import html
from .lock import live_holder
from .runs import effective_status, read_csv, read_summary, require_run_dir
from .summarize import load_record, report_for

REPORT = "report.html"
LINKED = ("*.csv", "*.json", "*.yaml")  # the files beside a report that it links to


def load_run(run_dir: str | os.PathLike, summary: dict | None = None) -> dict:
    """A run folder as its report shows it: summary, config (a dict), config_text, rows
    (timesteps.csv) and jacobian (jacobian.csv rows, [] without log.jacobian).

    summary: the run's own, in memory (a run writing its report at its end holds the folder's
    lock); None reads summary.json, with the status a live lock holder or a dead process gives
    it (running, stale), as `show` says it.
    """
    run_dir = require_run_dir(run_dir)
    if summary is None:
        summary = read_summary(run_dir)
        holder = live_holder(run_dir)
        if holder is not None:  # a live process writes it now, whatever the summary says yet
            summary.update(status="running", pid=holder.get("pid"), host=holder.get("host"))
        else:
            summary["status"] = effective_status(summary)  # a dead process says 'stale'
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    return {"summary": summary, "config": yaml.safe_load(text), "config_text": text,
            "rows": read_csv(run_dir / "timesteps.csv"),
            "jacobian": read_csv(run_dir / "jacobian.csv")}  # fmt: skip


def write_run_report(run_dir: str | os.PathLike, summary: dict | None = None) -> Path:
    """Write <run_dir>/report.html (see load_run for `summary`) and return its path."""
    run = load_run(run_dir, summary)
    return _save(Path(run_dir), html.run_page(run, *_assets(Path(run_dir))))


def write_compare_report(root: str | os.PathLike, report: dict) -> Path:
    """Write <root>/report.html of a compare folder from its report (experiment.compare's
    `load_compare`), linking each run's own report, and return its path."""
    root = Path(root)
    config = _text(root / "config.yaml")
    names = [name for label in report["inits"] for name in report["meta"]["runs"].get(label, [])]
    return _save(root, html.compare_page(report, config, *_assets(root), _sub_reports(root, names)))


def is_sweep_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "sweep.json").is_file()


def load_sweep_report(root: str | os.PathLike) -> dict:
    """A sweep folder read back: its plan (sweep.json), the summarize report of every run
    folder it has so far (from any shard), in plan order, with the varied keys, each of those
    runs' summary.json and the first one's config.yaml text. With seeds among the varied keys,
    "groups": the report grouped by the other varied keys (mean ± population std over the
    seeds), else None."""
    root = Path(root)
    plan = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
    ids = [r["id"] for r in plan["runs"] if (root / r["id"] / "summary.json").is_file()]
    records = [load_record(root / run_id, run_id) for run_id in ids]
    report = report_for(records, varied=plan["keys"], sort=False)
    others = [k for k in plan["keys"] if k != "seed"]
    grouped = None
    if records and "seed" in plan["keys"] and others:
        grouped = report_for(list(records), by=others, varied=plan["keys"], sort=False)
    return {"plan": plan, "report": report, "groups": grouped, "ids": ids,
            "summaries": [_summary(root / run_id) for run_id in ids],
            "config_text": _text(root / ids[0] / "config.yaml") if ids else None}  # fmt: skip


def write_sweep_report(root: str | os.PathLike) -> Path:
    """Write <root>/report.html of a sweep folder from the run folders it has so far, linking
    each run's own report, and return its path."""
    root = Path(root)
    sweep = load_sweep_report(root)
    return _save(root, html.sweep_page(sweep, *_assets(root), _sub_reports(root, sweep["ids"])))


def _sub_reports(root: Path, names: list[str]) -> list[tuple[str, str]]:
    """(relative href, run folder name) of each run's own report.html that exists."""
    return [(f"{name}/{REPORT}", name) for name in names if (root / name / REPORT).is_file()]


def _summary(run_dir: Path) -> dict:
    """A run's summary.json; {} when it cannot be read (its row in the table says unreadable)."""
    try:
        return read_summary(run_dir)
    except RnnInitError:
        return {}


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _assets(folder: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The folder's plots, (file name, PNG bytes) in name order, and the names of the files
    beside the report that it links to."""
    images = [(p.name, p.read_bytes()) for p in sorted((folder / "plots").glob("*.png"))]
    files = sorted({p.name for pattern in LINKED for p in folder.glob(pattern) if p.is_file()})
    return images, files


def _save(folder: Path, page: html.Page) -> Path:
    path = folder / REPORT
    atomic_write_text(path, html.page_html(page))
    return path
