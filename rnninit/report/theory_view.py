"""Terminal rendering of `rnninit critical` and `rnninit phase`: plain dicts in, rich objects out."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .terminal import fmt

STATUS = {"exact": "exact: a closed form or limit case", "solved": "solved by bisection"}
REGIME_STYLE = {"ordered": "cyan", "critical": "green", "chaotic": "red"}
XI_NOTE = ("ξ = -1/ln χ*: the steps back in time over which the gradient's variance shrinks by a "
           "factor e (negative: grows by e); ∞ at the critical gain")  # fmt: skip


def drive_text(drive: dict, bias_var: float | None = None) -> str:
    """What feeds the recurrence besides itself: the input's share (stated, or a task's through
    an assumed Wxh) and, when given, the bias variance."""
    bias = "" if bias_var is None else f", bias variance {fmt(bias_var, 4)}"
    if drive["source"] == "task":
        t = drive["task"]
        return (f"{t['task']} inputs (mean ||x_t||²/I = {fmt(t['x_sq'], 4)}, I = "
                f"{t['input_size']}) through Wxh = {drive['wxh']} (I Var(Wxh) = "
                f"{fmt(drive['s_u2'], 4)}): input variance {fmt(drive['input_var'], 4)} per "
                f"step{bias}")  # fmt: skip
    if drive["source"] == "stated":
        return f"input variance {fmt(drive['input_var'], 4)} per step{bias}"
    return f"no input{bias}"


def _regime(reg: str | None) -> Text:
    return Text(reg, style=REGIME_STYLE[reg]) if reg else Text("—", style="dim")


def nearby_table(rows: list[dict], title: str) -> Table:
    """Gain, s_w2, q*, chi*, xi and regime at gains around the critical (or reference) one."""
    caption = XI_NOTE
    if any(math.isinf(r["q_star"]) for r in rows):
        caption += "; q* = inf: the state's variance grows without bound"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for col in ("× gain", "gain", "σw²", "q*", "χ*", "ξ", "regime"):
        table.add_column(col, justify="left" if col == "regime" else "right", no_wrap=True)
    for r in rows:
        table.add_row(f"{r['factor']:g}", f"{r['gain']:.6g}", f"{r['s_w2']:.6g}",
                      fmt(r["q_star"]), f"{r['chi']:.6g}", fmt(r["xi"]), _regime(r["regime"]))  # fmt: skip
    return table


def _join(*words: str) -> str:
    return " ".join(w for w in words if w)


def critical_view(result: dict) -> Group:
    """`rnninit critical`: the gain as an init spec to paste, q*, chi*, why, the gains nearby.

    result: ``experiment.critical.critical_report``'s dict.
    """
    parts: list = [Text(f"critical recurrent gain for {result['nonlinearity']}, "
                        f"{drive_text(result['drive'], result['bias_var'])}", style="bold")]  # fmt: skip
    specs = result["specs"]
    if result["gain"] is None:
        parts.append(Text("no critical gain", style="bold red"))
    else:
        also = "; ".join(f"{s}: {spec}" for s, spec in specs["also"].items())
        parts += [
            Text.assemble(("gain ", "bold"), (f"{result['gain']:.6g}", "bold green"),
                          f"  for Whh of variance gain²/fan_in (xavier, lecun, orthogonal): "
                          f"σw² = H Var(Whh) = {result['s_w2']:.6g}"),
            f"q* = {fmt(result['q_star'], 6)}   χ* = {result['chi_star']:.6g} "
            f"(|χ* - 1| = {abs(result['chi_star'] - 1):.1e}; {STATUS[result['status']]})",
            "paste it:",
            f"  rnninit train {_join(specs['overrides'], specs['context'])}",
            f"  rnninit compare {_join(specs['compare'], specs['context'])}    # 0.9x, 1x, 1.1x the gain",
            f"  init={specs['compact']}    # the whole init, in a config or a labelled arm",
            f"  same σw² with another Whh scheme: {also}",
        ]  # fmt: skip
        if specs["bias"]:
            parts.append(f"  bh={specs['bias']} draws the bias variance {fmt(result['bias_var'])} "
                         "(small is N(0, 0.01²) at gain 1)")  # fmt: skip
    parts.append(Text(f"why: {result['reason']}"))
    if result["drive"]["source"] == "task":
        parts.append(Text("the input variance is the task's mean over steps and sequences; the "
                          "fixed point is that of the mean drive", style="dim"))  # fmt: skip
    if result["nearby"]:
        ref = "the critical gain" if result["gain"] is not None else (
            f"the gain {result['reference_gain']:.6g} where χ* = 1 would be")  # fmt: skip
        parts.append(nearby_table(result["nearby"], f"gains around {ref} (Whh xavier)"))
    return Group(*parts)


def phase_view(result: dict) -> Group:
    """`rnninit phase`: where the named schemes sit and, with --measure, theory against the
    measured per-step gradient factor; the files written.

    result: ``experiment.phase.phase_diagram``'s dict.
    """
    g = result["grid"]
    parts: list = [Text(f"phase diagram of {result['nonlinearity']}: χ* over {len(g['s_w2'])} x "
                        f"{len(g['s_b2'])} (σw², σb²), {drive_text(result['drive'])}", style="bold")]  # fmt: skip
    marks = Table(title="the inits of the registry: where init=NAME puts Whh and bh",
                  title_justify="left")  # fmt: skip
    for col in ("init", "σw²", "σb²", "q*", "χ*", "ξ", "regime"):
        marks.add_column(col, justify="left" if col in ("init", "regime") else "right")
    for m in result["schemes"]:
        marks.add_row(m["label"], fmt(m["s_w2"]), fmt(m["s_b2"]), fmt(m["q_star"]),
                      fmt(m["chi_star"]), fmt(m["xi"]), _regime(m["regime"]))  # fmt: skip
    parts.append(marks)
    if result["outside"]:
        parts.append(Text("outside the theory (not zero-mean): " + ", ".join(result["outside"]),
                          style="dim"))  # fmt: skip
    if result["measured"]:
        parts.append(measured_table(result))
    for kind, path in result["files"].items():
        parts.append(f"{kind}: {path}")
    return Group(*parts)


def measured_table(result: dict) -> Table:
    """Measured per-step factor of jac_sq against chi* at each measured point."""
    info = result["measure"]
    table = Table(
        title=f"measured at init: H = {info['hidden_size']}, B = {info['batch_size']}, "
        f"{info['seeds']} seeds, per-step factor of jac_sq over steps {info['first']}-{info['T']} "
        f"of {info['T']} ({info['inputs']})",
        title_justify="left",
        caption="measured: geometric mean over those steps of jac_sq_t / jac_sq_(t+1), the mean "
        "over seeds ± population std; χ*: the theory at the fixed point",
        caption_justify="left",
    )
    for col in ("gain", "σw²", "σb²", "χ* theory", "measured", "± std", "ratio"):
        table.add_column(col, justify="right")
    for m in result["measured"]:
        ratio = m["measured_chi"] / m["chi_star"] if m["chi_star"] else math.nan
        table.add_row(f"{m['gain']:.4g}", fmt(m["s_w2"]), fmt(m["s_b2"]), fmt(m["chi_star"]),
                      fmt(m["measured_chi"]), fmt(m["measured_chi_std"]), fmt(ratio))  # fmt: skip
    return table
