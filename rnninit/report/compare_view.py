"""Terminal report of a comparison: side-by-side timestep tables, sparklines, summary, verdicts."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.nonlinearities import NONLINEARITIES
from .terminal import MIN_DECADES, fmt, sample_timesteps

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
    """What each init ran with, per matrix (scheme, or scheme:gain), and Whh's target radius."""
    rows = {label: agg.get("resolved") or {} for label, agg in report["inits"].items()}
    keys = ["Wxh", "Whh", "Why", "bh", "by"]
    if any(r.get("spectral_radius") for r in rows.values()):
        keys.append("spectral_radius")
    note = "; spectral_radius: Whh rescaled to it" if "spectral_radius" in keys else ""
    table = Table(title=f"what each init drew, per matrix (scheme, or scheme:gain{note})",
                  title_justify="left", min_width=60)  # fmt: skip
    for col in ("init", *keys):
        table.add_column(col, style="bold" if col == "init" else "")
    for label, r in rows.items():
        table.add_row(label, *(r.get(k) or "—" for k in keys))
    return table


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
    table = Table(title=f"per-timestep statistics at step {step} (θ: mean-field theory)",
                  title_justify="left", min_width=60, caption="; ".join(notes),
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


def _has_jac_sq(ts: dict) -> bool:
    """Was jac_sq measured? It is 1 at t = T whenever it was, so all-NaN means an older folder."""
    return "jac_sq" in ts and bool(np.isfinite(ts["jac_sq"]).any())


def _ended(agg: dict) -> str:
    """Why an init has no statistics at a later step: where it diverged, or where they end."""
    if agg["diverged_at"]:
        return f"diverged at step {', '.join(map(str, sorted(set(agg['diverged_at']))))}"
    status = "/".join(sorted(set(agg["status"]) - {"completed"})) or "ended"
    return f"{status}; statistics end at step {agg['last_step']}"


def sparklines(report: dict, which: str = "step0") -> Table:
    """One row per init: Var(h_t), Var(dL/dh_t) and jac_sq across t as log-scale sparklines."""
    inits = {k: a for k, a in report["inits"].items() if a[which] is not None}
    table = Table(title="t = 1..T at step 0, log scale shared by all inits (× non-finite)",
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


def summary(report: dict) -> Table:
    """Final and best loss against chance, steps to target and speed-up, status, Whh at init."""
    task = report.get("task", {})
    chance, target = task.get("chance"), task.get("target_loss")
    table = Table(title="summary", title_justify="left",
                  caption=f"chance {fmt(chance)} ({task.get('loss_kind', '')}); target loss {fmt(target)}: "
                          f"{task.get('target_text', '')}; speed-up against the slowest init to reach "
                          "it (≥: against the run length, when an init never did); a ± b: mean ± "
                          "population std over seeds",
                  caption_justify="left")  # fmt: skip
    for col in ("init", "status", "final val loss", "best val loss", "steps to target", "speed-up",
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
        steps = _pm(agg["steps_to_target"], 4) if agg["reached"] else "never"
        if agg["reached"] and agg["reached"] < agg["n"]:
            steps += f" ({agg['reached']}/{agg['n']})"
        speed = "—" if agg.get("speedup") is None else f"{agg['speedup']:.1f}x"
        if agg.get("speedup_bound"):
            speed = "≥ " + speed
        sat = agg["saturation_T"][0]
        table.add_row(label, status, _pm(agg["final_val_loss"]), _pm(agg["best_val_loss"]), steps, speed,
                      _pm(agg["spectral_radius"], 3), _pm(agg["max_singular"], 3),
                      "—" if sat is None else f"{sat:.0%}")  # fmt: skip
    return table


def print_report(console: Console, report: dict) -> None:
    """The whole compare report, in reading order."""
    console.print(resolved(report))
    console.print(side_by_side(report, "step0"))
    console.print(sparklines(report, "step0"))
    if any(a["last"] is not None and a["last_step"] for a in report["inits"].values()):
        console.print(side_by_side(report, "last"))  # a later step than 0 exists
    console.print(summary(report))
    task = report.get("task", {})
    nl = report["meta"].get("nonlinearity") or task.get("nonlinearity", "tanh")
    for label, agg in report["inits"].items():
        console.print(verdict(label, agg, nl, task.get("target_loss"), task.get("chance") or 1.0))
    console.print(f"folder: {report['dir']}  (compare.csv, plots/act_var_step0.png, "
                  "plots/grad_var_step0.png, plots/jac_sq_step0.png, plots/loss.png)")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# One plain sentence per init, from the numbers
# ---------------------------------------------------------------------------------------------
def verdict(label: str, agg: dict, nonlinearity: str, target: float | None, chance: float) -> str:
    """What happened to one init, stated from the measured numbers."""
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
    if target is not None:
        mean_steps = agg["steps_to_target"][0]
        if mean_steps is not None:
            seeds = f" ({agg['reached']} of {n} seeds)" if n > 1 else ""
            parts.append(f"reached loss {target:.3f} at step {mean_steps:.0f}{seeds}")
        else:
            parts.append(
                f"never reached loss {target:.3f} in {agg['runs'][0]['summary']['steps']} steps"
            )
    if final is not None:
        parts.append(f"final val loss {final:.3f} ({final / chance:.0%} of chance {chance:.3f})")
    return f"{label}: " + "; ".join(parts) + "."


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
