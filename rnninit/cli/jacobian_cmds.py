"""`rnninit jacobian`: parse, call rnninit.experiment.jacobian.jacobian_report, render.

A sub-app: cli/app.py attaches it with ``app.add_typer``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import handled, stdout_console

app = typer.Typer()


@app.command()
def jacobian(
    args: list[str] = typer.Argument(
        None,
        metavar="[RUN_OR_CONFIG] [KEY=VALUE]...",
        help="A run folder (the weights of its checkpoint.npz) or a YAML config (at init); "
        "none: the built-in defaults at init. Then KEY=VALUE overrides of that config.",
    ),
    sequences: int = typer.Option(
        None, "--sequences", "-n", min=1, help="Sequences of the batch to measure (default: "
        "log.jacobian_sequences, 4).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the table."),
    out: Path = typer.Option(
        None, "--out", help="Also write jacobian.csv, jacobian.npz and plots/jacobian.png into "
        "this folder (never over existing ones).",
    ),
):  # fmt: skip
    """The singular values of J(t, 0) = dh_t/dh_0 at log-spaced t, for a few sequences.

    Measured on the first sequences of the config's first batch (the batch a run of that
    config sees at step 0), h_0 = 0, at a run's last checkpoint or at init. An isometry
    (a linear cell with an orthogonal Whh) has every singular value 1 at every t; a Gaussian
    Whh of the same variance does not. Writes nothing unless --out is given.

    Examples:

      rnninit jacobian task.seq_len=100 model.nonlinearity=linear init.Whh=orthogonal

      rnninit jacobian configs/char_xavier.yaml --sequences 8

      rnninit jacobian runs/<run-id> --json
    """
    from ..experiment.jacobian import jacobian_report, json_text, write_report
    from ..report.terminal import jacobian_table, state_text

    with handled():
        source, overrides = split_source(args or [])
        report = jacobian_report(source, overrides, sequences)
        written = write_report(out, report) if out is not None else []
        if as_json:
            sys.stdout.write(json_text(report))
            return
        console = stdout_console()
        console.print(f"weights  {report['weights']}\n"
                      f"network  {report['cell']}, H={report['hidden_size']}, "
                      f"{report['nonlinearity']}, T={report['seq_len']} ({report['source']})\n"
                      f"batch    {report['batch']}")  # fmt: skip
        state = state_text(report["cell"], report["hidden_size"])
        console.print(jacobian_table(report["rows"], report["step"], state))
        for path in written:
            console.print(f"wrote {path}")


def split_source(args: list[str]) -> tuple[str | None, list[str]]:
    """(run folder or config file, KEY=VALUE overrides): the source is the first argument when
    it has no '=' in it."""
    if args and "=" not in args[0]:
        return args[0], args[1:]
    return None, args
