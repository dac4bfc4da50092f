"""The gated cells (lstm, gru) against independent references, in float64.

Central finite differences of the loss for every parameter and the initial states; closed forms
for hand-built PyTorch-layout weights (all weights 0, biases that open one gate each), which pin
the gate order; the one-step Jacobian of the full state against finite differences of one step;
jac_sq against (1/S) tr(J J^T) from explicit Jacobians; a run end to end. The agreement with
torch.nn.LSTM / nn.GRU is checked by benchmarks/check_gated_torch.py (torch is not a test
dependency).
"""

import csv
import itertools
import json
import math

import numpy as np
import pytest
from gradcheck import assert_param_grads, numeric_grad, rel_error

from rnninit.core.cells import CELLS, ParamSpec, get_cell
from rnninit.core.engine import backward, bptt, evaluate, forward, loss_and_dout
from rnninit.errors import RnnInitError

T, B, I, H, O, K = 4, 2, 3, 3, 2, 3
GATED = ["lstm", "gru"]


def make_params(cell, rng, scale=0.7):
    return {
        s.name: scale * rng.standard_normal(s.shape) for s in get_cell(cell).param_specs(I, H, O)
    }


# ------------------------------------------------------------------------ the parameter table


def test_param_specs_in_draw_order():
    G4, G3 = ("i", "f", "g", "o"), ("r", "z", "n")
    assert get_cell("lstm").param_specs(I, H, O) == (
        ParamSpec("Wxh", "input", (4 * H, I), G4),
        ParamSpec("Whh", "recurrent", (4 * H, H), G4),
        ParamSpec("Why", "output", (O, H)),
        ParamSpec("bh", "bias", (4 * H,), G4),
        ParamSpec("by", "bias", (O,)),
    )
    assert get_cell("gru").param_specs(I, H, O) == (
        ParamSpec("Wxh", "input", (3 * H, I), G3),
        ParamSpec("Whh", "recurrent", (3 * H, H), G3),
        ParamSpec("Why", "output", (O, H)),
        ParamSpec("bh", "bias", (3 * H,), G3),
        ParamSpec("bhn", "bias", (H,)),
        ParamSpec("by", "bias", (O,)),
    )
    assert get_cell("lstm").state_names == ("h", "c") and get_cell("gru").state_names == ("h",)
    assert get_cell("lstm").state_size(H) == 2 * H and get_cell("gru").state_size(H) == H
    assert all(CELLS[c].mean_field_params is None for c in GATED)


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("nonlin", ["relu", "linear"])
def test_gated_cells_refuse_any_nonlinearity_but_tanh(cell, nonlin):
    rng = np.random.default_rng(0)
    with pytest.raises(RnnInitError, match=rf"^model\.nonlinearity: the {cell} cell's .*"
                       rf"got '{nonlin}'; allowed: tanh$"):  # fmt: skip
        forward(make_params(cell, rng), rng.standard_normal((T, B, I)), nonlinearity=nonlin,
                cell=cell)  # fmt: skip


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_c0_is_refused_for_cells_without_a_cell_state(cell):
    rng = np.random.default_rng(1)
    params = make_params(cell, rng)
    with pytest.raises(RnnInitError, match=f"the {cell} cell has no cell state c"):
        bptt(params, rng.standard_normal((T, B, I)), np.zeros((T, B), int), c0=np.zeros((B, H)),
             cell=cell)  # fmt: skip


# ------------------------------------------------------------------------- finite differences

CASES = list(itertools.product(GATED, ["xent", "mse"], [False, True], [False, True]))


@pytest.mark.parametrize("cell,loss,masked,states", CASES)
def test_gradients_match_finite_differences(cell, loss, masked, states):
    rng = np.random.default_rng(100 + CASES.index((cell, loss, masked, states)))
    params = make_params(cell, rng)
    x = rng.integers(0, I, size=(T, B)) if loss == "xent" else rng.standard_normal((T, B, I))
    y = rng.integers(0, O, size=(T, B)) if loss == "xent" else rng.standard_normal((T, B, O))
    mask = None
    if masked:
        mask = rng.integers(0, 3, size=(T, B)).astype(float)
        mask[-1, 0] = 1.0
    h0 = rng.standard_normal((B, H)) if states else None
    c0 = rng.standard_normal((B, H)) if states and cell == "lstm" else None
    res = bptt(params, x, y, mask=mask, h0=h0, c0=c0, loss=loss, cell=cell)

    def f():
        return evaluate(params, x, y, mask=mask, h0=h0, c0=c0, loss=loss, cell=cell)

    assert res.loss == pytest.approx(f(), rel=1e-12)
    assert set(res.grads) == set(params)
    assert_param_grads(res.grads, params, f)
    if states:
        assert rel_error(res.dh0, numeric_grad(f, h0)) < 1e-6
    if c0 is not None:
        assert rel_error(res.dc0, numeric_grad(f, c0)) < 1e-6
    else:
        assert (res.dc0 is None) == (cell != "lstm")


@pytest.mark.parametrize("cell", GATED)
def test_the_backward_pass_without_a_probe_gives_the_same_numbers(cell):
    """bptt(stats=False) computes the local derivatives a chunk at a time into a small buffer
    (no probe follows) and keeps none; loss, gradients, dh0, dc0 and the total dL/dh_t are the
    same bit for bit as when they are kept (stats=True), over several chunks and a partial one;
    a probe on such a cache computes the derivatives itself, to the same numbers."""
    rng = np.random.default_rng(7)
    Tn = 19  # two chunks of 8 and a partial one
    params = make_params(cell, rng)
    x, y = rng.standard_normal((Tn, B, I)), rng.integers(0, O, size=(Tn, B))
    h0 = rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H)) if cell == "lstm" else None
    kept, lean = (bptt(params, x, y, h0=h0, c0=c0, cell=cell, stats=s) for s in (True, False))
    assert kept.loss == lean.loss
    for k in params:
        np.testing.assert_array_equal(kept.grads[k], lean.grads[k])
    np.testing.assert_array_equal(kept.dh0, lean.dh0)
    if cell == "lstm":
        np.testing.assert_array_equal(kept.dc0, lean.dc0)
    caches = []
    for keep in (True, False):
        cache = forward(params, x, h0=h0, c0=c0, cell=cell)
        _, dout = loss_and_dout(cache.out, y)
        _, dH, _ = backward(params, cache, dout, keep_slopes=keep)
        caches.append((cache, dH))
    (ck, dHk), (cl, dHl) = caches
    np.testing.assert_array_equal(dHk, dHl)
    assert "slopes" in ck.dextra and "slopes" not in cl.dextra
    S = get_cell(cell).state_size(H)
    u = rng.standard_normal((B, S))
    for t in (1, 9, Tn):
        np.testing.assert_allclose(get_cell(cell).jacobian(params, cl).apply_T(t, u),
                                   get_cell(cell).jacobian(params, ck).apply_T(t, u),
                                   rtol=1e-13, atol=1e-15)  # fmt: skip


# ------------------------------------------------------- closed forms: the PyTorch gate order


def _zero_weights(cell, biases):
    """All weights zero, Why = I (so o_t = h_t), the given gate biases in PyTorch's order."""
    params = {s.name: np.zeros(s.shape) for s in get_cell(cell).param_specs(I, H, H)}
    params["Why"] = np.eye(H)
    n = len(biases)
    params["bh"] = np.repeat(np.asarray(biases, float), H)  # (n*H,): one value per block
    assert params["bh"].shape == (n * H,)
    return params


BIG = 40.0  # sigma(40) = 1 - 4e-18 is 1.0 in float64, sigma(-40) = 4e-18


@pytest.mark.parametrize(
    "b_o,want_h",
    [(BIG, math.tanh(0.5)), (0.0, 0.5 * math.tanh(0.5))],  # o = 1, then o = sigma(0) = 1/2
)
def test_lstm_gate_order_i_f_g_o_in_closed_form(b_o, want_h):
    """b_i large (i = 1), b_f very negative (f = 0: c_0 is forgotten), b_g = atanh(0.5) (g = 1/2):
    c_t = 0.5 at every t whatever c_0, h_t = o tanh(0.5). A wrong order gives other numbers (i
    and f swapped: c_1 = c_0 = 3; g and o swapped: c_1 = 1)."""
    params = _zero_weights("lstm", [BIG, -BIG, math.atanh(0.5), b_o])
    x = np.random.default_rng(2).standard_normal((T, B, I))
    cache = forward(params, x, h0=np.full((B, H), 5.0), c0=np.full((B, H), 3.0), cell="lstm")
    cs = cache.extra["cs"]
    np.testing.assert_allclose(cs[1:], 0.5, rtol=1e-15, atol=0)
    np.testing.assert_allclose(cache.hs[1:], want_h, rtol=1e-15, atol=0)
    np.testing.assert_allclose(cache.out, want_h, rtol=1e-15, atol=0)  # Why = I, by = 0


@pytest.mark.parametrize(
    "b_r,b_z,want",
    [
        (BIG, -BIG, math.tanh(0.3 + 0.2)),  # r = 1, z = 0: h_1 = n = tanh(b_n + bhn)
        (-BIG, -BIG, math.tanh(0.3)),  # r = 0: bhn sits inside the reset product
        (BIG, BIG, 5.0),  # z = 1: h_1 = h_0
        (BIG, 0.0, 0.5 * math.tanh(0.5) + 0.5 * 5.0),  # z = 1/2: the average of n and h_0
    ],
)
def test_gru_gate_order_r_z_n_in_closed_form(b_r, b_z, want):
    params = _zero_weights("gru", [b_r, b_z, 0.3])
    params["bhn"] = np.full(H, 0.2)
    x = np.random.default_rng(3).standard_normal((1, B, I))
    cache = forward(params, x, h0=np.full((B, H), 5.0), cell="gru")
    np.testing.assert_allclose(cache.hs[1], want, rtol=1e-15, atol=0)


# ------------------------------------------------------------------ the one-step Jacobian


def make_problem(cell, seed, Bn=B, Hn=H, scale=0.8):
    rng = np.random.default_rng(seed)
    params = {s.name: scale * rng.standard_normal(s.shape)
              for s in get_cell(cell).param_specs(I, Hn, O)}  # fmt: skip
    x = rng.standard_normal((T, Bn, I))
    h0 = rng.standard_normal((Bn, Hn))
    c0 = rng.standard_normal((Bn, Hn)) if cell == "lstm" else None
    return rng, params, x, forward(params, x, h0=h0, c0=c0, cell=cell)


def state(cell, cache, t):
    """The full state at t (B, S): [h_t, c_t] for the lstm, h_t for the gru."""
    if cell == "lstm":
        return np.concatenate([cache.hs[t], cache.extra["cs"][t]], axis=-1)
    return cache.hs[t]


def one_step(cell, params, x, t, s_prev):
    """s_t as a function of s_{t-1}: one forward step of the engine, started from s_prev."""
    Hn = params["Why"].shape[1]
    h, c = (s_prev[:, :Hn], s_prev[:, Hn:]) if cell == "lstm" else (s_prev, None)
    return state(cell, forward(params, x[t - 1 : t], h0=h, c0=c, cell=cell), 1)


def dense_jacobian(cell, params, x, t, s_prev, eps=1e-6):
    """J_t per sequence (B, S, S), column j from the central difference along e_j."""
    S = s_prev.shape[1]
    cols = []
    for e in np.eye(S):
        up = one_step(cell, params, x, t, s_prev + eps * e)
        down = one_step(cell, params, x, t, s_prev - eps * e)
        cols.append((up - down) / (2 * eps))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("t", [1, 3])
def test_jacobian_of_the_full_state_matches_finite_differences(cell, t):
    rng, params, x, cache = make_problem(cell, 10 + t + GATED.index(cell))
    jac = get_cell(cell).jacobian(params, cache)
    S = get_cell(cell).state_size(H)
    J = dense_jacobian(cell, params, x, t, state(cell, cache, t - 1))  # (B, S, S)
    v, u = rng.standard_normal((B, S)), rng.standard_normal((B, S))
    np.testing.assert_allclose(jac.apply(t, v), np.einsum("bij,bj->bi", J, v), rtol=1e-7,
                               atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(jac.apply_T(t, u), np.einsum("bij,bi->bj", J, u), rtol=1e-7,
                               atol=1e-9)  # fmt: skip
    V, U = rng.standard_normal((B, K, S)), rng.standard_normal((B, K, S))
    got, got_T = jac.apply(t, V), jac.apply_T(t, U)
    assert got.shape == got_T.shape == (B, K, S)
    np.testing.assert_allclose(got, np.einsum("bij,bkj->bki", J, V), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got_T, np.einsum("bij,bki->bkj", J, U), rtol=1e-7, atol=1e-9)
    # the adjoint identity, exactly up to round-off
    lhs = np.einsum("bi,bi->b", u, jac.apply(t, v))
    np.testing.assert_allclose(lhs, np.einsum("bi,bi->b", jac.apply_T(t, u), v), rtol=1e-12)


@pytest.mark.parametrize("cell", GATED)
def test_jac_sq_is_an_unbiased_estimate_of_the_exact_trace(cell):
    """The probe mean over many sequences against the mean of (1/S) tr(J J^T), J(T, t) the
    product of dense one-step Jacobians from finite differences, within 4 standard errors."""
    Hn, Bn = 3, 8000
    rng, params, x, cache = make_problem(cell, 30 + GATED.index(cell), Bn=Bn, Hn=Hn, scale=1.5)
    S = get_cell(cell).state_size(Hn)
    y = np.zeros((T, Bn, O))
    h0 = cache.hs[0]
    c0 = cache.extra["cs"][0] if cell == "lstm" else None
    res = bptt(params, x, y, h0=h0, c0=c0, loss="mse", cell=cell,
               probe_rng=np.random.default_rng(1))  # fmt: skip
    jac = res.timesteps["jac_sq"]
    mean, var = np.empty(T), np.empty(T)
    J = np.broadcast_to(np.eye(S), (Bn, S, S))  # J(T, T)
    for t in range(T, 0, -1):
        M = J @ J.transpose(0, 2, 1)
        trM, trM2 = np.trace(M, axis1=1, axis2=2), np.einsum("bij,bji->b", M, M)
        mean[t - 1] = trM.mean() / S
        var[t - 1] = ((trM**2 + 2 * trM2) / (S * (S + 2)) - (trM / S) ** 2).sum() / Bn**2
        J = J @ dense_jacobian(cell, params, x, t, state(cell, cache, t - 1))  # J(T, t-1)
    se = np.sqrt(var)
    assert np.all(se[:-1] < 0.05 * mean[:-1])  # tight enough to mean something
    assert abs(mean[0] - mean[-1]) > 0.3  # and a profile that is not flat
    np.testing.assert_array_less(np.abs(jac - mean), 4 * se + 1e-12)
    assert jac[-1] == 1.0


@pytest.mark.parametrize("cell", GATED)
def test_statistics_read_the_candidate_and_h(cell):
    """preact is the candidate's pre-activation (lstm a_g, gru a_n), act is h_t."""
    _, params, x, cache = make_problem(cell, 40)
    res = bptt(params, x, np.zeros((T, B, O)), loss="mse", cell=cell)
    g = 2  # the candidate's block: lstm i, f, [g], o; gru r, z, [n]
    a = forward(params, x, cell=cell).A[:, :, g * H : (g + 1) * H]
    h = forward(params, x, cell=cell).hs[1:]
    np.testing.assert_allclose(res.timesteps["preact_var"], a.reshape(T, -1).var(axis=1))
    np.testing.assert_allclose(res.timesteps["act_var"], h.reshape(T, -1).var(axis=1))
    sat = (np.abs(h) > 0.99).reshape(T, -1).mean(axis=1)
    np.testing.assert_array_equal(res.timesteps["saturation"], sat)


# -------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("cell", GATED)
def test_train_writes_a_run_folder(tmp_path, cell):
    from rnninit.experiment.training import train

    text = "The quick brown fox jumps over the lazy dog. " * 40
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    config = {
        "task": {"name": "char", "path": str(tmp_path / "text.txt"), "seq_len": 6,
                 "val_batches": 2},
        "model": {"cell": cell, "hidden_size": 8},
        "train": {"steps": 4, "batch_size": 4},
        "log": {"runs_dir": str(tmp_path / "runs"), "stats_every": 2, "eval_every": 2},
    }  # fmt: skip
    summary = train(config)
    assert summary["status"] == "completed" and summary["cell"] == cell
    with open(tmp_path / "runs" / summary["run_id"] / "timesteps.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 6  # steps 0, 2, 4; t = 1..6
    for col in ("preact_var", "act_var", "grad_var", "saturation", "jac_sq"):
        assert all(math.isfinite(float(r[col])) for r in rows), col
    for col in ("theory_preact_var", "theory_act_var", "theory_chi", "theory_jac_sq"):
        assert all(r[col] == "" for r in rows), col
    with pytest.raises(RnnInitError, match="^model.nonlinearity: the .* allowed: tanh$"):
        train({**config, "model": {"cell": cell, "nonlinearity": "relu"}})


def test_the_memory_estimate_asks_the_cell(monkeypatch):
    """The estimate counts the cell's gate blocks and states, written out here: an LSTM keeps
    3 arrays of T*B*4H, h and dL/dh, and c with tanh(c); its refusal must come at a size where
    a vanilla RNN of the same H still fits."""
    from rnninit.experiment import training
    from rnninit.experiment.config import load_config

    T, B, H, I, O = 50, 32, 256, 65, 65
    per_step = {"rnn": 5 * H + 3 * O, "lstm": (3 * 4 + 2 + 2) * H + 3 * O}
    params = {
        "rnn": H * I + H * H + O * H + H + O,
        "lstm": 4 * H * I + 4 * H * H + O * H + 4 * H + O,
    }
    need = {c: (per_step[c] * T * B + 4 * params[c]) * 8 for c in per_step}
    monkeypatch.setattr(training, "memory_limit", lambda: (need["rnn"] + need["lstm"]) // 2)
    for cell in ("rnn", "lstm"):
        cfg = load_config(None, [f"model.cell={cell}", f"model.hidden_size={H}",
                                 f"train.batch_size={B}"])  # fmt: skip
        if cell == "rnn":
            training.check_memory(cfg, T, I, O)  # fits
        else:
            with pytest.raises(RnnInitError, match="GiB"):
                training.check_memory(cfg, T, I, O)
    monkeypatch.setattr(training, "memory_limit", lambda: need["lstm"])
    training.check_memory(cfg, T, I, O)  # exactly at the limit: fits


def test_a_gated_run_records_no_spectral_radius_for_its_stacked_whh(tmp_path):
    """(4H, H) has no eigenvalues: the summary says null and the header a dash, never 'nan'."""
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    result = CliRunner().invoke(app, ["train", "--no-tables", "model.cell=lstm",
                                      f"task.path={text}", "task.seq_len=6", "model.hidden_size=8",
                                      "train.steps=2", f"log.runs_dir={tmp_path / 'runs'}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["spectral_radius"] is None and summary["max_singular"] > 0
    assert "spectral radius —" in result.output and "nan" not in result.output
