"""Terminal rendering with rich: run headers, per-timestep tables with bars, summaries, progress.

Everything here takes plain data (dicts, arrays, CSV rows) and returns or prints rich objects;
nothing here computes a statistic.
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..core.stats import timesteps_at

BLOCKS = " ▏▎▍▌▋▊▉█"
MIN_DECADES = 3.0  # a bar column spans at least this many powers of ten
JAC_CAPTION = (
    "grad_var: Var of the total dL/dh_t, with the loss of every later step; jac_sq: mean squared "
    "singular value of dh_T/dh_t (the gradient through time alone, from a random unit probe)"
)


def fmt(v, digits: int = 4) -> str:
    """A number for a table cell: '—' for missing, 'nan'/'inf' spelled out, scientific when tiny or huge."""
    if v is None or v == "":
        return "—"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.{digits - 2}e}"
    return f"{v:.{digits}g}"


def fmt_log(v) -> str:
    """A natural log for a table cell: two decimals (its error is absolute, so a log of 1 that
    came out as 1e-16 reads 0.00), '-inf' for the log of 0, 'nan'."""
    v = float(v)
    if not math.isfinite(v):
        return fmt(v)
    return "0.00" if abs(v) < 0.005 else f"{v:.2f}"


def fmt_cell(v, digits: int = 4) -> str:
    """Any value for a table cell: a float through fmt, None as '—', anything else as its text."""
    if isinstance(v, float):
        return fmt(v, digits)
    return "—" if v is None else str(v)


def sample_timesteps(T: int, limit: int = 32) -> list[int]:
    """Every t when T <= limit, else the first, the last and log-spaced ones between (1-based)."""
    if T <= limit:
        return list(range(1, T + 1))
    return sorted(set(np.unique(np.round(np.geomspace(1, T, 20)).astype(int)).tolist()) | {1, T})


def log_bars(values, width: int = 14) -> list[Text]:
    """Bars whose length is log10(value), the largest value full width and the column spanning
    its own range of powers of ten, or MIN_DECADES when that is less."""
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(arr > 0, np.log10(arr), np.nan)
    finite = logs[np.isfinite(logs)]
    bars = []
    for v, lv in zip(arr, logs):
        if not np.isfinite(v):
            bars.append(Text("  nan" if np.isnan(v) else "  inf", style="bold red"))
            continue
        if not np.isfinite(lv):
            bars.append(Text("", style="dim"))
            continue
        hi = finite.max()
        span = max(hi - finite.min(), MIN_DECADES)  # small wiggles must not look like decay
        frac = 1.0 - (hi - lv) / span
        eighths = max(1, int(round(frac * width * 8)))
        text = "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")
        bars.append(Text(text))
    return bars


def timestep_table(ts: dict, step: int, title: str | None = None) -> Table:
    """The per-timestep table: t, act_var, grad_var, grad_norm, saturation, jac_sq, theory, bars.

    ts: column name -> array over t = 1..T (optionally 'theory': dict of arrays or None).
    jac_sq is left out for run folders written before it existed (no value at any t).
    """
    T = len(ts["act_var"])
    rows = [t - 1 for t in sample_timesteps(T)]
    theory = ts.get("theory")
    jac = ts.get("jac_sq")
    jac = jac if jac is not None and np.isfinite(jac).any() else None
    jac_theory = None if theory is None or jac is None else theory.get("jac_sq")
    if title is None:
        title = f"per-timestep statistics at step {step}"
        if theory is None and _gated(ts):
            title += " (no mean-field theory for gated cells: the theory columns stay empty)"
    table = Table(title=title, title_justify="left",
                  caption=JAC_CAPTION if jac is not None else None, caption_justify="left")  # fmt: skip
    table.add_column("t", justify="right", style="bold")
    table.add_column("act_var", justify="right")
    if theory is not None:
        table.add_column("theory", justify="right", style="dim")
    table.add_column("Var(h_t), log", style="cyan", no_wrap=True)
    table.add_column("grad_var", justify="right")
    table.add_column("Var(dL/dh_t), log", style="magenta", no_wrap=True)
    table.add_column("grad_norm", justify="right")
    table.add_column("saturation", justify="right")
    if jac is not None:
        table.add_column("jac_sq", justify="right")
        if jac_theory is not None:
            table.add_column("theory", justify="right", style="dim")
        table.add_column("jac_sq, log", style="green", no_wrap=True)
    act_bars = log_bars([ts["act_var"][i] for i in rows])
    grad_bars = log_bars([ts["grad_var"][i] for i in rows])
    jac_bars = log_bars([jac[i] for i in rows]) if jac is not None else None
    for k, i in enumerate(rows):
        cells = [str(i + 1), fmt(ts["act_var"][i])]
        if theory is not None:
            cells.append(fmt(theory["act_var"][i]))
        sat = float(ts["saturation"][i])
        sat_text = Text(f"{sat:.0%}", style="bold red" if sat > 0.5 else "")
        cells += [
            act_bars[k],
            fmt(ts["grad_var"][i]),
            grad_bars[k],
            fmt(ts["grad_norm"][i]),
            sat_text,
        ]
        if jac is not None:
            cells.append(fmt(jac[i]))
            if jac_theory is not None:
                cells.append(fmt(jac_theory[i]))
            cells.append(jac_bars[k])
        table.add_row(*cells)
    return table


def measured(ts: dict, column: str) -> bool:
    """Does the run have this column (a value at some t)? Cells leave others' columns empty."""
    v = ts.get(column)
    return v is not None and bool(np.isfinite(np.asarray(v, dtype=float)).any())


def gate_names(ts: dict) -> list[str]:
    """The gates measured in ``ts`` (a column -> array dict), in column order (i f g o, r z n)."""
    return [k.removeprefix("gate_").removesuffix("_mean") for k in ts
            if k.startswith("gate_") and k.endswith("_mean") and measured(ts, k)]  # fmt: skip


def _gated(ts: dict) -> bool:
    return bool(gate_names(ts))


GATE_CAPTION = (
    "each gate: its mean value over the batch and units, and in brackets the share saturated "
    "(a sigmoid gate < 0.05 or > 0.95; a tanh candidate, g or n, |v| > 0.9)"
)


def gate_table(ts: dict, step: int) -> Table:
    """A gated cell's per-timestep table: t, Var(c_t) and Var(dL/dc_t) (LSTM), then each gate's
    mean and saturation. ts: column -> array over t = 1..T, as timestep_table takes it."""
    T = len(ts["act_var"])
    rows = [t - 1 for t in sample_timesteps(T)]
    gates = gate_names(ts)
    cell_cols = [c for c in ("cell_var", "cell_grad_var") if measured(ts, c)]
    what = "gates and cell state" if cell_cols else "gates"
    caption = GATE_CAPTION + ("; cell_grad_var: Var of the total dL/dc_t" if cell_cols else "")
    table = Table(title=f"{what} at step {step}", title_justify="left", caption=caption,
                  caption_justify="left")  # fmt: skip
    table.add_column("t", justify="right", style="bold")
    for c in cell_cols:
        table.add_column(c, justify="right")
    if "cell_var" in cell_cols:
        table.add_column("Var(c_t), log", style="cyan", no_wrap=True)
    for g in gates:
        table.add_column(f"gate {g}", justify="right")
    c_bars = log_bars([ts["cell_var"][i] for i in rows]) if "cell_var" in cell_cols else None
    for k, i in enumerate(rows):
        cells = [str(i + 1), *(fmt(ts[c][i]) for c in cell_cols)]
        if c_bars is not None:
            cells.append(c_bars[k])
        for g in gates:
            sat = float(ts[f"gate_{g}_sat"][i])
            text = Text(f"{fmt(ts[f'gate_{g}_mean'][i], 3)} ({sat:.0%})")
            if sat > 0.5:
                text.stylize("bold red")
            cells.append(text)
        table.add_row(*cells)
    return table


def timestep_tables(ts: dict, step: int) -> list[Table]:
    """The per-timestep table, and for a gated cell its gate table too."""
    return [timestep_table(ts, step), *([gate_table(ts, step)] if _gated(ts) else [])]


def jacobian_table(rows: list[dict], step: int, state: str = "") -> Table | None:
    """The Jacobian spectrum of one statistics step (jacobian.csv rows): per t, the geometric
    mean over sequences of sv_max, sv_median and sv_min, and the mean over sequences of
    mean_log_sv and frac_within_10pct_of_1. None when the step has no rows.

    state: what the state is, for the caption (``state_text``). Where a sequence's smallest
    singular values sit under float64's round-off floor (they were counted at the floor),
    sv_min, mean log σ and, if it is at the floor too, sv_median show as "<= value": upper
    bounds.
    """
    from ..core.jacobian import at_floor

    mine = [r for r in rows if r.get("step") == step]
    if not mine:
        return None
    by_t: dict[int, list[dict]] = {}
    for r in mine:
        by_t.setdefault(int(r["t"]), []).append(r)
    n = max(len(v) for v in by_t.values())
    caption = (
        f"singular values of J(t, 0) = dh_t/dh_0{f' {state}' if state else ''}, h_0 = 0: "
        f"geometric mean over {n} sequence{'s' if n > 1 else ''} (mean log σ and within 10% "
        "of 1: arithmetic mean); <=: an upper bound, where values under float64's round-off "
        "floor (1e-15 x sv_max) were counted at the floor; an isometry has every σ = 1"
    )
    table = Table(title=f"Jacobian spectrum at step {step}", title_justify="left",
                  caption=caption, caption_justify="left")  # fmt: skip
    for col in ("t", "sv_max", "sv_median", "sv_min", "mean log σ", "within 10% of 1"):
        table.add_column(col, justify="right", style="bold" if col == "t" else None)

    def gmean(group, col):
        with np.errstate(divide="ignore"):
            return float(np.exp(np.mean(np.log([float(r[col]) for r in group]))))

    def bounded(value: str, floored: bool) -> str:
        return f"<= {value}" if floored else value

    for t, group in sorted(by_t.items()):
        floored = any(at_floor(r["sv_min"], r["sv_max"]) for r in group)
        mid = any(at_floor(r["sv_median"], r["sv_max"]) for r in group)
        within = float(np.mean([r["frac_within_10pct_of_1"] for r in group]))
        table.add_row(str(t), fmt(gmean(group, "sv_max"), 3),
                      bounded(fmt(gmean(group, "sv_median"), 3), mid),
                      bounded(fmt(gmean(group, "sv_min"), 3), floored),
                      bounded(fmt_log(np.mean([r["mean_log_sv"] for r in group])), floored),
                      fmt(within) if math.isnan(within) else f"{within:.0%}")  # fmt: skip
    return table


def state_text(cell: str, H: int) -> str:
    """'of the state (h, c), S = 256': the parts and size of a cell's full state (the vectors
    its Jacobian acts on)."""
    from ..core.cells import CELLS

    c = CELLS.get(cell)
    if c is None or not H:
        return ""
    parts = c.state_names[0] if len(c.state_names) == 1 else f"({', '.join(c.state_names)})"
    return f"of the state {parts}, S = {c.state_size(H)}"


def timesteps_from_rows(rows: list[dict], step: int) -> dict:
    """The per-timestep dict of one statistics step, as timestep_table takes it."""
    ts = timesteps_at(rows, step)
    theory = ts["theory_act_var"]
    ts["theory"] = (
        {"act_var": theory, "jac_sq": ts["theory_jac_sq"]} if np.isfinite(theory).any() else None
    )
    return ts


_BIASES_BEFORE_ROLES = ("bh", "by")  # the biases of run folders written before roles were recorded


def describe_init(init: dict, critical: dict | None = None) -> str:
    """'Wxh xavier, Whh orthogonal (gain 1.667), Why xavier, biases zeros'.

    ``init``: parameter name -> {"scheme", "gain", optionally "role"}, in draw order. Weights are
    named one by one; the entries with role "bias" (without a role: bh and by) are grouped.
    ``critical``: a summary's solve of ``init.Whh=critical``, shown as 'Whh critical ->
    xavier:1.517' (the scheme typed, then the draw it became).
    """
    parts, biases = [], set()
    for name, s in init.items():
        if not isinstance(s, dict) or "scheme" not in s:
            continue  # not a parameter's entry
        if critical and name == critical["param"]:
            parts.append(
                f"{name} {critical['scheme']} -> {critical['draw']}:{critical['gain']:.4g}"
            )
            continue
        if s.get("role", "bias" if name in _BIASES_BEFORE_ROLES else "weight") == "bias":
            biases.add(s["scheme"] + ("" if s.get("arg") is None else f":{s['arg']:g}"))
            continue
        gain = "" if s["gain"] == 1 else f" (gain {s['gain']:.4g})"
        parts.append(f"{name} {s['scheme']}{gain}")
    if biases:
        parts.append(f"biases {'/'.join(sorted(biases))}")
    return ", ".join(parts)


def header(info: dict) -> Table:
    """The run's identity: where it writes, what it trains, how it was initialised."""
    cfg = info["config"]
    m, tr = cfg["model"], cfg["train"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", info.get("run_dir") or "(not written)")
    task = f"{info['task']} (T={cfg['task']['seq_len']}), chance {info.get('chance_text', '')}"
    grid.add_row("task", task)
    if info.get("corpus"):
        grid.add_row("corpus", info["corpus"])
    cell = m.get("cell", "rnn")
    what = m["nonlinearity"] if cell == "rnn" else f"{cell} (sigmoid gates, tanh candidate)"
    grid.add_row("model", f"H={m['hidden_size']}, {what}, {tr['dtype']}")
    grid.add_row("init", describe_init(info["init"], info.get("critical")))
    grid.add_row(
        "Whh",
        f"spectral radius {fmt(info['spectral_radius'])}, "
        f"largest singular value {fmt(info['max_singular'])}",
    )
    grid.add_row(
        "train",
        f"{tr['steps']} steps of {tr['optimizer']} (lr {tr['lr']:g}), batch {tr['batch_size']}, "
        f"clip {tr['clip']:g}, seed {cfg['seed']}",
    )
    blas = info.get("blas")
    if blas and blas.get("threads"):
        grid.add_row("blas", blas_text(blas))
    return grid


def blas_text(blas: dict) -> str:
    """'1 thread (policy: H = 8 < 512), openblas 0.3.31 SkylakeX': a summary's ``blas``."""
    plural = "s" if blas["threads"] > 1 else ""
    return (f"{blas['threads']} thread{plural} ({blas['chosen_by']}), "
            f"{blas['library']} {blas['version']} {blas['kernel']}")  # fmt: skip


def fmt_chance(summary: dict) -> str:
    """'4.564 (xent)': a run's chance loss and the loss it is measured in."""
    return f"{fmt(summary.get('chance'))} ({summary.get('loss_kind')})"


def run_parts(run: dict, every: bool = False) -> dict[str, list]:
    """What `rnninit show` prints of a run folder, in that order, by part: "header" (the run's
    identity), "timesteps" (per statistics step its per-timestep tables, then its Jacobian
    spectrum where logged; the first and the last step, or every one), "summary".

    run: the folder read back (experiment.reports.load_run): summary, config (a dict), rows
    (timesteps.csv) and jacobian (jacobian.csv rows, [] without log.jacobian).
    """
    summary, rows = run["summary"], run["rows"]
    state = state_text(summary.get("cell", "rnn"), summary.get("hidden_size", 0))
    steps = sorted({r["step"] for r in rows})
    tables = []
    for step in steps if every else sorted({steps[0], steps[-1]}) if steps else []:
        tables += timestep_tables(timesteps_from_rows(rows, step), step)
        jac = jacobian_table(run["jacobian"], step, state)
        if jac is not None:
            tables.append(jac)
    info = {**summary, "config": run["config"], "chance_text": fmt_chance(summary)}
    return {"header": [header(info)], "timesteps": tables, "summary": [summary_table(summary)]}


STATUS_STYLE = {"completed": "green", "diverged": "bold red", "interrupted": "yellow",
                "failed": "bold red", "running": "cyan", "stale": "yellow"}  # fmt: skip


def summary_table(s: dict) -> Table:
    """The end-of-run summary: status, losses against the chance baseline, steps to target."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = s["status"]
    if status == "diverged":
        status += f" at step {s['diverged_at']} (first non-finite: {s.get('diverged_tensor')})"
    if status == "running" and s.get("pid") is not None:
        status += f" (pid {s['pid']} on host {s.get('host')})"
    if status in ("stale", "interrupted") and s.get("run_dir"):
        status += f" (continue it with: rnninit train --resume {s['run_dir']})"
    grid.add_row("status", Text(status, style=STATUS_STYLE.get(s["status"], "")))
    chance = s.get("chance")
    grid.add_row("chance", f"{fmt(chance)} ({s.get('loss_kind')})")
    grid.add_row("train loss", f"final {fmt(s.get('final_loss'))}, best {fmt(s.get('best_loss'))}")
    val = f"final {fmt(s.get('final_val_loss'))}, best {fmt(s.get('best_val_loss'))}"
    if s.get("final_val_bits") is not None:
        val += f" ({fmt(s['final_val_bits'])} bits/char)"
    if chance and s.get("final_val_loss") is not None:
        val += f", {s['final_val_loss'] / chance:.0%} of chance"
    grid.add_row("val loss", val)
    if s.get("final_val_acc") is not None:
        acc = f"final {s['final_val_acc']:.1%}, best {s['best_val_acc']:.1%}"
        if s.get("target_acc") is not None:
            reached = s.get("steps_to_target_acc")
            at = f"step {reached}" if reached is not None else "not reached"
            acc += f"; target {s['target_acc']:.1%}: {at}"
        grid.add_row("val accuracy", acc)
    if s.get("target_loss") is not None:
        reached = s.get("steps_to_target")
        text = f"step {reached}" if reached is not None else "not reached"
        grid.add_row("target", f"smoothed train loss <= {fmt(s['target_loss'])}: {text} "
                               f"[dim]({s.get('target_text', '')})[/dim]")  # fmt: skip
    grid.add_row(
        "steps", f"{s.get('steps_done')} of {s.get('steps')} in {s.get('seconds', 0):.1f} s"
    )
    if s.get("run_dir"):
        grid.add_row("folder", s["run_dir"])
    return grid


def _drive_text(table: dict) -> str:
    """What drives the recurrence in the inits table's theory: no input, a stated variance, or a
    task's inputs."""
    bias = f"bias variance {fmt(table['bias_var'], 3)}"
    task = table.get("task")
    if task is not None:
        return (f"driven by the {task['task']} task's inputs (mean ||x_t||²/I = "
                f"{fmt(task['x_sq'], 3)} over {task['batches']} batches of {task['batch_size']} x "
                f"{task['seq_len']} steps, through Wxh drawn with each scheme at gain 1) and {bias}")  # fmt: skip
    if table["input_var"] == 0 and table["bias_var"] == 0:
        return "without input or bias (input and bias variance 0: set --input-var, --bias-var or --task)"
    return f"driven by input variance {fmt(table['input_var'], 3)} per step and {bias}"


def inits_table(table: dict, shape: tuple[int, int]) -> Group:
    """`rnninit inits`: every scheme with its formula and the measured draw, then the theory of
    the recurrence each zero-mean scheme draws.

    table: ``experiment.schemes.schemes_with_theory``'s dict (rows, nonlinearity, input_var,
    bias_var, task).
    """
    from ..core.theory import REGIME_TOL, ROUNDING_TOL

    draws = Table(
        title=f"initialisation schemes, measured on one {shape[0]}x{shape[1]} draw",
        title_justify="left",
        caption="E(w), Var(w): the formula; mean, var, ρ, σmax: measured; "
        + ", ".join(r["name"] for r in table["rows"] if r.get("solved"))
        + ": no fixed variance (its gain is solved at run time), nothing to draw here; its "
        "theory row is the solve for this drive (— where no critical gain exists)",
        caption_justify="left",
    )
    for col in ("scheme", "formula", "E(w)", "mean", "Var(w)", "var", "ρ", "σmax"):
        draws.add_column(col, justify="left" if col in ("scheme", "formula") else "right",
                         style="bold" if col == "scheme" else None, no_wrap=True)  # fmt: skip
    theory = Table(
        title=f"mean-field theory of the recurrence with {table['nonlinearity']} "
        f"{_drive_text(table)}",
        title_justify="left",
        caption="σw² = fan_in Var(w), from the formula; in: the input's share of the "
        "pre-activation variance per step; q*: variance the pre-activations settle at; "
        "χ*: gradient factor per step back in time there; ξ = -1/ln χ*: steps over which the "
        f"gradient shrinks by e (negative: grows). Critical where |χ* - 1| <= {REGIME_TOL:g}; "
        f"a slope within {ROUNDING_TOL:g} of 1 counts as 1 (rounding). Zero-mean schemes only",
        caption_justify="left",
    )
    for col in ("scheme", "σw²", "in", "q*", "χ*", "ξ", "regime"):
        theory.add_column(col, justify="left" if col in ("scheme", "regime") else "right",
                          style="bold" if col == "scheme" else None, no_wrap=True,
                          min_width=8 if col == "regime" else None)  # fmt: skip
    style = {"ordered": "cyan", "critical": "green", "chaotic": "red"}
    for r in table["rows"]:
        draws.add_row(r["name"], r["formula"], fmt(r["expected_mean"], 3), fmt(r["mean"], 3),
                      fmt(r["expected_var"], 3), fmt(r["var"], 3),
                      fmt(r.get("spectral_radius"), 3), fmt(r.get("max_singular"), 3))  # fmt: skip
        reg = r.get("regime")
        s_w2 = r["s_w2"] if r.get("solved") else shape[1] * r["expected_var"] if reg else None
        theory.add_row(r["name"], fmt(s_w2, 3), fmt(r.get("input_var"), 3),
                       fmt(r.get("q_star"), 3), fmt(r.get("chi"), 3), fmt(r.get("xi"), 3),
                       Text(reg, style=style[reg]) if reg else Text("—", style="dim"))  # fmt: skip
    return Group(draws, theory)


class ConsoleReporter:
    """A rich progress bar on a terminal; plain lines every `print_every` steps elsewhere."""

    def __init__(self, console: Console, print_every: int = 25, tables: bool = True):
        self.console = console
        self.print_every = print_every
        self.tables = tables
        self.progress = None
        self.task_id = None
        self.total = 0
        self.state = ""

    def start(self, info: dict) -> None:
        self.total = info["steps"]
        self.state = state_text(info.get("cell", "rnn"), info.get("hidden_size", 0))
        self.console.print(header(info))
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[loss]}"), TimeRemainingColumn(),
                console=self.console, transient=True,
            )  # fmt: skip
            self.task_id = self.progress.add_task("train", total=self.total + 1, loss="")
            self.progress.start()

    def step(self, row: dict) -> None:
        finite = math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])
        text = f"loss {fmt(row['loss'])}" if finite else "non-finite loss or gradient: diverged"
        if row.get("val_loss") is not None:
            text += f"  val {fmt(row['val_loss'])}"
        if row.get("val_acc") is not None:
            text += f"  acc {row['val_acc']:.1%}"
        if self.progress is not None:
            self.progress.update(self.task_id, completed=row["step"] + 1, loss=text)
        elif row["step"] % self.print_every == 0 or row["step"] == self.total or not finite:
            gnorm = f"  |g| {fmt(row['grad_norm'])}" if finite else ""
            line = f"step {row['step']:>6}/{self.total}  {text}{gnorm}  {row['seconds']:.1f}s"
            self.console.print(line, highlight=False)

    def stats(self, step: int, timesteps: dict) -> None:
        if self.tables:
            for table in timestep_tables(timesteps, step):
                self.console.print(table)

    def jacobian(self, step: int, rows: list[dict]) -> None:
        if self.tables:
            table = jacobian_table(rows, step, self.state)
            if table is not None:
                self.console.print(table)

    def end(self, summary: dict) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.console.print(summary_table(summary))


def _block_cells(r: dict) -> list[str]:
    """block, fans, E(w) → mean, Var(w) → var of one measured block (a ``measure_blocks`` row)."""
    block = r["param"] + (f".{r['gate']}" if r["gate"] else " (whole)" if r["whole"] else "")
    return [block, f"{r['fan_out']}, {r['fan_in']}",
            f"{fmt(r['expected_mean'], 3)} → {fmt(r['mean'], 3)}",
            f"{fmt(r['expected_var'], 3)} → {fmt(r['var'], 3)}"]  # fmt: skip


def _blocks_table(title: str, widths=None, caption: str | None = None) -> Table:
    """An empty table of blocks: scheme, block, fans, E(w) → mean, Var(w) → var (each column
    at least its entry of ``widths``, so that tables drawn one under another line up)."""
    table = Table(title=Text(title), title_justify="left", caption=caption, caption_justify="left")
    cols = ("scheme", "block", "fans", "E(w) → mean", "Var(w) → var")
    for col, width in zip(cols, widths or [None] * len(cols), strict=True):
        left = col in ("scheme", "block")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "scheme",
                         style="bold" if col == "scheme" else None, min_width=width)  # fmt: skip
    return table


def gate_blocks_table(listing: dict) -> Group:
    """`rnninit inits --cell C` for a gated cell: per init, each block with its own fans.

    One table of every scheme (its name, then its formula, down the first column), then one
    small table per gate-bias scheme (its formula in the title) and per preset (the scheme of
    each block): five columns, the formula and the measured value sharing one, so that it fits
    160 columns (a console that is not a terminal) and reads at 100.

    listing: ``experiment.schemes.gate_block_listing``'s dict.
    """
    H, I = listing["H"], listing["I"]
    schemes = _blocks_table(
        f"{listing['cell']}: initialisation block by block (H = {H}, I = {I}), one draw "
        "measured per block",
        caption="fans: (fan_out, fan_in) of the block, which every formula reads (a bias: n, n; "
        "'(whole)': the matrix drawn in one piece, with its own fans); E(w), Var(w): the "
        "formula; mean, var: measured on the block",
    )
    others = []  # (title, rows of cells) of the gate-bias schemes and presets
    for section in listing["sections"]:
        cells = [_block_cells(r) for r in section["rows"]]
        if section["kind"] == "scheme":  # the name, then the formula, down the first column
            cells += [[""] * 4] * (2 - len(cells))  # room for both lines
            heads = [section["init"], Text(section["formula"], style="dim")]
            for head, row in zip(heads + [""] * (len(cells) - 2), cells, strict=True):
                schemes.add_row(head, *row)
            schemes.add_section()
            continue
        title = section["init"] + (f": {section['formula']}" if section["formula"] else " (preset)")
        for r, row in zip(section["rows"], cells, strict=True):
            scheme = r["scheme"] + (f":{r['gain']:g}" if r["gain"] != 1.0 else "")
            row.insert(0, scheme + (f" ({r['arg']:g})" if r["arg"] is not None else ""))
        others.append((title, cells))
    widths = [max((len(row[k]) for _, cells in others for row in cells), default=0)
              for k in range(5)]  # fmt: skip
    tables = [schemes]
    for title, cells in others:
        tables.append(table := _blocks_table(title, widths))
        for row in cells:
            table.add_row(*row)
    return Group(*tables)
