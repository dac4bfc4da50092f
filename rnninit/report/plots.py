"""Plots of a run and of a comparison (DESIGN sections 3 and 7), written as PNG files.

Inputs are plain data (CSV rows already parsed, or arrays), never paths to read, so the train loop
can draw at the end of a run and `show` can draw again from the run folder. Every figure is a
`matplotlib.figure.Figure` on its own Agg canvas: no pyplot, no global backend switch, nothing left
open, safe in threads and worker processes. matplotlib is imported inside the functions, so
`import rnninit.plots` stays light. Values that a log axis cannot show (NaN, inf, negative) are
dropped and counted on the figure, so a diverged run still plots what it has; a per-timestep
value that is exactly 0 (a collapsed variance) is drawn as a marker on a floor line labelled
"0"; an input with nothing to show gives a figure that says so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..fileio import atomic_write_bytes

FIGSIZE_PAIR = (10.0, 4.0)  # inches: two panels side by side
FIGSIZE_ONE = (8.0, 4.5)  # inches: one panel with the legend outside on the right
DPI = 110
FIGSIZE_PHASE = (13.0, 7.0)  # inches: the phase diagram and the chi* line, legend below
MAX_LEGEND = 8  # checkpoints named in a legend; the colours still show every one

XI_LEVELS = (3, 10, 30, 100)  # the phase diagram's timescale contours, in steps (either sign)
MARKERS = ("s", "^", "D", "v", "P", "X", "*", "h")  # one per group of inits at one point
YLABELS = {
    "preact_var": "Var(a_t)",
    "act_var": "Var(h_t)",
    "grad_var": "Var(dL/dh_t)",
    "grad_norm": "||dL/dh_t||",
    "act_mean": "Mean(h_t)",
    "saturation": "saturation",
    "jac_sq": "mean σ² of dh_T/dh_t",
}


# ---- public API ---------------------------------------------------------------------------------


def variance_by_timestep(rows: Sequence[Mapping], path: str | os.PathLike, title: str = "") -> None:
    """Var(h_t) and Var(dL/dh_t) against t, one line per statistics checkpoint.

    Args:
        rows: timesteps.csv rows as dicts with at least `step`, `t`, `act_var`, `grad_var`;
            `theory_act_var` may be missing, None or NaN.
        path: the PNG to write (atomically; the folder is created if missing).
        title: figure title, e.g. the run id.

    Left panel Var(h_t), right panel Var(dL/dh_t), both on a log y axis; checkpoints are coloured
    along a sequential colormap from the first step (dark) to the last (light). At step 0 the
    mean-field prediction `theory_act_var` is drawn dashed black where present.
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    by_step = _rows_by_step(rows, ("act_var", "grad_var", "theory_act_var"))
    if not by_step:
        _write_message(path, "no per-timestep statistics to plot", title)
        return

    steps = sorted(by_step)
    fig, (ax_act, ax_grad) = _figure(FIGSIZE_PAIR, ncols=2)
    cmap = colormaps["viridis"]
    named = set(_spread(len(steps), MAX_LEGEND))
    dropped = {ax_act: [0, 0], ax_grad: [0, 0]}  # axes -> [dropped, total]
    zeros = {ax_act: [], ax_grad: []}  # axes -> exact zeros, drawn on a floor line
    handles = []
    for i, step in enumerate(steps):
        cells = np.array(sorted(by_step[step]), dtype=float)  # (T, 4): t, act, grad, theory
        colour = cmap(0.9 * i / max(len(steps) - 1, 1))
        label = f"step {_fmt_step(step)}"
        for ax, col in ((ax_act, 1), (ax_grad, 2)):
            line, n_drop = _log_line(ax, cells[:, 0], cells[:, col], zeros[ax], color=colour,
                                     lw=1.4)  # fmt: skip
            dropped[ax][0] += n_drop
            dropped[ax][1] += len(cells)
            if ax is ax_act and i in named:
                handles.append(Line2D([], [], color=colour, lw=1.4, label=label))
        if step == 0 and np.isfinite(cells[:, 3]).any():
            _log_line(ax_act, cells[:, 0], cells[:, 3], color="black", ls="--", lw=1.2)
            handles.append(Line2D([], [], color="black", ls="--", lw=1.2, label="theory (step 0)"))

    ax_act.set(title="forward: Var(h_t)", xlabel="timestep t", ylabel=YLABELS["act_var"])
    ax_grad.set(title="backward: Var(dL/dh_t)", xlabel="timestep t", ylabel=YLABELS["grad_var"])
    floors = [_zero_floor(ax, zeros[ax]) for ax in (ax_act, ax_grad)]
    handles += next((h for h in floors if h), [])  # one legend entry says what the markers are
    for ax, (n_drop, n_all) in dropped.items():
        _note_dropped(ax, n_drop, n_all, "NaN, inf or < 0")
    _finish(fig, path, title or "variance by timestep", handles)


def loss_curve(
    rows: Sequence[Mapping],
    path: str | os.PathLike,
    chance: float | None = None,
    target: float | None = None,
    title: str = "",
) -> None:
    """Training loss against step, validation loss as markers, chance and target as dotted lines.

    Args:
        rows: metrics.csv rows as dicts with `step`, `loss` and `val_loss` (None or NaN where
            not evaluated).
        path: the PNG to write (atomically; the folder is created if missing).
        chance: the task's chance baseline (DESIGN section 5), drawn if given and finite.
        target: the target loss, drawn if given and finite.
        title: figure title, e.g. the run id.

    The y axis turns logarithmic when every plotted value is positive and they span more than
    a factor of 100 (a loss that blew up before it diverged); non-finite values are dropped.
    """
    step = np.array([_num(r.get("step")) for r in rows], dtype=float)
    loss = np.array([_num(r.get("loss")) for r in rows], dtype=float)
    val = np.array([_num(r.get("val_loss")) for r in rows], dtype=float)
    # an empty val_loss means "not evaluated at this step", so only the train loss counts as dropped
    curves = {
        "train": (step, loss, {"count": True}),
        "validation": (step, val, {"count": False, "marker": "o", "ms": 4}),
    }
    _loss_figure(curves, path, chance, target, title or "loss", "no finite loss values to plot")


def compare_timesteps(
    curves: Mapping[str, Mapping],
    column: str,
    path: str | os.PathLike,
    title: str = "",
    band_text: str = "band: spread across seeds",
) -> None:
    """One per-timestep statistic for several inits on one log axis.

    Args:
        curves: init label -> {"t": array, "value": array, optional "theory": array, optional
            "band": (low, high) arrays}, e.g. the act_var column at step 0 of each init's run
            (a compare: the mean over seeds, and their min and max as the band; the title says
            which).
        column: the statistic's column name (act_var, grad_var, ...), used for the y label.
        path: the PNG to write (atomically; the folder is created if missing).
        title: figure title.
        band_text: the legend's words for the bands (what spread they show), when any is drawn.

    Each init gets its own colour; its theory, when given and not all NaN, is dashed in the same
    colour, and its band shaded in it where both ends are positive. Negative and non-finite
    values are dropped and counted; exact zeros sit on a floor line marked 0.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not curves:
        _write_message(path, f"no {column} curves to plot", title)
        return
    fig, (ax,) = _figure(FIGSIZE_ONE, ncols=1)
    handles, n_drop, n_all, any_theory, zeros = [], 0, 0, False, []
    for label, c in curves.items():
        t, value = _xy(c.get("t"), c.get("value"))
        line, dropped = _log_line(ax, t, value, zeros, lw=1.6)
        colour = line.get_color()
        if c.get("band") is not None:
            _band(ax, t, *c["band"], colour)
        n_drop, n_all = n_drop + dropped, n_all + len(value)
        shown = str(label) if dropped < len(value) else f"{label} (nothing to show)"
        if np.any(value == 0):
            shown += f" ({int(np.sum(value == 0))} values exactly 0)"
        handles.append(Line2D([], [], color=colour, lw=1.6, label=shown))
        t_th, theory = _xy(c.get("t"), c.get("theory"))
        if np.isfinite(theory).any():
            _log_line(ax, t_th, theory, color=colour, ls="--", lw=1.2)
            any_theory = True
    if any_theory:
        handles.append(Line2D([], [], color="grey", ls="--", lw=1.2, label="theory (dashed)"))
    if any(c.get("band") is not None for c in curves.values()):
        handles.append(Patch(color="grey", alpha=0.2, label=band_text))
    handles += _zero_floor(ax, zeros)
    ax.set(xlabel="timestep t", ylabel=YLABELS.get(column, column))
    _note_dropped(ax, n_drop, n_all, "NaN, inf or < 0")
    _finish(fig, path, title or f"{column} by timestep", handles)


def compare_loss(
    curves: Mapping[str, Mapping],
    path: str | os.PathLike,
    chance: float | None = None,
    target: float | None = None,
    title: str = "",
) -> None:
    """Loss against step for several inits: the mean over seeds with a shaded mean ± std band
    (the title says which std: compare's is the population std over seeds).

    Args:
        curves: init label -> {"step": array, "mean": array, "std": array}; std may be all 0
            (one seed), missing or NaN (no band there).
        path: the PNG to write (atomically; the folder is created if missing).
        chance: the task's chance baseline, drawn dotted if given and finite.
        target: the target loss, drawn dotted if given and finite.
        title: figure title.
    """
    data = {}
    for label, c in curves.items():
        step, mean = _xy(c.get("step"), c.get("mean"))
        std = _floats(c.get("std"))
        std = np.resize(std, len(mean)) if len(std) else np.zeros(len(mean))
        data[str(label)] = (
            step,
            mean,
            {"count": True, "std": np.where(np.isfinite(std), std, 0.0)},
        )
    _loss_figure(data, path, chance, target, title or "loss", "no finite loss values to plot")


def eigenvalue_clouds(
    data: Mapping[str, Mapping], path: str | os.PathLike, title: str = ""
) -> None:
    """The eigenvalues of Whh in the complex plane, at init and at the end of training, one panel
    per block (the vanilla cell's Whh; a gated cell's gates).

    Args:
        data: "init" and/or "end" -> {"step": int, "blocks": {block: (eigenvalues, circle)}}
            (``experiment.eigen.load_eigenvalues``); circle: the circular law's radius
            sqrt(H Var(w)) of that block's weights.
        path: the PNG to write (atomically; the folder is created if missing).
        title: figure title, e.g. the run id.

    Init's eigenvalues are dots, the end's crosses; the unit circle is solid grey (inside it a
    mode decays, outside it grows, step by step, in the linearised recurrence) and each part's
    circular-law radius a dashed circle in its colour. Non-finite eigenvalues are counted.
    """
    from matplotlib.lines import Line2D

    parts = [(w, data[w]) for w in ("init", "end") if w in data]
    blocks = list(dict.fromkeys(b for _, d in parts for b in d["blocks"]))
    if not blocks:
        _write_message(path, "no eigenvalues to plot", title)
        return
    size = (min(3.6 * len(blocks), 14.0) + 2.5, 4.0)
    fig, axes = _figure(size, ncols=len(blocks))
    style = {"init": {"color": "tab:blue", "marker": "o", "ms": 3, "alpha": 0.6},
             "end": {"color": "tab:orange", "marker": "x", "ms": 4, "alpha": 0.8}}  # fmt: skip
    handles = [Line2D([], [], color="0.4", lw=1.0, label="unit circle |λ| = 1")]
    for ax, block in zip(axes, blocks):
        ax.add_patch(_circle(1.0, color="0.4", ls="-"))
        n_bad = n_all = 0
        for which, d in parts:
            if block not in d["blocks"]:
                continue
            eig, circle = d["blocks"][block]
            ok = np.isfinite(eig)
            n_bad, n_all = n_bad + int((~ok).sum()), n_all + len(eig)
            ax.plot(eig[ok].real, eig[ok].imag, ls="none", **style[which])
            if math.isfinite(circle):
                ax.add_patch(_circle(circle, color=style[which]["color"], ls="--"))
        ax.set_aspect("equal", adjustable="datalim")
        ax.autoscale_view()
        ax.set(title=block, xlabel="Re λ", ylabel="Im λ" if ax is axes[0] else None)
        _note_dropped(ax, n_bad, n_all, "non-finite")
    for which, d in parts:
        st = style[which]
        radii = ", ".join(f"{b} {_fmt_radius(c)}" if len(blocks) > 1 else _fmt_radius(c)
                          for b, (_, c) in d["blocks"].items())  # fmt: skip
        handles.append(Line2D([], [], ls="none", marker=st["marker"], color=st["color"],
                              label=f"{which} (step {d['step']})"))  # fmt: skip
        handles.append(Line2D([], [], color=st["color"], ls="--",
                              label=f"√(H Var(w)) at {which}: {radii}"))  # fmt: skip
    _finish(fig, path, title or "eigenvalues of Whh", handles, below=True)


def unit_heatmaps(rows: Mapping[str, Mapping], path: str | os.PathLike, title: str = "") -> None:
    """One sequence unit by unit: h_t and |dL/dh_t| as unit x timestep heatmaps, at init and at
    the end, one row per run (a compare: one per init), every panel of a quantity on one scale.

    Args:
        rows: row label ("" for a single run) -> {"init": part, "end": part}, either part
            optional; part = {"step": int, "h": (T, H), "dh": (T, H)}
            (``experiment.snapshots.load_units``).
        path: the PNG to write (atomically; the folder is created if missing).
        title: figure title.

    h_t on a diverging scale symmetric about 0 (saturated tanh units are the darkest), |dL/dh_t|
    on a log scale spanning at most 12 decades below its largest value; black marks an exact 0
    (or a value under that span), white a value that is not finite.
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, Normalize

    parts = [(label, which, d[which]) for label, d in rows.items()
             for which in ("init", "end") if which in d]  # fmt: skip
    if not parts:
        _write_message(path, "no unit traces to plot", title)
        return
    h_all = np.concatenate([np.ravel(p["h"]) for *_, p in parts])
    g_all = np.abs(np.concatenate([np.ravel(p["dh"]) for *_, p in parts]))
    h_max = float(np.nanmax(np.abs(h_all[np.isfinite(h_all)]), initial=0.0)) or 1.0
    g_pos = g_all[np.isfinite(g_all) & (g_all > 0)]
    g_max = float(g_pos.max()) if g_pos.size else 1.0
    g_min = max(float(g_pos.min()), g_max * 1e-12) if g_pos.size else g_max / 10
    h_norm, g_norm = Normalize(-h_max, h_max), LogNorm(g_min, g_max)
    h_cmap = colormaps["RdBu_r"].with_extremes(bad="white")
    g_cmap = colormaps["viridis"].with_extremes(bad="white", under="black")

    labels = list(rows)
    fig, grid = _grid((min(3.0 * 4, 14.0), 1.2 + 2.4 * len(labels)), len(labels), 4, layout=None)
    fig.subplots_adjust(left=0.06, right=0.93, bottom=0.9 / fig.get_figheight(),
                        top=1 - 0.75 / fig.get_figheight(), wspace=0.35,
                        hspace=0.75 / (2.4 - 0.75))  # fmt: skip
    h_axes, g_axes = [], []
    for r, label in enumerate(labels):
        for c, (quantity, which) in enumerate(
            (("h", "init"), ("h", "end"), ("dh", "init"), ("dh", "end"))
        ):
            ax = grid[r][c]
            part = rows[label].get(which)
            if part is None:
                ax.set_axis_off()
                continue
            T, H = np.shape(part[quantity])
            data = part["h"] if quantity == "h" else _zero_under(np.abs(part["dh"]), g_min)
            image = ax.imshow(np.asarray(data).T, aspect="auto", origin="lower",
                              interpolation="nearest", extent=(0.5, T + 0.5, -0.5, H - 0.5),
                              cmap=h_cmap if quantity == "h" else g_cmap,
                              norm=h_norm if quantity == "h" else g_norm)  # fmt: skip
            (h_axes if quantity == "h" else g_axes).append((ax, image))
            what = "h_t" if quantity == "h" else "|dL/dh_t|"
            head = f"{label}: " if label else ""
            ax.set_title(f"{head}{what}, step {part['step']}", fontsize=9)
            ax.set(xlabel="timestep t" if r == len(labels) - 1 else None,
                   ylabel="unit" if c == 0 else None)  # fmt: skip
    for axes, text in ((h_axes, "h_t"), (g_axes, "|dL/dh_t| (log; black: 0)")):
        if axes:
            fig.colorbar(axes[0][1], ax=[a for a, _ in axes], label=text, shrink=0.9)
    _finish(fig, path, title or "one sequence, unit by unit", [], place=False)


def _zero_under(values: np.ndarray, floor: float) -> np.ndarray:
    """Exact zeros (and anything under the scale) put under the log scale's floor, so that they
    take the colour map's 'under' colour instead of being masked like a NaN."""
    values = np.array(values, dtype=float)
    values[np.isfinite(values) & (values < floor)] = floor / 10
    return values


def _grid(figsize, nrows: int, ncols: int, layout: str | None = "constrained"):
    """A Figure on its own Agg canvas (no pyplot, no global state) and its nrows x ncols axes
    (a list of rows); layout None leaves the placing to the caller (constrained layout costs
    about half a second on a grid of heatmaps with colour bars)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False).tolist()


def _fmt_radius(r: float) -> str:
    return f"{r:.3g}" if math.isfinite(r) else "n/a"


def _circle(radius: float, color, ls):
    from matplotlib.patches import Circle

    return Circle((0.0, 0.0), radius, fill=False, color=color, ls=ls, lw=1.0)


def jacobian_spectrum(
    rows: Sequence[Mapping],
    spectra: Mapping[int, tuple],
    path: str | os.PathLike,
    title: str = "",
    n_curves: int = 4,
) -> None:
    """The singular values of J(t, 0) = dh_t/dh_0: their distribution at a few t, and sv_max
    and sv_min against t.

    Args:
        rows: jacobian.csv rows (step, t, sequence, sv_max, sv_min, ...).
        spectra: step -> (t (n_t,), log_sv (n_t, K, S)) from jacobian.npz; the left panel
            draws the first step's (step 0 when there is one).
        path: the PNG to write (atomically; the folder is created if missing).
        title: figure title, e.g. the run id.
        n_curves: how many t the left panel draws (the first, the last, spread between).

    Left: for each drawn t, the share of the K*S singular values (all sequences pooled) that
    are <= sigma, against sigma on a log axis; values under float64's round-off floor
    (ROUNDOFF_FLOOR x that sequence's sv_max) or exactly 0 are not drawn, so a curve starts at
    the share they make up. Right: the geometric mean over sequences of sv_max (solid) and
    sv_min (dashed) against t, one colour per statistics step; an sv_min at the floor in any
    sequence is not a measurement and is left out (counted on the panel).
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    from ..core.jacobian import ROUNDOFF_FLOOR

    by_step = _rows_by_step(rows, ("sv_max", "sv_min"))
    if not by_step or not spectra:
        _write_message(path, "no Jacobian spectrum to plot", title)
        return
    fig, (ax_dist, ax_t) = _figure(FIGSIZE_PAIR, ncols=2)
    first = min(spectra)
    t_all, log_sv = np.asarray(spectra[first][0]), np.asarray(spectra[first][1], dtype=float)
    cmap = colormaps["plasma"]
    picked = _spread(len(t_all), n_curves)
    for j, i in enumerate(picked):
        sigma, share = _resolved_cdf(log_sv[i], ROUNDOFF_FLOOR)
        colour = cmap(0.85 * j / max(len(picked) - 1, 1))
        label = f"t = {int(t_all[i])}" + ("" if len(sigma) else " (nothing resolved)")
        ax_dist.plot(sigma, share, color=colour, lw=1.6, drawstyle="steps-post", label=label)
    ax_dist.set_xscale("log")
    ax_dist.axvline(1.0, color="0.4", ls=":", lw=1.2)
    ax_dist.set(title=f"singular values of dh_t/dh_0 at step {_fmt_step(first)}",
                xlabel="singular value σ", ylabel="share of values <= σ", ylim=(0, 1.02))  # fmt: skip
    ax_dist.legend(fontsize=8, loc="upper left", frameon=False)

    steps = sorted(by_step)
    handles, n_drop, n_all = [], 0, 0
    for k, step in enumerate(steps):
        colour = colormaps["viridis"](0.9 * k / max(len(steps) - 1, 1))
        t, sv_max, sv_min = _geometric_means(by_step[step])
        _, d_max = _log_line(ax_t, t, sv_max, color=colour, lw=1.6)
        _, d_min = _log_line(ax_t, t, sv_min, color=colour, lw=1.2, ls="--")
        n_drop, n_all = n_drop + d_max + d_min, n_all + 2 * len(t)
        if k in set(_spread(len(steps), MAX_LEGEND)):
            handles.append(Line2D([], [], color=colour, lw=1.6, label=f"step {_fmt_step(step)}"))
    handles += [Line2D([], [], color="grey", lw=1.6, label="sv_max"),
                Line2D([], [], color="grey", lw=1.2, ls="--", label="sv_min")]  # fmt: skip
    ax_t.set_xscale("log")
    ax_t.axhline(1.0, color="0.4", ls=":", lw=1.2)
    ax_t.set(title="largest and smallest singular value", xlabel="timestep t",
             ylabel="geometric mean over sequences")  # fmt: skip
    _note_dropped(ax_t, n_drop, n_all, "0, NaN, inf or at the round-off floor")
    _finish(fig, path, title or "Jacobian spectrum", handles)


def _resolved_cdf(log_sv: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(sigma, share <= sigma) of the resolved singular values of (K, S) log spectra pooled,
    the shares counted over all K*S values (the unresolved sit below the first sigma)."""
    top = log_sv[:, :1]
    ok = np.isfinite(log_sv) & (log_sv >= top + math.log(floor))
    sigma = np.sort(np.exp(log_sv[ok]))
    n_below = log_sv.size - len(sigma)
    return sigma, (n_below + np.arange(1, len(sigma) + 1)) / log_sv.size


def _geometric_means(cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """t, and per t the geometric means over sequences of sv_max and of sv_min (NaN where a
    sequence's sv_min is at the round-off floor: an upper bound, not a value). cells: (t,
    sv_max, sv_min) per row."""
    from ..core.jacobian import at_floor

    by_t: dict[float, list] = {}
    for t, hi, lo in cells:
        by_t.setdefault(t, []).append((hi, np.nan if at_floor(lo, hi) else lo))
    t = np.array(sorted(by_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = [np.log(np.array(by_t[x], dtype=float)).mean(axis=0) for x in t]
    means = np.exp(np.array(logs).reshape(len(t), 2))
    return t, means[:, 0], means[:, 1]


def phase_diagram(data: Mapping, path: str | os.PathLike, title: str = "") -> None:
    """chi* over (s_w2, s_b2) with the critical line, xi contours and the named inits (left),
    and chi* along s_b2 = 0 with the measured per-step factors (right).

    Args:
        data: {"s_w2": (N,), "s_b2": (M,), "chi_star", "q_star": (M, N) with [i, j] at
            (s_b2[i], s_w2[j]), "line": (M,) critical s_w2 at each s_b2 (NaN where none),
            "marks": [{"label", "s_w2", "s_b2"}], "measured": [{"s_w2", "s_b2", "measured_chi",
            "measured_chi_std"}] (may be empty)}.
        path: the PNG to write (atomically; the folder is created if missing).
        title: figure title.

    The colour is chi* on a diverging scale centred at 1 (blue ordered, red chaotic); hatching
    marks q* = inf (the state grows without bound); thin lines are the timescale
    xi = -1/ln chi* at +-XI_LEVELS steps. Measured points are filled with their measured chi on
    the same scale, so a point that matches the theory disappears into the background.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    s_w2, s_b2 = np.asarray(data["s_w2"], float), np.asarray(data["s_b2"], float)
    chi, q = np.asarray(data["chi_star"], float), np.asarray(data["q_star"], float)
    fig, (ax, ax_line) = _figure(FIGSIZE_PHASE, ncols=2, layout="constrained")  # colour bar
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(float(np.nanmin(chi)), 0.99),
                        vmax=max(float(np.nanmax(chi)), 1.01))  # fmt: skip
    mesh = ax.pcolormesh(s_w2, s_b2, chi, shading="nearest", cmap="RdBu_r", norm=norm)
    fig.colorbar(mesh, ax=ax, label="χ*: gradient variance factor per step back")
    line = np.asarray(data["line"], float)
    ok = np.isfinite(line)
    crit = "χ* = 1 (critical)" if ok.any() else "χ* = 1: no critical gain here (q* = ∞ there)"
    handles = [Line2D([], [], color="black", lw=2, label=crit)]
    if np.isinf(q).any():
        ax.contourf(s_w2, s_b2, np.isinf(q).astype(float), levels=[0.5, 1.5], colors="none",
                    hatches=["//"])  # fmt: skip
        handles.append(Patch(facecolor="none", hatch="//", label="q* = ∞ (state grows)"))
    log_chi = np.log(np.maximum(chi, 1e-300))
    levels = sorted([-1.0 / L for L in XI_LEVELS] + [1.0 / L for L in XI_LEVELS])
    contours = ax.contour(s_w2, s_b2, log_chi, levels=levels, colors="0.25", linewidths=0.6)
    ax.clabel(contours, fmt=lambda v: f"ξ={-1.0 / v:.0f}", fontsize=7)
    handles.append(Line2D([], [], color="0.25", lw=0.6,
                          label="ξ = -1/ln χ*, steps (dashed: ordered, ξ > 0)"))  # fmt: skip
    ax.plot(line[ok], s_b2[ok], color="black", lw=2, marker="o" if ok.sum() == 1 else None)
    for k, m in enumerate(data["marks"]):
        style = {"marker": MARKERS[k % len(MARKERS)], "color": "black", "ls": "none", "ms": 7,
                 "mfc": "white", "label": f"σw² {m['s_w2']:.3g}, σb² {m['s_b2']:.2g}: {m['label']}"}  # fmt: skip
        ax.plot([m["s_w2"]], [m["s_b2"]], clip_on=False, zorder=8, **style)  # above the rings
        handles.append(Line2D([], [], **style))
    dx, dy = (s_w2[-1] - s_w2[0]) / (2 * len(s_w2) - 2), (s_b2[-1] - s_b2[0]) / (2 * len(s_b2) - 2)
    ax.set(xlabel="σw² = H Var(Whh)", ylabel="σb² = Var(bh)", xlim=(s_w2[0] - dx, s_w2[-1] + dx),
           ylim=(s_b2[0] - dy, s_b2[-1] + dy), title="χ* over weight and bias variance")  # fmt: skip

    ax_line.plot(s_w2, chi[0], color="black", lw=1.6)
    ax_line.axhline(1.0, color="0.5", ls=":", lw=1.2)
    handles.append(Line2D([], [], color="black", lw=1.6, label=f"theory χ* at σb² = {s_b2[0]:g}"))
    measured = data.get("measured") or []
    if measured:
        ms = np.array([[m["s_w2"], m["s_b2"], m["measured_chi"], m["measured_chi_std"]]
                       for m in measured], dtype=float)  # fmt: skip
        ax.scatter(ms[:, 0], ms[:, 1], c=ms[:, 2], cmap="RdBu_r", norm=norm, s=90,
                   edgecolors="tab:orange", linewidths=2, zorder=7, clip_on=False)  # fmt: skip
        ax_line.errorbar(ms[:, 0], ms[:, 2], yerr=ms[:, 3], fmt="o", color="tab:orange",
                         capsize=3, zorder=5)  # fmt: skip
        handles.append(Line2D([], [], marker="o", color="tab:orange", ls="none",
                              label="measured per-step factor, mean ± std over seeds (left: "
                              "orange rings filled with it)"))  # fmt: skip
    ax_line.set(xlabel="σw² = H Var(Whh)", ylabel="χ (per step)", title=f"along σb² = {s_b2[0]:g}")
    _finish(fig, path, title or "phase diagram", handles, below=True)


# ---- drawing helpers ----------------------------------------------------------------------------


def _loss_figure(curves, path, chance, target, title, empty_text) -> None:
    """Shared body of loss_curve and compare_loss: curves = label -> (step, y, style)."""
    from matplotlib.lines import Line2D

    # per curve: label, finite mask, step, y, style (with "count" and optional "std" taken out)
    parts = []
    for label, (step, y, style) in curves.items():
        style = dict(style)
        count, std = style.pop("count", False), style.pop("std", None)
        parts.append((label, np.isfinite(step) & np.isfinite(y), step, y, std, count, style))
    if not any(ok.any() for _, ok, *_ in parts):
        _write_message(path, empty_text, title)
        return
    fig, (ax,) = _figure(FIGSIZE_ONE, ncols=1)
    handles, plotted, n_drop, n_all = [], [], 0, 0
    for label, ok, step, y, std, count, style in parts:
        if count:  # steps that were logged but whose loss is NaN or inf (a diverged run)
            n_all += int(np.isfinite(step).sum())
            n_drop += int(np.isfinite(step).sum() - ok.sum())
        if not ok.any():  # say so in the legend rather than leave the curve out silently
            handles.append(Line2D([], [], ls="none", label=f"{label} (no finite values)"))
            continue
        order = np.argsort(step[ok], kind="stable")
        s, m = step[ok][order], y[ok][order]
        plotted.append(m)
        (line,) = ax.plot(s, m, lw=1.6, label=label, **style)
        if std is not None:
            sd = std[ok][order]
            ax.fill_between(s, m - sd, m + sd, color=line.get_color(), alpha=0.2, lw=0)
        handles.append(line)
    # greys, so that the reference lines never share a colour with an init's curve
    for name, value, colour in (("chance", chance, "0.2"), ("target", target, "0.55")):
        v = _num(value)
        if math.isfinite(v):
            ax.axhline(v, color=colour, ls=":", lw=1.6)
            ax.text(0.005, v, f" {name}", transform=ax.get_yaxis_transform(), color=colour,
                    ha="left", va="bottom", fontsize=8)  # fmt: skip
            handles.append(Line2D([], [], color=colour, ls=":", lw=1.6, label=f"{name} {v:.3g}"))
    plotted = np.concatenate(plotted)
    if (plotted > 0).all() and plotted.max() > 100 * plotted.min():
        ax.set_yscale("log")  # a loss that blew up before it diverged would flatten the rest
    ax.set(xlabel="training step", ylabel="loss")
    _note_dropped(ax, n_drop, n_all, "NaN or inf")
    _finish(fig, path, title, handles)


def _log_line(ax, x, y, zeros: list | None = None, **style):
    """Plot the positive finite part of y against x; return (line, how many points were dropped).

    With a `zeros` list, the values exactly 0 are not dropped: their x and the line's colour are
    appended to it, for `_zero_floor` to draw once every line of the axes is down.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
    zero = np.isfinite(x) & (y == 0) if zeros is not None else np.zeros(len(y), dtype=bool)
    if ok.sum() == 1:
        style.setdefault("marker", "o")
    (line,) = ax.plot(x[ok], y[ok], **style)
    ax.set_yscale("log")
    if zero.any():
        zeros.append((x[zero], line.get_color()))
    return line, int(len(y) - ok.sum() - zero.sum())


def _band(ax, t, low, high, colour) -> None:
    """Shade low..high against t where both are finite and positive (a log axis)."""
    t, low, high = _floats(t), _floats(low), _floats(high)
    n = min(len(t), len(low), len(high))
    t, low, high = t[:n], low[:n], high[:n]
    ok = np.isfinite(t) & np.isfinite(low) & np.isfinite(high) & (low > 0) & (high > 0)
    if ok.any():
        ax.fill_between(t, low, high, where=ok, color=colour, alpha=0.2, lw=0)


def _zero_floor(ax, zeros: list) -> list:
    """Draw values that are exactly 0 (a variance that collapsed: every unit pinned) where a log
    axis has no place for them: as markers on a dotted floor line under the smallest value
    drawn, labelled "0". Returns the legend handle to add ([] when there were none)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    if not zeros:
        return []
    drawn = [np.asarray(ln.get_ydata(), dtype=float) for ln in ax.lines]
    positive = np.concatenate([y[np.isfinite(y) & (y > 0)] for y in drawn] or [np.zeros(0)])
    # half a decade under the smallest drawn value's decade: below every value, between two
    # major ticks, so that no tick label is read as the floor's value
    floor = 10.0 ** (np.floor(np.log10(positive.min())) - 0.5) if positive.size else 1.0
    ax.axhline(floor, color="tab:red", ls=":", lw=1.0)
    ax.yaxis.set_minor_formatter(NullFormatter())  # no '3x10^-3' beside the line that means 0
    ax.text(0.005, floor, "0", transform=ax.get_yaxis_transform(), color="tab:red",
            ha="left", va="bottom", fontsize=10, fontweight="bold")  # fmt: skip
    for xs, colour in zeros:
        ax.plot(xs, np.full(len(xs), floor), ls="none", marker="v", ms=6, color=colour)
    n = sum(len(xs) for xs, _ in zeros)
    return [Line2D([], [], ls="none", marker="v", color="tab:red",
                   label=f"exactly 0 ({n} values), on the line marked 0")]  # fmt: skip


def _note_dropped(ax, n_drop: int, n_all: int, why: str = "NaN, inf or <= 0") -> None:
    """Say on the panel how many values are not shown, and say so loudly if none are."""
    if n_all and n_drop == n_all:
        ax.text(0.5, 0.5, f"no values to show ({why})", transform=ax.transAxes,
                ha="center", va="center", color="tab:red")  # fmt: skip
    elif n_drop:  # under the x label, so that it never hides a curve
        ax.annotate(f"{n_drop} of {n_all} values not shown ({why})", xy=(0.0, 0.0),
                    xycoords="axes fraction", xytext=(0, -38), textcoords="offset points",
                    ha="left", va="top", fontsize=8, color="tab:red")  # fmt: skip


def _figure(figsize, ncols: int, layout: str | None = None):
    """A Figure on its own Agg canvas (no pyplot, no global state) and its one row of axes.

    layout None: ``_finish`` places the axes with margins in inches (``_margins``, ~4 ms: it
    measures the legend only); for a row of line plots with a legend beside or below it, that
    is what constrained layout finds, whose tight boxes of every tick label cost ~0.15 s a
    figure. "constrained" for figures with colour bars."""
    fig, (axes,) = _grid(figsize, 1, ncols, layout=layout)
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
    return fig, tuple(axes)


def _finish(fig, path, title: str, handles, below: bool = False, place: bool = True) -> None:
    """Title, legend outside on the right (or below, in two columns), save atomically.
    place: give a figure without a layout engine its margins (``_margins``); False for one
    whose caller placed its axes."""
    if title:
        fig.suptitle(title)
    legend = None
    if handles:
        where = {"ncols": 2} if below else {}
        if fig.get_layout_engine() is not None:  # it makes room for the legend itself
            where["loc"] = "outside lower center" if below else "outside right center"
        else:
            where["loc"] = "lower center" if below else "center right"
        legend = fig.legend(handles=handles, fontsize=8, frameon=False, **where)
    if place and fig.get_layout_engine() is None:
        _margins(fig, legend, below)
    _save(fig, path)


# inches around a row of line plots: room for log-scale tick labels and the y label on the left
# and between panels, the x label and a note under it, the title and the panels' own titles
MARGINS = {"left": 0.9, "gap": 0.95, "bottom": 0.8, "top": 0.5, "titled": 0.3, "pad": 0.12}
MIN_PANEL = 2.2  # inches: a panel narrower than this widens the figure instead


def _margins(fig, legend, below: bool) -> None:
    """Place a row of axes with fixed margins in inches (MARGINS) and room for the legend, which
    is measured (its text only, not every tick label); a legend too wide for the figure widens
    it rather than squeezing the panels."""
    m, axes = MARGINS, fig.axes
    w, h = fig.get_size_inches()
    side = under = 0.0
    if legend is not None:
        box = legend.get_window_extent(fig.canvas.get_renderer())
        if below:
            under = box.height / fig.dpi + m["pad"]
        else:
            side = box.width / fig.dpi + m["pad"]
    n = len(axes)
    need = m["left"] + side + m["pad"] + (n - 1) * m["gap"] + n * MIN_PANEL
    if need > w:
        fig.set_size_inches(need, h)
        w = need
    top = m["top"] if fig.get_suptitle() else m["pad"] * 2
    top += m["titled"] if any(ax.get_title() for ax in axes) else 0.0
    left, right = m["left"] / w, 1 - (side + m["pad"]) / w
    bottom = (m["bottom"] + under) / h
    panel = ((right - left) * w - (n - 1) * m["gap"]) / n
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=1 - top / h,
                        wspace=m["gap"] / panel if n > 1 else None)  # fmt: skip
    if legend is not None:
        anchor = (0.5, m["pad"] / h) if below else (1 - m["pad"] / w, (bottom + 1 - top / h) / 2)
        legend.set_bbox_to_anchor(anchor, transform=fig.transFigure)


def _write_message(path, text: str, title: str) -> None:
    """A figure that says why there is nothing to plot, so the PNG still exists."""
    fig, (ax,) = _figure(FIGSIZE_ONE, ncols=1)
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, transform=ax.transAxes)
    _finish(fig, path, title, [])


def _save(fig, path) -> None:
    """Write fig as PNG atomically (temp file beside path, then rename). The figure is not
    cleared after: no pyplot holds it, so it goes with its last reference, and clearing a
    figure rebuilds every axis's ticks (~50 ms for four panels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


# ---- plain-data helpers -------------------------------------------------------------------------


def _rows_by_step(rows: Sequence[Mapping], columns) -> dict[float, list[tuple]]:
    """CSV rows as step -> [(t, *columns), ...] in floats (NaN where not a number), for every
    row whose step and t are numbers."""
    by_step: dict[float, list[tuple]] = {}
    for r in rows:
        step, t = _num(r.get("step")), _num(r.get("t"))
        if math.isfinite(step) and math.isfinite(t):
            by_step.setdefault(step, []).append((t, *(_num(r.get(c)) for c in columns)))
    return by_step


def _num(value) -> float:
    """A CSV cell as a float; None, empty and non-numeric text become NaN."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _floats(values) -> np.ndarray:
    """Any 1-D sequence (list with None, array, missing) as a float array, NaN where not a number."""
    if values is None:
        return np.zeros(0)
    return np.array([_num(v) for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)


def _xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Two float arrays cut to their common length."""
    x, y = _floats(x), _floats(y)
    n = min(len(x), len(y))
    return x[:n], y[:n]


def _spread(n: int, k: int) -> list[int]:
    """Up to k indices spread evenly over range(n), always the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def _fmt_step(step: float) -> str:
    return str(int(step)) if float(step).is_integer() else f"{step:g}"
