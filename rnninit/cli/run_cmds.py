"""`rnninit train`, `compare`, `show` and `inits`: parse, call one library function, render."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import RnnInitError
from .common import blame, exit_for, fail, graceful_stop, handled, stdout_console

app = typer.Typer()


def _config_epilog() -> str:
    from ..experiment.config import reference_table

    lines = ["[bold]Config keys[/bold] (defaults; override any with KEY=VALUE):\n\n"]
    for key, default, allowed, _help in reference_table():
        lines.append(f"  {key} = {default}  [dim]({allowed})[/dim]\n\n")
    return "".join(lines)


OVERRIDES_HELP = (
    "Dotted KEY=VALUE overrides applied after the config file, values parsed as YAML scalars, "
    "e.g. model.hidden_size=512 init.Whh=orthogonal train.steps=1000."
)


@app.command(epilog=_config_epilog())
def train(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help=OVERRIDES_HELP),
    config: Path = typer.Option(
        None, "--config", "-c", help="YAML config; every key has a default, so none is needed."
    ),
    tables: bool = typer.Option(
        True, "--tables/--no-tables", help="Print the per-timestep table at each statistics step."
    ),
    no_memory_check: bool = typer.Option(
        False,
        "--no-memory-check",
        help="Run even when the estimated BPTT memory exceeds 80% of RAM.",
    ),
    resume: Path = typer.Option(
        None,
        "--resume",
        help="Continue an interrupted or killed run from its last checkpoint, in its own "
        "folder, to the same numbers it would have reached uninterrupted.",
    ),
):
    """Train one RNN and write one run folder (config.yaml, metrics.csv, timesteps.csv,
    params.csv, summary.json, plots/).

    Examples:

      rnninit train

      rnninit train --config configs/char_xavier.yaml model.hidden_size=512 init.Whh=orthogonal
    """
    from ..experiment.config import load_config
    from ..experiment.training import resume as run_resume
    from ..experiment.training import train as run_train
    from ..report.terminal import ConsoleReporter

    with handled(), graceful_stop() as should_stop:
        if resume is not None:
            if config is not None or overrides:
                raise RnnInitError(
                    "--resume: takes the run's own config.yaml; give no --config or KEY=VALUE"
                )
            cfg = load_config(resume / "config.yaml")
            reporter = ConsoleReporter(stdout_console(), cfg.log.print_every, tables=tables)
            summary = run_resume(resume, reporter=reporter, argv=sys.argv, should_stop=should_stop)
        else:
            cfg = load_config(config, overrides or [])
            reporter = ConsoleReporter(stdout_console(), cfg.log.print_every, tables=tables)
            with blame(config):
                summary = run_train(cfg, reporter=reporter, argv=sys.argv, overrides=overrides or [],
                                    should_stop=should_stop, memory_check=not no_memory_check)  # fmt: skip
    exit_for(summary)


COMPARE_INITS_HELP = (
    "Arms to compare. A scheme name (xavier, uniform, he, orthogonal, identity, ...) or preset "
    "(keras_default, flax_default, torch_default) replaces the whole init; a per-matrix spec "
    "such as Whh=identity or Whh=orthogonal:1.1,Wxh=he (:GAIN, spectral_radius=R) changes only "
    "the matrices it names and keeps the others, and spectral_radius, from the config's init "
    "(default=NAME sets every matrix it does not name). A labelled arm, one quoted argument "
    "'LABEL: KEY=VALUE ...' (a colon before any '='), applies its overrides to the config: "
    "'irnn: init.Whh=identity model.nonlinearity=relu'. Other arguments containing a dot before "
    "'=' (model.hidden_size=512, init.Wxh.gain=0.5), and name=, seed=, init=, are overrides of "
    "the config every arm starts from."
)


def split_compare_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Arms and KEY=VALUE overrides share the positional slots: a labelled arm ('irnn: ...', a
    colon before any '=') is an arm; otherwise a token whose part before the first '=' contains
    a dot (or is a top-level config key) is an override of the base config."""
    from ..experiment.arms import is_labelled

    inits, overrides = [], []
    for arg in args:
        key = arg.split("=", 1)[0]
        is_override = "=" in arg and ("." in key or key in ("name", "seed", "init"))
        (overrides if is_override and not is_labelled(arg) else inits).append(arg)
    return inits, overrides


@app.command(epilog=_config_epilog())
def compare(
    args: list[str] = typer.Argument(None, metavar="ARM... [KEY=VALUE]...", help=COMPARE_INITS_HELP),
    config: Path = typer.Option(None, "--config", "-c", help="YAML config shared by every init."),
    seeds: int = typer.Option(
        None, "--seeds", min=1, help="Runs per init (seeds seed, seed+1, ...); mean ± population "
        "std. Default 1.",
    ),
    lr_grid: str = typer.Option(
        None,
        "--lr-grid",
        metavar="LR,LR,...",
        help="Train each arm at every learning rate (same batches) and report each arm at the "
        "one with the lowest final validation loss (mean over seeds); every candidate stays in "
        "the folder. Sets train.lr: an arm or override that sets it too is refused.",
    ),
    jobs: int = typer.Option(
        None, "--jobs", "-j", min=1,
        help="Worker processes that run the arms x seeds in parallel (default: the number of "
        "cores), each with one BLAS thread, as a sweep's: the numbers are the same, bit for bit, "
        "for any --jobs.",
    ),
    resume: Path = typer.Option(
        None, "--resume", metavar="COMPARE_DIR",
        help="Finish an interrupted compare folder: continue its interrupted runs from their "
        "checkpoints, start those never started, keep the finished ones; then rewrite "
        "compare.csv, compare.json and the plots. Takes no arms, overrides or --config.",
    ),
):  # fmt: skip
    """Train several initialisations, or setups, on identical data and compare them side by side.

    Every arm sees the same batches in the same order; only the weights differ, or what a
    labelled arm sets.

    A labelled arm, "LABEL: KEY=VALUE ...", is one shell argument: a label (it names the arm's
    runs, 1-48 characters of A-Z a-z 0-9 _ . -) before a colon, then whitespace-separated
    overrides applied to the config like any KEY=VALUE (cell, nonlinearity, optimizer, lr,
    init...; init.Whh=identity changes Whh alone, as the arm Whh=identity does). Refused with
    one line (exit 2): a bad or repeated label, a word that is not KEY=VALUE (write the init
    xavier as init=xavier inside the arm), and the keys every arm must share: task.*, seed and
    train.batch_size (the batches), train.steps and train.target_loss (the race), name and
    log.* (the compare names and files the runs). Each run's config.yaml is its resolved
    config and its overrides.yaml lists the overrides, then the arm's own.

    --lr-grid 0.001,0.003,0.01 trains each arm at every rate and reports it at the one with
    the lowest final validation loss (mean over seeds), since a speed-up at one shared rate
    can be an artefact of that rate; the grid table shows every candidate.

    The arms x seeds run in --jobs worker processes (default: the number of cores), each
    with one BLAS thread: every run computes with one thread (or train.threads) whatever
    --jobs is, so the numbers are the same, bit for bit, for any --jobs. Ctrl-C stops every
    run after its step with a checkpoint; compare.json lists each run with its status, and
    --resume COMPARE_DIR finishes the rest (exit 130 says the command).

    Overrides of init (init=he, init.Wxh.gain=0.5) edit the config's init before the inits
    merge onto it, as the config file would; one that a scheme or preset name would drop
    (compare xavier uniform init.Whh=orthogonal), or that every init sets itself, is refused
    (exit 2). Each run's config.yaml records the init it drew, every matrix named; the report,
    compare.json and compare.csv show it per matrix.

    Examples:

      rnninit compare xavier uniform

      rnninit compare xavier uniform --seeds 4 --jobs 2

      rnninit compare --resume runs/compare-run-20261201-153931-d0f1

      rnninit compare xavier uniform he orthogonal --config configs/char_xavier.yaml model.hidden_size=512

      rnninit compare Whh=identity Whh=xavier --config configs/adding_irnn.yaml

      rnninit compare Whh=identity Whh=he init=he model.nonlinearity=relu

      rnninit compare xavier uniform model.nonlinearity=relu

      rnninit compare "irnn: init.Whh=identity model.nonlinearity=relu" "tanh: init.Whh=orthogonal model.nonlinearity=tanh" --config configs/adding_irnn.yaml train.steps=300

      rnninit compare "irnn: init.Whh=identity model.nonlinearity=relu" "tanh: init.Whh=orthogonal model.nonlinearity=tanh" --lr-grid 0.001,0.003,0.01 --config configs/adding_irnn.yaml
    """
    with handled():  # a module broken inside the package: one line, exit 1
        from ..experiment.compare import compare as run_compare
        from ..experiment.compare import parse_lr_grid, resume_compare
        from ..experiment.config import load_config
        from ..report.compare_view import CompareProgress, print_report

        console = stdout_console()
        progress = CompareProgress(console)
        if resume is not None:
            if args or config is not None or seeds is not None or lr_grid is not None:
                raise RnnInitError("--resume: takes the compare's own arms, seeds and config; "
                                   "give no ARM, KEY=VALUE, --config, --seeds or --lr-grid")  # fmt: skip
            with graceful_stop() as should_stop:
                report = resume_compare(resume, jobs=jobs, on_start=progress.start,
                                        on_run_done=progress.run_done, should_stop=should_stop,
                                        argv=sys.argv)  # fmt: skip
        else:
            inits, overrides = split_compare_args(args or [])
            grid = parse_lr_grid(lr_grid) if lr_grid is not None else None
            cfg = load_config(config, overrides)
            with graceful_stop() as should_stop, blame(config):
                report = run_compare(cfg, inits, seeds or 1, jobs=jobs, on_start=progress.start,
                                     on_run_done=progress.run_done, argv=sys.argv,
                                     overrides=overrides, should_stop=should_stop,
                                     lr_grid=grid)  # fmt: skip
        if report["inits"]:
            print_report(console, report)
    _compare_exit(report, jobs, progress.errors)


def _compare_exit(report: dict, jobs: int | None, errors: list[str]) -> None:
    """Exit 130 with the command that finishes an interrupted compare, 1 when runs failed."""
    import shlex

    meta = report["meta"]
    if meta["status"] == "interrupted":
        ended = sum(e["status"] in ("completed", "diverged") for e in meta["plan"])
        again = ["rnninit", "compare", "--resume", report["dir"]]
        again += ["--jobs", str(jobs)] if jobs is not None else []
        raise fail(f"interrupted: {ended} of {len(meta['plan'])} runs finished; finish with: "
                   f"{shlex.join(again)}", 130)  # fmt: skip
    if meta["status"] == "failed":
        failed = sum(e["status"] == "failed" for e in meta["plan"])
        first = f" (first: {errors[0]})" if errors else ""
        raise fail(f"{failed} of {len(meta['plan'])} runs failed{first}; the others are in "
                   f"{report['dir']}", 1)  # fmt: skip


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="A run folder (runs/<run-id>)."),
    every: bool = typer.Option(
        False, "--all", help="Every statistics step, not only the first and the last."
    ),
):
    """Re-render a run's tables from its folder alone."""
    from ..experiment.reports import load_run
    from ..report.terminal import run_parts

    with handled():
        from ..experiment.compare_folder import is_compare_dir, load_compare

        if is_compare_dir(run_dir):
            from ..report.compare_view import print_report

            print_report(stdout_console(), load_compare(run_dir))
            return
        console = stdout_console()
        for part in run_parts(load_run(run_dir), every=every).values():
            for renderable in part:
                console.print(renderable)


@app.command()
def inits(
    shape: tuple[int, int] = typer.Option(
        (512, 512), "--shape", help="Shape (fan_out fan_in) of the matrix each scheme draws."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws."),
    gain: float = typer.Option(1.0, "--gain", help="Gain every scheme is drawn with."),
    nonlinearity: str = typer.Option(
        "tanh", "--nonlinearity", "-n", help="For the theory columns: tanh, relu or linear."
    ),
    input_var: float = typer.Option(
        0.0, "--input-var",
        help="The input's share of each pre-activation's variance per step (default 0: no input).",
    ),
    bias_var: float = typer.Option(
        0.0, "--bias-var", help="The bias's share of each pre-activation's variance (default 0)."
    ),
    task: str = typer.Option(
        None, "--task",
        help="Take the input's share from this task's inputs (char, adding, copy; default "
        "config, 4 batches), through Wxh drawn with each scheme.",
    ),
    cell: str = typer.Option(
        "rnn", "--cell",
        help="The cell (rnn, or a gated cell: each scheme, gate bias and preset block by "
        "block, or whole where it draws a matrix whole; --shape read as H I).",
    ),
    t_max: float = typer.Option(100.0, "--t-max", help="chrono's T_max in a gated cell's listing."),
):  # fmt: skip
    """List every initialisation scheme with its formula and a measured draw.

    The expected mean and variance (E[w], Var[w]) come from the formula; mean, var, spectral
    radius and largest singular value are measured on one draw of the given shape. For zero-mean
    schemes, the mean-field theory of the recurrence h_t = phi(Whh h_(t-1) + Wxh x_t + bh) gives
    the variance q* the pre-activations settle at, the gradient factor chi* per step back in
    time there, the timescale xi = -1/ln chi* and the regime: ordered (chi* < 1, gradients
    vanish), critical, or chaotic (chi* > 1, they explode). Without --input-var, --bias-var or
    --task the recurrence has no input and no bias; an input moves the fixed point.

    Examples:

      rnninit inits --shape 512 512

      rnninit inits --shape 128 128 --task adding

      rnninit inits -n relu --input-var 0.5 --bias-var 0.1
    """
    from ..core.cells import CELLS
    from ..core.engine import NONLINEARITIES
    from ..core.names import suggest
    from ..core.presets import PRESETS
    from ..core.tasks import TASKS
    from ..experiment.schemes import gate_block_listing, schemes_with_theory
    from ..report.terminal import gate_blocks_table, inits_table

    with handled():
        if cell not in CELLS:
            raise RnnInitError(f"--cell: unknown cell '{cell}'{suggest(cell, CELLS)}; "
                               f"allowed: {', '.join(CELLS)}")  # fmt: skip
        if cell != "rnn":
            if min(shape) < 1 or not t_max > 2:
                raise RnnInitError(f"--shape, --t-max: expected two positive integers H I and "
                                   f"T_max > 2, got {shape[0]} {shape[1]} and {t_max:g}")  # fmt: skip
            listing = gate_block_listing(CELLS[cell], shape[0], shape[1], seed=seed, t_max=t_max)
            stdout_console().print(gate_blocks_table(listing))
            return
        if nonlinearity not in NONLINEARITIES:
            raise RnnInitError(
                f"--nonlinearity: expected one of {', '.join(NONLINEARITIES)}, got '{nonlinearity}'"
            )
        if min(shape) < 1:
            raise RnnInitError(
                f"--shape: expected two positive integers, got {shape[0]} {shape[1]}"
            )
        if not gain > 0:
            raise RnnInitError(f"--gain: expected a positive number, got {gain}")
        if task is not None and task not in TASKS:
            raise RnnInitError(f"--task: expected one of {', '.join(TASKS)}, got '{task}'")
        table = schemes_with_theory(tuple(shape), seed=seed, gain=gain, nonlinearity=nonlinearity,
                                    input_var=input_var, bias_var=bias_var, task=task)  # fmt: skip
        console = stdout_console()
        console.print(inits_table(table, tuple(shape)))
        console.print("[bold]presets[/bold] (per matrix):")
        for name, per in PRESETS.items():
            console.print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in per.items()))
