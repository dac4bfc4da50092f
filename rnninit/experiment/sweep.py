"""Sweeps (issue 4): a sweep file becomes a list of runs with stable ids, run here or on Dask.

A sweep file is YAML::

    name: init_vs_width                 # the folder: <log.runs_dir>/sweeps/init_vs_width/
    base: ../char_xavier.yaml           # a config file (relative to this file) or a mapping
    grid:                               # dotted keys to lists: the cross product
      init: [xavier, uniform]
      model.hidden_size: [32, 64]
    zip:                                # keys varied together, lists of one length
      train.lr: [0.01, 0.005]
      train.steps: [200, 400]
    seeds: 3                            # a count (base seed, +1, +2) or a list of seeds

Each run's id is its varied values in words plus a hash of its resolved config (log.runs_dir
left out), so the same sweep always maps to the same folders, on any machine: that is what lets
shards and ``resume`` work without any shared state but the folders themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core.names import closest
from ..core.tasks import sequence_length
from ..errors import RnnInitError
from .config import NAME_RE, NAME_RULE, Config, apply_overrides, load_config, validate
from .runs import write_json
from .workers import FINISHED, Job, make_executor, run_jobs, run_state, worker_count

SWEEP_KEYS = ("name", "base", "grid", "zip", "seeds")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its folder name, resolved config and the values the sweep chose."""

    id: str
    config: Config
    params: dict  # varied key -> value, in sweep order
    overrides: tuple[str, ...]  # the same as KEY=VALUE, recorded in the run's overrides.yaml
    cost: float  # relative work, for balancing shards


@dataclass
class Sweep:
    name: str
    source: str
    keys: list[str]
    runs: list[SweepRun]
    root: Path
    overrides: list[str] = field(default_factory=list)  # KEY=VALUE given with the sweep file

    def run_dir(self, run: SweepRun) -> Path:
        return self.root / run.id


# ---------------------------------------------------------------------------------------------
# The sweep file.
# ---------------------------------------------------------------------------------------------
def load_sweep(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> Sweep:
    """Read and expand a sweep file; every run's config is validated before anything runs.

    Args:
        path: the sweep YAML (keys name, base, grid, zip, seeds).
        overrides: KEY=VALUE applied to the base before the grid (they may not touch a key the
            sweep varies).

    Raises:
        RnnInitError: one line naming the file, the key, what was given and what is allowed.
    """
    src = str(path)
    data = _read(Path(path))
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        close = closest(unknown[0], SWEEP_KEYS)
        hint = f", did you mean '{close}'?" if close else ""
        raise RnnInitError(f"{src}: {unknown[0]}: unknown key{hint} (sweep keys: "
                           f"{', '.join(SWEEP_KEYS)})")  # fmt: skip
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name.startswith("."):
        raise RnnInitError(f"{src}: name: expected {NAME_RULE}, got {name!r}")
    base = _base(data.get("base"), Path(path), src)
    sections = _axes(data, src, base.seed)  # [(section, points of one axis)]
    axes = [points for _, points in sections]
    keys = [k for points in axes for k in points[0]]
    _check_keys(keys, overrides, src)
    base = apply_overrides(base, list(overrides))
    for section, points in sections:  # each value alone first, for a message that names it
        for point in points:
            apply_overrides(base, _tokens(point), source=f"{src}: {section}")
    root = Path(base.log.runs_dir) / "sweeps" / name
    runs = [_make_run(base, point, keys, src, root) for point in _product(axes)]
    seen: dict[str, dict] = {}
    for run in runs:
        if run.id in seen:
            raise RnnInitError(f"{src}: two grid points give the same config: "
                               f"{_words(seen[run.id])} and {_words(run.params)}")  # fmt: skip
        seen[run.id] = run.params
    return Sweep(name=name, source=src, keys=keys, runs=runs, root=root, overrides=list(overrides))


class _Loader(yaml.SafeLoader):
    """safe_load that refuses a key given twice (plain safe_load keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise RnnInitError(f"{key}: duplicate key (line {line}, first at line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise RnnInitError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe)
    except RnnInitError as e:
        raise RnnInitError(f"{path}: {e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        what = getattr(e, "problem", None) or e
        raise RnnInitError(
            f"{path}: {at}not a valid sweep file: {' '.join(str(what).split())}"
        ) from None
    if not isinstance(data, dict):
        raise RnnInitError(f"{path}: expected a mapping of {', '.join(SWEEP_KEYS)} at the top")
    return data


def _base(value, path: Path, src: str) -> Config:
    """The base config: a file relative to the sweep file, an inline mapping, or the defaults."""
    if value is None:
        return load_config(None)
    if isinstance(value, str):
        if not (path.parent / value).is_file():
            raise RnnInitError(f"{src}: base: {path.parent / value}: no such file (a base file "
                               f"is found relative to the sweep file)")  # fmt: skip
        return load_config(path.parent / value)
    if isinstance(value, dict):
        return validate(value, source=f"{src}: base")
    raise RnnInitError(f"{src}: base: expected a config file path or a mapping, got {value!r}")


def _values(section: str, key: str, values, src: str) -> list:
    if not isinstance(values, list) or not values:
        raise RnnInitError(f"{src}: {section}: {key}: expected a non-empty list of values, "
                           f"got {_show(values)}")  # fmt: skip
    texts = [json.dumps(v, sort_keys=True) for v in values]
    for i, t in enumerate(texts):
        if t in texts[:i]:
            raise RnnInitError(f"{src}: {section}: {key}: {_flow(values[i])} is listed twice")
    return values


def _axes(data: dict, src: str, base_seed: int) -> list[tuple[str, list[dict]]]:
    """The sweep as axes of the product: (section, a list of {key: value} points) each."""
    grid, zips, seeds = data.get("grid"), data.get("zip"), data.get("seeds")
    if grid is None and zips is None:
        raise RnnInitError(f"{src}: grid: missing; give dotted keys to lists, "
                           f"e.g. grid: {{model.hidden_size: [64, 128]}}")  # fmt: skip
    if grid is not None and (not isinstance(grid, dict) or not grid):
        raise RnnInitError(f"{src}: grid: expected a mapping of dotted keys to non-empty lists, "
                           f"got {_show(grid)}")  # fmt: skip
    axes = [("grid", [{str(k): v} for v in _values("grid", str(k), vals, src)])
            for k, vals in (grid or {}).items()]  # fmt: skip
    groups = [zips] if isinstance(zips, dict) else zips
    if zips is not None and (not isinstance(groups, list) or not all(
            isinstance(g, dict) and g for g in groups) or not groups):  # fmt: skip
        raise RnnInitError(f"{src}: zip: expected a mapping of dotted keys to lists of one "
                           f"length (or a list of such mappings), got {_show(zips)}")  # fmt: skip
    for group in groups or []:
        lists = {str(k): _values("zip", str(k), v, src) for k, v in group.items()}
        lengths = {k: len(v) for k, v in lists.items()}
        if len(set(lengths.values())) > 1:
            said = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise RnnInitError(f"{src}: zip: expected lists of one length, got {said}")
        axes.append(("zip", [dict(zip(lists, vals)) for vals in zip(*lists.values())]))
    if seeds is not None:
        if grid and "seed" in grid:
            raise RnnInitError(f"{src}: seeds: the grid already varies seed; keep one of the two")
        axes.append(("seeds", [{"seed": s} for s in _seed_list(seeds, base_seed, src)]))
    return axes


def _seed_list(seeds, base_seed: int, src: str) -> list[int]:
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    if is_int(seeds) and seeds >= 1:
        return [base_seed + k for k in range(seeds)]
    if isinstance(seeds, list) and seeds and all(is_int(s) and s >= 0 for s in seeds):
        return _values("seeds", "seeds", seeds, src)
    raise RnnInitError(f"{src}: seeds: expected a positive count or a non-empty list of "
                       f"non-negative integers, got {_show(seeds)}")  # fmt: skip


def _check_keys(keys: list[str], overrides, src: str) -> None:
    """Refuse keys set twice (grid and zip, init and init.Whh) and the sweep's own location."""
    for i, key in enumerate(keys):
        if key == "log.runs_dir":
            raise RnnInitError(f"{src}: log.runs_dir: the sweep puts every run under "
                               f"<log.runs_dir>/sweeps/<name>; set log.runs_dir in base")  # fmt: skip
        for other in keys[:i]:
            if _overlap(key, other):
                raise RnnInitError(f"{src}: {key}: also varied as {other}; vary it once")
    for token in overrides:
        okey = token.partition("=")[0].strip()
        for key in keys:
            if _overlap(okey, key):
                raise RnnInitError(f"override '{token}': {key} is varied by the sweep {src}")


def _overlap(a: str, b: str) -> bool:
    pa, pb = a.split("."), b.split(".")
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]


def _product(axes: list[list[dict]]) -> list[dict]:
    """Every combination, the first axis varying slowest (seeds last, so fastest)."""
    return [
        {k: v for point in combo for k, v in point.items()} for combo in itertools.product(*axes)
    ]


def _tokens(point: dict) -> list[str]:
    return [f"{k}={_flow(v)}" for k, v in point.items()]


def _flow(value) -> str:
    """A value as one line of YAML that yaml.safe_load reads back to the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def _show(value) -> str:
    if isinstance(value, dict):
        return "an empty mapping" if not value else "a mapping"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return "nothing" if value is None else _flow(value)


def _make_run(base: Config, point: dict, keys: list[str], src: str, root: Path) -> SweepRun:
    tokens = _tokens(point)
    cfg = apply_overrides(base, tokens, source=f"{src}: run {_words(point)}")
    run_id = f"{_readable(point, keys)}-{config_hash(cfg)}"
    cfg = cfg.updated(
        {"log.runs_dir": str(root)}
    )  # `rnninit train --config <run>/config.yaml` lands beside
    return SweepRun(id=run_id, config=cfg, params=dict(point), overrides=tuple(tokens),
                    cost=_cost(cfg))  # fmt: skip


def config_hash(cfg: Config) -> str:
    """8 hex digits of the SHA-256 of the resolved config, log.runs_dir left out."""
    c = cfg.to_dict()
    c["log"].pop("runs_dir", None)
    text = json.dumps(c, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _readable(point: dict, keys: list[str]) -> str:
    """'init=xavier,hidden_size=32,seed=0': the last part of each key, unless two share it."""
    short = {k: k.removeprefix("init.").split(".")[-1] if k.startswith("init.") else k.split(".")[-1]
             for k in keys}  # fmt: skip
    clash = {s for s in short.values() if list(short.values()).count(s) > 1}
    parts = [f"{k if short[k] in clash else short[k]}={_label(v)}" for k, v in point.items()]
    return ",".join(parts)[:120]


def _label(value) -> str:
    if isinstance(value, dict):
        text = ".".join(f"{k}-{_label(v)}" for k, v in value.items())
    else:
        text = _flow(value)
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")[:40] or "_"


def _words(point: dict) -> str:
    return " ".join(f"{k}={_flow(v)}" for k, v in point.items())


def _cost(cfg: Config) -> float:
    """Work of a run up to a constant: steps x timesteps x batch x H (H + 64)."""
    t, H = cfg.task, cfg.model.hidden_size
    T = sequence_length(t.name, t.seq_len)
    return float((cfg.train.steps + 1) * T * cfg.train.batch_size * H * (H + 64))


# ---------------------------------------------------------------------------------------------
# Shards.
# ---------------------------------------------------------------------------------------------
def parse_shard(text: str) -> tuple[int, int]:
    """'3/16' -> (2, 16): the 0-based index and the count. K runs from 1 to N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise RnnInitError(f"--shard: expected K/N with 1 <= K <= N, e.g. 3/16, got '{text}'")
    return int(m.group(1)) - 1, int(m.group(2))


def shard_from_env(env=None) -> tuple[int, int] | None:
    """The shard of a SLURM array task: (index, count) from SLURM_ARRAY_TASK_ID and _COUNT.

    Task ids need not start at 0 (``--array=1-16``) or step by 1 (``--array=0-30:2``): the index
    is (ID - MIN) / STEP. Returns None when the variables are not set.
    """
    env = os.environ if env is None else env
    if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
        return None
    names = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
             "SLURM_ARRAY_TASK_STEP")  # fmt: skip
    try:
        task, count = int(env[names[0]]), int(env[names[1]])
        low, step = int(env.get(names[2], 0)), int(env.get(names[3], 1))
    except ValueError:
        said = ", ".join(f"{n}={env[n]}" for n in names if n in env)
        raise RnnInitError(f"SLURM array variables: expected integers, got {said}") from None
    index = (task - low) // max(step, 1)
    if count < 1 or not 0 <= index < count:
        raise RnnInitError(f"SLURM array variables: task {task} (min {low}, step {step}) is not "
                           f"one of {count} tasks")  # fmt: skip
    return index, count


def select_shard(runs: list[SweepRun], index: int, count: int) -> list[SweepRun]:
    """The runs of shard `index` (0-based) of `count`, in sweep order.

    Runs are dealt like cards, most expensive first, in snake order (0..N-1, N-1..0, ...): shard
    sizes differ by at most one, each shard gets a like mix of cheap and costly runs, and the
    deal depends only on the sweep, so every machine computes the same split.
    """
    order = sorted(range(len(runs)), key=lambda i: (-runs[i].cost, i))
    mine = set()
    for pos, i in enumerate(order):
        rnd, j = divmod(pos, count)
        if (j if rnd % 2 == 0 else count - 1 - j) == index:
            mine.add(i)
    return [r for i, r in enumerate(runs) if i in mine]


# ---------------------------------------------------------------------------------------------
# What to run: fresh runs, and what resume skips.
# ---------------------------------------------------------------------------------------------
@dataclass
class Work:
    todo: list[SweepRun]
    skipped: dict[str, str]  # run id -> state (completed, diverged, running elsewhere)
    states: dict[str, str | None] = field(default_factory=dict)  # every run's state before
    existing: list[str] = field(default_factory=list)  # folders neither resume nor overwrite allow


def plan_work(sweep: Sweep, runs: list[SweepRun], *, resume=False, overwrite=False, strict=True):
    """Split runs into those to run and those to skip.

    resume skips finished runs (completed, diverged) and runs still alive in another process,
    and reruns the others from scratch. overwrite reruns every run not alive elsewhere. Without
    either, folders that already exist are refused (when strict), so that nothing is redone or
    overwritten by accident.
    """
    states = {r.id: run_state(sweep.run_dir(r)) for r in runs}
    todo, skipped, existing = [], {}, []
    for r in runs:
        state = states[r.id]
        if state == "running":
            skipped[r.id] = "running elsewhere"
        elif state is None or overwrite:
            todo.append(r)
        elif resume and state in FINISHED:
            skipped[r.id] = state
        elif resume:
            todo.append(r)  # failed, interrupted, stale: run again from scratch
        else:
            existing.append(r.id)
            todo.append(r)
    if strict and (existing or (skipped and not resume and not overwrite)):
        some = (existing or list(skipped))[0]
        n = len(existing) + len(skipped)
        raise RnnInitError(f"{sweep.root}: {n} of these {len(runs)} runs already have folders "
                           f"(e.g. {some}); add --resume to skip the finished ones and rerun "
                           f"the rest, or --overwrite to run them all again")  # fmt: skip
    return Work(todo=todo, skipped=skipped, states=states, existing=existing)


def write_plan(sweep: Sweep) -> None:
    """sweep.json: the whole run list (the same bytes from every shard, so writers agree)."""
    sweep.root.mkdir(parents=True, exist_ok=True)
    runs = [{"id": r.id, "params": r.params} for r in sweep.runs]
    write_json(sweep.root / "sweep.json", {"name": sweep.name, "source": sweep.source,
                                           "overrides": sweep.overrides, "keys": sweep.keys,
                                           "runs": runs})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Running a sweep.
# ---------------------------------------------------------------------------------------------
class SweepReporter:
    """Receives a sweep's events; the library's default says nothing. The CLI renders them."""

    def start(self, info: dict) -> None: ...
    def run_done(self, run: SweepRun, result: dict, counts: dict) -> None: ...
    def end(self, outcome: dict) -> None: ...


def run_sweep(
    sweep: Sweep,
    todo: list[SweepRun],
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    blas_threads: int = 1,
    reporter: SweepReporter | None = None,
    should_stop=None,
    argv: list[str] | None = None,
) -> dict:
    """Run the given runs of a sweep in parallel; a failed run never stops the others.

    Args:
        sweep: from ``load_sweep``; its folder receives one run folder per run.
        todo: the runs to run (``plan_work(...).todo``, perhaps of one shard).
        jobs: worker processes (local) or LocalCluster workers (dask); default os.cpu_count().
        executor: "local" or "dask"; scheduler is a Dask address (None: a LocalCluster).
        blas_threads: BLAS threads per worker (1: parallel runs do not fight over the cores).
        should_stop: checked every 0.25 s; when True, every run stops after its current step
            (status interrupted, with a checkpoint) and no new run starts.

    Returns:
        {"status": completed | interrupted, "results": {run id: result}, "counts", "seconds",
        "startup" (of those seconds, the time to start the workers), "executor"}; a result has status, error (when failed), final_loss, seconds, ...
    """
    jobs = worker_count(jobs, len(todo))
    backend = make_executor(executor, jobs, scheduler, blas_threads)
    reporter = reporter or SweepReporter()
    write_plan(sweep)
    root = sweep.root.resolve()  # workers may have another working directory
    runs = {run.id: run for run in todo}
    results: dict[str, dict] = {}
    counts = {k: 0 for k in ("done", "completed", "diverged", "failed", "interrupted", "running",
                             "running elsewhere")}  # fmt: skip
    counts["total"], t0 = len(todo), time.perf_counter()

    def on_result(job: Job, res: dict) -> None:
        results[job.id] = res
        if res["status"] in counts:
            counts[res["status"]] += 1
        if res["status"] != "not started":
            counts["done"] += 1
        counts["running"] = min(backend.slots, len(todo) - len(results))
        reporter.run_done(runs[job.id], res, dict(counts))

    with backend:
        startup = time.perf_counter() - t0  # workers (or the cluster) up
        reporter.start({"total": len(todo), "slots": backend.slots, "executor": backend.label,
                        "root": str(sweep.root)})  # fmt: skip
        counts["running"] = min(backend.slots, len(todo))
        stopped = run_jobs(backend, [Job(r.id, r.config, root / r.id, r.overrides) for r in todo],
                           on_result=on_result, should_stop=should_stop, argv=argv)  # fmt: skip
    status = "completed"
    if stopped or counts["interrupted"] or any(r["status"] == "not started"
                                               for r in results.values()):  # fmt: skip
        status = "interrupted"
    write_outputs(sweep)
    outcome = {"status": status, "results": results, "counts": counts, "root": str(sweep.root),
               "seconds": time.perf_counter() - t0, "startup": startup,
               "executor": backend.label}  # fmt: skip
    reporter.end(outcome)
    return outcome


def write_outputs(sweep: Sweep) -> None:
    """sweep.csv (every run folder of the sweep, from every shard so far) and a plot of the
    final loss against the first numeric key the sweep varies, a line per init; then
    report.html."""
    from .reports import write_sweep_report
    from .runs import write_csv
    from .summarize import load_record, plot_final_loss, report_for, table_rows

    done = [r for r in sweep.runs if (sweep.run_dir(r) / "summary.json").is_file()]
    if not done:
        return
    records = [load_record(sweep.run_dir(r), r.id) for r in done]
    report = report_for(records, varied=sweep.keys, sort=False)
    write_csv(sweep.root / "sweep.csv", table_rows(report))
    numeric = [k for k in sweep.keys if k != "seed" and all(
        isinstance(r.params.get(k), int | float) for r in sweep.runs)]  # fmt: skip
    if numeric and len({_flow(r.params[numeric[0]]) for r in done}) > 1:
        name = f"final_loss_vs_{numeric[0]}.png"
        with contextlib.suppress(RnnInitError):  # e.g. no run finished yet
            plot_final_loss(report, numeric[0], sweep.root / "plots" / name)
    write_sweep_report(sweep.root)  # report.html, from the files just written
