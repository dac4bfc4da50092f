"""A metric over two varied keys as a heatmap, one panel per value of a third (issue 14).

`rnninit summarize DIR --plot KEY1,KEY2 --metric M` reads the run folders (summarize.py), puts
each finished run (completed or diverged) in the cell of its two values and its panel, and hands
plain arrays to report/heatmap.py. The runs in one cell differ in their seed alone: a fourth key
that varies would be pooled unseen, so it is refused rather than averaged over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..core.names import suggest
from ..core.stats import mean_std
from ..errors import RnnInitError
from .summarize import (
    FINISHED,
    _same,
    check_varied,
    loss_column,
    sorted_values,
    target_median,
)


@dataclass(frozen=True)
class Metric:
    help: str  # what --help says
    better: str  # "low" or "high": the colour map puts the better end bright


METRICS = {
    "final_loss": Metric(
        "final loss, validation if every run has one, else training; mean over seeds", "low"
    ),
    "relative_loss": Metric(
        "that final loss over the task's chance baseline (char: log V; copy: one that "
        "depends on T), comparable across tasks; mean over seeds",
        "low",
    ),
    "final_val_acc": Metric(
        "final validation accuracy (tasks with classes); mean over seeds", "high"
    ),
    "reached": Metric("share of the seeds whose smoothed training loss reached the target", "high"),
    "steps_to_target": Metric(
        "Kaplan-Meier median over seeds of the steps to the target; "
        "'not reached' when fewer than half got there",
        "low",
    ),
}


def parse_plot_keys(text: str) -> list[str]:
    """--plot's value as one key (the line plot) or two distinct keys (the heatmap)."""
    keys = [k.strip() for k in text.split(",")]
    if not 1 <= len(keys) <= 2 or not all(keys):
        raise RnnInitError(f"--plot: expected one key or two comma-separated keys, got {text!r}")
    if len(keys) == 2 and keys[0] == keys[1]:
        raise RnnInitError(f"--plot: {keys[0]} is named twice; name two different keys")
    return keys


def check_metric(metric: str) -> Metric:
    if metric not in METRICS:
        raise RnnInitError(f"--metric: {metric}: unknown; choose one of {', '.join(METRICS)}"
                           f"{suggest(metric, METRICS)}")  # fmt: skip
    return METRICS[metric]


def place_keys(report: dict, keys: list[str]) -> str | None:
    """The panel key: the one varied key besides the two axes and the seed (None if none).
    Refuses an axis key that is not varied, and a fourth varied key (it would be pooled)."""
    varied = report["varied"]
    check_varied(report, keys, "--plot")
    rest = [k for k in varied if k not in keys and k != "seed"]
    if len(rest) > 1:
        raise RnnInitError(f"--plot: {len(rest) + 2} keys vary besides the seed "
                           f"({', '.join([*keys, *rest])}); a heatmap places three (two axes and "
                           f"a panel per value of the third): summarize a subset of the folders")  # fmt: skip
    return rest[0] if rest else None


def map_data(report: dict, keys: list[str], metric: str = "final_loss") -> dict:
    """The heatmap of `metric` over two varied keys, as plain data for report.heatmap.

    Args:
        report: summarize's report (its records and varied keys).
        keys: [x key, y key]: x along the columns, y along the rows, values in sorted order.
        metric: a name in METRICS.

    Returns:
        {"x_key", "y_key", "x", "y" (the values as text), "panel_key" (or None), "panels":
        [{"title", "value": ny x nx floats (NaN: no finished run or not reached), "text":
        ny x nx annotations, "n": finished runs per cell, "hatched": not reached (censored),
        "empty": no finished run}], "label" (the colour bar's), "title", "better",
        "vmin", "vmax" (fixed ends or None), "hatch_label"}.
    """
    spec = check_metric(metric)
    panel_key = place_keys(report, keys)
    finished = [r for r in report["records"] if r["status"] in FINISHED]
    if not finished:
        raise RnnInitError("--plot: no run has finished (completed or diverged) yet")
    x_key, y_key = keys
    xs, ys = sorted_values(finished, x_key), sorted_values(finished, y_key)
    panels = sorted_values(finished, panel_key) if panel_key else [None]
    cells: dict[tuple, list[dict]] = {}
    for r in finished:
        at = tuple(_same(r["values"].get(k)) if k else "null" for k in (panel_key, y_key, x_key))
        cells.setdefault(at, []).append(r)
    loss = loss_column(finished)
    if metric == "final_val_acc" and all(r.get("final_val_acc") is None for r in finished):
        raise RnnInitError("--metric final_val_acc: no run recorded an accuracy (the task has "
                           "no classes); try final_loss")  # fmt: skip
    out_panels = [_panel(metric, loss, cells, panel_key, p, xs, ys) for p in panels]
    counts = {c for pan in out_panels for row in pan["n"] for c in row if c}
    if len(counts) > 1 and metric not in ("reached", "steps_to_target"):  # those say k/n
        for pan in out_panels:  # say in each cell how many seeds it holds
            pan["text"] = [[f"{t}\nn={n}" if n else t for t, n in zip(tr, nr)]
                           for tr, nr in zip(pan["text"], pan["n"])]  # fmt: skip
    one = counts.pop() if len(counts) == 1 else None
    seeds = f"{one} seed{'s' * (one != 1)}" if one else "the seeds of each cell (n)"
    fixed = (0.0, 1.0) if metric in ("reached", "final_val_acc") else (None, None)
    return {"x_key": x_key, "y_key": y_key, "x": [_fmt(v) for v in xs],
            "y": [_fmt(v) for v in ys], "panel_key": panel_key, "panels": out_panels,
            "label": _label(metric, loss, finished), "better": spec.better,
            "title": _title(metric, loss, finished, seeds, keys), "vmin": fixed[0],
            "vmax": fixed[1], "hatch_label": "not reached: fewer than half of the seeds got "
            "to the target (each censored at its last step, no number drawn)"}  # fmt: skip


def plot_map(report: dict, keys: list[str], metric: str, path) -> Path:
    """Draw map_data(report, keys, metric) to `path` (PNG, written atomically)."""
    from ..report.heatmap import metric_heatmap

    path = Path(path)
    metric_heatmap(map_data(report, keys, metric), path)
    return path


def _panel(metric, loss, cells, panel_key, value, xs, ys) -> dict:
    """One panel's cells as (ny, nx) lists of each field, rows in the order of ys."""
    rows = [[_cell(metric, loss, cells.get((_same(value), _same(y), _same(x)), []))
             for x in xs] for y in ys]  # fmt: skip
    fields = ("value", "text", "n", "hatched", "empty")
    return {"title": f"{panel_key} = {_fmt(value)}" if panel_key else "",
            **{f: [[c[f] for c in row] for row in rows] for f in fields}}  # fmt: skip


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(metric: str, loss: str, runs: list[dict]) -> dict:
    """One cell: its value (NaN where there is none to draw), annotation, count and flags."""
    cell = {"value": math.nan, "text": "", "n": len(runs), "hatched": False, "empty": not runs}
    if not runs:
        cell["text"] = "no runs"
        return cell
    if metric in ("reached", "steps_to_target"):
        k, median = target_median(runs)
        if metric == "reached":
            cell.update(value=k / len(runs), text=f"{k}/{len(runs)}")
        elif median is None:
            cell.update(hatched=True, text=f"not reached\n{k}/{len(runs)}")
        else:
            cell.update(value=float(median), text=f"{median:g}\n{k}/{len(runs)}")
        return cell
    if metric == "relative_loss":
        vals = [r[loss] / r["chance"] for r in runs if r[loss] is not None and r.get("chance")]
    else:
        vals = [r[metric if metric == "final_val_acc" else loss] for r in runs]
    mean, _, n = mean_std(vals)
    if mean is None:
        cell["text"] = "no finite value"
        return cell
    text = f"{mean:.0%}" if metric == "final_val_acc" else f"{mean:#.3g}"  # 3.10, not 3.1
    if n < len(runs):  # a diverged run's loss that is NaN or inf: left out, and said so
        text += f"\n({n} of {len(runs)})"
    cell.update(value=mean, text=text)
    return cell


def _target_text(finished: list[dict]) -> str:
    """The target every run had ('2.80 (task default: ...)'), or a range when they differ."""
    targets = {(r.get("target_loss"), r.get("target_text")) for r in finished}
    if len(targets) == 1:
        value, text = targets.pop()
        return f"{value:.4g}" + (f" ({text})" if text else "") if value is not None else "none set"
    values = sorted(v for v, _ in targets if v is not None)
    return f"each run's own, {values[0]:.3g} to {values[-1]:.3g}" if values else "none set"


def _label(metric: str, loss: str, finished: list[dict]) -> str:
    """The colour bar's label: what the number is, from which loss, over what."""
    which = "validation" if loss == "final_val_loss" else "training"
    if metric == "final_loss":
        return f"final {which} loss, mean over seeds"
    if metric == "relative_loss":
        chances = {round(r["chance"], 4) for r in finished if r.get("chance")}
        base = f"chance {chances.pop():.3g}" if len(chances) == 1 else "each run's chance"
        return f"final {which} loss / {base}, mean over seeds"
    if metric == "final_val_acc":
        return "final validation accuracy (top-1), mean over seeds"
    if metric == "reached":
        return "share of seeds whose smoothed training loss (EMA 0.9) reached the target"
    return "steps until the smoothed training loss (EMA 0.9) reached the target, median over seeds"


def _title(metric: str, loss: str, finished: list[dict], seeds: str, keys: list[str]) -> str:
    steps = {r["values"].get("train.steps") for r in finished}
    n_steps = steps.pop() if len(steps) == 1 else None
    when = f"after {n_steps} steps" if n_steps else "at the end of each run"
    within = f"within {n_steps} steps" if n_steps else "within each run's steps"
    which = "validation" if loss == "final_val_loss" else "training"
    target = _target_text(finished)
    what = {
        "final_loss": f"final {which} loss {when}, mean over {seeds}",
        "relative_loss": f"final {which} loss / chance {when}, mean over {seeds}",
        "final_val_acc": f"validation accuracy {when}, mean over {seeds}",
        "reached": f"share of the seeds that reached the target {target} {within} (k/n: of "
                   f"{seeds}, k got there)",
        "steps_to_target": f"steps to the target {target}: Kaplan-Meier median over {seeds} "
                           f"(k/n: k got there; a run that never did is censored at its last "
                           f"step)",
    }[metric]  # fmt: skip
    return f"{what}\nby {keys[0]} (x) and {keys[1]} (y)"
