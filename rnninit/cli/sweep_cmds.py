"""`rnninit sweep` and `rnninit summarize`: parse, call rnninit.sweep / rnninit.summarize, render.

A sub-app: cli/app.py attaches it with ``app.add_typer``.
"""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..errors import RnnInitError
from ..experiment.sweep import EXECUTORS, SweepReporter
from ..report.terminal import fmt_cell
from .common import fail, graceful_stop, handled, stdout_console

app = typer.Typer()

Executor = Enum("Executor", {name: name for name in EXECUTORS}, type=str)
HEADINGS = {"final_val_loss": "final loss", "steps_to_target": "to target",
            "act_var_t1": "act t=1", "act_var_tT": "act t=T", "grad_var_t1": "grad t=1",
            "grad_var_tT": "grad t=T"}  # fmt: skip
NOTES = ("final loss: validation loss at the end; to target: steps until the smoothed training "
         "loss reached the target; act, grad: act_var = Var(h_t) and grad_var = Var(dL/dh_t) at "
         "the first and the last t, at step 0 (before any update)")  # fmt: skip


def _status(status: str) -> Text:
    from ..report.terminal import STATUS_STYLE

    return Text(status, style=STATUS_STYLE.get(status, ""))


def short_key(key: str) -> str:
    """A column heading: 'hidden_size' for model.hidden_size; init.Whh stays whole."""
    return key if key.startswith("init.") else key.split(".")[-1]


def _tail(label: str, width: int = 24) -> str:
    """The end of a long run label, where a sweep run's hash and a train run's time are."""
    return label if len(label) <= width else "…" + label[-(width - 1) :]


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
        cells = [_tail(r["run"]), _status(r["status"])]
        cells += [fmt_cell(r[c]) for c in HEADINGS]
        cells += [fmt_cell(r["values"].get(k)) for k in report["varied"]]
        table.add_row(*cells)
    return table


def groups_table(report: dict, title: str) -> Table:
    """One row per group of --by: runs, their outcomes, and mean ± population std across the
    group."""
    from ..report.terminal import fmt

    table = Table(title=title, title_justify="left", caption="mean ± std (population) over the "
                  "runs of each group: losses over completed and diverged runs, steps to target "
                  "over the runs that reached it (how many in brackets). " + NOTES,
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
            mean, std = g[f"{col}_mean"], g[f"{col}_std"]
            text = "—" if mean is None else f"{fmt(mean, 3)}±{fmt(std, 2)}"
            if col == "steps_to_target" and mean is not None:
                text += f" ({g['reached_target']}/{g['completed'] + g['diverged']})"
            cells.append(text)
        table.add_row(*cells)
    return table


class SweepProgress(SweepReporter):
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


@app.command()
def sweep(
    sweep_file: Path = typer.Argument(..., help="The sweep YAML: name, base, grid, zip, seeds."),
    overrides: list[str] = typer.Argument(
        None,
        metavar="[KEY=VALUE]...",
        help="Overrides of the base config (not of a key the sweep varies), e.g. train.steps=50.",
    ),  # fmt: skip
    jobs: int = typer.Option(
        None, "--jobs", "-j", help="Worker processes (default: the number of cores)."
    ),
    shard: str = typer.Option(
        None,
        "--shard",
        help="Run shard K of N (K from 1), e.g. 3/16; default: from SLURM_ARRAY_TASK_ID and "
        "SLURM_ARRAY_TASK_COUNT when set. The shards of one sweep never share a run.",
    ),  # fmt: skip
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Skip runs whose folder says completed or diverged (or that run elsewhere now); "
        "run the others again from scratch.",
    ),  # fmt: skip
    overwrite: bool = typer.Option(False, "--overwrite", help="Run every run again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs; run nothing."),
    executor: Executor = typer.Option(
        "local", "--executor", help="local: worker processes here; dask: a Dask cluster."
    ),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://head:8786 (default: a LocalCluster of "
        "--jobs processes). Workers must see the runs folder at the same path.",
    ),  # fmt: skip
    blas_threads: int = typer.Option(
        1, "--blas-threads", min=1, help="BLAS threads per worker process."
    ),
):
    """Run every combination of a sweep file: locally in parallel, one shard of it, or on
    a Dask cluster. Each run gets a stable folder under <log.runs_dir>/sweeps/<name>/.

    Examples:

      rnninit sweep configs/sweeps/init_vs_width.yaml --jobs 2

      rnninit sweep configs/sweeps/init_vs_width.yaml --shard 3/16 --resume

      rnninit sweep configs/sweeps/init_vs_width.yaml --executor dask --scheduler tcp://head:8786
    """
    from ..experiment.summarize import load_record, report_for
    from ..experiment.sweep import (
        load_sweep,
        parse_shard,
        plan_work,
        run_sweep,
        select_shard,
        shard_from_env,
    )

    console = stdout_console()
    with handled():
        if jobs is not None and jobs < 1:
            raise RnnInitError(f"--jobs: expected a positive integer, got {jobs}")
        if scheduler and executor.value != "dask":
            raise RnnInitError("--scheduler: only with --executor dask")
        if resume and overwrite:
            raise RnnInitError("--resume and --overwrite: choose one")
        sw = load_sweep(sweep_file, overrides or [])
        where = parse_shard(shard) if shard else shard_from_env()
        runs = select_shard(sw.runs, *where) if where else sw.runs
        part = f" (shard {where[0] + 1}/{where[1]} of {len(sw.runs)})" if where else ""
        work = plan_work(sw, runs, resume=resume, overwrite=overwrite, strict=not dry_run)
        if dry_run:
            _print_plan(console, sw, runs, work, part)
            return
        if work.skipped:
            console.print(f"skipping {len(work.skipped)} runs: " + ", ".join(
                f"{n} {s}" for s, n in _count(work.skipped.values()).items()))  # fmt: skip
        if not work.todo:
            console.print(f"nothing to run: all {len(runs)} runs{part} are done; "
                          f"rnninit summarize {sw.root} shows them")  # fmt: skip
            return
        with graceful_stop() as should_stop:
            outcome = run_sweep(sw, work.todo, jobs=jobs, executor=executor.value,
                                scheduler=scheduler, blas_threads=blas_threads,
                                reporter=SweepProgress(console), should_stop=should_stop,
                                argv=sys.argv)  # fmt: skip
        dirs = [r for r in runs if (sw.run_dir(r) / "summary.json").is_file()]
        report = report_for([load_record(sw.run_dir(r), r.id) for r in dirs],
                            varied=sw.keys, sort=False)  # fmt: skip
        console.print(runs_table(report, f"sweep {sw.name}{part}"))
        failed = {k: v for k, v in outcome["results"].items() if v["status"] == "failed"}
        for run_id, res in failed.items():
            console.print(Text.assemble(("failed ", "bold red"), f"{run_id}: {res['error']}"))
        c = outcome["counts"]
        parts = [f"{c[k]} {k}" for k in ("completed", "diverged", "failed")]
        parts += [f"{c['interrupted']} interrupted"] if c["interrupted"] else []
        parts += [f"{c['running elsewhere']} running elsewhere"] if c["running elsewhere"] else []
        parts += [f"{c['total'] - c['done']} not started"] if c["done"] < c["total"] else []
        console.print(f"{c['done']} of {c['total']} runs ran in {outcome['seconds']:.1f} s: "
                      f"{', '.join(parts)}; table {sw.root / 'sweep.csv'}",
                      highlight=False)  # fmt: skip
    if outcome["status"] == "interrupted":
        again = resume_command(sweep_file, overrides or [], jobs=jobs, shard=shard,
                               executor=executor.value, scheduler=scheduler,
                               blas_threads=blas_threads)  # fmt: skip
        raise fail(f"interrupted; finish with: {again}", 130)
    if failed:
        raise fail(f"{len(failed)} of {c['total']} runs failed (errors above)", 1)


def resume_command(sweep_file: Path, overrides: list[str], **options) -> str:
    """The command that resumes this sweep, quoted for a POSIX shell: the same file, the same
    overrides (they change the run ids) and the options given (those left at their default,
    None, 1 for --blas-threads or local for --executor, are left out)."""
    import shlex

    defaults = {"jobs": None, "shard": None, "executor": "local", "scheduler": None,
                "blas_threads": 1}  # fmt: skip
    words = ["rnninit", "sweep", str(sweep_file), *overrides, "--resume"]
    for name, value in options.items():
        if value != defaults[name]:
            words += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(words)


@app.command()
def summarize(
    dirs: list[Path] = typer.Argument(..., help="Folders holding run folders, at any depth."),
    by: str = typer.Option(
        None,
        "--by",
        help="Group by these comma-separated keys (e.g. init,model.hidden_size): mean ± "
        "population std over the other runs of each group (seeds).",
    ),  # fmt: skip
    csv_file: Path = typer.Option(None, "--csv", help="Also write the table to this CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    plot: str = typer.Option(
        None, "--plot", help="Plot the final loss against this varied key, a line per init."
    ),
    plot_file: Path = typer.Option(
        None,
        "--plot-file",
        help="Where --plot writes (default: DIR/plots/final_loss_vs_KEY.png).",
    ),
):
    """One table of many run folders, however they were made: a sweep, a compare, or a shell
    loop of `rnninit train`. The columns are the outcome, act_var and grad_var at the first
    and the last timestep at step 0, and every config key whose value differs between the
    runs. A run marked running whose process is gone shows as stale.

    Examples:

      rnninit summarize runs/

      rnninit summarize runs/sweeps/init_vs_width --by init,model.hidden_size --csv table.csv

      rnninit summarize runs/sweeps/init_vs_width --plot model.hidden_size
    """
    from ..experiment.runs import write_csv
    from ..experiment.summarize import json_text, plot_final_loss, summarize, table_rows

    with handled():
        keys = [k.strip() for k in (by or "").split(",") if k.strip()]
        report = summarize(dirs, by=keys)
        rows = table_rows(report)
        if csv_file is not None:
            write_csv(csv_file, rows)
        path = None
        if plot:
            key = plot.strip()
            path = plot_file or dirs[0] / "plots" / f"final_loss_vs_{key}.png"
            plot_final_loss(report, key, path)
        if as_json:
            sys.stdout.write(json_text(report))
            return
        console = stdout_console()
        n = len(report["records"])
        where = ", ".join(map(str, dirs))
        if report["groups"] is not None:
            console.print(groups_table(report, f"{n} runs in {where}, by {', '.join(keys)}"))
            if report["pooled"]:
                console.print(f"note: groups also pool runs that differ in "
                              f"{', '.join(report['pooled'])}")  # fmt: skip
        else:
            console.print(runs_table(report, f"{n} runs in {where}"))
        if not report["varied"] and n > 1:
            console.print("note: these runs share every config key")
        if csv_file is not None:
            console.print(f"csv: {csv_file}")
        if path is not None:
            console.print(f"plot: {path}")


def _count(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _print_plan(console, sw, runs, work, part) -> None:
    table = Table(title=f"sweep {sw.name}: {len(runs)} runs{part} -> {sw.root}",
                  title_justify="left")  # fmt: skip
    table.add_column("#", justify="right")
    table.add_column("run id")
    table.add_column("state")
    table.add_column("action")
    for key in sw.keys:
        table.add_column(short_key(key), justify="right")
    todo, existing = {r.id for r in work.todo}, set(work.existing)
    for i, r in enumerate(runs, 1):
        state = work.states.get(r.id) or "new"
        action = "exists" if r.id in existing else "run" if r.id in todo else "skip"
        table.add_row(
            str(i), r.id, _status(state), action, *(fmt_cell(r.params[k]) for k in sw.keys)
        )
    console.print(table)
    console.print(f"would run {len(work.todo) - len(work.existing)}, skip "
                  f"{len(work.skipped)}; nothing was run")  # fmt: skip
    if work.existing:
        console.print(f"{len(work.existing)} runs already have folders: add --resume to skip "
                      f"the finished ones, or --overwrite to run them again")  # fmt: skip
