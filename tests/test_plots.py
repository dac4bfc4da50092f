"""The plot writers: a readable PNG every time, atomically, with no figure left open."""

import gc
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnninit.report import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T = 12


def timestep_rows(steps=(0, 5, 10), act=1.0, grad=1e-3, theory=True):
    """timesteps.csv rows as read_csv gives them: ints for step and t, floats or None elsewhere."""
    rows = []
    for s in steps:
        for t in range(1, T + 1):
            rows.append({
                "step": s, "t": t, "preact_var": 1.0, "act_mean": 0.0,
                "act_var": act * (1 + 0.1 * s) * 0.9**t, "grad_var": grad * 1.5**(T - t),
                "theory_act_var": (0.95**t if theory and s == 0 else None),
            })  # fmt: skip
    return rows


def metric_rows(n=20, eval_every=5):
    return [
        {"step": s, "loss": 4.0 * math.exp(-s / 8) + 1.0,
         "val_loss": (4.2 * math.exp(-s / 8) + 1.1) if s % eval_every == 0 else None}
        for s in range(n)
    ]  # fmt: skip


def compare_curves():
    t = np.arange(1, T + 1)
    return {
        "xavier": {"t": t, "value": 0.5 * np.ones(T), "theory": 0.55 * np.ones(T)},
        "uniform": {"t": t, "value": 0.99 * np.ones(T)},
        "small": {"t": t, "value": 1e-4 * 0.5 ** t},
    }  # fmt: skip


def loss_curves(std=0.1):
    step = np.arange(0, 50, 5)
    return {
        "xavier": {"step": step, "mean": 3.0 * np.exp(-step / 20) + 1, "std": std * np.ones(10)},
        "uniform": {"step": step, "mean": 3.5 * np.ones(10), "std": np.zeros(10)},
    }


WRITERS = {
    "variance_by_timestep": lambda p: plots.variance_by_timestep(timestep_rows(), p, "run-1"),
    "loss_curve": lambda p: plots.loss_curve(metric_rows(), p, chance=4.17, target=1.5),
    "compare_timesteps": lambda p: plots.compare_timesteps(compare_curves(), "act_var", p),
    "compare_loss": lambda p: plots.compare_loss(loss_curves(), p, chance=4.17, target=1.5),
}


def assert_png(path: Path) -> np.ndarray:
    """A real PNG that matplotlib reads back as a non-trivial image, and no temp file beside it."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert image.std() > 0.01  # something was drawn on the white page
    assert [
        p.name for p in path.parent.iterdir() if p.name.startswith(".") or "tmp" in p.name
    ] == []
    return image


@pytest.mark.parametrize("name", WRITERS)
def test_each_writer_makes_a_readable_png(tmp_path, name):
    path = tmp_path / f"{name}.png"
    WRITERS[name](path)
    assert_png(path)


def test_writer_replaces_an_existing_file_and_creates_the_folder(tmp_path):
    path = tmp_path / "plots" / "loss.png"
    plots.loss_curve(metric_rows(), path)
    first = path.read_bytes()
    plots.loss_curve(metric_rows(n=40), path, chance=4.17)
    assert path.read_bytes() != first
    assert_png(path)


def test_a_failed_save_leaves_no_temp_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.loss_curve(metric_rows(), tmp_path / "loss.png")
    assert list(tmp_path.iterdir()) == []


BAD = [math.nan, math.inf, -math.inf, 0.0, -1.0, None]


def test_variance_by_timestep_survives_a_diverged_run(tmp_path):
    rows = timestep_rows()
    for i, r in enumerate(rows):
        if r["step"] == 10:  # the last checkpoint diverged: every gradient is bad
            r["grad_var"] = BAD[i % len(BAD)]
        if r["t"] > T // 2:
            r["act_var"] = BAD[i % len(BAD)]
    rows[0]["theory_act_var"] = math.nan
    plots.variance_by_timestep(rows, tmp_path / "v.png")
    assert_png(tmp_path / "v.png")


@pytest.mark.parametrize("bad", BAD)
def test_variance_by_timestep_with_nothing_plottable(tmp_path, bad):
    rows = timestep_rows()
    for r in rows:
        r["act_var"] = r["grad_var"] = r["theory_act_var"] = bad
    plots.variance_by_timestep(rows, tmp_path / "v.png")
    assert_png(tmp_path / "v.png")


def test_loss_curve_survives_nan_and_inf(tmp_path):
    rows = metric_rows()
    rows[-1]["loss"] = math.inf
    rows[-2]["loss"] = math.nan
    rows[5]["val_loss"] = math.nan
    rows[3]["loss"] = 1e9  # blew up before diverging: the axis turns logarithmic
    plots.loss_curve(rows, tmp_path / "l.png", chance=math.nan, target=None)
    assert_png(tmp_path / "l.png")


def test_compare_writers_survive_bad_values(tmp_path):
    curves = compare_curves()
    curves["uniform"]["value"] = np.array([math.inf, math.nan, 0.0, -1.0] * (T // 4))
    curves["xavier"]["theory"] = np.full(T, math.nan)
    curves["short"] = {"t": np.arange(1, 4), "value": [1.0, None, 2.0, 3.0, 4.0]}
    plots.compare_timesteps(curves, "grad_var", tmp_path / "t.png")
    assert_png(tmp_path / "t.png")

    losses = loss_curves(std=math.nan)
    losses["uniform"]["mean"][3:] = math.inf
    losses["empty"] = {"step": [], "mean": []}
    plots.compare_loss(losses, tmp_path / "l.png", chance=math.inf)
    assert_png(tmp_path / "l.png")


@pytest.mark.parametrize(
    "call",
    [
        lambda p: plots.variance_by_timestep([], p),
        lambda p: plots.loss_curve([], p, chance=1.0, target=0.5),
        lambda p: plots.loss_curve([{"step": 0, "loss": None, "val_loss": None}], p),
        lambda p: plots.compare_timesteps({}, "act_var", p),
        lambda p: plots.compare_loss({}, p),
        lambda p: plots.compare_loss({"xavier": {"step": [0], "mean": [math.nan]}}, p),
    ],
)
def test_empty_input_still_writes_a_png(tmp_path, call):
    call(tmp_path / "empty.png")
    assert_png(tmp_path / "empty.png")


def test_a_single_point_is_drawn(tmp_path):
    plots.variance_by_timestep(timestep_rows(steps=(0,))[:1], tmp_path / "v.png")
    plots.loss_curve(metric_rows(n=1), tmp_path / "l.png")
    assert_png(tmp_path / "v.png")
    assert_png(tmp_path / "l.png")


def test_many_calls_leave_no_figure_open(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    def live_figures():
        gc.collect()
        return sum(isinstance(o, Figure) for o in gc.get_objects())

    WRITERS["loss_curve"](tmp_path / "warm.png")
    before_pyplot, before_live = plt.get_fignums(), live_figures()
    cheap = ["loss_curve", "compare_loss"]  # every writer goes through the same _figure and _save
    for i in range(30):
        WRITERS[cheap[i % 2]](tmp_path / f"{i}.png")
    assert plt.get_fignums() == before_pyplot
    assert live_figures() <= before_live


def test_import_does_not_load_matplotlib():
    code = "import rnninit.report.plots, sys; assert 'matplotlib' not in sys.modules, 'matplotlib loaded'"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_png_is_renamed_into_place_from_the_same_folder(tmp_path, monkeypatch):
    from rnninit import fileio

    renames = []
    real_replace = fileio.os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", spy)
    path = tmp_path / "loss.png"
    plots.loss_curve(metric_rows(), path)
    [(src, dst)] = renames
    assert dst == path and src.parent == tmp_path and src != path


def test_the_png_gets_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        plots.loss_curve(metric_rows(), tmp_path / "loss.png")
    finally:
        os.umask(old)
    assert (tmp_path / "loss.png").stat().st_mode & 0o777 == 0o644  # readable by a shared group


def _drawn(monkeypatch):
    """The figures the writers build, captured just before they are saved."""
    drawn, real = [], plots._save

    def spy(fig, path):
        drawn.append([(ax, list(ax.lines), [t.get_text() for t in ax.texts]) for ax in fig.axes])
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return drawn


def test_a_variance_that_collapsed_to_zero_is_drawn_on_a_floor_marked_0(tmp_path, monkeypatch):
    """uniform's act_var is exactly 0 from t = 2 on: those t are markers on a dotted line under
    the smallest value drawn, between two decades, labelled "0", not "values not shown"."""
    drawn = _drawn(monkeypatch)
    curves = compare_curves()
    collapsed = np.r_[0.3, np.zeros(T - 1)]
    curves["uniform"]["value"] = collapsed
    plots.compare_timesteps(curves, "act_var", tmp_path / "t.png")
    ((ax, lines, texts),) = drawn[0]
    markers = [ln for ln in lines if ln.get_linestyle() == "None" and ln.get_marker() == "v"]
    (floor_line,) = [ln for ln in lines if ln.get_linestyle() == ":"]
    floor = floor_line.get_ydata()[0]
    smallest = min(y for c in curves.values() for y in c["value"] if y > 0)  # 1e-4 * 0.5**12
    assert floor == 10.0 ** (math.floor(math.log10(smallest)) - 0.5) < smallest
    (m,) = markers
    np.testing.assert_array_equal(m.get_xdata(), np.arange(2, T + 1))  # the t where it is 0
    np.testing.assert_array_equal(m.get_ydata(), np.full(T - 1, floor))
    assert "0" in texts and not any("not shown" in t for t in texts)
    uniform = [ln for ln in lines if ln.get_linestyle() == "-" and len(ln.get_xdata()) == 1]
    assert uniform and uniform[0].get_ydata()[0] == 0.3  # its one positive value, as drawn

    drawn.clear()  # the run plot: both panels, and a NaN still counted as not shown
    rows = timestep_rows(steps=(0,))
    for r in rows[1:]:
        r["act_var"] = 0.0
    rows[0]["grad_var"] = math.nan
    plots.variance_by_timestep(rows, tmp_path / "v.png")
    (act, act_lines, act_texts), (grad, _, grad_texts) = drawn[0]
    (m,) = [ln for ln in act_lines if ln.get_marker() == "v"]
    np.testing.assert_array_equal(m.get_xdata(), np.arange(2, T + 1))
    assert "0" in act_texts and "0" not in grad_texts
    assert any("1 of 12 values not shown" in t for t in grad_texts)
