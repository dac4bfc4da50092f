"""`rnninit critical` and `rnninit phase`: the mean-field theory's answers, parse, call, render."""

from __future__ import annotations

import sys

import typer

from ..errors import RnnInitError
from .common import handled, stdout_console

app = typer.Typer()

NONLINEARITY_HELP = "phi: tanh, relu or linear."
INPUT_VAR_HELP = (
    "The input's share of each pre-activation's variance per step, I Var(Wxh) x mean ||x_t||²/I "
    "(default 0: no input). Not with --task."
)
TASK_HELP = (
    "Take the input's share from this task's inputs (char, adding, copy; default config, 4 "
    "batches) through Wxh drawn with --wxh. Not with --input-var."
)
WXH_HELP = "With --task: the Wxh scheme assumed, SCHEME or SCHEME:GAIN as in an init spec (default xavier)."
HIDDEN_HELP = "H, for the schemes whose variance depends on it (torch_default, small, glorot)."


def _wxh(wxh: str | None, task: str | None) -> str:
    if wxh is not None and task is None:
        raise RnnInitError("--wxh: sets the Wxh scheme through which a task's inputs arrive; "
                           "give it with --task")  # fmt: skip
    return "xavier" if wxh is None else wxh


@app.command()
def critical(
    nonlinearity: str = typer.Option("tanh", "--nonlinearity", "-n", help=NONLINEARITY_HELP),
    bias_var: float = typer.Option(0.0, "--bias-var", help="Var(bh entry), the bias's share (default 0)."),
    input_var: float = typer.Option(None, "--input-var", help=INPUT_VAR_HELP),
    task: str = typer.Option(None, "--task", help=TASK_HELP),
    wxh: str = typer.Option(None, "--wxh", help=WXH_HELP),
    hidden_size: int = typer.Option(128, "--hidden-size", help=HIDDEN_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead: gain null where none exists, inf (q*, ξ) as null."),
):  # fmt: skip
    """The recurrent gain at the edge of chaos, as an init spec to paste.

    The mean-field theory of h_t = phi(Whh h_(t-1) + Wxh x_t + bh) at init: the
    pre-activation variance settles at q* = σw² E[phi(√q* z)²] + input + bias, and there
    each step back in time multiplies the gradient's variance by χ* = σw² E[phi'(√q* z)²].
    χ* < 1: gradients vanish over ξ = -1/ln χ* steps (ordered); χ* > 1: they explode
    (chaotic). This solves σw² = H Var(Whh) for χ* = 1 and prints the gain of a Whh scheme of
    variance gain²/fan_in (xavier, lecun, orthogonal: σw² = gain²), with q*, χ* and the
    timescales of gains 10% either side.

    tanh without input or bias: σw² = 1 exactly (gain 1). Input and bias keep tanh partly
    saturated, so the critical gain rises above 1. relu and linear have χ* = σw² E[phi'²] at
    any q: critical at σw² = 2 (He) and 1 without drive, and with any input or bias the state
    grows without bound there: no critical gain (exit 0; the reason is printed, "gain": null
    in --json).

    Examples:

      rnninit critical

      rnninit critical --bias-var 0.05

      rnninit critical --task adding

      rnninit critical -n relu --bias-var 0.05 --json
    """
    from ..experiment.critical import critical_report
    from ..experiment.runs import json_text
    from ..report.theory_view import critical_view

    with handled():
        result = critical_report(nonlinearity, bias_var=bias_var, input_var=input_var,
                                 task=task, wxh=_wxh(wxh, task), hidden_size=hidden_size)  # fmt: skip
        if as_json:
            sys.stdout.write(json_text(result))
        else:
            stdout_console().print(critical_view(result))
