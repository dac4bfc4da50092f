"""Terminal report of a comparison: side-by-side timestep tables, sparklines, summary, verdicts."""

from __future__ import annotations

import shlex

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.nonlinearities import NONLINEARITIES
from .terminal import MIN_DECADES, fmt, gate_names, measured, sample_timesteps

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: np.ndarray, lo: float, hi: float) -> Text:
    """log10 of each value placed between lo and hi (log10 bounds shared across inits)."""
    out = Text()
    for v in values:
        if not np.isfinite(v):
            out.append("×", style="bold red")
        elif v <= 0:
            out.append(" ")
        else:
            frac = 0.5 if hi - lo < 1e-12 else (np.log10(v) - lo) / (hi - lo)
            out.append(SPARKS[int(np.clip(round(frac * 7), 0, 7))])
    return out


def _log_bounds(arrays) -> tuple[float, float]:
    vals = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays] or [np.array([1.0])])
    if vals.size == 0:
        return 0.0, 0.0
    hi = float(np.log10(vals.max()))
    return min(float(np.log10(vals.min())), hi - MIN_DECADES), hi


def resolved(report: dict) -> Table:
    """What each arm ran with, per matrix (scheme, or scheme:gain), Whh's target radius, and a
    labelled arm's other overrides (its init ones are in the matrix columns)."""
    rows = {label: agg.get("resolved") or {} for label, agg in report["inits"].items()}
    keys = ["Wxh", "Whh", "Why", "bh", "by"]
    if any(r.get("spectral_radius") for r in rows.values()):
        keys.append("spectral_radius")
    arm_overrides = report["meta"].get("arm_overrides") or {}
    others = {label: shlex.join(o for o in arm_overrides.get(label, []) if not o.startswith("init"))
              for label in rows}  # fmt: skip
    note = "; spectral_radius: Whh rescaled to it" if "spectral_radius" in keys else ""
    title = f"what each init drew, per matrix (scheme, or scheme:gain{note})"
    first, extra = "init", []
    if any(others.values()):  # labelled arms set more than the init: say what
        title = (f"what each arm ran with: the init per matrix (scheme, or scheme:gain{note}), "
                 "and the arm's other overrides")  # fmt: skip
        first, extra = "arm", ["overrides"]
    table = Table(title=title, title_justify="left", min_width=60)
    for col in (first, *keys, *extra):
        table.add_column(col, style="bold" if col == first else "")
    for label, r in rows.items():
        cells = [r.get(k) or "—" for k in keys] + [others[label] or "—" for _ in extra]
        table.add_row(label, *cells)
    return table


def lr_grid(report: dict) -> Table | None:
    """With --lr-grid: each arm's mean final validation loss at each learning rate, the chosen
    one starred (None without a grid)."""
    meta = report["meta"]
    if "lr_grid" not in meta:
        return None
    table = Table(title="learning rate grid: final val loss per arm and lr (mean over seeds)",
                  title_justify="left", caption_justify="left", min_width=60,
                  caption="* chosen: the lowest, measured on the validation batches the summary "
                          "reports, so the chosen number is optimistic by selection; a run that "
                          "did not complete rules its lr out")  # fmt: skip
    table.add_column("arm", style="bold")
    for lr in meta["lr_grid"]:
        table.add_column(f"lr {lr:g}", justify="right")
    for label, candidates in meta["lr_candidates"].items():
        cells = {c["lr"]: _candidate(c, meta["lr_chosen"].get(label)) for c in candidates}
        table.add_row(label, *(cells.get(lr, "—") for lr in meta["lr_grid"]))
    return table


def _candidate(candidate: dict, chosen: float | None) -> Text:
    loss, statuses = candidate["final_val_loss"], set(candidate["statuses"])
    text = fmt(loss, 4) if loss is not None else "/".join(sorted(statuses - {"completed"}))
    star = candidate["lr"] == chosen
    return Text(text + (" *" if star else ""), style="bold green" if star else "")


def side_by_side(report: dict, which: str) -> Table:
    """act_var (theory), grad_var, jac_sq and saturation per init at sampled t, for step 0 or
    the end.

    The end is the latest statistics step of any init; an init whose runs all stopped before it
    (diverged, interrupted) shows why in place of numbers, never another step's numbers.
    """
    inits = {k: a for k, a in report["inits"].items() if a[which] is not None}
    step = 0 if which == "step0" else max((a["last_step"] for a in inits.values()), default="?")
    short = {k for k, a in inits.items() if which == "last" and a["last_step"] != step}
    notes = [f"{k}: mean of the {a['last_n']} of {a['n']} seeds with statistics at step {step}"
             for k, a in inits.items() if which == "last" and k not in short
             and a["last_n"] < a["n"]]  # fmt: skip
    notes.append(
        "grad_var: Var of the total dL/dh_t, with the loss of every later step; jac_sq: "
        "mean squared singular value of dh_T/dh_t, the gradient through time alone"
    )
    averaged = [
        a["last_n"] if which == "last" else a["n"] for k, a in inits.items() if k not in short
    ]
    title = f"per-timestep statistics at step {step}{_seed_mean(averaged)} (θ: mean-field theory)"
    table = Table(title=title, title_justify="left", min_width=60, caption="; ".join(notes),
                  caption_justify="left")  # fmt: skip
    table.add_column("t", justify="right", style="bold")
    for label in inits:
        table.add_column(f"{label}\nact_var", justify="right")
        table.add_column("grad_var", justify="right")
        table.add_column("jac_sq", justify="right")
        table.add_column("sat", justify="right")
    T = len(next(iter(inits.values()))[which]["t"]) if inits else 0
    for row, t in enumerate(sample_timesteps(T, limit=16)):
        cells = [str(t)]
        for label, agg in inits.items():
            if label in short:  # no numbers at this step: say why, once
                cells += [Text(_ended(agg) if row == 0 else "—", style="bold red"), "—", "—", "—"]
                continue
            ts = agg[which]
            act = fmt(ts["act_var"][t - 1], 3)
            theory = ts["theory_act_var"][t - 1] if which == "step0" else np.nan
            if np.isfinite(theory):
                act += f" (θ {fmt(theory, 3)})"
            sat = ts["saturation"][t - 1]
            jac = fmt(ts["jac_sq"][t - 1], 3) if _has_jac_sq(ts) else "—"  # older folders: —
            cells += [act, fmt(ts["grad_var"][t - 1], 3), jac,
                      Text(f"{sat:.0%}", style="bold red" if sat > 0.5 else "")]  # fmt: skip
        table.add_row(*cells)
    return table


def gate_summary(report: dict) -> Table | None:
    """The gated arms' gates at step 0 and at their last statistics step: each gate's mean value
    and share saturated, both averaged over t = 1..T (and over seeds), and Var(c_t) at t = T for
    an LSTM. None when no arm has gates."""
    arms = {k: a for k, a in report["inits"].items()
            if a["step0"] is not None and gate_names(a["step0"])}  # fmt: skip
    if not arms:
        return None
    gates = list(dict.fromkeys(g for a in arms.values() for g in gate_names(a["step0"])))
    with_c = any(measured(a["step0"], "cell_var") for a in arms.values())
    seeds = _seed_mean(a["n"] for a in arms.values())
    table = Table(title=f"gates: mean value (share saturated), averaged over t = 1..T{seeds}",
                  title_justify="left", min_width=60, caption_justify="left",
                  caption="saturated: a sigmoid gate < 0.05 or > 0.95, a tanh candidate (g, n) "
                          "|v| > 0.9; f near 1 (LSTM) or z near 1 (GRU) keeps the state longer")  # fmt: skip
    for col in ("arm", "step", *(f"gate {g}" for g in gates), *(["Var(c_T)"] if with_c else [])):
        table.add_column(col, justify="left" if col == "arm" else "right",
                         style="bold" if col == "arm" else "")  # fmt: skip
    for label, agg in arms.items():
        for which, step in (("step0", 0), ("last", agg["last_step"])):
            ts = agg[which]
            if ts is None or (which == "last" and not step):
                continue
            cells = [label if which == "step0" else "", str(step)]
            for g in gates:
                mean, sat = ts.get(f"gate_{g}_mean"), ts.get(f"gate_{g}_sat")
                ok = mean is not None and np.isfinite(mean).any()
                cells.append(f"{fmt(np.nanmean(mean), 3)} ({np.nanmean(sat):.0%})" if ok else "—")
            if with_c:
                cells.append(fmt(ts["cell_var"][-1], 3) if measured(ts, "cell_var") else "—")
            table.add_row(*cells)
    return table


def _seed_mean(counts) -> str:
    """', mean over 3 seeds' for a title when the numbers shown are averaged over seeds (counts:
    the seeds averaged, per init), else ''."""
    counts = sorted(set(counts))
    if not counts or counts[-1] < 2:
        return ""
    return f", mean over {_seeds(counts)}"


def _seeds(counts) -> str:
    """'3 seeds', or '2-3 seeds' when the inits had different numbers of seeds."""
    counts = sorted(set(counts))
    if not counts:
        return "0 seeds"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} seed{'' if n == '1' else 's'}"


def _has_jac_sq(ts: dict) -> bool:
    """Was jac_sq measured? It is 1 at t = T whenever it was, so all-NaN means an older folder."""
    return measured(ts, "jac_sq")


def _ended(agg: dict) -> str:
    """Why an init has no statistics at a later step: where it diverged, or where they end."""
    if agg["diverged_at"]:
        return f"diverged at step {', '.join(map(str, sorted(set(agg['diverged_at']))))}"
    status = "/".join(sorted(set(agg["status"]) - {"completed"})) or "ended"
    return f"{status}; statistics end at step {agg['last_step']}"


def sparklines(report: dict, which: str = "step0") -> Table:
    """One row per init: Var(h_t), Var(dL/dh_t) and jac_sq across t as log-scale sparklines."""
    inits = {k: a for k, a in report["inits"].items() if a[which] is not None}
    seeds = _seed_mean(a["n"] for a in inits.values())
    table = Table(title=f"t = 1..T at step 0{seeds}, log scale shared by all inits (× non-finite)",
                  title_justify="left", min_width=60)  # fmt: skip
    table.add_column("init", style="bold")
    table.add_column("Var(h_t)", no_wrap=True, style="cyan")
    table.add_column("Var(dL/dh_t)", no_wrap=True, style="magenta")
    table.add_column("jac_sq (dh_T/dh_t)", no_wrap=True, style="green")
    acts = {k: _sampled(a[which]["act_var"]) for k, a in inits.items()}
    grads = {k: _sampled(a[which]["grad_var"]) for k, a in inits.items()}
    jacs = {k: _sampled(a[which]["jac_sq"]) for k, a in inits.items() if _has_jac_sq(a[which])}
    alo, ahi = _log_bounds(list(acts.values()))
    glo, ghi = _log_bounds(list(grads.values()))
    jlo, jhi = _log_bounds(list(jacs.values()))
    for k in inits:
        jac = sparkline(jacs[k], jlo, jhi) if k in jacs else Text("—", style="dim")
        table.add_row(k, sparkline(acts[k], alo, ahi), sparkline(grads[k], glo, ghi), jac)
    return table


def _sampled(values: np.ndarray, width: int = 40) -> np.ndarray:
    if len(values) <= width:
        return values
    idx = np.unique(np.linspace(0, len(values) - 1, width).round().astype(int))
    return values[idx]


def _pm(mean_std, digits: int = 4) -> str:
    mean, std, n = mean_std
    if mean is None:
        return "—"
    return fmt(mean, digits) if n < 2 else f"{fmt(mean, digits)} ± {fmt(std, 2)}"


def _pm_pct(mean_std) -> str:
    """An accuracy across seeds as '96.1%' or '96.1% ± 0.4%'; '—' without one."""
    mean, std, n = mean_std
    if mean is None:
        return "—"
    return f"{mean:.1%}" if n < 2 else f"{mean:.1%} ± {std:.1%}"


def summary(report: dict) -> Table:
    """Final and best loss against chance, final accuracy (tasks with classes), steps to the
    target loss and (with train.target_acc) to the target accuracy, each with its speed-up,
    status, Whh at init."""
    task = report.get("task", {})
    chance, target = task.get("chance"), task.get("target_loss")
    n = [a["n"] for a in report["inits"].values()]
    if max(n, default=1) > 1:
        steps = ("the median step at which the smoothed training loss (EMA 0.9) reached it, over "
                 "seeds (Kaplan-Meier, censored as in the loss-level table), with the seeds that got "
                 "there; speed-up: the slowest init's median over this one's, only between inits "
                 f"that have a median; a ± b: mean ± population std (ddof 0) over {_seeds(n)}")  # fmt: skip
    else:
        steps = ("the first step at which the smoothed training loss (EMA 0.9) reached it; speed-up: "
                 "the slowest init's steps over this one's, only between inits that reached it; one "
                 "seed per init (--seeds N: mean ± population std over N)")  # fmt: skip
    # accuracy beside the loss, for tasks with classes (every arm of a compare runs one task)
    with_acc = any(a.get("final_val_acc", (None,))[0] is not None for a in report["inits"].values())
    to_acc = any(_rung_named(a, "target_acc") for a in report["inits"].values())
    table = Table(title="summary", title_justify="left",
                  caption=f"chance {fmt(chance)} ({task.get('loss_kind', '')}); target loss {fmt(target)}: "
                          f"{task.get('target_text', '')}; steps to target: {steps}"
                          + (_acc_caption(task) if with_acc else "")
                          + (_to_acc_caption(task) if to_acc else ""),
                  caption_justify="left")  # fmt: skip
    for col in ("init", "status", "final val loss", *(["final val acc"] if with_acc else []),
                "best val loss", "steps to target", "speed-up",
                *(["steps to acc", "speed-up (acc)"] if to_acc else []),
                "ρ(Whh)", "σmax(Whh)", "sat t=T"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("init", "status") else "right")
    for label, agg in report["inits"].items():
        statuses = agg["status"]
        if agg["diverged_at"]:
            status = Text(
                f"diverged at step {', '.join(map(str, agg['diverged_at']))}", style="bold red"
            )
        else:
            status = Text(
                ", ".join(sorted(set(statuses))),
                style="green" if set(statuses) == {"completed"} else "yellow",
            )
        sat = agg["saturation_T"][0]
        acc = [_pm_pct(agg.get("final_val_acc", (None, None, 0)))] if with_acc else []
        to_target = _steps_cells(_rung_named(agg, "target"))
        to_acc_cells = _steps_cells(_rung_named(agg, "target_acc")) if to_acc else []
        table.add_row(label, status, _pm(agg["final_val_loss"]), *acc, _pm(agg["best_val_loss"]),
                      *to_target, *to_acc_cells,
                      _pm(agg["spectral_radius"], 3), _pm(agg["max_singular"], 3),
                      "—" if sat is None else f"{sat:.0%}")  # fmt: skip
    return table


def _acc_caption(task: dict) -> str:
    """What the summary's accuracy is, and a uniform guess's accuracy where the runs say it."""
    chance = task.get("chance_acc")
    guess = "" if chance is None else f"; chance accuracy {_pct(chance)} (a uniform guess)"
    return ("; final val acc: top-1 accuracy on the validation batches (mnist1d: the digit; "
            f"copy: the recalled symbols; char: the next character){guess}")  # fmt: skip


def _to_acc_caption(task: dict) -> str:
    """How the summary's steps to the target accuracy are read (no EMA: evaluations only)."""
    goal = task.get("target_acc")
    level = "the target accuracy" if goal is None else f"the target accuracy {goal:.1%}"
    return (f"; steps to acc: the first evaluation step (every log.eval_every) at which the "
            f"validation top-1 accuracy, not smoothed, reached {level} (train.target_acc), "
            "median and speed-up (acc) as for the target loss")  # fmt: skip


def _steps_cells(rung: dict | None) -> list[str]:
    """A rung's two summary cells: the censored median with the seeds that got there, and the
    speed-up ('—' for none)."""
    if rung is None:
        return ["—", "—"]
    speed = "—" if rung["speedup"] is None else f"{rung['speedup']:.1f}x"
    return [_median_cell(rung), speed]


def _rung_named(agg: dict, name: str) -> dict | None:
    """An init's rung of the ladder by key ('target', 'target_acc'), None where it has none."""
    return next((r for r in agg.get("ladder", []) if r["rung"] == name), None)


def _level_text(rung: dict, unit: bool = False) -> str:
    """A rung's level as a reader should read it: a loss (4 significant digits) or an accuracy
    ('90.0%'; with unit, '90.0% acc')."""
    if rung["kind"] == "acc":
        return f"{rung['level']:.1%}" + (" acc" if unit else "")
    return fmt(rung["level"], 4)


def _pct(share: float) -> str:
    """A chance share as '10%', '12.5%', '3.7%' (3 significant digits, no trailing zeros)."""
    return f"{100 * share:.3g}%"


def _median_cell(rung: dict) -> str:
    """'89 (3/3)': the censored median and the seeds that got there; 'not reached (1/3)'."""
    median = "not reached" if rung["median"] is None else f"{rung['median']}"
    return median if rung["n"] == 1 else f"{median} ({rung['reached']}/{rung['n']})"


def ladder(report: dict) -> Table:
    """Steps to each level of the ladder (the loss levels, then the target accuracy when the
    runs have one), one row per level, one column per init."""
    inits = report["inits"]
    n = [a["n"] for a in inits.values()]
    over = f", median over {_seeds(n)} (Kaplan-Meier; seeds that got there)" if max(n) > 1 else ""
    with_acc = any(r["kind"] == "acc" for r in report.get("rungs", []))
    title = f"steps until the smoothed training loss (EMA 0.9) first reaches each level{over}"
    caption = ("a seed that never got to a level is censored at its last step (a diverged seed "
               "at the step it diverged): not there yet, never averaged as if it had arrived; not "
               "reached: fewer than half the seeds got there, so there is no median; no bound is "
               "taken from the run length")  # fmt: skip
    if with_acc:
        title = ("steps until each level is first reached: the loss levels on the smoothed "
                 "training loss (EMA 0.9), the accuracy level on the validation accuracy (top-1) "
                 f"at the evaluation steps{over}")  # fmt: skip
        caption += ("; the accuracy level is read at the evaluation steps only (every "
                    "log.eval_every), with no EMA: its steps are evaluation steps")  # fmt: skip
    table = Table(title=title, title_justify="left", min_width=80, caption_justify="left",
                  caption=caption)  # fmt: skip
    table.add_column("level", style="bold")
    table.add_column("loss / acc" if with_acc else "loss", justify="right")
    for label in inits:
        table.add_column(label, justify="right")
    for i, rung in enumerate(report.get("rungs", [])):
        first = next(iter(inits.values()))["ladder"][i]
        cells = [_median_cell(a["ladder"][i]) for a in inits.values()]
        table.add_row(rung["text"], _level_text(first, unit=True), *cells)
    return table


def report_parts(report: dict) -> dict[str, list]:
    """The compare report in reading order, by part: "setup" (what each arm ran with, the
    learning rate grid), "timesteps" (per-timestep statistics at step 0, the sparklines, at the
    end, the gates), "summary" (the summary and the loss ladder), "verdicts" (one sentence per
    arm, then one per level of the ladder) and "folder" (where the files are). Tables and
    strings, for the terminal and the HTML report alike."""
    setup = [resolved(report)]
    if lr_grid(report) is not None:
        setup.append(lr_grid(report))
    timesteps = [side_by_side(report, "step0"), sparklines(report, "step0")]
    if any(a["last"] is not None and a["last_step"] for a in report["inits"].values()):
        timesteps.append(side_by_side(report, "last"))  # a later step than 0 exists
    gates = gate_summary(report)
    if gates is not None:
        timesteps.append(gates)
    tables = [summary(report)]
    if report.get("rungs"):
        tables.append(ladder(report))
    task = report.get("task", {})
    shared = report["meta"].get("nonlinearity") or task.get("nonlinearity", "tanh")
    sentences = []
    for label, agg in report["inits"].items():
        nl = agg["runs"][0]["summary"].get("nonlinearity", shared)  # a labelled arm may set it
        sentences.append(verdict(label, agg, nl, task.get("target_loss"), task.get("chance") or 1.0,
                                 chance_acc=task.get("chance_acc")))  # fmt: skip
    sentences += parting(report)
    folder = (f"folder: {report['dir']}  (report.html, compare.csv, plots/act_var_step0.png, "
              "plots/grad_var_step0.png, plots/jac_sq_step0.png, plots/loss.png, "
              "plots/units.png)")  # fmt: skip
    return {"setup": setup, "timesteps": timesteps, "summary": tables, "verdicts": sentences,
            "folder": [folder]}  # fmt: skip


class CompareProgress:
    """compare's progress: what will run, then one line per run as it ends (in the order runs
    end; the same lines for any number of worker processes), keeping failed runs' errors."""

    def __init__(self, console: Console):
        self.console, self.n, self.total, self.errors = console, 0, 0, []

    def start(self, info: dict) -> None:
        self.total, jobs = info["todo"], info["jobs"]
        done = info["total"] - info["todo"]
        kept = f"; {done} finished before, kept" if done else ""
        self.console.print(f"{info['todo']} of {info['total']} runs to run on {jobs} worker "
                           f"process{'es' if jobs > 1 else ''}{kept}", markup=False)  # fmt: skip

    def run_done(self, label: str, seed: int, result: dict) -> None:
        self.n += 1
        status = result["status"]
        if status == "diverged":
            status += f" at step {result['diverged_at']}"
        elif status in ("failed", "running elsewhere"):
            if status == "failed":
                self.errors.append(f"{label} seed {seed}: {result.get('error')}")
            status += f": {result.get('error')}"
        seconds = result.get("seconds")
        took = f", {seconds:.1f} s" if seconds is not None else ""
        self.console.print(f"[{self.n}/{self.total}] {label} seed {seed}: {status}, val loss "
                           f"{fmt(result.get('final_val_loss'))}{took}", markup=False)  # fmt: skip


def print_report(console: Console, report: dict) -> None:
    """The whole compare report, in reading order."""
    for part in report_parts(report).values():
        for renderable in part:
            console.print(renderable)


# ---------------------------------------------------------------------------------------------
# One plain sentence per init, from the numbers
# ---------------------------------------------------------------------------------------------
def verdict(
    label: str,
    agg: dict,
    nonlinearity: str,
    target: float | None,
    chance: float,
    chance_acc: float | None = None,
) -> str:
    """What happened to one init, stated from the measured numbers: saturation, Var(h_t) and
    the gradient through time at init, divergence, the target loss and the final validation
    loss against `chance`; where the arm has an accuracy, the target accuracy (with
    train.target_acc) and the final validation accuracy against `chance_acc` (a uniform
    guess's; None: not said)."""
    parts = []
    ts = agg["step0"]
    sat = ts["saturation"]
    entry = NONLINEARITIES.get(nonlinearity)
    rule = entry.saturation if entry is not None else None
    if rule is not None and np.nanmax(sat) >= 0.5:
        t_first = int(ts["t"][int(np.argmax(sat >= 0.5))])
        parts.append(f"{np.nanmax(sat):.0%} of {rule.phrase} by t = {t_first}")
    act = ts["act_var"][np.isfinite(ts["act_var"])]
    if act.size and act.min() < 1e-12 <= act.max():
        parts.append(
            f"Var(h_t) collapsed to {fmt(act.min(), 3)} (every unit pinned at the same value)"
        )
    elif act.size:
        parts.append(f"Var(h_t) at init {fmt(act.min(), 3)}..{fmt(act.max(), 3)}")
    parts += _through_time(ts, rule)
    n = agg["n"]
    if agg["diverged_at"]:
        at = ", ".join(str(s) for s in agg["diverged_at"])
        parts.append(f"diverged at step {at} ({len(agg['diverged_at'])} of {n} seeds; "
                     f"first non-finite: {agg['diverged_tensor'][0]})")  # fmt: skip
    final = agg["final_val_loss"][0]
    rung = _rung_named(agg, "target")
    if target is not None and rung is not None:
        verb, rest = _arrivals(rung, agg)
        parts.append(f"{verb} loss {target:.3f} {rest}")
    if final is not None:
        parts.append(f"final val loss {final:.3f} ({final / chance:.0%} of chance {chance:.3f})")
    parts += _accuracy(agg, chance_acc)
    return f"{label}: " + "; ".join(parts) + "."


def _accuracy(agg: dict, chance_acc: float | None) -> list[str]:
    """The verdict's accuracy, where the arm has one: how its seeds did at the target accuracy,
    and the final validation accuracy (mean ± population std over seeds) against chance."""
    out = []
    rung = _rung_named(agg, "target_acc")
    if rung is not None:
        verb, rest = _arrivals(rung, agg)
        out.append(f"{verb} accuracy {_level_text(rung)} {rest}")
    acc = agg.get("final_val_acc", (None, None, 0))
    if acc[0] is not None:
        chance = "" if chance_acc is None else f" (chance {_pct(chance_acc)})"
        out.append(f"final val acc {_pm_pct(acc)}{chance}")
    return out


def _arrivals(rung: dict, agg: dict) -> tuple[str, str]:
    """How the seeds of one init did at one level, as (verb, rest): ('reached', 'in 3/3 seeds,
    median 89 steps'), ('reached', 'in 1/3 seeds within 300 steps (no median)'), ('did not
    reach', 'within 300 steps (0/3 seeds)'), with the seeds that diverged first; one seed:
    ('reached', 'at step 89'), ('did not reach', 'within 300 steps')."""
    n, k, median = rung["n"], rung["reached"], rung["median"]
    if median is not None:
        return (
            "reached",
            f"at step {median}" if n == 1 else f"in {k}/{n} seeds, median {_steps(median)}",
        )
    last = max(s for s, got in zip(rung["steps"], rung["arrived"]) if not got)
    diverged = sum(st == "diverged" and not got for st, got in zip(agg["status"], rung["arrived"]))
    first = f"; {diverged} diverged first" if diverged else ""
    if k == 0:
        seeds = "" if n == 1 and not first else f" (0/{n} seeds{first})"
        return "did not reach", f"within {_steps(last)}{seeds}"
    return "reached", f"in {k}/{n} seeds within {_steps(last)} (no median{first})"


def _steps(n) -> str:
    return f"{n} step{'' if n == 1 else 's'}"


def parting(report: dict) -> list[str]:
    """One sentence per level of the ladder, from its columns: each init's censored median (or
    how many seeds got there), and the speed-up where at least two inits have a median."""
    inits = report["inits"]
    if len(inits) < 2:
        return []
    out = []
    for i, rung in enumerate(report.get("rungs", [])):
        at = {label: agg["ladder"][i] for label, agg in inits.items()}
        said = []
        for label, r in at.items():
            verb, rest = _arrivals(r, inits[label])
            said.append(f"{label} {verb} it {rest}")
        timed = {label: r for label, r in at.items() if r["speedup"] is not None}
        if timed:
            fast = min(timed, key=lambda k: timed[k]["median"])
            slow = max(timed, key=lambda k: timed[k]["median"])
            speed = f"{fast} {timed[fast]['speedup']:.1f}x faster than {slow}"
            missing = [label for label, r in at.items() if r["median"] is None]
            if missing:
                speed += f"; none against {', '.join(missing)} (no median)"
        else:
            speed = "no speed-up (fewer than two inits have a median)"
        level = f"{rung['text']} ({_level_text(next(iter(at.values())))})"
        out.append(f"{level}: {'; '.join(said)}: {speed}.")
    return out


def _through_time(ts: dict, rule) -> list[str]:
    """The gradient through time at step 0, from jac_sq (none for folders written before it).

    grad_var is not used for it: the total dL/dh_t piles up the loss of every later step, so it
    can stay level while nothing from t = T reaches t = 1. It is named only when non-finite.
    """
    out = []
    if _has_jac_sq(ts):
        jac, T = ts["jac_sq"], len(ts["jac_sq"])
        j1, theory = float(jac[0]), ts.get("theory_jac_sq", np.full(T, np.nan))[0]
        lead = f"the gradient from t = {T} reaching t = 1 is"
        what = f"jac_sq, the mean squared singular value of dh_{T}/dh_1"
        if np.isfinite(theory):
            what += f"; theory {fmt(theory, 3)}"
        if not np.isfinite(j1):
            out.append(f"{lead} non-finite ({what})")
        elif j1 == 0.0:
            out.append(f"{lead} zero{_why_zero(ts, rule)} ({what})")
        else:
            size = f"{fmt(j1, 3)} of" if j1 < 1 else f"{fmt(j1, 3)}x"
            out.append(f"{lead} {size} its size in squared norm ({what})")
    if not np.all(np.isfinite(ts["grad_var"])):
        out.append("the total dL/dh_t (with the loss of every later step) non-finite at init")
    return out


def _why_zero(ts: dict, rule) -> str:
    """': every unit saturated at t = k' where the saturation rule (tanh |h| > 0.99, relu h = 0)
    marks every unit at a step that J(T, 1) passes through (t = 2..T), else nothing: a zero can
    also come from Whh itself."""
    full = np.flatnonzero(ts["saturation"][1:] >= 1.0)
    if rule is None or not full.size:
        return ""
    return f": every unit saturated at t = {int(ts['t'][1:][full[0]])}"
