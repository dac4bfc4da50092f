"""A compare folder read back (issue 3): every number of the report, rebuilt from its run
folders alone, so that `rnninit show` works on a compare folder exactly as on the day it ran;
and the files made from them: compare.csv, compare.json's results and the overlay plots.
"""

from __future__ import annotations

import json
import math
import shlex
import warnings
from pathlib import Path

import numpy as np

from ..core.stats import (
    first_step_at_or_above,
    first_steps_at_or_below,
    km_median,
    mean_std,
    timesteps_at,
)
from ..errors import RnnInitError
from .arms import describe
from .runs import is_run_dir, read_csv, read_summary, write_json
from .snapshots import UNITS_NPZ, load_units

SUMMARY_COLUMNS = ("final_loss", "best_loss", "final_val_loss", "best_val_loss",
                   "final_val_acc", "best_val_acc", "spectral_radius", "max_singular", "saturation_T", "seconds")  # fmt: skip
# The loss ladder: levels as fractions of chance, those above the target kept, then the target,
# so that a compare says where the inits part even when one of them never reaches the target;
# then, when the runs have a train.target_acc, one accuracy rung.
LADDER = (0.9, 0.75, 0.6)


# ---------------------------------------------------------------------------------------------
# Reading a compare folder back and aggregating across seeds
# ---------------------------------------------------------------------------------------------
def is_compare_dir(path) -> bool:
    return (Path(path) / "compare.json").is_file()


def _seed_mean_timesteps(tables: list[dict]) -> dict[str, np.ndarray]:
    """Per-timestep statistics averaged across seeds (all seeds share T)."""
    out = {"t": tables[0]["t"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no theory) stay NaN
        for k in tables[0]:
            if k != "t":
                out[k] = np.nanmean(np.stack([tb[k] for tb in tables]), axis=0)
    return out


def _run_record(run_dir: Path) -> dict:
    summary = read_summary(run_dir)
    ts_rows = read_csv(run_dir / "timesteps.csv")
    steps = sorted({r["step"] for r in ts_rows})
    step0 = timesteps_at(ts_rows, steps[0]) if steps else None
    last = timesteps_at(ts_rows, steps[-1]) if steps else None
    metrics = read_csv(run_dir / "metrics.csv")
    summary["saturation_T"] = float(step0["saturation"][-1]) if step0 is not None else None
    return {"summary": summary, "step0": step0, "last": last, "last_step": steps[-1] if steps else None,
            "metrics": metrics}  # fmt: skip


def read_meta(root: Path) -> dict:
    """compare.json as written (RnnInitError when it cannot be read)."""
    path = Path(root) / "compare.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RnnInitError(f"{path}: unreadable ({e.msg} at line {e.lineno})") from None


def load_compare(root) -> dict:
    """Everything the compare report shows, rebuilt from the compare folder's run folders
    (the loss ladder from each run's metrics.csv, so that older compare folders show it too)."""
    root = Path(root)
    meta = read_meta(root)
    meta.pop("results", None)  # written from this report: rebuilt, never read back
    report = {"dir": str(root), "meta": meta, "inits": {}, "rungs": []}
    for spec, label in zip(meta["inits"], meta["labels"]):
        runs = [root / name for name in meta["runs"].get(label, []) if is_run_dir(root / name)]
        records = [rec for rec in map(_run_record, runs) if rec["step0"] is not None]
        if not records:  # none, or stopped before its first step: nothing to show
            continue
        if not report["inits"]:  # every init is measured against the same levels
            report["rungs"] = _summary_rungs(records[0]["summary"])
        report["inits"][label] = aggregate(spec, records, report["rungs"])
    _speedups(report)
    first = next(iter(report["inits"].values()), None)
    report["task"] = first["runs"][0]["summary"] if first else {}
    return report


def ladder_rungs(
    chance: float | None, target: float | None, target_acc: float | None = None
) -> list[dict]:
    """The levels a compare reports steps to: the LADDER's fractions of chance that lie above
    the target loss, then the target loss (kind "loss": read on the smoothed training loss),
    then the target accuracy when there is one (kind "acc": read on the validation accuracy at
    the evaluation steps). Each: rung (a column-safe key), kind, fraction (None for a target),
    text."""
    rungs = []
    for f in LADDER if chance else ():
        if target is None or f * chance > target:
            rungs.append({"rung": f"chance{round(100 * f)}", "kind": "loss", "fraction": f,
                          "text": f"{f:.0%} of chance"})  # fmt: skip
    if target is not None:
        rungs.append({"rung": "target", "kind": "loss", "fraction": None, "text": "the target"})
    if target_acc is not None:
        rungs.append({"rung": "target_acc", "kind": "acc", "fraction": None,
                      "text": "the target accuracy"})  # fmt: skip
    return rungs


def _summary_rungs(summary: dict) -> list[dict]:
    """The ladder of a run's summary: its chance, target loss and (newer runs) target accuracy."""
    return ladder_rungs(
        summary.get("chance"), summary.get("target_loss"), summary.get("target_acc")
    )


def aggregate(spec: str, records: list[dict], rungs: list[dict] | None = None) -> dict:
    """Mean ± population std across seeds of the summary columns, seed-mean per-timestep
    tables, and the loss ladder (steps to each rung, censored; `ladder`). `rungs`: those of
    `ladder_rungs`, by default from the first seed's chance and target."""
    summaries = [r["summary"] for r in records]
    agg = {"spec": spec, "runs": records, "n": len(records)}
    first = summaries[0]  # every seed of an arm draws with the same schemes
    agg["resolved"] = describe(first.get("init", {}), first.get("spectral_radius_target"))
    for col in SUMMARY_COLUMNS:
        agg[col] = mean_std(s.get(col) for s in summaries)
    agg["status"] = [s["status"] for s in summaries]
    agg["diverged_at"] = [s.get("diverged_at") for s in summaries if s["status"] == "diverged"]
    agg["diverged_tensor"] = [
        s.get("diverged_tensor") for s in summaries if s["status"] == "diverged"
    ]
    agg["step0"] = _seed_mean_timesteps([r["step0"] for r in records if r["step0"] is not None])
    # the last table: the latest statistics step of any seed, averaged over the seeds that got
    # there (a seed that diverged or stopped earlier has no numbers for that step)
    with_last = [r for r in records if r["last"] is not None]
    agg["last_step"] = max((r["last_step"] for r in with_last), default=None)
    lasts = [r["last"] for r in with_last if r["last_step"] == agg["last_step"]]
    agg["last"] = _seed_mean_timesteps(lasts) if lasts else None
    agg["last_n"] = len(lasts)
    agg["loss_curve"] = _loss_band(records)
    if rungs is None:
        rungs = _summary_rungs(first)
    agg["ladder"] = [_rung(rung, records) for rung in rungs]
    return agg


def _level(rung: dict, summary: dict) -> float | None:
    """A rung's level for one run: its target accuracy, its target loss, or a fraction of its
    chance."""
    if rung["kind"] == "acc":
        return summary.get("target_acc")
    if rung["fraction"] is None:
        return summary.get("target_loss")
    return rung["fraction"] * summary["chance"]


def _first_step(rung: dict, rows: list[dict], level: float) -> int | None:
    """One run's first step at a level: the smoothed training loss at or below a loss level;
    the validation accuracy of an evaluation step at or above an accuracy level."""
    steps = [r["step"] for r in rows]
    if rung["kind"] == "acc":
        return first_step_at_or_above(steps, [r.get("val_acc") for r in rows], level)
    (step,) = first_steps_at_or_below(steps, [r["loss"] for r in rows], [level])
    return step


def _rung(rung: dict, records: list[dict]) -> dict:
    """One level across the seeds of an init: each seed's first step there (`_first_step`), or
    the step it was censored at (its last row of metrics.csv: the end, the interruption, or the
    step it diverged at); how many got there; the Kaplan-Meier median (None: fewer than half
    got there, the median is unknown). `level`: the first seed's (every arm runs to the same
    targets)."""
    steps, arrived = [], []
    for rec in records:
        rows = rec["metrics"]
        step = _first_step(rung, rows, _level(rung, rec["summary"]))
        arrived.append(step is not None)
        steps.append(step if step is not None else (rows[-1]["step"] if rows else 0))
    return {**rung, "level": _level(rung, records[0]["summary"]), "steps": steps,
            "arrived": arrived, "reached": sum(arrived), "n": len(records),
            "median": km_median(steps, arrived), "speedup": None}  # fmt: skip


def _loss_band(records: list[dict]) -> dict:
    """Validation loss (mean ± population std across seeds) at the evaluated steps; train loss
    if none."""
    key = (
        "val_loss"
        if any(r.get("val_loss") is not None for rec in records for r in rec["metrics"])
        else "loss"
    )
    by_step: dict[int, list[float]] = {}
    for rec in records:
        for r in rec["metrics"]:
            if r.get(key) is not None and math.isfinite(float(r[key])):
                by_step.setdefault(r["step"], []).append(float(r[key]))
    steps = sorted(by_step)
    stats = [mean_std(by_step[s]) for s in steps]
    return {"step": np.array(steps), "mean": np.array([m for m, _, _ in stats]),
            "std": np.array([sd for _, sd, _ in stats]), "kind": key}  # fmt: skip


def _speedups(report: dict) -> None:
    """At each rung, each init's speed-up: the median steps of the slowest init that has a
    median, over its own. Only between medians: an init without one (fewer than half its seeds
    got there) has no speed-up and none is taken against it, and a rung where fewer than two
    inits have a median has none at all. Never a bound from the run length."""
    aggs = list(report["inits"].values())
    for i in range(len(report["rungs"])):
        medians = [a["ladder"][i]["median"] for a in aggs]
        known = [m for m in medians if m is not None]
        for agg, m in zip(aggs, medians):
            ok = len(known) >= 2 and m is not None and m > 0
            agg["ladder"][i]["speedup"] = max(known) / m if ok else None


# ---------------------------------------------------------------------------------------------
# Files of a compare folder: compare.csv and the overlay plots
# ---------------------------------------------------------------------------------------------
def compare_rows(report: dict) -> list[dict]:
    rows = []
    for label, agg in report["inits"].items():
        row = {"init": label, "spec": agg["spec"], "seeds": agg["n"],
               "completed": agg["status"].count("completed"),
               "diverged": agg["status"].count("diverged")}  # fmt: skip
        for rung in agg["ladder"]:  # level, seeds that got there, censored median, speed-up
            key = rung["rung"]
            row[f"level_{key}"], row[f"reached_{key}"] = rung["level"], rung["reached"]
            row[f"steps_to_{key}_median"], row[f"speedup_{key}"] = rung["median"], rung["speedup"]
        row.update(_arm_columns(report.get("meta", {}), label))
        for key, text in agg["resolved"].items():  # what the arm resolved to, per matrix
            row[f"init_{key}"] = text
        for col in SUMMARY_COLUMNS:
            mean, std, _ = agg[col]
            row[f"{col}_mean"], row[f"{col}_std"] = mean, std
        rows.append(row)
    return rows


def compare_results(report: dict) -> dict:
    """The ladder of every init for compare.json: per rung its kind and level (under the key
    "loss" or "acc", which says what it is), each seed's step (first there, or censored there),
    how many got there, the median and the speed-up."""
    keep = ("rung", "kind", "text", "reached", "n", "median", "speedup", "steps", "arrived")
    return {
        "rule": "steps to a loss level: the first step whose EMA (0.9) of the training loss is "
        "at or below it; steps to the accuracy level (rung target_acc, train.target_acc): the "
        "first evaluation step whose validation accuracy (top-1, not smoothed) is at or above "
        "it; a seed that never got there is censored at its last step (a diverged one at its "
        "divergence step); median: Kaplan-Meier, null when fewer than half got there; speedup: "
        "the slowest median over this one, only between medians",
        "inits": {
            label: [{**{k: rung[k] for k in keep}, rung["kind"]: rung["level"]}
                    for rung in agg["ladder"]]
            for label, agg in report["inits"].items()
        },
    }  # fmt: skip


def _arm_columns(meta: dict, label: str) -> dict:
    """compare.csv's columns of what an arm set: its overrides, and the learning rate the grid
    chose (when there was one)."""
    out = {"overrides": shlex.join(meta.get("arm_overrides", {}).get(label, []))}  # as typed
    if "lr_chosen" in meta:
        out["lr_chosen"] = meta["lr_chosen"].get(label)
    return out


def write_compare_outputs(root: Path, report: dict, draw=None) -> None:
    """compare.csv, compare.json's results, the overlay plots and report.html, from `report`.

    draw: runs a list of plot calls, each (function, args, kwargs), and returns once every
    figure is written, raising what a call raised: a worker pool's ``call_all``, so that the
    figures are drawn in parallel by processes that have matplotlib loaded already. None: here,
    one after another. The figures are the same either way; report.html comes after them.
    """
    from .reports import write_compare_report
    from .runs import write_csv

    rows = compare_rows(report)
    if rows:
        write_csv(root / "compare.csv", rows)
    write_json(root / "compare.json", {**report["meta"], "results": compare_results(report)})
    (root / "plots").mkdir(exist_ok=True)
    (draw or _draw_here)(_plot_calls(root, report))
    write_compare_report(root, report)  # report.html, from the files just written


def _draw_here(calls) -> None:
    for function, args, kwargs in calls:
        function(*args, **kwargs)


def _plot_calls(root: Path, report: dict) -> list[tuple]:
    """The compare's overlay plots as calls (function, args, kwargs) of rnninit.report.plots,
    on plain data (picklable: a worker process may draw them)."""
    from ..report import plots

    pdir, calls = root / "plots", []
    # one validation sequence unit by unit, the first seed of each arm (the same sequence in
    # all); the slowest figure first, so that in a pool the others fill in beside it
    units = {label: load_units(root / names[0] / UNITS_NPZ)
             for label, names in report["meta"]["runs"].items() if names}  # fmt: skip
    units = {label: u for label, u in units.items() if u}
    if units:
        calls.append((plots.unit_heatmaps, (units, pdir / "units.png"),
                      {"title": "the first validation sequence unit by unit, the first seed of "
                                "each arm; one colour scale per quantity"}))  # fmt: skip
    n = max((a["n"] for a in report["inits"].values()), default=1)
    over = f", mean over {n} seeds" if n > 1 else ""
    for col in ("act_var", "grad_var", "jac_sq"):
        curves = {}
        for label, agg in report["inits"].items():
            ts = agg["step0"]
            curve = {"t": ts["t"], "value": ts[col]}
            theory = ts.get(f"theory_{col}")  # act_var and jac_sq have one
            if theory is not None and np.isfinite(theory).any():
                curve["theory"] = theory
            seeds = [r["step0"][col] for r in agg["runs"] if r["step0"] is not None]
            if len(seeds) > 1:  # the spread across seeds, beside their mean
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN t stays NaN
                    curve["band"] = (np.nanmin(seeds, axis=0), np.nanmax(seeds, axis=0))
            curves[label] = curve
        calls.append((plots.compare_timesteps, (curves, col, pdir / f"{col}_step0.png"),
                      {"title": f"{col} at step 0{over}",
                       "band_text": f"band: min to max over {n} seeds"}))  # fmt: skip
    task = report.get("task", {})
    bands = {k: a["loss_curve"] for k, a in report["inits"].items()}
    kind = "training" if any(b["kind"] == "loss" for b in bands.values()) else "validation"
    calls.append((plots.compare_loss, (bands, pdir / "loss.png"),
                  {"chance": task.get("chance"), "target": task.get("target_loss"),
                   "title": f"{kind} loss, mean ± population std across seeds"}))  # fmt: skip
    return calls
