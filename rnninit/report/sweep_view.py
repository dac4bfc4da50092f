"""Terminal rendering of sweeps and summaries: the runs table, the groups table, the progress.

Plain data in (summarize's report dicts, a sweep's events), rich objects out. SweepProgress
receives the events of rnninit.experiment.sweep.run_sweep (start, run_done, end) by duck typing,
so this layer never imports the experiment layer.
"""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from .terminal import STATUS_STYLE, fmt, fmt_cell

HEADINGS = {"final_val_loss": "final loss", "steps_to_target": "to target",
            "act_var_t1": "act t=1", "act_var_tT": "act t=T", "grad_var_t1": "grad t=1",
            "grad_var_tT": "grad t=T"}  # fmt: skip
NOTES = ("final loss: validation loss at the end; to target: steps until the smoothed training "
         "loss reached the target; act, grad: act_var = Var(h_t) and grad_var = Var(dL/dh_t) at "
         "the first and the last t, at step 0 (before any update)")  # fmt: skip


def status_text(status: str) -> Text:
    """A run status, coloured as every table colours it."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def short_key(key: str) -> str:
    """A column heading: 'hidden_size' for model.hidden_size; init.Whh stays whole."""
    return key if key.startswith("init.") else key.split(".")[-1]


def _tail(label: str, width: int = 24) -> str:
    """The end of a long run label, where a sweep run's hash and a train run's time are."""
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def outcome_text(records: list[dict]) -> str:
    """'4 runs: 3 completed, 1 diverged.': how many runs ended in each status, most first."""
    counts = Counter(r["status"] for r in records)
    parts = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    return f"{len(records)} run{'' if len(records) == 1 else 's'}" + (
        f": {parts}." if parts else "."
    )


def runs_table(report: dict, title: str) -> Table:
    """One row per run: outcome, step-0 statistics (at t = 1 and t = T), the varied keys."""
    table = Table(title=title, title_justify="left", caption=NOTES, caption_justify="left")  # fmt: skip
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for col in HEADINGS:
        table.add_column(HEADINGS[col], justify="right", no_wrap=True)
    for key in report["varied"]:
        table.add_column(short_key(key), justify="right", min_width=len(short_key(key)))
    for r in report["records"]:
        cells = [_tail(r["run"]), status_text(r["status"])]
        cells += [fmt_cell(r[c]) for c in HEADINGS]
        cells += [fmt_cell(r["values"].get(k)) for k in report["varied"]]
        table.add_row(*cells)
    return table


def groups_table(report: dict, title: str) -> Table:
    """One row per group of --by: runs, their outcomes, and mean ± population std across the
    group."""
    table = Table(title=title, title_justify="left", caption="mean ± std (population) over the "
                  "runs of each group: losses over completed and diverged runs; to target: the "
                  "Kaplan-Meier median over those runs, a run that never got there censored at "
                  "its last step ('not reached' when fewer than half did), with how many reached "
                  "it in brackets. " + NOTES,
                  caption_justify="left")  # fmt: skip
    for key in report["by"]:
        table.add_column(
            short_key(key), justify="right", style="bold", min_width=len(short_key(key))
        )
    table.add_column("runs", justify="right")
    table.add_column("ok/div/fail", justify="right", min_width=11)
    for col in HEADINGS:
        table.add_column(HEADINGS[col], justify="right", no_wrap=True)
    for g in report["groups"]:
        cells = [fmt_cell(g[k]) for k in report["by"]]
        cells += [str(g["n"]), f"{g['completed']}/{g['diverged']}/{g['failed']}"]
        for col in HEADINGS:
            if col == "steps_to_target":
                median, runs = g["steps_to_target_median"], g["completed"] + g["diverged"]
                text = "not reached" if median is None else fmt(median, 4)
                cells.append(f"{text} ({g['reached_target']}/{runs})" if runs else "—")
                continue
            mean, std = g[f"{col}_mean"], g[f"{col}_std"]
            cells.append("—" if mean is None else f"{fmt(mean, 3)}±{fmt(std, 2)}")
        table.add_row(*cells)
    return table


class SweepProgress:
    """One rich progress bar on a terminal; one plain line per finished run elsewhere."""

    def __init__(self, console: Console):
        self.console, self.progress, self.t0 = console, None, time.perf_counter()

    def start(self, info: dict) -> None:
        self.total, self.t0 = info["total"], time.perf_counter()
        self.console.print(f"sweep: {info['total']} runs on {info['executor']} -> {info['root']}")
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"), TimeRemainingColumn(), console=self.console,
            )  # fmt: skip
            self.task = self.progress.add_task("sweep", total=info["total"], counts="")
            self.progress.start()

    def run_done(self, run, result: dict, counts: dict) -> None:
        status = result["status"]
        text = (f"{counts['running']} running · {counts['completed']} completed · "
                f"{counts['diverged']} diverged · {counts['failed']} failed")  # fmt: skip
        line = f"{status} {run.id}"
        if status in ("failed", "running elsewhere"):
            line += f": {result.get('error')}"
        elif status in ("completed", "diverged", "interrupted"):
            at = f" at step {result.get('diverged_at')}" if status == "diverged" else ""
            line += (f"{at}: val loss {fmt_cell(result.get('final_val_loss'))}, "
                     f"{result.get('seconds') or 0:.1f} s")  # fmt: skip
        if status == "not started":
            return
        if self.progress is not None:
            self.progress.update(self.task, completed=counts["done"], counts=text)
            if status != "completed":  # the bar counts them; failures and divergences get a line
                self.progress.console.print(line, highlight=False, markup=False)
            return
        elapsed, done = time.perf_counter() - self.t0, counts["done"]
        eta = elapsed / done * (self.total - done) if done else 0.0
        self.console.print(f"[{done}/{self.total}] {line} | {text} | eta {_duration(eta)}",
                           highlight=False, markup=False, soft_wrap=True)  # fmt: skip

    def end(self, outcome: dict) -> None:
        if self.progress is not None:
            self.progress.stop()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
