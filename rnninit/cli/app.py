"""The rnninit command: the top-level Typer app, its global options and its sub-apps.

Each sub-app module registers its commands on its own Typer; they attach here with
``app.add_typer`` (no name: the commands sit at the top level), so no module imports this one.
"""

from __future__ import annotations

import typer

from .._version import __version__
from . import jacobian_cmds, report_cmds, run_cmds, sweep_cmds, theory_cmds
from .common import STATE

app = typer.Typer(
    help="rnninit: how weight initialisation shapes the forward signal and the backward "
    "gradient in recurrent networks. A pure-NumPy RNN trained with exact BPTT, with "
    "per-timestep activation and gradient statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool):
    if value:
        print(f"rnninit {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on internal errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
):
    STATE["debug"] = debug


app.add_typer(run_cmds.app)
app.add_typer(sweep_cmds.app)
app.add_typer(jacobian_cmds.app)
app.add_typer(theory_cmds.app)
app.add_typer(report_cmds.app)
