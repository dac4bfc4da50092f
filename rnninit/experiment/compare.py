"""Side-by-side comparison of initialisations (issue 3), or of any setups (issue 9): same data,
same seed; only the init, or what a labelled arm overrides, differs.

`compare` runs one full run folder per (init, seed) inside one compare folder, then
`load_compare` (experiment.compare_folder) rebuilds every number of the report from those
folders alone, so that `rnninit show` works on a compare folder exactly as on the day it ran.
"""

from __future__ import annotations

import math
import re
import time
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
from .compare_folder import load_compare, write_compare_outputs
from .config import Config, dump_config, validate
from .runs import (
    create_run_dir,
    write_json,
)
from .training import Reporter, prepare, train


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


def _lr_score(summaries: list[dict]) -> float:
    """Mean final validation loss over the seeds of one (arm, lr); inf unless all completed."""
    losses = [s.get("final_val_loss") for s in summaries]
    if any(s["status"] != "completed" or v is None or not math.isfinite(v)
           for s, v in zip(summaries, losses)):  # fmt: skip
        return math.inf
    return sum(losses) / len(losses)


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
        reporter_for: optional callable (label, seed) -> Reporter for each run's progress.
        on_run_done: optional callable (label, seed, summary) after each run.
        overrides: the KEY=VALUE overrides already applied to `config`, as typed; recorded in
            each run, and an `init...` one that an arm would drop, or that reaches no arm, is
            refused (experiment.arms.check_init_overrides).
        should_stop: checked between steps; when True the current run stops with a checkpoint
            and no further run starts (status interrupted).
        lr_grid: learning rates; each arm trains once per rate (every seed, the same batches)
            and the rate with the lowest mean final validation loss is the arm's result (a run
            that did not complete scores inf). Every candidate stays in the folder; compare.json
            records them (lr_candidates) and the choice (lr_chosen). The progress callbacks
            then get labels such as 'irnn lr=0.003'.

    Returns:
        The report dict of `load_compare` for the new folder.
    """
    if seeds < 1:
        raise RnnInitError(f"--seeds: expected a positive integer, got {seeds}")
    base = validate(config, source="config")
    arms = resolve_inits(base, inits, overrides or [])
    if lr_grid is not None:
        _check_lr_grid(arms, overrides or [])
    configs = _run_configs(arms, base.seed, seeds, lr_grid)
    for (_, lr, k), cfg in configs.items():  # every mistake (a missing corpus, sizes too big)
        if k == 0 and lr == (lr_grid or [None])[0]:  # before any file; seed and lr change
            prepare(cfg)  # nothing that could fail
    root = create_run_dir(base.log.runs_dir, f"compare-{base.name}")
    meta = {"inits": [arm.text for arm in arms.values()], "labels": list(arms), "seeds": seeds,
            "argv": argv, "resolved": {k: resolved_record(a.init, a.config.model.cell) for k, a in arms.items()},
            "arm_overrides": {k: a.overrides for k, a in arms.items()},
            "nonlinearity": base.model.nonlinearity,
            "overrides": overrides or [], "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "status": "running", "runs": {}}  # fmt: skip
    if lr_grid is not None:
        meta.update(lr_grid=list(lr_grid), lr_candidates={}, lr_chosen={})
    report = None
    atomic_write_text(root / "config.yaml", dump_config(base))
    write_json(root / "compare.json", meta)
    try:
        done = {}  # (label, lr) -> summaries of the seeds run so far
        for (label, lr, k), cfg in configs.items():
            cfg = cfg.updated({"log.runs_dir": str(root)})
            shown = label if lr is None else f"{label} lr={lr:g}"
            reporter = reporter_for(shown, k) if reporter_for else Reporter()
            typed = [*(overrides or []), *arms[label].overrides]  # the order they were applied
            typed += [] if lr is None else [f"train.lr={lr!r}"]
            summary = train(cfg, reporter=reporter, argv=argv, overrides=typed,
                            should_stop=should_stop)  # fmt: skip
            done.setdefault((label, lr), []).append(summary)
            if lr is None:
                meta["runs"].setdefault(label, []).append(Path(summary["run_dir"]).name)
            else:  # the arm's candidates so far; the choice once its last run is done
                last = len(done[(label, lr)]) == seeds and lr == lr_grid[-1]
                _record_lr(meta, label, {r: done[(label, r)] for r in lr_grid if (label, r) in done},
                           choose=last)  # fmt: skip
            write_json(root / "compare.json", meta)
            if on_run_done:
                on_run_done(shown, k, summary)
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


def _run_configs(arms: dict[str, Arm], seed: int, seeds: int, lr_grid) -> dict[tuple, Config]:
    """(label, lr or None, k) -> the config of that run, in the order they run."""
    configs = {}
    for label, arm in arms.items():
        for lr in lr_grid or [None]:
            for k in range(seeds):
                values = {"seed": seed + k, "name": f"{label}-s{seed + k}"}
                if lr is not None:
                    lr_text = f"{lr:g}".replace("+", "")  # 1e+30 -> 1e30: a run name
                    values.update({"train.lr": lr, "name": f"{label}-lr{lr_text}-s{seed + k}"})
                source = f"compare arm '{arm.text}'"
                configs[(label, lr, k)] = arm.config.updated(values, source=source)
    return configs


def _record_lr(meta: dict, label: str, candidates: dict[float, list[dict]], choose: bool) -> None:
    """Record the learning rates one arm has run, each with its score; once every rate has
    run (choose), make the best one's runs the arm's runs (ties: the first rate of the grid).
    An arm interrupted before its last rate has candidates and no choice."""
    scores = {lr: _lr_score(summaries) for lr, summaries in candidates.items()}
    meta["lr_candidates"][label] = [
        {"lr": lr, "final_val_loss": None if math.isinf(scores[lr]) else scores[lr],
         "statuses": [s["status"] for s in summaries],
         "runs": [Path(s["run_dir"]).name for s in summaries]}
        for lr, summaries in candidates.items()
    ]  # fmt: skip
    if choose:
        best = min(scores, key=scores.get)  # the first of equal scores
        meta["lr_chosen"][label] = best
        meta["runs"][label] = [Path(s["run_dir"]).name for s in candidates[best]]
