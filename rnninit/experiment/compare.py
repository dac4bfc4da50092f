"""Side-by-side comparison of initialisations (issue 3): same data, same seed, only the init differs.

`compare` runs one full run folder per (init, seed) inside one compare folder, then
`load_compare` rebuilds every number of the report from those folders alone, so that
`rnninit show` works on a compare folder exactly as on the day it ran.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from pathlib import Path

import numpy as np

from ..core.inits import parse_init
from ..core.stats import mean_std, timesteps_at
from ..errors import RnnInitError
from ..fileio import atomic_write_text
from .arms import arm_text, check_init_overrides, describe, resolve_arm, resolved_record
from .config import Config, dump_config, validate
from .runs import (
    create_run_dir,
    is_run_dir,
    read_csv,
    read_summary,
    write_json,
)
from .training import Reporter, prepare, train

SUMMARY_COLUMNS = ("final_loss", "best_loss", "final_val_loss", "best_val_loss", "steps_to_target",
                   "spectral_radius", "max_singular", "saturation_T", "seconds")  # fmt: skip


def init_label(spec: str) -> str:
    """A folder-safe label for an init spec: 'Whh=orthogonal,Wxh=xavier' -> 'Whh-orthogonal_Wxh-xavier'."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.replace("=", "-").replace(",", "_"))
    return label.strip("._")[:48] or "init"


def _check_inits(inits: list, cell: str) -> tuple[list[str], list[str]]:
    """The arms as text (a mapping becomes 'Whh=identity,...'), checked, and their labels."""
    if not inits:
        raise RnnInitError("compare: name at least one init, e.g. `rnninit compare xavier uniform`")
    texts = []
    for i, arm in enumerate(inits):
        parse_init(arm, where=f"compare init #{i + 1} '{arm}'", cell=cell)
        texts.append(arm_text(arm))
    labels = [init_label(s) for s in texts]
    if len(set(labels)) != len(labels):
        raise RnnInitError(f"compare: the same init is named twice in {' '.join(texts)}")
    return texts, labels


def resolve_inits(config: Config | dict, inits: list, overrides=()) -> dict[str, tuple]:
    """What `compare` will run, checked, with no run and no file: label -> (arm, init).

    Args:
        config: the base config; inits and overrides as `compare` takes them.

    Returns:
        For each arm, its label -> (the arm as text, the init it runs with: a scheme or preset
        name, or an explicit mapping of every matrix; see experiment.arms).

    Raises:
        RnnInitError: a bad or repeated arm, two arms that resolve to the same init, or an
            `init...` override that the arms would drop.
    """
    base = validate(config, source="config")
    texts, labels = _check_inits(inits, base.model.cell)
    check_init_overrides(texts, list(overrides))
    arms, seen = {}, {}
    for text, label in zip(texts, labels):
        init = resolve_arm(text, base.init, f"compare init '{text}'", cell=base.model.cell)
        record = repr(resolved_record(init, base.model.cell))
        if record in seen:
            raise RnnInitError(f"compare: inits '{seen[record]}' and '{label}' resolve to the same "
                               f"init on this config: {init}")  # fmt: skip
        seen[record] = label
        arms[label] = (text, init)
    return arms


def compare(
    config: Config | dict,
    inits: list[str],
    seeds: int = 1,
    *,
    reporter_for=None,
    on_run_done=None,
    argv: list[str] | None = None,
    overrides: list[str] | None = None,
    should_stop=None,
) -> dict:
    """Train every init with `seeds` seeds on identical data and write one compare folder.

    Args:
        config: the base config (validated here); each of `inits` merges onto its `init`.
        inits: the arms: a scheme or preset name replaces the whole init; a per-matrix string
            ('Whh=identity', 'Whh=orthogonal:1.1,Wxh=he') or mapping ({'Whh': 'identity'})
            changes only the matrices it names and keeps the others and spectral_radius from
            the config's init (rnninit.experiment.arms). Each run's config.yaml records the
            merged init as an explicit mapping of every matrix.
        seeds: runs per init, with seeds config.seed, config.seed + 1, ...
        reporter_for: optional callable (label, seed) -> Reporter for each run's progress.
        on_run_done: optional callable (label, seed, summary) after each run.
        overrides: the KEY=VALUE overrides already applied to `config`, as typed; recorded in
            each run, and an `init...` one that an arm would drop, or that reaches no arm, is
            refused (experiment.arms.check_init_overrides).
        should_stop: checked between steps; when True the current run stops with a checkpoint
            and no further run starts (status interrupted).

    Returns:
        The report dict of `load_compare` for the new folder.
    """
    if seeds < 1:
        raise RnnInitError(f"--seeds: expected a positive integer, got {seeds}")
    base = validate(config, source="config")
    arms = resolve_inits(base, inits, overrides or [])
    configs = {}
    for label, (text, init) in arms.items():
        for k in range(seeds):
            seed = base.seed + k
            values = {"init": init, "seed": seed, "name": f"{label}-s{seed}"}
            configs[(label, k)] = base.updated(values, source=f"compare init '{text}'")
    for (_, k), cfg in configs.items():  # every mistake (a missing corpus, sizes too big)
        if k == 0:  # before any file; the seed changes nothing that could fail
            prepare(cfg)
    root = create_run_dir(base.log.runs_dir, f"compare-{base.name}")
    meta = {"inits": [text for text, _ in arms.values()], "labels": list(arms), "seeds": seeds,
            "argv": argv, "resolved": {k: resolved_record(init, base.model.cell) for k, (_, init) in arms.items()},
            "nonlinearity": base.model.nonlinearity,
            "overrides": overrides or [], "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "status": "running", "runs": {}}  # fmt: skip
    report = None
    atomic_write_text(root / "config.yaml", dump_config(base))
    write_json(root / "compare.json", meta)
    try:
        for (label, k), cfg in configs.items():
            cfg = cfg.updated({"log.runs_dir": str(root)})
            reporter = reporter_for(label, k) if reporter_for else Reporter()
            summary = train(cfg, reporter=reporter, argv=argv, overrides=overrides,
                            should_stop=should_stop)  # fmt: skip
            meta["runs"].setdefault(label, []).append(Path(summary["run_dir"]).name)
            write_json(root / "compare.json", meta)
            if on_run_done:
                on_run_done(label, k, summary)
            if summary["status"] == "interrupted":
                meta["status"] = "interrupted"
                break
        else:
            meta["status"] = "completed"
    except KeyboardInterrupt:
        meta["status"] = "interrupted"
        raise
    finally:
        meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_json(root / "compare.json", meta)
        if meta["runs"]:
            report = load_compare(root)
            write_compare_outputs(root, report)
    return report


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


def load_compare(root) -> dict:
    """Everything the compare report shows, rebuilt from the compare folder's run folders."""
    import json

    root = Path(root)
    meta = json.loads((root / "compare.json").read_text(encoding="utf-8"))
    report = {"dir": str(root), "meta": meta, "inits": {}}
    for spec, label in zip(meta["inits"], meta["labels"]):
        runs = [root / name for name in meta["runs"].get(label, []) if is_run_dir(root / name)]
        if not runs:
            continue
        records = [_run_record(r) for r in runs]
        report["inits"][label] = aggregate(spec, records)
    _speedups(report)
    first = next(iter(report["inits"].values()), None)
    report["task"] = first["runs"][0]["summary"] if first else {}
    return report


def aggregate(spec: str, records: list[dict]) -> dict:
    """Mean ± population std across seeds of the summary columns, and seed-mean per-timestep
    tables."""
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
    agg["reached"] = sum(1 for s in summaries if s.get("steps_to_target") is not None)
    agg["step0"] = _seed_mean_timesteps([r["step0"] for r in records if r["step0"] is not None])
    # the last table: the latest statistics step of any seed, averaged over the seeds that got
    # there (a seed that diverged or stopped earlier has no numbers for that step)
    with_last = [r for r in records if r["last"] is not None]
    agg["last_step"] = max((r["last_step"] for r in with_last), default=None)
    lasts = [r["last"] for r in with_last if r["last_step"] == agg["last_step"]]
    agg["last"] = _seed_mean_timesteps(lasts) if lasts else None
    agg["last_n"] = len(lasts)
    agg["loss_curve"] = _loss_band(records)
    return agg


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
    """Speed-up of each init against the slowest init to reach the target (mean steps).

    When some init never reached it, the comparison is against the run length instead and is a
    lower bound (speedup_bound True): that init would have needed more steps than it had.
    """
    reached = {k: a["steps_to_target"][0] for k, a in report["inits"].items()
               if a["steps_to_target"][0] is not None}  # fmt: skip
    missed = [a for a in report["inits"].values() if a["reached"] < a["n"]]
    if missed:
        slowest = max(r["summary"]["steps"] for a in missed for r in a["runs"])
    else:
        slowest = max(reached.values(), default=None)
    for label, agg in report["inits"].items():
        s = reached.get(label)
        agg["speedup"] = slowest / max(s, 1) if s is not None and slowest else None
        agg["speedup_bound"] = bool(missed) and agg["speedup"] is not None


# ---------------------------------------------------------------------------------------------
# Files of a compare folder: compare.csv and the overlay plots
# ---------------------------------------------------------------------------------------------
def compare_rows(report: dict) -> list[dict]:
    rows = []
    for label, agg in report["inits"].items():
        row = {"init": label, "spec": agg["spec"], "seeds": agg["n"],
               "completed": agg["status"].count("completed"), "diverged": agg["status"].count("diverged"),
               "reached_target": agg["reached"], "speedup": agg["speedup"],
               "speedup_is_lower_bound": agg["speedup_bound"]}  # fmt: skip
        for key, text in agg["resolved"].items():  # what the arm resolved to, per matrix
            row[f"init_{key}"] = text
        for col in SUMMARY_COLUMNS:
            mean, std, _ = agg[col]
            row[f"{col}_mean"], row[f"{col}_std"] = mean, std
        rows.append(row)
    return rows


def write_compare_outputs(root: Path, report: dict) -> None:
    from ..report import plots
    from .runs import write_csv

    rows = compare_rows(report)
    if rows:
        write_csv(root / "compare.csv", rows)
    pdir = root / "plots"
    pdir.mkdir(exist_ok=True)
    for col in ("act_var", "grad_var", "jac_sq"):
        curves = {}
        for label, agg in report["inits"].items():
            ts = agg["step0"]
            curve = {"t": ts["t"], "value": ts[col]}
            theory = ts.get(f"theory_{col}")  # act_var and jac_sq have one
            if theory is not None and np.isfinite(theory).any():
                curve["theory"] = theory
            curves[label] = curve
        plots.compare_timesteps(curves, col, pdir / f"{col}_step0.png", title=f"{col} at step 0")
    task = report.get("task", {})
    bands = {k: a["loss_curve"] for k, a in report["inits"].items()}
    kind = "training" if any(b["kind"] == "loss" for b in bands.values()) else "validation"
    plots.compare_loss(bands, pdir / "loss.png",
                       chance=task.get("chance"), target=task.get("target_loss"),
                       title=f"{kind} loss, mean ± population std across seeds")  # fmt: skip
