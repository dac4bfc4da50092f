"""The gated cells' per-timestep statistics (DESIGN section 3) against values computed here.

A plain LSTM and GRU loop written in this file (sigma as 1 / (1 + exp(-a)), one step at a time,
no code of the package) gives the gate values and the cell states; the total dL/dc_t comes from
central finite differences of the loss in that loop, with c_t nudged and every later step rerun.
"""

import csv
import math
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.core.cells import CELL_COLUMNS, get_cell
from rnninit.core.engine import bptt
from rnninit.core.stats import GATE_SAT_BAND

T, B, I, H, O = 5, 16, 3, 8, 2


def sigma(a):
    return 1.0 / (1.0 + np.exp(-a))


def lstm_loop(p, x, nudge=None):
    """Gates (T, B, 4H) and c_1..c_T (T, B, H) of an LSTM, and the mse loss against 0 of
    o_t = h_t Why^T + by averaged over t, b and the O outputs; nudge = (t, delta) adds delta to
    c_t (1-based) before h_t and every later step read it."""
    h, c = np.zeros((B, H)), np.zeros((B, H))
    gates, cs, loss = [], [], 0.0
    for t in range(1, T + 1):
        a = x[t - 1] @ p["Wxh"].T + h @ p["Whh"].T + p["bh"]
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
        i, f, g, o = sigma(i), sigma(f), np.tanh(g), sigma(o)
        c = f * c + i * g
        if nudge is not None and nudge[0] == t:
            c = c + nudge[1]
        h = o * np.tanh(c)
        gates.append(np.concatenate([i, f, g, o], axis=1))
        cs.append(c)
        loss += np.sum((h @ p["Why"].T + p["by"]) ** 2)
    return np.array(gates), np.array(cs), loss / (T * B * O)


def gru_loop(p, x):
    """Gates r, z, n (T, B, 3H) of a GRU as DESIGN section 2 writes it."""
    h, gates = np.zeros((B, H)), []
    Wr, Wz, Wn = (p["Wxh"][k * H : (k + 1) * H] for k in range(3))
    Ur, Uz, Un = (p["Whh"][k * H : (k + 1) * H] for k in range(3))
    br, bz, bn = (p["bh"][k * H : (k + 1) * H] for k in range(3))
    for t in range(T):
        r = sigma(x[t] @ Wr.T + h @ Ur.T + br)
        z = sigma(x[t] @ Wz.T + h @ Uz.T + bz)
        n = np.tanh(x[t] @ Wn.T + bn + r * (h @ Un.T + p["bhn"]))
        h = (1 - z) * n + z * h
        gates.append(np.concatenate([r, z, n], axis=1))
    return np.array(gates)


def problem(cell, seed, scale=1.6):
    """Weights large enough that some gates saturate and some do not."""
    rng = np.random.default_rng(seed)
    p = {s.name: scale * rng.standard_normal(s.shape) for s in get_cell(cell).param_specs(I, H, O)}
    return p, rng.standard_normal((T, B, I))


def saturated_share(v, tanh_gate):
    lo, hi = GATE_SAT_BAND
    if tanh_gate:
        v = (1 + v) / 2  # the same band, read on [0, 1]
    return ((v < lo) | (v > hi)).reshape(T, -1).mean(axis=1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gate_means_and_saturation_match_a_plain_loop(cell):
    p, x = problem(cell, 1)
    res = bptt(p, x, np.zeros((T, B, O)), loss="mse", cell=cell)
    gates = lstm_loop(p, x)[0] if cell == "lstm" else gru_loop(p, x)
    names = ("i", "f", "g", "o") if cell == "lstm" else ("r", "z", "n")
    sats = []
    for k, g in enumerate(names):
        v = gates[:, :, k * H : (k + 1) * H]
        np.testing.assert_allclose(res.timesteps[f"gate_{g}_mean"], v.reshape(T, -1).mean(axis=1),
                                   rtol=1e-12)  # fmt: skip
        want = saturated_share(v, tanh_gate=g in ("g", "n"))
        np.testing.assert_array_equal(res.timesteps[f"gate_{g}_sat"], want)
        sats.append(want)
    sats = np.array(sats)
    assert (sats > 0).any() and (sats < 1).any()  # the check is not vacuous: 0 < share < 1 seen


def test_lstm_cell_var_and_the_total_gradient_into_c_t():
    p, x = problem("lstm", 2, scale=0.9)
    res = bptt(p, x, np.zeros((T, B, O)), loss="mse", cell="lstm")
    _, cs, _ = lstm_loop(p, x)
    np.testing.assert_allclose(res.timesteps["cell_var"], cs.reshape(T, -1).var(axis=1),
                               rtol=1e-12)  # fmt: skip
    eps, want = 1e-6, np.empty(T)
    for t in range(1, T + 1):  # dL/dc_t, every entry by a central difference
        grad = np.empty((B, H))
        for b in range(B):
            for j in range(H):
                d = np.zeros((B, H))
                d[b, j] = eps
                up, down = lstm_loop(p, x, (t, d))[2], lstm_loop(p, x, (t, -d))[2]
                grad[b, j] = (up - down) / (2 * eps)
        want[t - 1] = grad.var()
    np.testing.assert_allclose(res.timesteps["cell_grad_var"], want, rtol=1e-6)
    assert want[0] < 0.5 * want[-1] or want[0] > 2 * want[-1]  # it varies with t: a real check


def test_each_cell_has_the_columns_it_should():
    assert get_cell("rnn").stat_columns == ()
    assert set(get_cell("gru").stat_columns) == {f"gate_{g}_{s}" for g in "rzn"
                                                 for s in ("mean", "sat")}  # fmt: skip
    lstm = get_cell("lstm").stat_columns
    assert {"cell_var", "cell_grad_var"} <= set(lstm) and "gate_z_mean" not in lstm
    for cell in ("rnn", "lstm", "gru"):
        assert set(get_cell(cell).stat_columns) <= set(CELL_COLUMNS)
    p, x = problem("gru", 3)
    assert "cell_var" not in bptt(p, x, np.zeros((T, B, O)), loss="mse", cell="gru").timesteps


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_run_folder_leaves_the_columns_a_cell_lacks_empty(tmp_path, cell):
    """One header for every cell; a column is filled where the cell has it, empty elsewhere; and
    `show` prints the gate table for a gated cell, saying that it has no mean-field theory."""
    args = ["train", f"model.cell={cell}", "task.name=adding", "task.seq_len=6",
            "model.hidden_size=4", "train.steps=2", "train.batch_size=4", "log.stats_every=2",
            f"log.runs_dir={tmp_path}"]  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
    (run,) = tmp_path.iterdir()
    with open(run / "timesteps.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    have = set(get_cell(cell).stat_columns)
    for col in CELL_COLUMNS:
        filled = {r[col] != "" for r in rows}
        assert filled == {col in have}, col
        if col in have:
            assert all(math.isfinite(float(r[col])) for r in rows), col
    out = CliRunner().invoke(app, ["show", str(run)]).output
    assert ("gates at step" in out) == (cell == "gru")
    assert ("gates and cell state at step" in out) == (cell == "lstm")
    assert ("no mean-field theory for gated cells" in out) == (cell != "rnn")
    assert ("cell_grad_var" in out) == (cell == "lstm")


def test_compare_shows_each_arms_gates_as_its_runs_measured_them(tmp_path):
    """The compare's gate table: the forget gate's mean at step 0, averaged over t, equals the
    mean of that arm's gate_f_mean column in its run folder; chrono opens f more than zeros."""
    args = ["compare", "chrono: init.bh=chrono", "zeros: init.bh=zeros", "model.cell=lstm",
            "task.name=adding", "task.seq_len=8", "model.hidden_size=6", "train.steps=2",
            "train.batch_size=4", f"log.runs_dir={tmp_path}"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = re.findall(
        r"│ (chrono|zeros) +│ +0 │ +[-\d.e]+ \(\d+%\) │ +([-\d.e]+) \(", result.output
    )
    shown = {label: float(v) for label, v in rows}
    assert set(shown) == {"chrono", "zeros"}
    for label in shown:
        (run,) = [p for p in (tmp_path).glob("compare-*/*") if p.name.startswith(label)]
        with open(run / "timesteps.csv", newline="") as fh:
            f = [float(r["gate_f_mean"]) for r in csv.DictReader(fh) if r["step"] == "0"]
        assert shown[label] == pytest.approx(np.mean(f), abs=6e-4)  # 3 significant digits
    assert shown["chrono"] > shown["zeros"] + 0.1


def test_compare_arms_may_change_the_cell(tmp_path):
    """Labelled arms that set model.cell run each cell on the same batches: every run records
    its own cell and the same data digest, and only the gated arm has a gate table row."""
    import json

    args = ["compare", "rnn: model.cell=rnn", "gru: model.cell=gru", "task.name=adding",
            "task.seq_len=6", "model.hidden_size=4", "train.steps=2", "train.batch_size=4",
            f"log.runs_dir={tmp_path}"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = {p.name.split("-")[0]: json.loads((p / "summary.json").read_text())
            for p in tmp_path.glob("compare-*/*") if (p / "summary.json").is_file()}  # fmt: skip
    assert {k: s["cell"] for k, s in runs.items()} == {"rnn": "rnn", "gru": "gru"}
    assert runs["rnn"]["data_sha256"] == runs["gru"]["data_sha256"]
    assert re.search(r"│ gru +│ +0 │", result.output) and not re.search(
        r"│ rnn +│ +0 │", result.output
    )
