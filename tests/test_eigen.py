"""Whh's eigenvalues at init and at the end of a run: eigenvalues.npz and plots/eigenvalues.png,
checked against np.linalg.eigvals of the weights in the run's checkpoint."""

import math
from pathlib import Path

import numpy as np
import pytest

from rnninit.experiment.config import load_config
from rnninit.experiment.eigen import load_eigenvalues
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
