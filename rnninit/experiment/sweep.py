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
import math
import multiprocessing
import os
import re
import signal
import socket
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.names import closest
from ..core.tasks import sequence_length
from ..errors import RnnInitError
from ..fileio import atomic_write_text
from .config import NAME_RE, NAME_RULE, Config, apply_overrides, dump_config, load_config, validate
from .lock import RunLocked, live_holder
from .runs import effective_status, read_summary, write_json

SWEEP_KEYS = ("name", "base", "grid", "zip", "seeds")
EXECUTORS = ("local", "dask")
STOP_GRACE = 120.0  # seconds a stopping sweep waits for its running runs to report back
FINISHED = ("completed", "diverged")  # a run in one of these states is never run again by resume
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")  # fmt: skip


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
def run_state(run_dir: Path) -> str | None:
    """None when the run has no summary yet, else its status ('stale' when its process is gone);
    'running' while a live process holds the folder's lock, whatever its summary says yet."""
    if live_holder(run_dir) is not None:
        return "running"
    if not (run_dir / "summary.json").is_file():
        return None
    try:
        return effective_status(read_summary(run_dir))
    except RnnInitError:
        return "unreadable"


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
# One run, inside a worker process (local) or a Dask worker.
# ---------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {"stop": None, "busy": False, "signals": 0}


def _init_worker(stop_event) -> None:
    """A local worker: SIGINT/SIGTERM ask every run to stop after its step; a second one while
    a run is going stops it at once (what Ctrl-C on a terminal does to the whole group)."""
    _WORKER["stop"] = stop_event

    def on_signal(signum, frame):
        _WORKER["signals"] += 1
        stop_event.set()
        if _WORKER["signals"] > 1 and _WORKER["busy"]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _dask_should_stop(event_name: str):
    """Ask the scheduler's stop event at most once a second (each ask is a round trip)."""
    from distributed import Event

    event, last = Event(event_name), {"t": -math.inf, "set": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last["t"] >= 1.0:
            try:
                last["t"], last["set"] = now, event.is_set()
            except Exception:  # the scheduler or this worker is going away: stop cleanly
                last["set"] = True
        return last["set"]

    return should_stop


def can_continue(run_dir: Path) -> bool:
    """True for a run folder that an interrupt or a kill left with a checkpoint to go on from."""
    if not (run_dir / "checkpoint.npz").is_file():
        return False
    try:
        return effective_status(read_summary(run_dir)) in ("interrupted", "stale")
    except RnnInitError:
        return False


def execute_run(run_id: str, config: dict, run_dir: str, overrides=(), argv=None, stop=None):
    """Train one run of a sweep into run_dir and return a small result; never raises.

    A run that fails (a missing task.path, a bug) still leaves config.yaml and a summary.json
    saying failed, with the error on one line, so that summarize and resume see it.
    """
    from .training import resume, train

    if stop is not None:
        should_stop = _dask_should_stop(stop)
    else:
        event = _WORKER["stop"]
        should_stop = event.is_set if event is not None else (lambda: False)
    if should_stop():  # queued before a stop request: leave the folder alone
        return {"run_id": run_id, "status": "not started"}
    t0 = time.time()
    _WORKER["busy"] = True
    try:
        if can_continue(Path(run_dir)):  # interrupted or killed: go on from its checkpoint
            summary = resume(run_dir, argv=argv, should_stop=should_stop)
        else:
            summary = train(config, run_dir=run_dir, argv=argv, overrides=list(overrides),
                            should_stop=should_stop)  # fmt: skip
        keys = ("status", "steps_done", "steps", "final_loss", "final_val_loss", "diverged_at",
                "seconds")  # fmt: skip
        return {"run_id": run_id, **{k: summary.get(k) for k in keys}}
    except KeyboardInterrupt:
        return {"run_id": run_id, "status": "interrupted"}
    except RunLocked as e:  # another process writes it now: leave its folder alone
        return {"run_id": run_id, "status": "running elsewhere", "error": one_line(e)}
    except Exception as e:
        error = one_line(e)
        _record_failure(Path(run_dir), config, run_id, error, t0)
        return {"run_id": run_id, "status": "failed", "error": error}
    finally:
        _WORKER["busy"] = False


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, RnnInitError) else f"{type(e).__name__}: {text}".rstrip(": ")


def _record_failure(run_dir: Path, config: dict, run_id: str, error: str, t0: float) -> None:
    """config.yaml and a failed summary.json, unless train already wrote this attempt's."""
    with contextlib.suppress(OSError):
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / "config.yaml").is_file():
            atomic_write_text(run_dir / "config.yaml", dump_config(config))
        try:
            old = read_summary(run_dir)
        except RnnInitError:
            old = {}
        if old.get("status") == "failed" and old.get("updated", 0) >= t0:
            return
        write_json(run_dir / "summary.json", {
            "status": "failed", "error": error, "run_id": run_id, "run_dir": str(run_dir),
            "name": config.name, "seed": config.seed, "steps": config.train.steps,
            "steps_done": 0, "pid": os.getpid(), "host": socket.gethostname(),
            "updated": time.time()})  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Executors: a pool of local processes, or a Dask cluster.
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def blas_environment(threads: int):
    """Set the BLAS thread variables for processes started inside the block, then restore.

    Workers are spawned (not forked), so each starts a fresh interpreter that reads these before
    it loads NumPy; the parent's own NumPy, loaded already, is not affected.
    """
    saved = {k: os.environ.get(k) for k in BLAS_VARS}
    os.environ.update({k: str(threads) for k in BLAS_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _sigint_ignored():
    """Processes started inside the block ignore SIGINT (an ignored signal stays ignored across
    exec): Ctrl-C on a terminal reaches the whole process group, and Dask workers that receive
    it shut down, losing their runs. This process asks them to stop through an Event instead."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LocalExecutor:
    """`jobs` spawned worker processes, each with `blas_threads` BLAS threads."""

    def __init__(self, jobs: int, blas_threads: int = 1):
        self.slots, self.blas_threads = jobs, blas_threads
        self.label = f"{jobs} local worker process{'es' if jobs > 1 else ''}"

    def __enter__(self):
        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self._env = blas_environment(self.blas_threads)
        self._env.__enter__()  # for the pool's whole life: it may start a worker at any submit
        self.pool = ProcessPoolExecutor(self.slots, mp_context=ctx, initializer=_init_worker,
                                        initargs=(self.stop_event,))  # fmt: skip
        return self

    def submit(self, run: SweepRun, run_dir: Path, argv):
        return self.pool.submit(execute_run, run.id, run.config, str(run_dir), run.overrides,
                                argv)  # fmt: skip

    def wait(self, futures, timeout: float):
        return wait_futures(futures, timeout=timeout, return_when=FIRST_COMPLETED)[0]

    def stop(self) -> None:
        self.stop_event.set()

    def __exit__(self, kind, value, tb):
        try:
            if kind is not None:  # a hard stop: running runs see the event; drop the queue
                self.stop_event.set()
            self.pool.shutdown(wait=kind is None, cancel_futures=kind is not None)
        finally:
            self._env.__exit__(None, None, None)


class DaskExecutor:
    """Runs as tasks on a dask.distributed cluster; a LocalCluster of processes when no address.

    Results land in the run folders, so workers and this process must see the same filesystem
    at the same path (a shared filesystem; runs_dir is made absolute here).
    """

    def __init__(self, scheduler: str | None, jobs: int, blas_threads: int = 1):
        self.scheduler, self.jobs, self.blas_threads = scheduler, jobs, blas_threads
        self.cluster = self.client = None

    def __enter__(self):
        import logging

        try:
            from distributed import Client, Event, LocalCluster
        except ImportError:
            raise RnnInitError("--executor dask: dask.distributed is not installed; "
                               "pip install 'rnninit[dask]'") from None  # fmt: skip
        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout="20s")
            else:
                env = {k: str(self.blas_threads) for k in BLAS_VARS}
                with blas_environment(self.blas_threads), _sigint_ignored():
                    self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1,
                                                processes=True, dashboard_address=None,
                                                silence_logs=logging.ERROR, env=env)  # fmt: skip
                self.client = Client(self.cluster)
        except OSError as e:  # includes timeouts: no scheduler at that address
            self.__exit__(None, None, None)
            where = f"--scheduler {self.scheduler}" if self.scheduler else "LocalCluster"
            raise RnnInitError(f"{where}: cannot connect: {one_line(e)}") from None
        workers = self.client.scheduler_info().get("workers", {}).values()
        self.slots = max(sum(w.get("nthreads", 1) for w in workers), 1)
        self.label = (f"Dask at {self.scheduler}" if self.scheduler else "a Dask LocalCluster") + (
            f" ({len(workers)} workers, {self.slots} threads)")  # fmt: skip
        self.stop_name = f"rnninit-stop-{uuid.uuid4().hex}"
        self.event = Event(self.stop_name, client=self.client)
        return self

    def submit(self, run: SweepRun, run_dir: Path, argv):
        return self.client.submit(execute_run, run.id, run.config, str(run_dir), run.overrides,
                                  argv, self.stop_name, key=f"rnninit-{run.id}-{uuid.uuid4().hex[:6]}",
                                  pure=False)  # fmt: skip

    def wait(self, futures, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            done = {f for f in futures if f.done()}
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.05)

    def stop(self) -> None:
        self.event.set()

    def __exit__(self, kind, value, tb):
        if kind is not None and self.client is not None:
            with contextlib.suppress(Exception):
                self.event.set()
        for thing in (self.client, self.cluster):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.close()


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
    if executor not in EXECUTORS:
        raise RnnInitError(f"--executor: expected one of {', '.join(EXECUTORS)}, got '{executor}'")
    jobs = max(1, min(jobs or os.cpu_count() or 1, max(len(todo), 1)))
    reporter, should_stop = reporter or SweepReporter(), should_stop or (lambda: False)
    write_plan(sweep)
    root = sweep.root.resolve()  # workers may have another working directory
    results: dict[str, dict] = {}
    counts = {k: 0 for k in ("done", "completed", "diverged", "failed", "interrupted", "running",
                             "running elsewhere")}  # fmt: skip
    counts["total"], status, t0 = len(todo), "completed", time.perf_counter()
    deadline = math.inf  # once stopping: when to stop waiting for runs that do not report
    backend = LocalExecutor(jobs, blas_threads) if executor == "local" else DaskExecutor(
        scheduler, jobs, blas_threads)  # fmt: skip
    with backend:
        startup = time.perf_counter() - t0  # workers (or the cluster) up
        reporter.start({"total": len(todo), "slots": backend.slots, "executor": backend.label,
                        "root": str(sweep.root)})  # fmt: skip
        pending = {backend.submit(run, root / run.id, argv): run for run in todo}
        counts["running"] = min(backend.slots, len(pending))
        while pending:
            for fut in backend.wait(list(pending), 0.25):
                run = pending.pop(fut)
                res = results[run.id] = _outcome(fut, run)
                key = res["status"] if res["status"] in counts else None
                if key:
                    counts[key] += 1
                if res["status"] != "not started":
                    counts["done"] += 1
                counts["running"] = min(backend.slots, len(pending))
                reporter.run_done(run, res, dict(counts))
            if status != "interrupted" and should_stop():
                status, deadline = "interrupted", time.monotonic() + STOP_GRACE
                backend.stop()
            if status == "interrupted" and pending and time.monotonic() > deadline:
                for fut, run in pending.items():  # lost with their workers: the folders say
                    fut.cancel()
                    results[run.id] = {"run_id": run.id, "status": "not started"}
                break
    if counts["interrupted"] or any(r["status"] == "not started" for r in results.values()):
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


def _outcome(fut, run: SweepRun) -> dict:
    """The worker's result, or a failed one when the worker itself died or was lost."""
    try:
        if fut.cancelled():
            return {"run_id": run.id, "status": "not started"}
        return fut.result()
    except Exception as e:  # BrokenProcessPool (a killed worker), KilledWorker, an import error
        return {"run_id": run.id, "status": "failed",
                "error": f"no worker could run it: {one_line(e)}"}  # fmt: skip
