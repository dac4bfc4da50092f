"""`rnninit sweep` and `rnninit summarize`: parse, call rnninit.sweep / rnninit.summarize, render.

A sub-app: cli/app.py attaches it with ``app.add_typer``.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from ..errors import RnnInitError
from ..experiment.maps import METRICS
from ..experiment.workers import EXECUTORS
from ..report.sweep_view import SweepProgress, groups_table, runs_table, short_key, status_text
from ..report.terminal import fmt_cell
from .common import fail, graceful_stop, handled, stdout_console

app = typer.Typer()

Executor = Enum("Executor", {name: name for name in EXECUTORS}, type=str)


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
    console = stdout_console()
    with handled():  # a module broken inside the package: one line, exit 1
        from ..experiment.summarize import load_record, report_for
        from ..experiment.sweep import (
            load_sweep,
            parse_shard,
            plan_work,
            run_sweep,
            select_shard,
            shard_from_env,
        )

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
                      f"{', '.join(parts)}; table {sw.root / 'sweep.csv'}, report "
                      f"{sw.root / 'report.html'}",
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
        None,
        "--plot",
        help="One varied key: the final loss against it, a line per init. Two (KEY1,KEY2): a "
        "heatmap of --metric with KEY1 along x and KEY2 along y, one panel per value of the "
        "one other varied key (init, say), seeds averaged in each cell.",
    ),  # fmt: skip
    metric: str = typer.Option(
        None,
        "--metric",
        help="What the heatmap draws (default final_loss): "
        + "; ".join(f"{name}: {m.help}" for name, m in METRICS.items())
        + ".",
    ),  # fmt: skip
    plot_file: Path = typer.Option(
        None,
        "--plot-file",
        help="Where --plot writes (default: DIR/plots/final_loss_vs_KEY.png for one key, "
        "DIR/plots/METRIC_by_KEY1_KEY2.png for two).",
    ),  # fmt: skip
):
    """One table of many run folders, however they were made: a sweep, a compare, or a shell
    loop of `rnninit train`. The columns are the outcome, act_var and grad_var at the first
    and the last timestep at step 0, and every config key whose value differs between the
    runs. A run marked running whose process is gone shows as stale.

    Examples:

      rnninit summarize runs/

      rnninit summarize runs/sweeps/init_vs_width --by init,model.hidden_size --csv table.csv

      rnninit summarize runs/sweeps/init_vs_width --plot model.hidden_size

      rnninit summarize runs/sweeps/uniform_at_scale --plot model.hidden_size,task.seq_len --metric reached
    """
    from ..experiment.runs import write_csv
    from ..experiment.summarize import json_text, summarize, table_rows

    with handled():
        keys = [k.strip() for k in (by or "").split(",") if k.strip()]
        report = summarize(dirs, by=keys)
        rows = table_rows(report)
        if csv_file is not None:
            write_csv(csv_file, rows)
        path = None
        if metric is not None and not plot:
            raise RnnInitError("--metric: only with --plot KEY1,KEY2 (the heatmap)")
        if plot:
            path = _draw(report, plot, metric or "final_loss", plot_file, dirs[0])
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


def _draw(report: dict, plot: str, metric: str, plot_file: Path | None, where: Path) -> Path:
    """--plot: one key, the line plot of the final loss; two, the heatmap of --metric."""
    from ..experiment.maps import check_metric, parse_plot_keys, plot_map
    from ..experiment.summarize import plot_final_loss

    keys = parse_plot_keys(plot)
    check_metric(metric)
    if len(keys) == 1:
        if metric != "final_loss":
            raise RnnInitError(f"--metric {metric}: the one-key plot draws the final loss; "
                               f"name two keys (--plot {keys[0]},KEY) for a heatmap of {metric}")  # fmt: skip
        return plot_final_loss(report, keys[0], plot_file or where / "plots" /
                               f"final_loss_vs_{keys[0]}.png")  # fmt: skip
    name = f"{metric}_by_{keys[0]}_{keys[1]}.png"
    return plot_map(report, keys, metric, plot_file or where / "plots" / name)


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
            str(i), r.id, status_text(state), action, *(fmt_cell(r.params[k]) for k in sw.keys)
        )
    console.print(table)
    console.print(f"would run {len(work.todo) - len(work.existing)}, skip "
                  f"{len(work.skipped)}; nothing was run")  # fmt: skip
    if work.existing:
        console.print(f"{len(work.existing)} runs already have folders: add --resume to skip "
                      f"the finished ones, or --overwrite to run them again")  # fmt: skip
