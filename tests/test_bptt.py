"""The engine against finite differences, a plain loop, and closed forms."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
from gradcheck import assert_param_grads, numeric_grad, rel_error
from naive_rnn import naive_bptt

from rnninit.core.engine import bptt, evaluate

T, B, I, H, O = 5, 3, 4, 6, 3


def make_params(rng, dtype=np.float64, scale=0.6):
    shapes = {"Wxh": (H, I), "Whh": (H, H), "Why": (O, H), "bh": (H,), "by": (O,)}
    return {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}


def make_data(rng, loss, tokens=False, masked=False, with_h0=False):
    x = rng.integers(0, I, size=(T, B)) if tokens else rng.standard_normal((T, B, I))
    y = rng.integers(0, O, size=(T, B)) if loss == "xent" else rng.standard_normal((T, B, O))
    mask = None
    if masked:
        mask = rng.integers(0, 3, size=(T, B)).astype(float)  # weights 0, 1, 2
        mask[-1, 0] = 1.0
    h0 = rng.standard_normal((B, H)) if with_h0 else None
    return x, y, mask, h0


CASES = list(
    itertools.product(["tanh", "relu", "linear"], ["xent", "mse"], [False, True], [False, True])
)


@pytest.mark.parametrize("nonlin,loss,masked,with_h0", CASES)
def test_gradients_match_finite_differences(nonlin, loss, masked, with_h0):
    rng = np.random.default_rng(CASES.index((nonlin, loss, masked, with_h0)))  # not hash(): salted
    params = make_params(rng)
    x, y, mask, h0 = make_data(rng, loss, tokens=(loss == "xent"), masked=masked, with_h0=with_h0)
    res = bptt(params, x, y, mask=mask, h0=h0, nonlinearity=nonlin, loss=loss)

    def f():
        return evaluate(params, x, y, mask=mask, h0=h0, nonlinearity=nonlin, loss=loss)

    assert res.loss == pytest.approx(f(), rel=1e-12)
    assert_param_grads(res.grads, params, f)
    if with_h0:
        dh0 = numeric_grad(f, h0)
        assert rel_error(res.dh0, dh0) < 1e-6


@pytest.mark.parametrize("nonlin", ["tanh", "relu", "linear"])
def test_float_inputs_gradient_check(nonlin):
    rng = np.random.default_rng(7)
    params = make_params(rng)
    x, y, mask, h0 = make_data(rng, "xent", tokens=False, masked=True)
    res = bptt(params, x, y, mask=mask, nonlinearity=nonlin, loss="xent")

    def f():
        return evaluate(params, x, y, mask=mask, nonlinearity=nonlin, loss="xent")

    for k in params:
        assert rel_error(res.grads[k], numeric_grad(f, params[k])) < 1e-6, k


@pytest.mark.parametrize(
    "nonlin,loss", list(itertools.product(["tanh", "relu", "linear"], ["xent", "mse"]))
)
def test_matches_plain_loop_and_statistics(nonlin, loss):
    rng = np.random.default_rng(3)
    params = make_params(rng, scale=1.0)
    x, y, mask, h0 = make_data(rng, loss, tokens=(loss == "xent"), masked=True, with_h0=True)
    res = bptt(params, x, y, mask=mask, h0=h0, nonlinearity=nonlin, loss=loss)
    L, grads, acts, hs, dhs = naive_bptt(params, x, y, mask, h0, nonlin, loss)
    assert res.loss == pytest.approx(L, rel=1e-12)
    for k in params:
        np.testing.assert_allclose(res.grads[k], grads[k], rtol=1e-10, atol=1e-13)
    ts = res.timesteps
    for t in range(T):
        a, h, dh = acts[t].ravel(), hs[t].ravel(), dhs[t].ravel()
        n = a.size
        assert ts["preact_var"][t] == pytest.approx(sum((a - sum(a) / n) ** 2) / n, rel=1e-10)
        assert ts["act_mean"][t] == pytest.approx(sum(h) / n, rel=1e-10, abs=1e-14)
        assert ts["act_var"][t] == pytest.approx(sum((h - sum(h) / n) ** 2) / n, rel=1e-10)
        assert ts["grad_var"][t] == pytest.approx(sum((dh - sum(dh) / n) ** 2) / n, rel=1e-10)
        assert ts["grad_norm"][t] == pytest.approx(sum(dh**2) ** 0.5, rel=1e-10)
        if nonlin == "tanh":
            sat = sum(1 for v in h if abs(v) > 0.99) / n
        elif nonlin == "relu":
            sat = sum(1 for v in h if v == 0) / n
        else:
            sat = 0.0
        assert ts["saturation"][t] == pytest.approx(sat)


def test_token_ids_equal_one_hot_inputs():
    rng = np.random.default_rng(11)
    params = make_params(rng)
    x, y, _, _ = make_data(rng, "xent", tokens=True)
    onehot = np.eye(I)[x]
    r1 = bptt(params, x, y)
    r2 = bptt(params, onehot, y)
    assert r1.loss == pytest.approx(r2.loss, rel=1e-13)
    for k in params:
        np.testing.assert_allclose(r1.grads[k], r2.grads[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [1, 7, 64])
def test_token_dwxh_is_the_same_sum_by_scatter_and_by_token(monkeypatch, n):
    """dWxh for token ids: the scatter-add (few rows) and the per-token loop (many rows) add
    the same rows in the same order, so they agree bit for bit, and with a sum written here."""
    from rnninit.core import engine

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 9, size=(40, 3))  # (T, B), token 8 maybe absent
    dA = rng.standard_normal((120, n)).astype(np.float32)
    want = np.zeros((9, n), dtype=np.float32)
    for row, v in enumerate(ids.reshape(-1)):  # in time order, one row after another
        want[v] += dA[row]
    monkeypatch.setattr(engine, "SCATTER_MAX", 10**9)
    scatter = engine._input_grad(ids, dA, 9)
    monkeypatch.setattr(engine, "SCATTER_MAX", 0)
    loop = engine._input_grad(ids, dA, 9)
    np.testing.assert_array_equal(scatter, want.T)
    np.testing.assert_array_equal(loop, want.T)


def test_float32_keeps_dtype_and_agrees_with_float64():
    rng = np.random.default_rng(5)
    p64 = make_params(rng)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    x, y, mask, _ = make_data(rng, "mse", masked=True)
    r64 = bptt(p64, x, y, mask=mask, loss="mse")
    r32 = bptt(p32, x, y, mask=mask, loss="mse")
    assert all(g.dtype == np.float32 for g in r32.grads.values())
    assert r32.loss == pytest.approx(r64.loss, rel=1e-5)
    for k in p64:
        np.testing.assert_allclose(r32.grads[k], r64.grads[k], rtol=1e-3, atol=1e-5)


def test_mask_selects_positions():
    """Only masked-in positions count: L equals the mean loss over those positions alone."""
    rng = np.random.default_rng(9)
    params = make_params(rng)
    x, y, _, _ = make_data(rng, "mse")
    mask = np.zeros((T, B))
    mask[-1] = 1.0  # last step only, like the adding task
    res = bptt(params, x, y, mask=mask, loss="mse")
    unmasked = bptt(params, x, y, loss="mse", stats=False).loss  # all positions count
    _, _, _, hs, _ = naive_bptt(params, x, y, mask, None, "tanh", "mse")
    o_last = hs[-1] @ params["Why"].T + params["by"]
    assert res.loss == pytest.approx(np.mean((o_last - y[-1]) ** 2), rel=1e-12)
    assert res.loss != pytest.approx(unmasked)


def test_linear_identity_keeps_gradient_norm():
    """With Whh = I, linear units and a loss at the last step only, dL/dh_t is the same for all t."""
    rng = np.random.default_rng(1)
    params = make_params(rng)
    params["Whh"] = np.eye(H)
    x, y, _, _ = make_data(rng, "mse")
    mask = np.zeros((T, B))
    mask[-1] = 1.0
    res = bptt(params, x, y, mask=mask, nonlinearity="linear", loss="mse")
    np.testing.assert_allclose(
        res.timesteps["grad_norm"], res.timesteps["grad_norm"][-1], rtol=1e-12
    )


def test_core_imports_no_io_libraries():
    code = (
        "import sys, rnninit.core.engine, rnninit.core.stats; "
        "bad = {'rich', 'typer', 'yaml', 'matplotlib'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# jac_sq: the mean squared singular value of J(T, t) = dh_T/dh_t, from one random unit probe
# ---------------------------------------------------------------------------------------------
def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("g", [1.0, 0.7, 1.3])
def test_jac_sq_of_a_linear_cell_with_orthogonal_whh_is_g_to_the_2_T_minus_t(g):
    """J(T, t) = (g Q)^(T-t) with Q orthogonal: ||J^T u||^2 = g^(2(T-t)) for every unit u."""
    rng = np.random.default_rng(21)
    params = make_params(rng)
    params["Whh"] = g * _orthogonal(rng, H)
    x, y, _, _ = make_data(rng, "mse")
    jac = bptt(params, x, y, nonlinearity="linear", loss="mse").timesteps["jac_sq"]
    expected = g ** (2.0 * (T - np.arange(1, T + 1)))
    assert jac[-1] == 1.0
    np.testing.assert_allclose(jac, expected, rtol=1e-12, atol=0)
    if g == 1.0:
        assert np.max(np.abs(jac - 1.0)) < 1e-12


@pytest.mark.parametrize("g", [0.5, 2.0])
def test_jac_sq_in_float32_keeps_its_range_far_beyond_float32s(g):
    """g^(2(T-t)) down to 1e-180 and up to 1e+180, though float32 ends near 1e-45 and 3e38."""
    rng = np.random.default_rng(22)
    Tn = 300
    params = make_params(rng, dtype=np.float32)
    params["Whh"] = (g * _orthogonal(rng, H)).astype(np.float32)
    x = rng.standard_normal((Tn, 2, I)).astype(np.float32)
    with np.errstate(all="ignore"):  # the forward pass itself overflows at g = 2
        jac = bptt(params, x, np.zeros((Tn, 2, O)), nonlinearity="linear", loss="mse")
    expected = g ** (2.0 * (Tn - np.arange(1, Tn + 1)))
    np.testing.assert_allclose(jac.timesteps["jac_sq"], expected, rtol=1e-4)


def test_jac_sq_of_a_saturated_uniform_tanh_network_is_zero_before_T():
    """U[0, 1) weights at H = 512 drive every unit to tanh(a) = 1.0 exactly in float64, so
    phi' = 1 - h^2 = 0 and nothing reaches back from t = T."""
    from rnninit.core.inits import init_params

    rng = np.random.default_rng(4)
    params = init_params(5, 512, 3, init="uniform", rng=rng)
    x = rng.integers(0, 5, size=(6, 2))
    res = bptt(params, x, rng.integers(0, 3, size=(6, 2)))
    assert np.all(np.abs(res.timesteps["saturation"][1:]) == 1.0)  # not vacuous
    assert np.all(res.timesteps["jac_sq"][:-1] == 0.0) and res.timesteps["jac_sq"][-1] == 1.0


def _exact_jac_sq(params, x):
    """Per sequence, (1/H) tr(J J^T) of J(T, t) = J_T ... J_{t+1}, J_s = diag(1 - h_s^2) Whh,
    built as explicit H x H matrices from the plain loop's states; and the variance of
    ||J^T u||^2 for one u uniform on the unit sphere:
    E[(u^T M u)^2] = (tr(M)^2 + 2 tr(M^2)) / (H (H + 2)), M = J J^T. Each (T, B)."""
    Tn, Bn = x.shape[:2]
    Hn = params["Whh"].shape[0]
    y = np.zeros((Tn, Bn, params["Why"].shape[0]))
    _, _, _, hs, _ = naive_bptt(params, x, y, None, None, "tanh", "mse")
    mean, var = np.empty((Tn, Bn)), np.empty((Tn, Bn))
    J = np.broadcast_to(np.eye(Hn), (Bn, Hn, Hn))  # J(T, T), one per sequence
    for t in range(Tn, 0, -1):  # 1-based t; hs[t - 1] is h_t
        M = J @ J.transpose(0, 2, 1)
        trM, trM2 = np.trace(M, axis1=1, axis2=2), np.einsum("bij,bji->b", M, M)
        mean[t - 1] = trM / Hn
        var[t - 1] = (trM**2 + 2 * trM2) / (Hn * (Hn + 2)) - (trM / Hn) ** 2
        J_t = (1 - hs[t - 1] ** 2)[:, :, None] * params["Whh"]  # diag(phi'(a_t)) Whh, (B, H, H)
        J = J @ J_t  # J(T, t-1) = J(T, t) J_t
    return mean, var


def test_jac_sq_is_an_unbiased_estimate_of_the_exact_trace():
    """The probe mean over many sequences agrees with the mean of (1/H) tr(J J^T) computed from
    explicit Jacobians, within 4 standard errors of the probe's sampling error."""
    rng = np.random.default_rng(8)
    Tn, Bn, Hn = 5, 20000, 5
    params = {"Wxh": rng.standard_normal((Hn, 2)), "Whh": rng.standard_normal((Hn, Hn)),
              "Why": rng.standard_normal((2, Hn)), "bh": np.zeros(Hn), "by": np.zeros(2)}  # fmt: skip
    params["Whh"] *= 1.2 / np.sqrt(Hn)
    x = rng.standard_normal((Tn, Bn, 2))
    jac = bptt(params, x, np.zeros((Tn, Bn, 2)), loss="mse",
               probe_rng=np.random.default_rng(1)).timesteps["jac_sq"]  # fmt: skip
    mean, var = _exact_jac_sq(params, x)
    exact, se = mean.mean(axis=1), np.sqrt(var.sum(axis=1)) / Bn
    assert np.all(se[:-1] < 0.03 * exact[:-1])  # a bound tight enough to mean something
    assert exact[0] < 0.5 * exact[-1]  # and a profile that is not flat
    np.testing.assert_array_less(np.abs(jac - exact), 4 * se + 1e-15)
    assert jac[-1] == exact[-1] == 1.0


def test_the_probe_changes_nothing_else_and_is_reproducible():
    rng = np.random.default_rng(12)
    params = make_params(rng)
    x, y, mask, h0 = make_data(rng, "xent", tokens=True, masked=True, with_h0=True)
    a = bptt(params, x, y, mask=mask, h0=h0, probe_rng=np.random.default_rng(1))
    b = bptt(params, x, y, mask=mask, h0=h0, probe_rng=np.random.default_rng(2))
    plain = bptt(params, x, y, mask=mask, h0=h0, stats=False)
    assert a.loss == plain.loss and all(np.array_equal(a.grads[k], plain.grads[k]) for k in params)
    for col in a.timesteps:
        if col != "jac_sq":
            assert np.array_equal(a.timesteps[col], b.timesteps[col]), col
    assert not np.array_equal(a.timesteps["jac_sq"], b.timesteps["jac_sq"])  # the probe differs
    again = bptt(params, x, y, mask=mask, h0=h0)  # no generator: a fixed seed
    assert np.array_equal(again.timesteps["jac_sq"], bptt(params, x, y, mask=mask, h0=h0)
                          .timesteps["jac_sq"])  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The workspace: bptt reuses its (T, B, ...) arrays from call to call; nothing it returns is one
# ---------------------------------------------------------------------------------------------
WS_CASES = [("rnn", "tanh", True), ("rnn", "relu", False), ("lstm", "tanh", True),
            ("gru", "tanh", False)]  # (cell, nonlinearity, token ids)  # fmt: skip


def _ws_problem(cell, tokens, seed, dtype=np.float64, Tn=11):
    """A cell's parameters and one batch (B = 3), token ids or floats, with h0 (and c0)."""
    from rnninit.core.cells import get_cell

    rng = np.random.default_rng(seed)
    p = {s.name: (0.8 * rng.standard_normal(s.shape)).astype(dtype)
         for s in get_cell(cell).param_specs(I, H, O)}  # fmt: skip
    x = rng.integers(0, I, size=(Tn, B)) if tokens else rng.standard_normal((Tn, B, I))
    x = x if tokens else x.astype(dtype)
    kw = {"h0": rng.standard_normal((B, H)).astype(dtype), "y": rng.integers(0, O, size=(Tn, B))}
    if cell == "lstm":
        kw["c0"] = rng.standard_normal((B, H)).astype(dtype)
    return p, x, kw


def _held(res) -> dict:
    """Every array a BPTTResult holds, by name."""
    out = {f"grad {k}": v for k, v in res.grads.items()}
    out.update({"dh0": res.dh0, "hT": res.hT, "dc0": res.dc0})
    out.update({f"ts {k}": v for k, v in (res.timesteps or {}).items()})
    return {k: v for k, v in out.items() if v is not None}


def _assert_same(a, b):
    assert a.loss == b.loss
    ha, hb = _held(a), _held(b)
    assert ha.keys() == hb.keys()
    for k in ha:
        assert ha[k].dtype == hb[k].dtype and np.array_equal(ha[k], hb[k], equal_nan=True), k


def _fresh_bptt(monkeypatch, *args, **kwargs):
    """bptt with every array new, as before the workspace: a new, empty Workspace per call."""
    from rnninit.core import engine
    from rnninit.core.cellbase import Workspace

    with monkeypatch.context() as m:
        m.setattr(engine, "_workspace", Workspace)
        return engine.bptt(*args, **kwargs)


@pytest.mark.parametrize("cell,nonlin,tokens", WS_CASES)
@pytest.mark.parametrize("stats", [False, True])
def test_workspace_results_are_the_fresh_arrays_numbers_and_stay_the_callers(
    monkeypatch, cell, nonlin, tokens, stats
):
    """Two calls in a row on batches of one shape: each gives the numbers of a pass on fresh
    arrays, bit for bit, and the second leaves the first's results as they were, sharing no
    memory with them or with the workspace; even with every workspace array poisoned (NaN)
    between calls, which a value left over and read would show."""
    from rnninit.core import engine

    runs = []
    for seed in (1, 2):
        p, x, kw = _ws_problem(cell, tokens, seed, dtype=np.float32 if seed == 2 else np.float64)
        y = kw.pop("y")
        args = (p, x, y)
        kw.update(nonlinearity=nonlin, cell=cell, stats=stats)
        res = bptt(*args, **kw)
        runs.append((res, {k: v.copy() for k, v in _held(res).items()}))
        _assert_same(res, _fresh_bptt(monkeypatch, *args, **kw))
        for arr in engine._workspace()._arrays.values():
            arr.fill(np.nan)
        _assert_same(bptt(*args, **kw), res)  # the poisoned arrays were all written before read
        p2, x2, kw2 = _ws_problem(cell, tokens, seed + 10, dtype=next(iter(p.values())).dtype)
        y2 = kw2.pop("y")
        bptt(p2, x2, y2, **{**kw, **kw2})  # another batch of the same shape
        for k, v in _held(res).items():
            assert np.array_equal(v, runs[-1][1][k], equal_nan=True), f"{k} was overwritten"
    held = [a for res, _ in runs for a in _held(res).values()]
    kept = list(engine._workspace()._arrays.values())
    assert kept  # the workspace is in use: the check below is not vacuous
    for i, a in enumerate(held):
        assert not any(np.shares_memory(a, w) for w in kept)
        assert not any(np.shares_memory(a, b) for b in held[i + 1 :])


def test_each_thread_has_its_own_workspace():
    import threading

    from rnninit.core import engine

    p, x, kw = _ws_problem("gru", True, 3)
    y = kw.pop("y")
    mine = bptt(p, x, y, cell="gru", **kw)
    seen = {}

    def other():
        seen["ws"] = engine._workspace()
        seen["res"] = bptt(p, x, y, cell="gru", **kw)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["ws"] is not engine._workspace()
    _assert_same(seen["res"], mine)


def test_token_ids_out_of_range_are_refused_as_numpy_refuses_them():
    """The input gather writes into the workspace without numpy's own bounds check; it checks
    first, and an id outside the vocabulary raises numpy's IndexError as before."""
    rng = np.random.default_rng(5)
    params = make_params(rng)
    y = rng.integers(0, O, size=(T, B))
    for bad in (I, -I - 1):
        x = rng.integers(0, I, size=(T, B))
        x[2, 1] = bad
        with pytest.raises(IndexError):
            bptt(params, x, y)


def _whole_var(X):
    """Mean and population variance of each step over the flattened rest: the two-pass formula
    on the whole (T, n) array (mean accumulated in float64, squared deviations in X's dtype)."""
    flat = X.reshape(X.shape[0], -1)
    mean = flat.mean(axis=1, dtype=np.float64)
    dev = flat - mean.astype(flat.dtype)[:, None]
    return mean, np.einsum("ij,ij->i", dev, dev).astype(np.float64) / flat.shape[1]


@pytest.mark.parametrize("Tn", [1, 2, 9, 17])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_walked_in_blocks_are_the_whole_arrays_numbers(monkeypatch, Tn, dtype):
    """timestep_stats, var_over_steps and gate_stats walk their (T, ...) arrays a few steps at
    a time; every column is, bit for bit, the same reduction over the whole array, whatever the
    blocks: 10240 entries per step (more than einsum adds in one piece), strided arrays (a gated
    cell's candidate block), and block sizes that would leave a lone last step."""
    from rnninit.core import stats

    rng = np.random.default_rng(Tn)
    Bn, Hn = 64, 160
    A = (3 * rng.standard_normal((Tn, Bn, 3 * Hn)) + 0.5).astype(dtype)
    Z = np.tanh(A)  # gate-like values r, z, n (n a tanh gate)
    preact, Hs = A[:, :, 2 * Hn :], np.tanh(A[:, :, :Hn])  # a strided block, a contiguous array
    dH = (rng.standard_normal((Tn, Bn, Hn)) * 1e-3 - 2e-4).astype(dtype)
    n = Bn * Hn
    want = {"preact_var": _whole_var(preact)[1], "act_mean": _whole_var(Hs)[0],
            "act_var": _whole_var(Hs)[1], "grad_var": _whole_var(dH)[1],
            "grad_norm": np.sqrt(np.einsum("ij,ij->i", dH.reshape(Tn, -1), dH.reshape(Tn, -1))
                                 .astype(np.float64)),
            "saturation": np.count_nonzero(np.abs(Hs.reshape(Tn, -1)) > 0.99, axis=1) / n}  # fmt: skip
    for k, g in enumerate("rzn"):
        v = Z[:, :, k * Hn : (k + 1) * Hn].reshape(Tn, -1)
        lo, hi = (-0.9, 0.9) if g == "n" else (0.05, 0.95)
        want[f"gate_{g}_mean"] = v.mean(axis=1, dtype=np.float64)
        want[f"gate_{g}_sat"] = np.count_nonzero((v < lo) | (v > hi), axis=1) / n
    assert 0 < want["saturation"].max() < 1 and 0 < want["gate_z_sat"].max() < 1  # not vacuous
    for block in (stats.STAT_BLOCK, 3 * n, 2 * n, 1):  # one block; 3, 2 steps (a lone last one)
        monkeypatch.setattr(stats, "STAT_BLOCK", block)
        got = {**stats.timestep_stats(preact, Hs, dH, "tanh"),
               **stats.gate_stats(Z, ("r", "z", "n"), ("n",))}  # fmt: skip
        assert got.keys() == want.keys()
        for c in want:
            assert got[c].dtype == np.float64 and np.array_equal(got[c], want[c]), (block, c)
        np.testing.assert_array_equal(stats.var_over_steps(dH), want["grad_var"])
