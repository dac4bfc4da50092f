"""What the weights do at init and at the end of a run (experiment/snapshots.py): Whh's
eigenvalues (eigenvalues.npz, plots/eigenvalues.png), checked against np.linalg.eigvals of the
checkpoint's weights, and one sequence unit by unit (units.npz, plots/units.png), checked against
the plain loop of tests/naive_rnn.py."""

import math
from pathlib import Path

import numpy as np
import pytest
from naive_rnn import naive_bptt

from rnninit.experiment.config import load_config
from rnninit.experiment.snapshots import load_eigenvalues, load_units
from rnninit.experiment.training import resume, train
from rnninit.report import plots


def _cfg(tmp_path, *extra):
    return load_config(None, [f"log.runs_dir={tmp_path}", "task.name=adding", "task.seq_len=6",
                              "model.hidden_size=10", "train.batch_size=4", "log.stats_every=2",
                              *extra])  # fmt: skip


def _whh(run: Path) -> np.ndarray:
    with np.load(run / "checkpoint.npz") as z:
        return z["param/Whh"].astype(np.float64)


def _same_spectrum(got: np.ndarray, W: np.ndarray) -> None:
    """Equal as multisets of complex numbers (eigvals' order is not part of the contract)."""
    want = np.linalg.eigvals(W)
    key = lambda z: np.lexsort((np.round(z.imag, 9), np.round(z.real, 9)))  # noqa: E731
    np.testing.assert_allclose(got[key(got)], want[key(want)], atol=1e-10)


@pytest.mark.parametrize("cell,gates", [("rnn", ["Whh"]), ("lstm", ["i", "f", "g", "o"])])
def test_eigenvalues_at_init_and_end_are_those_of_the_checkpoints_whh(tmp_path, cell, gates):
    start = Path(train(_cfg(tmp_path / "a", f"model.cell={cell}", "train.steps=0"))["run_dir"])
    end = Path(train(_cfg(tmp_path / "b", f"model.cell={cell}", "train.steps=5"))["run_dir"])
    H = 10
    for run, which in ((start, "init"), (end, "end")):
        data = load_eigenvalues(run / "eigenvalues.npz")
        assert data[which]["step"] == (0 if run is start else 5)
        assert list(data[which]["blocks"]) == gates
        W = _whh(run)  # (G*H, H): the weights at that step
        for k, gate in enumerate(gates):
            eig, circle = data[which]["blocks"][gate]
            block = W[k * H : (k + 1) * H]
            _same_spectrum(eig, block)
            assert circle == pytest.approx(math.sqrt(H * np.mean((block - block.mean()) ** 2)))
    # the same seed draws the same init: b's init part is a's
    a, b = (load_eigenvalues(r / "eigenvalues.npz")["init"] for r in (start, end))
    for gate in gates:
        np.testing.assert_array_equal(a["blocks"][gate][0], b["blocks"][gate][0])
    assert (end / "plots" / "eigenvalues.png").is_file()


def test_a_resumed_run_keeps_its_init_part(tmp_path):
    calls = iter(range(100))
    run = Path(train(_cfg(tmp_path, "train.steps=6", "log.checkpoint_every=2"),
                     should_stop=lambda: next(calls) == 3)["run_dir"])  # fmt: skip
    before = load_eigenvalues(run / "eigenvalues.npz")
    assert before["end"]["step"] < 6
    resume(run)
    after = load_eigenvalues(run / "eigenvalues.npz")
    np.testing.assert_array_equal(
        after["init"]["blocks"]["Whh"][0], before["init"]["blocks"]["Whh"][0]
    )
    assert after["end"]["step"] == 6
    _same_spectrum(after["end"]["blocks"]["Whh"][0], _whh(run))


def test_the_plot_draws_the_eigenvalues_and_the_circles(tmp_path, monkeypatch):
    drawn, real = {}, plots._save

    def spy(fig, path):
        drawn["axes"] = [(list(ax.lines), list(ax.patches)) for ax in fig.axes]
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    init = np.array([0.5 + 0.5j, 0.5 - 0.5j, -0.2 + 0j])
    end = np.array([1.2 + 0j, np.nan + 0j, 0.1 + 0.3j])
    data = {"init": {"step": 0, "blocks": {"f": (init, 0.7)}},
            "end": {"step": 9, "blocks": {"f": (end, 1.3)}}}  # fmt: skip
    plots.eigenvalue_clouds(data, tmp_path / "e.png")
    ((lines, patches),) = drawn["axes"]
    dots, crosses = lines
    np.testing.assert_array_equal(dots.get_xdata(), init.real)
    np.testing.assert_array_equal(dots.get_ydata(), init.imag)
    np.testing.assert_array_equal(crosses.get_xdata(), end.real[[0, 2]])  # NaN counted, not drawn
    assert sorted(p.get_radius() for p in patches) == [0.7, 1.0, 1.3]


@pytest.mark.parametrize("task", ["char", "adding", "copy"])
def test_units_are_one_validation_sequence_under_its_own_loss(tmp_path, task):
    """units.npz: h_t and the total dL/dh_t of the first validation sequence, as a plain loop
    computes them for a batch of that one sequence, at init (steps=0) and at the end."""
    from rnninit.experiment.training import prepare

    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    path = [f"task.path={text}"] if task == "char" else []
    cfg = load_config(None, [f"log.runs_dir={tmp_path}", f"task.name={task}", *path,
                             "task.seq_len=6", "model.hidden_size=7", "train.batch_size=4",
                             "train.steps=3"])  # fmt: skip
    run = Path(train(cfg)["run_dir"])
    units = load_units(run / "units.npz")
    assert [units["init"]["step"], units["end"]["step"]] == [0, 3]
    batch = prepare(cfg).val_batches[0]  # the same fixed validation batches as the run's
    one = slice(0, 1)
    mask = None if batch.mask is None else batch.mask[:, one]
    with np.load(run / "checkpoint.npz") as z:
        end = {
            k.split("/", 1)[1]: z[k].astype(np.float64) for k in z.files if k.startswith("param/")
        }
    for which, params in (("init", prepare(cfg).params), ("end", end)):
        loss = prepare(cfg).task.loss
        _, _, _, hs, dhs = naive_bptt(params, batch.x[:, one], batch.y[:, one], mask, loss=loss)
        np.testing.assert_allclose(units[which]["h"], np.array(hs)[:, 0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(units[which]["dh"], np.array(dhs)[:, 0], rtol=1e-9, atol=1e-15)
    assert (run / "plots" / "units.png").is_file()


def test_the_heatmaps_draw_h_and_the_size_of_the_gradient_on_shared_scales(tmp_path, monkeypatch):
    drawn, real = {}, plots._save

    def spy(fig, path):
        drawn["images"] = [(ax.get_title(), ax.images[0]) for ax in fig.axes if ax.images]
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    rng = np.random.default_rng(0)
    part = lambda s, k: {"step": s, "h": np.tanh(k * rng.normal(size=(5, 3))),  # noqa: E731
                         "dh": k * rng.normal(size=(5, 3))}  # fmt: skip
    rows = {"a": {"init": part(0, 1.0), "end": part(9, 2.0)}, "b": {"init": part(0, 0.1)}}
    rows["b"]["init"]["dh"][2, 1] = 0.0  # an exact zero: under the log scale, not masked
    plots.unit_heatmaps(rows, tmp_path / "u.png")
    images = dict(drawn["images"])
    assert sorted(images) == sorted(["a: h_t, step 0", "a: h_t, step 9", "b: h_t, step 0",
                                     "a: |dL/dh_t|, step 0", "a: |dL/dh_t|, step 9",
                                     "b: |dL/dh_t|, step 0"])  # fmt: skip
    np.testing.assert_array_equal(images["a: h_t, step 9"].get_array(), rows["a"]["end"]["h"].T)
    g = images["b: |dL/dh_t|, step 0"]
    expect = np.abs(rows["b"]["init"]["dh"]).T
    got = np.asarray(g.get_array())
    assert got[1, 2] < g.norm.vmin  # the zero: under the scale (black), not a NaN (white)
    mask = np.ones_like(expect, dtype=bool)
    mask[1, 2] = False
    np.testing.assert_array_equal(got[mask], expect[mask])
    h_norms = {images[k].norm.vmax for k in images if "h_t," in k}
    g_norms = {(images[k].norm.vmin, images[k].norm.vmax) for k in images if "dL" in k}
    assert len(h_norms) == 1 and len(g_norms) == 1  # one scale per quantity, every panel
    all_h = np.concatenate([np.ravel(p["h"]) for d in rows.values() for p in d.values()])
    assert h_norms == {np.abs(all_h).max()}
