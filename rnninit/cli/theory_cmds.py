"""`rnninit critical` and `rnninit phase`: the mean-field theory's answers, parse, call, render."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..core.nonlinearities import NONLINEARITIES
from ..core.tasks import TASKS
from ..errors import RnnInitError
from .common import handled, stdout_console

app = typer.Typer()

NONLINEARITY_HELP = f"phi: {', '.join(NONLINEARITIES)}."
INPUT_VAR_HELP = (
    "The input's share of each pre-activation's variance per step, I Var(Wxh) x mean ||x_t||²/I "
    "(default 0: no input). Not with --task."
)
TASK_HELP = (
    f"Take the input's share from this task's inputs ({', '.join(TASKS)}; default config, 4 "
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
    r"""The recurrent gain at the edge of chaos, as an init spec to paste.

    The mean-field theory of h_t = phi(Whh h_(t-1) + Wxh x_t + bh) at init:
    the pre-activations' variance settles at
    q* = σw² E\[phi(√q* z)²] + input + bias, and there each step back in
    time multiplies the gradient's variance by χ* = σw² E\[phi'(√q* z)²].
    χ* < 1: gradients vanish over ξ = -1/ln χ* steps (ordered); χ* > 1:
    they explode (chaotic). This solves σw² = H Var(Whh) for χ* = 1 and
    prints the gain of a Whh scheme of variance gain²/fan_in (xavier,
    lecun, orthogonal: σw² = gain²) as commands to paste, with q*, χ* and
    the timescales of gains 5% and 10% either side.

    tanh without input or bias: σw² = 1 exactly (gain 1). An input or a
    bias keeps tanh partly saturated, and the critical gain rises above 1.
    relu and linear have χ* = σw² E\[phi'²] at any q: critical at σw² = 2
    (He) and 1 without drive; with any input or bias the state grows
    without bound there, and there is no critical gain (exit 0, the reason
    printed, "gain": null in --json).

    A run can solve it for itself: rnninit train init.Whh=critical draws
    Whh as xavier at the gain solved for the run's nonlinearity, bh's
    variance and its first batches' inputs (--task's estimate), and its
    config.yaml records that gain in full.

    Examples:

      rnninit critical

      rnninit critical --bias-var 0.05

      rnninit critical --task adding

      rnninit critical -n relu --bias-var 0.05 --json
    """
    from ..experiment.critical import critical_report
    from ..experiment.runs import json_dumps
    from ..report.theory_view import critical_view

    with handled():
        result = critical_report(nonlinearity, bias_var=bias_var, input_var=input_var,
                                 task=task, wxh=_wxh(wxh, task), hidden_size=hidden_size)  # fmt: skip
        if as_json:
            sys.stdout.write(json_dumps(result))
        else:
            stdout_console().print(critical_view(result))


@app.command()
def phase(
    plot: Path = typer.Option(None, "--plot", help="Write the phase diagram here (PNG)."),
    csv: Path = typer.Option(None, "--csv", help="Write the grid here: kind (theory, critical, measured), s_w2, s_b2, q_star, chi_star, xi, regime, ..."),
    nonlinearity: str = typer.Option("tanh", "--nonlinearity", "-n", help=NONLINEARITY_HELP),
    input_var: float = typer.Option(None, "--input-var", help=INPUT_VAR_HELP),
    task: str = typer.Option(None, "--task", help=TASK_HELP),
    wxh: str = typer.Option(None, "--wxh", help=WXH_HELP),
    hidden_size: int = typer.Option(128, "--hidden-size", help=HIDDEN_HELP + " Places the inits' markers."),
    grid: int = typer.Option(41, "--grid", help="Points per axis (3-401)."),
    max_weight_var: float = typer.Option(None, "--max-weight-var", help="Right end of the σw² axis (default 4, or 1.6 x the critical σw² if larger)."),
    max_bias_var: float = typer.Option(0.5, "--max-bias-var", help="Top of the σb² axis."),
    measure: bool = typer.Option(False, "--measure", help="Also measure the per-step gradient factor on drawn networks at 5 gains along σb² = 0 (a few seconds)."),
    measure_hidden: int = typer.Option(256, "--measure-hidden", help="H of the measured networks."),
    seeds: int = typer.Option(3, "--seeds", help="Networks drawn per measured gain."),
):  # fmt: skip
    r"""Map the order-to-chaos phase diagram: χ* over weight and bias variance.

    For each (σw² = H Var(Whh), σb² = Var(bh)) of a grid, the mean-field
    fixed point q* of h_t = phi(Whh h_(t-1) + Wxh x_t + bh) and the
    gradient's variance factor per step back in time there,
    χ* = σw² E\[phi'(√q* z)²]: blue ordered (gradients vanish), red chaotic
    (they explode), the black line χ* = 1 (the gain of `rnninit critical`),
    thin lines the timescale ξ = -1/ln χ* in steps, hatching where the
    state's variance grows without bound. Every init of the registry sits
    where its Whh and bias put it (xavier, lecun, orthogonal at σw² = 1, he
    at 2, torch_default at 1/3 with its small bias; uniform and identity are
    not zero-mean: outside the theory). The input's share is the same over
    the grid: --input-var, or a task's inputs through --wxh.

    --measure draws networks (Whh Gaussian, h_0 random, H = --measure-hidden,
    --seeds of them) at 5 gains along σb² = 0, runs one forward and backward
    pass of 50 or more steps and measures the per-step factor of jac_sq (the
    mean squared singular value of dh_T/dh_t) over the last 20: the points are
    filled with the measured χ on the same colours, and stand beside the
    theory's line on the right.

    Examples:

      rnninit phase --plot phase.png

      rnninit phase --task adding --plot phase.png --csv phase.csv --measure

      rnninit phase -n relu --input-var 0.1 --plot relu.png
    """
    from ..experiment.phase import phase_diagram
    from ..report.theory_view import phase_view

    with handled():
        if plot is None and csv is None:
            raise RnnInitError("--plot, --csv: give a file for the diagram, the grid or both")
        result = phase_diagram(nonlinearity, input_var=input_var, task=task, wxh=_wxh(wxh, task),
                               hidden_size=hidden_size, grid=grid, max_weight_var=max_weight_var,
                               max_bias_var=max_bias_var, measure=measure,
                               measure_hidden=measure_hidden, seeds=seeds, plot=plot, csv=csv)  # fmt: skip
        stdout_console().print(phase_view(result))
