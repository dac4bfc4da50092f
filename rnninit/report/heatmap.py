"""A metric over two keys as a heatmap, one panel per value of a third (summarize --plot K1,K2).

Plain data in (experiment/maps.py's map_data), a PNG out, through plots.py's figure and atomic
save. Every panel shares one colour scale and one colour bar; each cell carries its value as
text. A cell with no number to draw is never coloured as if it had one: "not reached" cells
(fewer than half of the seeds got to the target) are hatched grey, cells without a finished
run are left white and say so.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping

import numpy as np

from . import plots

PANEL_SIZE = (3.6, 3.2)  # inches per panel; the colour bar and the legend come on top
HATCH = {"facecolor": "0.85", "edgecolor": "0.5", "hatch": "//", "lw": 0}


def metric_heatmap(data: Mapping, path: str | os.PathLike) -> None:
    """Draw one heatmap panel per entry of data["panels"] and write the PNG atomically.

    Args:
        data: {"x", "y": tick labels (columns, rows); "x_key", "y_key": axis labels;
            "panels": [{"title", "value": (ny, nx) floats, NaN where nothing is drawn,
            "text": (ny, nx) annotations, "hatched": (ny, nx) bools (not reached)}];
            "label": the colour bar's label; "title"; "better": "low" or "high" (that end
            is drawn bright); "vmin", "vmax": fixed ends of the scale or None;
            "hatch_label": the legend's text for a hatched cell}.
        path: the PNG to write.

    Rows run upwards (the first y value at the bottom), as on a plot with a y axis.
    """
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, Rectangle

    panels = data["panels"]
    values = [np.asarray(p["value"], dtype=float) for p in panels]  # each (ny, nx)
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    lo = data.get("vmin") if data.get("vmin") is not None else (finite.min() if finite.size else 0)
    hi = data.get("vmax") if data.get("vmax") is not None else (finite.max() if finite.size else 1)
    if hi <= lo:  # one value everywhere: a scale around it, not one of width 0
        lo, hi = lo - 0.5, hi + 0.5
    norm = Normalize(vmin=lo, vmax=hi)
    cmap = "viridis_r" if data["better"] == "low" else "viridis"
    nx, ny = len(data["x"]), len(data["y"])
    width = PANEL_SIZE[0] * max(1.0, nx / 4)
    height = PANEL_SIZE[1] * max(1.0, ny / 4)
    fig, axes = plots._figure(
        (width * len(panels) + 1.2, height + 1.0), ncols=len(panels), layout="constrained"
    )  # a colour bar beside the panels
    image = None
    for ax, panel, value in zip(axes, panels, values):
        ax.grid(False)
        image = ax.imshow(np.ma.masked_invalid(value), origin="lower", aspect="auto", cmap=cmap,
                          norm=norm, interpolation="nearest")  # fmt: skip
        hatched = np.asarray(panel["hatched"], dtype=bool).reshape(ny, nx)
        for i, j in zip(*np.nonzero(hatched)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, **HATCH))
        for i in range(ny):
            for j in range(nx):
                v = value[i, j]
                colour = _ink(image.cmap(norm(v))) if np.isfinite(v) else "0.2"
                box = {"facecolor": HATCH["facecolor"], "edgecolor": "none", "pad": 1}
                ax.text(j, i, panel["text"][i][j], ha="center", va="center", fontsize=8,
                        color=colour, bbox=box if hatched[i, j] else None)  # fmt: skip
        ax.set_xticks(range(nx), data["x"])
        ax.set_yticks(range(ny), data["y"])
        ax.set(xlabel=data["x_key"], title=panel["title"])
        ax.tick_params(length=0)
    axes[0].set_ylabel(data["y_key"])
    fig.colorbar(image, ax=list(axes), label=textwrap.fill(data["label"], 40), shrink=0.9)
    handles = []
    if any(np.asarray(p["hatched"], dtype=bool).any() for p in panels):
        handles.append(Patch(**HATCH, label=data["hatch_label"]))
    if handles:
        fig.legend(handles=handles, fontsize=8, frameon=False, loc="outside lower center")
    chars = int(fig.get_figwidth() * 12)  # about what a line of 10-point text holds
    title = "\n".join(textwrap.fill(line, chars) for line in data["title"].splitlines())
    fig.suptitle(title, fontsize=10)
    plots._save(fig, path)


def _ink(rgba) -> str:
    """Black text on a light cell, white on a dark one (by the cell's luminance)."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
