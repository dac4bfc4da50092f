"""The Jacobian spectrum in runs (log.jacobian), in `rnninit jacobian`, in plots and tables.

The numbers themselves are checked against independent references in test_jacobian.py; here:
the files hold what DESIGN says (jacobian.csv's columns, jacobian.npz's layout), the run's rows
are the spectrum of that step's batch at that step's weights (recomputed here from the batch
and the weights), the command measures the same, the plot draws the data and the table says
which values are bounds.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.core.cells import get_cell
from rnninit.core.jacobian import ROUNDOFF_FLOOR, jacobian_spectrum, log_times, spectrum_columns
from rnninit.experiment.config import load_config
from rnninit.experiment.jacobian import jacobian_report
from rnninit.experiment.runs import read_csv
from rnninit.experiment.spectra import load_spectra
from rnninit.experiment.training import prepare, train

# DESIGN section 3's jacobian.csv columns: the contract
DESIGN_COLUMNS = ["step", "t", "sequence", "sv_max", "sv_median", "sv_min", "mean_log_sv",
                  "frac_within_10pct_of_1"]  # fmt: skip
TEXT = "a quick brown fox jumps over the lazy dog while five boxing wizards jump quickly. " * 30
runner = CliRunner()


def tiny(tmp_path, *extra):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    return [f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=12",
            "model.hidden_size=8", "train.steps=6", "train.batch_size=4", "log.stats_every=3",
            "log.eval_every=3", "task.val_batches=1", "log.jacobian=true",
            "log.jacobian_sequences=3", *extra]  # fmt: skip


def run_of(tmp_path, *extra) -> tuple[Path, object]:
    cfg = load_config(None, tiny(tmp_path, *extra))
    summary = train(cfg)
    assert summary["status"] == "completed"
    return Path(summary["run_dir"]), cfg


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_run_writes_the_spectrum_of_each_statistics_step(tmp_path, cell):
    run, cfg = run_of(tmp_path, f"model.cell={cell}")
    header = (run / "jacobian.csv").read_text().splitlines()[0]
    assert header.split(",") == DESIGN_COLUMNS
    rows = read_csv(run / "jacobian.csv")
    T, K, S = 12, 3, get_cell(cell).state_size(8)
    ts = log_times(T)
    assert ts[0] == 1 and ts[-1] == T
    assert [(r["step"], r["t"], r["sequence"]) for r in rows] == [
        (s, t, k) for s in (0, 3, 6) for t in ts for k in range(K)
    ]
    spectra = load_spectra(run / "jacobian.npz")
    assert sorted(spectra) == [0, 3, 6]
    with np.load(run / "jacobian.npz") as npz:
        assert float(npz["roundoff_floor"]) == ROUNDOFF_FLOOR
        assert npz["step_3/log_sv"].shape == (len(ts), K, S)
        assert npz["step_3/t"].tolist() == ts
    for step, spec in spectra.items():  # the CSV's columns are the npz spectra's
        cols = spectrum_columns(spec.log_sv)
        mine = [r for r in rows if r["step"] == step]
        for r in mine:
            i = ts.index(r["t"])
            assert r["sv_max"] == pytest.approx(cols["sv_max"][i, r["sequence"]], rel=1e-15)
            assert r["mean_log_sv"] == pytest.approx(cols["mean_log_sv"][i, r["sequence"]])
    assert (run / "plots" / "jacobian.png").is_file()


def test_step_0_is_the_spectrum_of_the_first_batch_at_init(tmp_path):
    """Recomputed here: the batch the data stream gives first, the weights drawn at init."""
    run, cfg = run_of(tmp_path)
    setup = prepare(cfg)
    batch = setup.task.sample(setup.rng_data, cfg.train.batch_size)
    spec = jacobian_spectrum(setup.params, batch.x[:, :3], nonlinearity="tanh")
    np.testing.assert_array_equal(load_spectra(run / "jacobian.npz")[0].log_sv, spec.log_sv)


def test_the_spectrum_is_off_by_default(tmp_path):
    cfg = load_config(None, [t for t in tiny(tmp_path) if not t.startswith("log.jacobian")])
    run = Path(train(cfg)["run_dir"])
    assert not (run / "jacobian.csv").exists() and not (run / "jacobian.npz").exists()
    assert not (run / "plots" / "jacobian.png").exists()


def test_a_float32_run_measures_its_weights_in_float64(tmp_path):
    run, _ = run_of(tmp_path, "train.dtype=float32")
    assert load_spectra(run / "jacobian.npz")[0].log_sv.dtype == np.float64


def test_the_command_at_init_measures_what_the_run_logs_at_step_0(tmp_path):
    run, cfg = run_of(tmp_path)
    report = jacobian_report(run / "config.yaml")
    assert report["step"] == 0 and report["weights"] == "at init"
    logged = [r for r in read_csv(run / "jacobian.csv") if r["step"] == 0]
    assert [[r[c] for c in DESIGN_COLUMNS] for r in logged] == [
        [r[c] for c in DESIGN_COLUMNS] for r in report["rows"]
    ]  # the CSV writes floats exactly (repr)


def test_the_command_on_a_run_reads_its_checkpoint_and_writes_nothing_there(tmp_path):
    run, cfg = run_of(tmp_path)
    before = sorted(p.name for p in run.rglob("*"))
    result = runner.invoke(app, ["jacobian", str(run), "--sequences", "2"])
    assert result.exit_code == 0, result.output
    assert "checkpoint.npz (step 6)" in result.output
    assert "Jacobian spectrum at step 6" in result.output
    assert sorted(p.name for p in run.rglob("*")) == before
    # the weights are the checkpoint's: the spectrum of the first batch at those weights
    setup = prepare(cfg)
    batch = setup.task.sample(setup.rng_data, 4)
    with np.load(run / "checkpoint.npz") as ckpt:
        params = {k: ckpt[f"param/{k}"] for k in setup.params}
    expected = spectrum_columns(jacobian_spectrum(params, batch.x[:, :2]).log_sv)
    got = json.loads(runner.invoke(app, ["jacobian", str(run), "-n", "2", "--json"]).output)
    assert got["step"] == 6 and got["sequences"] == 2 and got["t"] == log_times(12)
    assert [r["sv_max"] for r in got["rows"]] == pytest.approx(expected["sv_max"].ravel())
    assert np.array(got["log_sv"]).shape == (len(log_times(12)), 2, 8)


def test_the_command_refuses_to_change_the_network_of_a_run(tmp_path):
    run, _ = run_of(tmp_path)
    for override in ("model.hidden_size=16", "init.Whh=orthogonal", "train.dtype=float32"):
        result = runner.invoke(app, ["jacobian", str(run), override])
        assert result.exit_code == 2
        assert "checkpoint fixes model.*, init and train.dtype" in result.output
    longer = runner.invoke(app, ["jacobian", str(run), "task.seq_len=30"])
    assert longer.exit_code == 0, longer.output
    assert "T=30" in longer.output


def test_the_command_writes_files_only_where_asked_and_never_over_others(tmp_path):
    out = tmp_path / "out"
    args = ["jacobian", "model.hidden_size=6", "task.seq_len=9", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "jacobian.csv")
    assert list(rows[0]) == DESIGN_COLUMNS and {r["step"] for r in rows} == {0}
    assert load_spectra(out / "jacobian.npz")[0].log_sv.shape == (len(log_times(9)), 4, 6)
    assert (out / "plots" / "jacobian.png").is_file()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output


def test_the_command_on_a_config_file_and_a_bad_source(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  hidden_size: 5\n  nonlinearity: linear\ninit:\n  Whh: orthogonal\n")
    result = runner.invoke(app, ["jacobian", str(cfg), "task.seq_len=50"])
    assert result.exit_code == 0, result.output
    assert "rnn, H=5, linear, T=50" in result.output and "100%" in result.output
    assert runner.invoke(app, ["jacobian", str(tmp_path / "none.yaml")]).exit_code == 2
    assert runner.invoke(app, ["jacobian", str(tmp_path)]).exit_code == 2  # a folder, not a run
    assert runner.invoke(app, ["jacobian", "--sequences", "0"]).exit_code == 2


# ------------------------------------------------------------------------------ plot and table


def spectrum_rows_and_data():
    """Two statistics steps of two sequences at t = 1, 4, 16: sequence 1 at step 3 has
    values under the round-off floor."""
    t = np.array([1, 4, 16])
    log_sv = {0: np.log(np.array([[[2.0, 1.0, 0.5], [3.0, 1.5, 0.1]]] * 3)),
              3: np.log(np.array([[[4.0, 1.0, 0.5], [5.0, 1e-20, 1e-30]]] * 3))}  # fmt: skip
    rows = []
    for step, ls in log_sv.items():
        cols = spectrum_columns(ls)
        rows += [{"step": step, "t": int(t[i]), "sequence": k,
                  **{c: float(v[i, k]) for c, v in cols.items()}}
                 for i in range(3) for k in range(2)]  # fmt: skip
    return rows, {s: (t, ls) for s, ls in log_sv.items()}


def drawn_figure(monkeypatch, tmp_path, rows, data):
    """The figure plots.jacobian_spectrum draws, caught before it is saved."""
    from rnninit.report import plots

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.setdefault("fig", fig))
    plots.jacobian_spectrum(rows, data, tmp_path / "j.png")
    return drawn["fig"]


def test_the_plot_draws_the_spectrum_and_the_geometric_means(tmp_path, monkeypatch):
    rows, data = spectrum_rows_and_data()
    ax_dist, ax_t = drawn_figure(monkeypatch, tmp_path, rows, data).axes[:2]
    # left: step 0's values pooled over both sequences, sorted, with their shares
    first = ax_dist.lines[0]
    np.testing.assert_allclose(first.get_xdata(), [0.1, 0.5, 1.0, 1.5, 2.0, 3.0])
    np.testing.assert_allclose(first.get_ydata(), np.arange(1, 7) / 6)
    assert ax_dist.get_xscale() == "log"
    # right: per step, sv_max solid and sv_min dashed, geometric means over the two sequences
    solid = [ln for ln in ax_t.lines if ln.get_linestyle() == "-"]
    dashed = [ln for ln in ax_t.lines if ln.get_linestyle() == "--"]
    np.testing.assert_allclose(solid[0].get_ydata(), [math.sqrt(2 * 3)] * 3)
    np.testing.assert_allclose(solid[1].get_ydata(), [math.sqrt(4 * 5)] * 3)
    np.testing.assert_allclose(dashed[0].get_ydata(), [math.sqrt(0.5 * 0.1)] * 3)
    assert len(dashed[1].get_ydata()) == 0  # sequence 1's sv_min is the floor: not a value
    np.testing.assert_allclose(solid[0].get_xdata(), [1, 4, 16])


def test_the_plot_pools_only_resolved_values(tmp_path, monkeypatch):
    rows, data = spectrum_rows_and_data()
    line = drawn_figure(monkeypatch, tmp_path, rows, {3: data[3]}).axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0.5, 1.0, 4.0, 5.0])  # 1e-20, 1e-30: floor
    np.testing.assert_allclose(line.get_ydata(), (2 + np.arange(1, 5)) / 6)


def test_the_plot_without_data_still_writes_a_png(tmp_path):
    from rnninit.report import plots

    plots.jacobian_spectrum([], {}, tmp_path / "j.png")
    assert (tmp_path / "j.png").read_bytes()[:4] == b"\x89PNG"


def test_the_table_marks_bounds_and_averages_in_logs():
    from rich.console import Console

    from rnninit.report.terminal import jacobian_table, state_text

    rows, _ = spectrum_rows_and_data()
    console = Console(width=200, record=True)
    console.print(jacobian_table(rows, 3, state_text("lstm", 8)))
    text = console.export_text()
    assert "of the state (h, c), S = 16" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("│  1 "))
    cells = [c.strip() for c in line.strip("│").split("│")]
    assert cells[1] == "4.47"  # sqrt(4 * 5)
    assert cells[3].startswith("<= ") and cells[4].startswith("<= ")
    assert jacobian_table(rows, 99) is None
