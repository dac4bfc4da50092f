"""Side-by-side comparison of initialisations (issue 3), or of any setups (issue 9): same data,
same seed; only the init, or what a labelled arm overrides, differs.

`compare` plans one run folder per (arm, seed) inside one compare folder and runs them in
worker processes (experiment.workers, the pool sweeps use), recording in compare.json which
runs ended and how; `resume_compare` finishes a compare an interrupt or a kill left unfinished.
Then `load_compare` (experiment.compare_folder) rebuilds every number of the report from the run
folders alone.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from ..core.initspec import parse_init
from ..errors import RnnInitError
from ..fileio import atomic_write_text
from .arms import (
    arm_text,
    check_init_overrides,
    is_labelled,
    labelled_config,
    parse_labelled,
    resolve_arm,
    resolved_record,
)
from .compare_folder import is_compare_dir, load_compare, read_meta, write_compare_outputs
from .config import Config, absolute_paths, dump_config, load_config, validate
from .lock import hold
from .runs import create_run_dir, new_run_id, read_summary, write_json
from .training import prepare
from .workers import FINISHED, Job, LocalExecutor, run_jobs, run_state, worker_count

REPORTED = ("completed", "diverged", "interrupted", "stale")  # run states with numbers to show
ENDED = (*FINISHED, "failed")  # run states that stay as they are until a resume reruns failed ones


def init_label(spec: str) -> str:
    """A folder-safe label for an init spec: 'Whh=orthogonal,Wxh=xavier' -> 'Whh-orthogonal_Wxh-xavier'."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.replace("=", "-").replace(",", "_"))
    return label.strip("._")[:48] or "init"


class Arm(NamedTuple):
    """One arm of a compare, resolved: what it runs with, before the seed and the name."""

    text: str  # as typed: 'xavier', 'Whh=identity', 'irnn: init.Whh=identity ...'
    init: str | dict  # a scheme or preset name, or an explicit mapping of every matrix
    overrides: list[str]  # a labelled arm's KEY=VALUE overrides ([] for an init arm)
    config: Config  # the base config with the arm applied


def _check_inits(inits: list, cell: str) -> tuple[list[str], list[str]]:
    """The arms as text (a mapping becomes 'Whh=identity,...'), checked, and their labels."""
    if not inits:
        raise RnnInitError("compare: name at least one init, e.g. `rnninit compare xavier uniform`")
    texts, labels = [], []
    for i, arm in enumerate(inits):
        if is_labelled(arm):
            label = parse_labelled(arm)[0]
            texts.append(arm.strip())
        else:
            parse_init(arm, where=f"compare init #{i + 1} '{arm}'", cell=cell)
            texts.append(arm_text(arm))
            label = init_label(texts[-1])
        if label in labels:
            if not (is_labelled(arm) or is_labelled(texts[labels.index(label)])):
                raise RnnInitError(f"compare: the same init is named twice in {' '.join(texts)}")
            raise RnnInitError(f"compare: two arms are labelled '{label}'; give each its own label")
        labels.append(label)
    return texts, labels


def resolve_inits(config: Config | dict, inits: list, overrides=()) -> dict[str, Arm]:
    """What `compare` will run, checked, with no run and no file: label -> Arm.

    Args:
        config: the base config; inits and overrides as `compare` takes them.

    Returns:
        For each arm, its label -> Arm (the arm as text, the init it runs with: a scheme or
        preset name, or an explicit mapping of every matrix, see experiment.arms; a labelled
        arm's overrides; and the config it runs with, before the seed and the run name).

    Raises:
        RnnInitError: a bad or repeated arm or label, two arms that resolve to the same setup,
            or an `init...` override that the arms would drop.
    """
    base = validate(config, source="config")
    texts, labels = _check_inits(inits, base.model.cell)
    check_init_overrides(texts, list(overrides))
    arms, seen = {}, {}
    for text, label in zip(texts, labels):
        if is_labelled(text):
            arm_overrides = parse_labelled(text)[1]
            cfg = labelled_config(base, label, arm_overrides)
        else:
            arm_overrides = []
            init = resolve_arm(text, base.init, f"compare init '{text}'", cell=base.model.cell)
            cfg = base.updated({"init": init}, source=f"compare init '{text}'")
        setup = {**cfg.to_dict(), "init": resolved_record(cfg.init, cfg.model.cell)}
        if repr(setup) in seen:
            other = seen[repr(setup)]
            if not (is_labelled(text) or is_labelled(arms[other].text)):
                raise RnnInitError(f"compare: inits '{other}' and '{label}' resolve to the same "
                                   f"init on this config: {cfg.init}")  # fmt: skip
            raise RnnInitError(f"compare: arms '{other}' and '{label}' resolve to the same "
                               "config: nothing would differ between them")  # fmt: skip
        seen[repr(setup)] = label
        arms[label] = Arm(text, cfg.init, arm_overrides, cfg)
    return arms


def parse_lr_grid(text: str) -> list[float]:
    """'0.001,0.003,0.01' -> [0.001, 0.003, 0.01]: distinct positive learning rates."""
    try:
        grid = [float(x) for x in text.split(",")]
    except ValueError:
        grid = []
    if not grid or not all(math.isfinite(x) and x > 0 for x in grid) or len(set(grid)) < len(grid):
        raise RnnInitError(f"--lr-grid: expected distinct positive learning rates separated by "
                           f"commas, e.g. 0.001,0.003,0.01, got '{text}'")  # fmt: skip
    return grid


def _check_lr_grid(arms: dict[str, Arm], overrides: list[str]) -> None:
    """With --lr-grid the grid sets train.lr: a train.lr an arm or an override sets is refused."""
    for token in overrides:
        if token.split("=", 1)[0].strip() == "train.lr":
            raise RnnInitError(f"--lr-grid: override '{token}' would be ignored: the grid sets "
                               "every arm's train.lr")  # fmt: skip
    for label, arm in arms.items():
        if any(o.split("=", 1)[0] == "train.lr" for o in arm.overrides):
            raise RnnInitError(f"--lr-grid: arm '{label}' sets train.lr, which the grid chooses; "
                               "drop train.lr from the arm, or compare without --lr-grid")  # fmt: skip


class PlannedRun(NamedTuple):
    """One run of a compare: its arm, learning rate (None without --lr-grid), seed and name,
    the config it runs with and the overrides as typed (the compare's, the arm's, train.lr)."""

    label: str
    lr: float | None
    seed: int
    name: str
    config: Config
    overrides: tuple[str, ...]


def compare(
    config: Config | dict,
    inits: list[str],
    seeds: int = 1,
    *,
    jobs: int | None = None,
    on_start=None,
    on_run_done=None,
    argv: list[str] | None = None,
    overrides: list[str] | None = None,
    should_stop=None,
    lr_grid: list[float] | None = None,
) -> dict:
    """Train every arm with `seeds` seeds on identical data and write one compare folder.

    Args:
        config: the base config (validated here); each of `inits` is applied to it.
        inits: the arms: a scheme or preset name replaces the whole init; a per-matrix string
            ('Whh=identity', 'Whh=orthogonal:1.1,Wxh=he') or mapping ({'Whh': 'identity'})
            changes only the matrices it names and keeps the others and spectral_radius from
            the config's init (rnninit.experiment.arms). A labelled arm, 'irnn:
            init.Whh=identity model.nonlinearity=relu', applies its KEY=VALUE overrides to the
            config; it may not change the data, the number of steps or the target. Each run's
            config.yaml records the resolved config, the init as an explicit mapping of every
            matrix, and its overrides.yaml the overrides and then the arm's own.
        seeds: runs per arm, with seeds config.seed, config.seed + 1, ...
        jobs: worker processes that run the runs (default: the number of cores), each spawned
            with one BLAS thread, as a sweep's are, so that every run computes with the same
            thread count (train.threads, when set, else 1) whatever `jobs` is: the numbers are
            the same, bit for bit, for any `jobs`.
        on_start: optional callable(info) once the workers are about to start: info has
            total (runs in the compare), todo (runs to run now), jobs, and states (a count of
            the runs' states before: what a resume finds).
        on_run_done: optional callable (label, seed, result) after each run, in the order they
            end; result has status, steps_done, final_loss, final_val_loss, diverged_at,
            seconds, and error for a run that failed.
        overrides: the KEY=VALUE overrides already applied to `config`, as typed; recorded in
            each run, and an `init...` one that an arm would drop, or that reaches no arm, is
            refused (experiment.arms.check_init_overrides).
        should_stop: asked every 0.25 s; when True every running run stops after its step with
            a checkpoint (status interrupted), no further run starts, and compare.json says
            which runs finished (``plan``); `resume_compare` finishes the rest.
        lr_grid: learning rates; each arm trains once per rate (every seed, the same batches)
            and the rate with the lowest mean final validation loss is the arm's result (a run
            that did not complete scores inf), chosen once every candidate of the arm has run.
            Every candidate stays in the folder; compare.json records them (lr_candidates) and
            the choice (lr_chosen). The progress callbacks then get labels such as
            'irnn lr=0.003'.

    Returns:
        The report dict of `load_compare` for the new folder.
    """
    if seeds < 1:
        raise RnnInitError(f"--seeds: expected a positive integer, got {seeds}")
    base = validate(config, source="config")
    arms = resolve_inits(base, inits, overrides or [])
    if lr_grid is not None:
        _check_lr_grid(arms, overrides or [])
    planned = _plan(arms, base.seed, seeds, lr_grid, overrides or [])
    with LocalExecutor(worker_count(jobs, len(planned)), blas_threads=1) as backend:
        backend.start()  # the workers load Python and NumPy while the setups are checked here
        _check_setups(planned)
        root = create_run_dir(base.log.runs_dir, f"compare-{base.name}")
        meta = _new_meta(base, arms, planned, seeds, lr_grid, overrides, argv)
        with hold(root):  # the compare's own files, until every run has reported
            atomic_write_text(root / "config.yaml", dump_config(absolute_paths(base)))
            return _execute(root, meta, planned, backend, on_start, on_run_done, should_stop,
                            argv)  # fmt: skip


def _new_meta(base: Config, arms, planned, seeds, lr_grid, overrides, argv) -> dict:
    """A new compare's compare.json: its arms, seeds and plan, every run not started."""
    meta = {"inits": [arm.text for arm in arms.values()], "labels": list(arms), "seeds": seeds,
            "argv": argv, "resolved": {k: resolved_record(a.init, a.config.model.cell) for k, a in arms.items()},
            "arm_overrides": {k: a.overrides for k, a in arms.items()},
            "nonlinearity": base.model.nonlinearity,
            "overrides": overrides or [], "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "status": "running", "runs": {},
            "plan": [{"label": r.label, "lr": r.lr, "seed": r.seed, "run": new_run_id(r.name),
                      "status": "not started"} for r in planned]}  # fmt: skip
    if lr_grid is not None:
        meta.update(lr_grid=list(lr_grid), lr_candidates={}, lr_chosen={})
    return meta


def resume_compare(
    root, *, jobs: int | None = None, on_start=None, on_run_done=None, should_stop=None, argv=None
) -> dict:
    """Finish a compare folder that an interrupt, a kill or a crash left unfinished.

    Runs that completed or diverged are kept as they are; runs interrupted or killed with a
    checkpoint continue from it (``rnninit train --resume``'s path, to the same numbers they
    would have reached uninterrupted); runs never started start, and runs that failed (or have
    no checkpoint) start again. Then compare.json (with ``resumed``: the time of each resume),
    compare.csv and the plots are written again from the run folders. Arguments as for
    `compare`.

    Raises:
        RnnInitError: not a compare folder, or one written before --resume existed; RunLocked
            while a live process writes it.
    """
    root = Path(root)
    if not is_compare_dir(root):
        what = "no such folder" if not root.exists() else "not a compare folder (no compare.json)"
        raise RnnInitError(f"{root}: {what}")
    with hold(root):
        meta = read_meta(root)
        if "plan" not in meta:
            raise RnnInitError(f"{root}: written before compare --resume existed (compare.json "
                               "has no plan of its runs); run the compare again")  # fmt: skip
        base = load_config(root / "config.yaml")
        arms = resolve_inits(base, meta["inits"], meta["overrides"])
        planned = _plan(arms, base.seed, meta["seeds"], meta.get("lr_grid"), meta["overrides"])
        if [(r.label, r.lr, r.seed) for r in planned] != [
            (e["label"], e["lr"], e["seed"]) for e in meta["plan"]
        ]:
            raise RnnInitError(f"{root}: compare.json's plan does not match its arms and "
                               "config.yaml; was the folder edited?")  # fmt: skip
        _refresh(root, meta)
        todo = [r for r, e in zip(planned, meta["plan"]) if e["status"] not in FINISHED]
        with LocalExecutor(worker_count(jobs, len(todo)), blas_threads=1) as backend:
            if todo:
                backend.start()  # as in compare: they start while the setups are checked
            _check_setups(todo)
            meta["resumed"] = [*meta.get("resumed", []), time.strftime("%Y-%m-%dT%H:%M:%S")]
            meta["status"] = "running"
            return _execute(root, meta, planned, backend, on_start, on_run_done, should_stop,
                            argv)  # fmt: skip


def _plan(arms: dict[str, Arm], seed: int, seeds: int, lr_grid, overrides) -> list[PlannedRun]:
    """Every run of a compare, in the order the folder lists them: arm, learning rate, seed."""
    runs = []
    for label, arm in arms.items():
        for lr in lr_grid or [None]:
            for k in range(seeds):
                values = {"seed": seed + k, "name": f"{label}-s{seed + k}"}
                typed = [*overrides, *arm.overrides]  # the order they were applied
                if lr is not None:
                    lr_text = f"{lr:g}".replace("+", "")  # 1e+30 -> 1e30: a run name
                    values.update({"train.lr": lr, "name": f"{label}-lr{lr_text}-s{seed + k}"})
                    typed.append(f"train.lr={lr!r}")
                cfg = arm.config.updated(values, source=f"compare arm '{arm.text}'")
                runs.append(PlannedRun(label, lr, seed + k, values["name"], cfg, tuple(typed)))
    return runs


def _check_setups(runs: list[PlannedRun]) -> None:
    """Every mistake (a missing corpus, sizes too big) before any run starts: the first run of
    each arm is set up (its seed and learning rate change nothing that could fail)."""
    seen = set()
    for run in runs:
        if run.label not in seen:
            seen.add(run.label)
            prepare(run.config)


def _execute(root: Path, meta: dict, planned: list[PlannedRun], backend: LocalExecutor,
             on_start, on_run_done, should_stop, argv) -> dict:  # fmt: skip
    """Run the planned runs not finished yet in the workers of `backend` (entered, not yet
    left), recording each in compare.json as it reports; then compare.json, compare.csv and the
    plots from the folders."""
    _refresh(root, meta)  # a resume finds some finished
    states = Counter(e["status"] for e in meta["plan"])
    where = root.resolve()  # workers may have another working directory
    todo = [Job(e["run"], run.config.updated({"log.runs_dir": str(where)}), where / e["run"],
                run.overrides)
            for run, e in zip(planned, meta["plan"]) if e["status"] not in FINISHED]  # fmt: skip
    shown = {e["run"]: (r.label if r.lr is None else f"{r.label} lr={r.lr:g}", r.seed)
             for r, e in zip(planned, meta["plan"])}  # fmt: skip
    write_json(root / "compare.json", meta)

    def on_result(job: Job, result: dict) -> None:
        _refresh(root, meta)
        write_json(root / "compare.json", meta)
        if on_run_done and result["status"] != "not started":
            on_run_done(*shown[job.id], result)

    if on_start:
        on_start({"total": len(planned), "todo": len(todo), "jobs": backend.slots,
                  "states": dict(states)})  # fmt: skip
    report = None
    try:
        if todo:
            stopped = run_jobs(backend, todo, on_result=on_result, should_stop=should_stop,
                               argv=argv)  # fmt: skip
            if not stopped:  # the workers draw the overlay plots while they are there
                report = _conclude(root, meta, backend.call_all)
    except BaseException:
        backend.stop()  # running runs stop after their step, before the folder is read below
        raise
    finally:
        if report is None:  # no run to do, a stop, or an error on the way: drawn here
            report = _conclude(root, meta, None)
    return report


def _conclude(root: Path, meta: dict, draw) -> dict:
    """compare.json's last word on the runs, then the report and the files made from it
    (write_compare_outputs, whose plots `draw` draws). Returns the report."""
    _refresh(root, meta)
    meta["status"] = _overall(meta["plan"])
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json(root / "compare.json", meta)
    report = load_compare(root)
    if report["inits"]:
        write_compare_outputs(root, report, draw)
    return report


def _refresh(root: Path, meta: dict) -> None:
    """Each planned run's status from its folder (``run_state``; 'not started' without one),
    then the runs the report shows: each arm's runs with numbers in the plan's order (seed by
    seed), whatever order they ended in; with --lr-grid, each arm's candidates so far, and its
    choice once every candidate has ended."""
    for entry in meta["plan"]:
        entry["status"] = run_state(root / entry["run"]) or "not started"
    meta["runs"] = {}
    if "lr_grid" not in meta:
        for e in meta["plan"]:
            if e["status"] in REPORTED:
                meta["runs"].setdefault(e["label"], []).append(e["run"])
        return
    meta["lr_candidates"], meta["lr_chosen"] = {}, {}
    for label in meta["labels"]:
        _record_lr(root, meta, label, [e for e in meta["plan"] if e["label"] == label])


def _record_lr(root: Path, meta: dict, label: str, mine: list[dict]) -> None:
    """Record the learning rates one arm has run, each with its runs, their statuses and its
    score; once every run of the arm has ended, make the best rate's runs the arm's runs (ties:
    the first rate of the grid). An arm with a candidate still to run has no choice."""
    candidates = {}
    for lr in meta["lr_grid"]:
        ran = [e for e in mine if e["lr"] == lr and e["status"] not in ("not started", "running")]
        if ran:
            candidates[lr] = ran
    if not candidates:
        return
    scores = {lr: _lr_score(root, ran) for lr, ran in candidates.items()}
    meta["lr_candidates"][label] = [
        {"lr": lr, "final_val_loss": None if math.isinf(scores[lr]) else scores[lr],
         "statuses": [e["status"] for e in ran], "runs": [e["run"] for e in ran]}
        for lr, ran in candidates.items()
    ]  # fmt: skip
    if all(e["status"] in ENDED for e in mine):
        best = min(scores, key=scores.get)  # the first of equal scores
        meta["lr_chosen"][label] = best
        meta["runs"][label] = [e["run"] for e in candidates[best] if e["status"] in REPORTED]


def _lr_score(root: Path, ran: list[dict]) -> float:
    """Mean final validation loss over the seeds of one (arm, lr); inf unless all completed."""
    if any(e["status"] != "completed" for e in ran):
        return math.inf
    losses = [read_summary(root / e["run"]).get("final_val_loss") for e in ran]
    if any(v is None or not math.isfinite(v) for v in losses):
        return math.inf
    return sum(losses) / len(losses)


def _overall(plan: list[dict]) -> str:
    """completed when every run completed or diverged; failed when every run ended and some
    failed; interrupted while any run is unfinished (interrupted, never started, killed)."""
    states = {e["status"] for e in plan}
    if states <= set(FINISHED):
        return "completed"
    return "failed" if states <= set(ENDED) else "interrupted"
