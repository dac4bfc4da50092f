"""Many run folders as one table (issue 4): from a sweep, a compare or a shell loop alike.

Everything is read back from the folders: summary.json for the outcome, config.yaml for what
was run, timesteps.csv for the step-0 statistics. The keys shown are those whose values differ
between the runs found, so a loop over `model.hidden_size=$h` needs no description of itself.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import yaml

from ..core.names import suggest
from ..core.stats import km_median, mean_std
from ..errors import RnnInitError
from ..fileio import atomic_write_bytes
from .config import SCHEMA, get
from .runs import (
    effective_status,
    is_run_dir,
    read_csv,
    read_summary,
)

LABELS = ("name", "log.runs_dir")  # where and under what label a run went: not what it tested
LOSSES = ("final_loss", "final_val_loss")
STEP0 = ("act_var_t1", "act_var_tT", "grad_var_t1", "grad_var_tT")
METRICS = (*LOSSES, "steps_to_target", *STEP0)
# what else a heatmap cell may need: accuracy, the chance baseline and the target each run had
OUTCOME = ("final_val_acc", "chance", "target_loss", "target_text")
FINISHED = ("completed", "diverged")


def find_runs(paths) -> list[Path]:
    """Every run folder at or below each path (a folder holding summary.json and config.yaml)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise RnnInitError(f"{p}: no such folder")
        if not p.is_dir():
            raise RnnInitError(f"{p}: not a folder")
        if is_run_dir(p):
            found.append(p)
            continue
        for here, dirs, _files in os.walk(p):
            dirs.sort()
            for d in list(dirs):
                if is_run_dir(Path(here) / d):
                    found.append(Path(here) / d)
                    dirs.remove(d)  # a run folder holds no runs
    unique = list(dict.fromkeys(found))
    if not unique:
        raise RnnInitError(f"{', '.join(map(str, paths))}: no run folders below "
                           f"(a run folder holds summary.json and config.yaml)")  # fmt: skip
    return unique


def init_text(init) -> str:
    """An init as one line: 'xavier', or 'Whh=orthogonal,default=xavier' for a mapping."""
    if not isinstance(init, dict):
        return str(init)
    parts = []
    for k, v in init.items():
        if isinstance(v, dict):
            v = f"{v.get('scheme', '')}:{v['gain']}" if "gain" in v else v.get("scheme", "")
        parts.append(f"{k}={v}")
    return ",".join(parts)


def config_values(cfg: dict) -> dict:
    """Dotted key -> value of a run's config: every schema key (its default where a folder
    written before the key existed lacks it), init as one line of text, and init.<param> as the
    scheme each of the cell's parameters resolved to (with :gain when not 1)."""
    from ..core.initspec import parse_init

    values = {"init": init_text(cfg.get("init"))}
    for key in SCHEMA:
        if key not in LABELS and key != "init":
            try:
                values[key] = get(cfg, key)
            except KeyError:
                values[key] = SCHEMA[key].default
            except TypeError:
                values[key] = None
    try:
        spec = parse_init(cfg.get("init"), where="init", cell=values["model.cell"])
        for m, (scheme, gain) in [*spec.per_param.items(), *spec.per_gate.items()]:
            values[f"init.{m}"] = scheme if gain == 1 else f"{scheme}:{gain:g}"
            if spec.args.get(m) is not None:  # a gate bias's T_max or V
                values[f"init.{m}"] += f":{spec.args[m]:g}"
        values["init.spectral_radius"] = spec.spectral_radius
    except (RnnInitError, TypeError, ValueError):
        pass
    return values


def _step0(rows: list[dict]) -> dict:
    """act_var and grad_var at the first and the last t of step 0 (None when not recorded)."""
    mine = sorted((r for r in rows if r.get("step") == 0), key=lambda r: r["t"])
    if not mine:
        return {k: None for k in STEP0} | {"T": None}
    first, last = mine[0], mine[-1]
    return {"act_var_t1": first.get("act_var"), "act_var_tT": last.get("act_var"),
            "grad_var_t1": first.get("grad_var"), "grad_var_tT": last.get("grad_var"),
            "T": last["t"]}  # fmt: skip


def load_record(run_dir: Path, label: str | None = None) -> dict:
    """One run folder as a flat record: outcome, step-0 statistics and config values."""
    rec = {"run": label or str(run_dir), "dir": str(run_dir)}
    try:
        s = read_summary(run_dir)
        rec["status"] = effective_status(s)
    except RnnInitError as e:
        s, rec["status"], rec["error"] = {}, "unreadable", str(e)
    for k in (*LOSSES, *OUTCOME, "steps_to_target", "diverged_at", "steps_done", "steps",
              "seconds"):  # fmt: skip
        rec[k] = s.get(k)
    rec.setdefault("error", s.get("error"))
    rec.update(_step0(read_csv(run_dir / "timesteps.csv")))
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        cfg = {}
    rec["values"] = config_values(cfg if isinstance(cfg, dict) else {})
    return rec


def _same(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def varied_keys(records: list[dict]) -> list[str]:
    """Config keys whose values differ between the records: init first, seed last."""
    keys = ["init", *(k for k in SCHEMA if k not in (*LABELS, "init", "seed")), "seed"]
    return [k for k in keys if len({_same(r["values"].get(k)) for r in records}) > 1]


def _sort_key(value):
    """Numbers in numeric order before text; None last."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0, _same(value))


def summarize(paths, by: list[str] | None = None) -> dict:
    """Read every run folder below `paths` and, with `by`, group them (mean ± population std
    per group).

    Returns:
        {"records": one flat dict per run, "varied": the keys that differ between runs,
        "by": the grouping keys, "groups": one dict per group or None, "pooled": varied keys
        (other than seed) that take several values inside one group}.
    """
    paths = [Path(p) for p in paths]
    records = []
    for d in find_runs(paths):
        base = next((p for p in paths if d == p or p in d.parents), None)
        label = str(d.relative_to(base)) if base is not None and d != base else str(d)
        records.append(load_record(d, label))
    return report_for(records, by)


def report_for(records: list[dict], by=None, varied=None, sort: bool = True) -> dict:
    """The summary report of records already read (see ``summarize``); sorted by the varied
    keys' values unless told to keep the order given."""
    varied = list(varied) if varied is not None else varied_keys(records)
    if sort:
        records.sort(key=lambda r: ([_sort_key(r["values"].get(k)) for k in varied], r["run"]))
    report = {"records": records, "varied": varied, "by": list(by or []), "groups": None,
              "pooled": []}  # fmt: skip
    if by:
        report["groups"], report["pooled"] = group(records, by, varied)
    return report


def check_keys(records: list[dict], keys: list[str], option: str) -> None:
    known = sorted({k for r in records for k in r["values"]})
    for key in keys:
        if key not in known:
            raise RnnInitError(f"{option}: {key}: not a config key of these runs"
                               f"{suggest(key, known)}")  # fmt: skip


def check_varied(report: dict, keys: list[str], option: str) -> None:
    """Each of `keys` is a config key of these runs (check_keys) that takes more than one value
    among them: a plot along a key that does not vary has nothing to draw along it."""
    check_keys(report["records"], keys, option)
    for key in keys:
        if key not in report["varied"]:
            raise RnnInitError(f"{option}: {key}: takes one value in these runs; varied keys: "
                               f"{', '.join(report['varied']) or 'none'}")  # fmt: skip


def sorted_values(records: list[dict], key: str) -> list:
    """The distinct values of `key` among the records, in sorted order (numbers numerically)."""
    seen = {_same(r["values"].get(key)) for r in records}
    return [json.loads(t) for t in sorted(seen, key=lambda t: _sort_key(json.loads(t)))]


def loss_column(finished: list[dict]) -> str:
    """The loss a plot of these runs draws: the validation loss if every one has it, else the
    training loss (one column for all, so that no two points mix them)."""
    if finished and all(r["final_val_loss"] is not None for r in finished):
        return "final_val_loss"
    return "final_loss"


def target_median(finished: list[dict]) -> tuple[int, float | None]:
    """(runs that reached the target, Kaplan-Meier median of the steps to it): a run that never
    reached it is censored at its last step (a diverged run at its divergence), never averaged
    as if it had arrived; the median is None when fewer than half got there."""
    reached = [m["steps_to_target"] is not None for m in finished]
    times = [m["steps_to_target"] if hit else (m.get("diverged_at") if m["status"] == "diverged"
             else m.get("steps_done")) or 0 for m, hit in zip(finished, reached)]  # fmt: skip
    return sum(reached), km_median(times, reached)


def group(records: list[dict], by: list[str], varied: list[str]) -> tuple[list[dict], list[str]]:
    """One row per distinct value of the `by` keys; losses averaged over finished runs
    (completed or diverged), step-0 statistics over every run that recorded them."""
    check_keys(records, by, "--by")
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(_same([r["values"].get(k) for k in by]), []).append(r)
    rows, pooled = [], set()
    for members in groups.values():
        row = {k: members[0]["values"].get(k) for k in by}
        statuses = Counter(m["status"] for m in members)
        row.update(n=len(members), **{s: statuses.get(s, 0) for s in ("completed", "diverged",
                                                                         "failed")})  # fmt: skip
        row["other"] = len(members) - row["completed"] - row["diverged"] - row["failed"]
        finished = [m for m in members if m["status"] in FINISHED]
        for col in (*LOSSES, *STEP0):
            pool = members if col in STEP0 else finished
            row[f"{col}_mean"], row[f"{col}_std"], _ = mean_std(m[col] for m in pool)
        row["reached_target"], row["steps_to_target_median"] = target_median(finished)
        rows.append(row)
        for k in varied:
            if (
                k not in by
                and k != "seed"
                and len({_same(m["values"].get(k)) for m in members}) > 1
            ):
                pooled.add(k)
    rows.sort(key=lambda row: [_sort_key(row[k]) for k in by])
    return rows, [k for k in varied if k in pooled]


# ---------------------------------------------------------------------------------------------
# Flat rows for --csv and --json, and the plot.
# ---------------------------------------------------------------------------------------------
RUN_COLUMNS = ("run", "status", *METRICS, "T", "diverged_at", "steps_done", "seconds", "error")


def table_rows(report: dict) -> list[dict]:
    """The rows --csv and --json write: one per group with --by, else one per run."""
    if report["groups"] is not None:
        return [dict(g) for g in report["groups"]]
    return [{**{c: r.get(c) for c in RUN_COLUMNS}, **{k: r["values"].get(k) for k in report["varied"]}}
            for r in report["records"]]  # fmt: skip


def json_text(report: dict) -> str:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    out = {"varied": report["varied"], "by": report["by"], "pooled": report["pooled"],
           "runs": [{k: clean(v) for k, v in r.items()} for r in table_rows({**report, "groups": None})]}  # fmt: skip
    if report["groups"] is not None:
        out["groups"] = [{k: clean(v) for k, v in g.items()} for g in report["groups"]]
    return json.dumps(out, indent=2, default=str) + "\n"


def plot_final_loss(report: dict, key: str, path) -> Path:
    """Final loss (validation if every run has one, else training) against `key`, a line per
    init with mean ± population std over the runs at each point (seeds). Written atomically as
    PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = report["records"]
    check_keys(records, [key], "--plot")
    if key == "init":
        raise RnnInitError("--plot: init: the plot draws a line per init; name another key")
    check_varied(report, [key], "--plot")
    finished = [r for r in records if r["status"] in FINISHED]
    metric = loss_column(finished)
    xvals = sorted_values(finished, key)
    xs = [_same(v) for v in xvals]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xvals)
    fig = Figure(figsize=(7.0, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lines: dict[str, dict[str, list[float]]] = {}
    for r in finished:
        lines.setdefault(r["values"]["init"], {}).setdefault(
            _same(r["values"].get(key)), []
        ).append(r[metric])
    for label in sorted(lines):
        pts = [(i, *mean_std(lines[label].get(t, []))[:2]) for i, t in enumerate(xs)]
        pts = [(xvals[i] if numeric else i, m, s) for i, m, s in pts if m is not None]
        if pts:
            x, m, s = zip(*pts)
            ax.errorbar(x, m, yerr=s, marker="o", capsize=3, label=label)
    if numeric and xvals and min(xvals) > 0 and max(xvals) / min(xvals) >= 8:
        ax.set_xscale("log", base=2)  # widths 32..512: equal steps for each doubling
    if numeric and len(xvals) <= 12:
        ax.set_xticks(xvals, [str(v) for v in xvals])
    elif not numeric:
        ax.set_xticks(range(len(xvals)), [str(v) for v in xvals])
    ax.set_xlabel(key)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{metric.replace('_', ' ')} vs {key} (mean ± population std over runs)",
                 fontsize=10)  # fmt: skip
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(title="init", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda f: fig.canvas.print_png(f))
    return path
