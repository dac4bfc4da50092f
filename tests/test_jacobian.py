"""The spectrum of J(t, 0) = dh_t/dh_0 (rnninit.core.jacobian) against independent references.

Closed forms (an orthogonal linear recurrence is an isometry; g times an orthogonal matrix has
every singular value g^t), random-matrix theory (the Fuss-Catalan edge of a Gaussian matrix
power), exact zeros of a saturated network, finite differences of the whole forward map from
(h_0, c_0) to the state at t, and jac_sq: exactly, through probes that are the basis vectors, and
in distribution, with random probes, within a tolerance derived from the exact spectrum.
"""

import math
import time

import numpy as np
import pytest

from rnninit.core.cells import get_cell
from rnninit.core.engine import bptt, forward
from rnninit.core.jacobian import (
    ROUNDOFF_FLOOR,
    at_floor,
    jacobian_spectrum,
    log_times,
    spectrum_columns,
)
from rnninit.core.stats import jac_sq, unit_probe

CELLS = ["rnn", "lstm", "gru"]


def rand_params(cell, I, H, O, rng, scale=1.0):
    """Every parameter N(0, scale^2 / fan_in) (biases N(0, 0.1^2)), drawn here, not by inits."""
    params = {}
    for s in get_cell(cell).param_specs(I, H, O):
        sd = 0.1 if len(s.shape) == 1 else scale / math.sqrt(s.shape[1])
        params[s.name] = sd * rng.standard_normal(s.shape)
    return params


def orthogonal(H, rng):
    Q, R = np.linalg.qr(rng.standard_normal((H, H)))
    return Q * np.sign(np.diag(R))


# --------------------------------------------------------------------------- closed forms


def test_log_times_are_log_spaced_with_both_ends():
    assert log_times(1) == [1]
    assert log_times(5) == [1, 2, 3, 4, 5]
    ts = log_times(1000)
    assert ts[0] == 1 and ts[-1] == 1000 and ts == sorted(set(ts)) and len(ts) == 10
    ratios = np.diff(np.log(ts[2:]))  # past the first integers, about equal steps in log t
    assert ratios.max() < 1.5 * ratios.min()


def test_orthogonal_linear_recurrence_is_an_isometry_at_every_t():
    rng = np.random.default_rng(0)
    I, H, T = 3, 48, 400
    params = rand_params("rnn", I, H, 2, rng)
    params["Whh"] = orthogonal(H, rng)
    x = rng.standard_normal((T, 3, I))  # the input does not enter J of a linear cell
    spec = jacobian_spectrum(params, x, nonlinearity="linear")
    assert spec.t[0] == 1 and spec.t[-1] == T
    assert spec.log_sv.shape == (len(spec.t), 3, H)
    np.testing.assert_allclose(np.exp(spec.log_sv), 1.0, rtol=0, atol=1e-10)
    cols = spec.columns()
    np.testing.assert_allclose(cols["frac_within_10pct_of_1"], 1.0)
    np.testing.assert_allclose(cols["mean_log_sv"], 0.0, atol=1e-10)


def test_a_scaled_orthogonal_recurrence_stays_finite_in_logs_past_float64s_range():
    """g Q has every singular value of J(t, 0) = g^t: at t = 3000, g = 1.5 that is e^1216, far
    past float64's largest number, yet its log is exact."""
    rng = np.random.default_rng(1)
    I, H, T, g = 2, 16, 3000, 1.5
    params = rand_params("rnn", I, H, 2, rng)
    params["Whh"] = g * orthogonal(H, rng)
    params["bh"][:] = 0.0  # h_t = 0: the states stay finite while J(t, 0) outgrows float64
    spec = jacobian_spectrum(params, np.zeros((T, 2, I)), nonlinearity="linear")
    expected = spec.t[:, None, None] * math.log(g)
    np.testing.assert_allclose(spec.log_sv, np.broadcast_to(expected, spec.log_sv.shape),
                               rtol=1e-11)  # fmt: skip
    cols = spec.columns()
    assert np.isinf(cols["sv_max"][-1]).all()  # the value itself is past float64's range
    np.testing.assert_allclose(cols["mean_log_sv"][-1], T * math.log(g), rtol=1e-11)


def test_gaussian_power_reaches_the_fuss_catalan_edge_from_below():
    """W ~ N(0, 1/H) at H = 1024: the largest singular value of W^t tends to
    sqrt((t+1)^(t+1) / t^t) (4.81 at t = 8) as H grows, approached from below; the mean of the
    squared singular values of W^t is 1. One fixed draw: at H = 1024 a draw can still sit at or
    above the edge (seeds 3-8 gave 4.66, 4.81, 5.52, 4.55, 4.79, 4.63)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(3)
    H, t = 1024, 8
    params = rand_params("rnn", 1, H, 1, rng)
    params["Whh"] = rng.standard_normal((H, H)) / math.sqrt(H)
    spec = jacobian_spectrum(params, np.zeros((t, 1, 1)), nonlinearity="linear", times=[t])
    sv = np.exp(spec.log_sv[0, 0])
    edge = math.sqrt((t + 1) ** (t + 1) / t**t)
    assert edge == pytest.approx(4.81, abs=0.005)
    assert 0.92 * edge <= sv[0] <= edge
    assert np.mean(sv**2) == pytest.approx(1.0, rel=0.05)
    assert time.perf_counter() - t0 < 30  # keep it quick: one sequence, one t


@pytest.mark.parametrize("how", ["tanh_huge_weights", "relu_all_off"])
def test_a_saturated_network_has_a_zero_jacobian(how):
    rng = np.random.default_rng(4)
    I, H, T = 3, 20, 12
    params = rand_params("rnn", I, H, 2, rng)
    x = rng.standard_normal((T, 3, I))
    if how == "tanh_huge_weights":  # a > 1e4 everywhere: tanh is 1 and tanh' is 0 exactly
        params["Wxh"] *= 1e3
        params["Whh"] *= 1e3
        params["bh"][:] = 1e5
        nl = "tanh"
    else:  # every pre-activation negative: relu is off everywhere, relu' = 0
        params["bh"][:] = -1e3
        nl = "relu"
    spec = jacobian_spectrum(params, x, nonlinearity=nl)
    cols = spec.columns()
    assert np.all(cols["sv_max"] == 0) and np.all(cols["sv_min"] == 0)
    assert np.all(cols["mean_log_sv"] == -np.inf)
    assert np.all(cols["frac_within_10pct_of_1"] == 0)


# ------------------------------------------------------- finite differences of the forward map


def state_at(cell, params, x, t, h0, c0):
    cache = forward(params, x[:t], h0=h0, c0=c0, nonlinearity="tanh", cell=cell)
    parts = [cache.hs[t]] + ([cache.extra["cs"][t]] if cell == "lstm" else [])
    return np.concatenate(parts, axis=-1)  # (K, S)


def fd_jacobian(cell, params, x, t, eps=1e-6):
    """d state_t / d state_0 (K, S, S) by central differences, from zero initial states."""
    K, H = x.shape[1], params["Why"].shape[1]
    S = get_cell(cell).state_size(H)
    J = np.empty((K, S, S))
    for j in range(S):
        states = []
        for sign in (1.0, -1.0):
            s0 = np.zeros((K, S))
            s0[:, j] = sign * eps
            c0 = s0[:, H:] if cell == "lstm" else None
            states.append(state_at(cell, params, x, t, s0[:, :H], c0))
        J[:, :, j] = (states[0] - states[1]) / (2 * eps)
    return J


@pytest.mark.parametrize("cell", CELLS)
def test_spectrum_matches_finite_differences_of_the_forward_map(cell):
    rng = np.random.default_rng(5 + CELLS.index(cell))
    I, H, T, K = 3, 5, 7, 2
    params = rand_params(cell, I, H, 2, rng, scale=1.5)
    x = rng.standard_normal((T, K, I))
    spec = jacobian_spectrum(params, x, nonlinearity="tanh", cell=cell, times=range(1, T + 1))
    for i, t in enumerate(spec.t):
        expected = np.linalg.svd(fd_jacobian(cell, params, x, t), compute_uv=False)
        # central differences err by about 1e-10 x sv_max: an absolute term for the small ones
        np.testing.assert_allclose(np.exp(spec.log_sv[i]), expected, rtol=1e-6,
                                   atol=1e-9 * expected.max())  # fmt: skip


# ----------------------------------------------------------------------------- against jac_sq


def cell_problem(cell, K, seed, I=3, H=16, T=9):
    rng = np.random.default_rng(seed)
    params = rand_params(cell, I, H, 2, rng, scale=1.3)
    return rng, params, rng.standard_normal((T, K, I)), H, T


@pytest.mark.parametrize("cell", CELLS)
def test_mean_squared_singular_value_equals_jac_sq_with_basis_probes(cell):
    """jac_sq with the S basis vectors as probes (each sequence repeated S times) averages
    ||J(T, t)^T e_i||^2 over i: exactly (1/S) ||J(T, t)||_F^2, the mean squared singular value."""
    _, params, x, H, T = cell_problem(cell, 2, 20 + CELLS.index(cell))
    S = get_cell(cell).state_size(H)
    x_rep = np.repeat(x, S, axis=1)  # (T, K*S, I): sequence k once per basis vector
    cache = forward(params, x_rep, nonlinearity="tanh", cell=cell)
    u = np.tile(np.eye(S), (x.shape[1], 1))  # (K*S, S)
    probed = jac_sq(get_cell(cell).jacobian(params, cache), u, T)  # (T,): J(T, t), t = 1..T
    for t in range(1, T):
        spec = jacobian_spectrum(params, x, cell=cell, times=[T], start=t)  # J(T, t)
        exact = np.exp(2 * spec.log_sv[0]).mean()
        assert probed[t - 1] == pytest.approx(exact, rel=1e-10), t


@pytest.mark.parametrize("cell", CELLS)
def test_jac_sq_of_the_same_batch_agrees_within_its_sampling_error(cell):
    """jac_sq as bptt logs it (one random unit probe per sequence) against the mean squared
    singular value of J(T, t), on the same batch repeated R times (R probes per sequence). For
    u uniform on the unit sphere of R^S, ||A^T u||^2 = sum_i lambda_i u_i^2 (lambda = sv^2)
    has mean mean(lambda) and variance 2/(S+2) Var_i(lambda): the tolerance, 5 standard errors,
    comes from the exact spectrum."""
    K, R = 4, 2500
    rng, params, x, H, T = cell_problem(cell, K, 30 + CELLS.index(cell))
    S = get_cell(cell).state_size(H)
    x_rep = np.tile(x, (1, R, 1))  # (T, R*K, I): the batch, R times
    y = rng.standard_normal((T, R * K, 2))
    res = bptt(params, x_rep, y, loss="mse", cell=cell, probe_rng=np.random.default_rng(7))
    for t in range(1, T):
        lam = np.exp(2 * jacobian_spectrum(params, x, cell=cell, times=[T], start=t).log_sv[0])
        exact = lam.mean()  # mean over sequences of the mean squared singular value
        se = math.sqrt((2 / (S + 2) * lam.var(axis=1)).sum() / K**2 / R)
        assert se < 0.03 * exact  # the check is not vacuous
        measured = res.timesteps["jac_sq"][t - 1]
        assert abs(measured - exact) <= 5 * se, (t, measured, exact, se)


def test_jac_sq_probe_on_one_batch_matches_the_single_draw_formula():
    """One draw (as a run logs it) within 5 of its own standard errors, for the vanilla cell."""
    rng, params, x, H, T = cell_problem("rnn", 8, 40)
    cache = forward(params, x, nonlinearity="tanh")
    one = jac_sq(get_cell("rnn").jacobian(params, cache), unit_probe(rng, 8, H), T)
    lam = np.exp(2 * jacobian_spectrum(params, x, times=[T], start=1).log_sv[0])
    se = math.sqrt((2 / (H + 2) * lam.var(axis=1)).sum() / 8**2)
    assert abs(one[0] - lam.mean()) <= 5 * se


# -------------------------------------------------------------------- the round-off floor


def test_columns_clip_at_the_round_off_floor_and_say_so():
    # one sequence whose smallest values are far under the floor, one fully resolved
    log_sv = np.log(np.array([[[2.0, 1.05, 1e-20, 1e-30], [1.0, 0.95, 0.5, 0.25]]]))  # (1, 2, 4)
    cols = spectrum_columns(log_sv)
    floor = 2.0 * ROUNDOFF_FLOOR
    assert cols["sv_max"][0].tolist() == pytest.approx([2.0, 1.0])
    assert cols["sv_min"][0, 0] == pytest.approx(floor) and cols["sv_min"][0, 1] == 0.25
    assert cols["sv_median"][0, 0] == pytest.approx(math.sqrt(1.05 * floor))
    assert cols["mean_log_sv"][0, 0] == pytest.approx(
        (math.log(2.0) + math.log(1.05) + 2 * math.log(floor)) / 4
    )
    assert cols["frac_within_10pct_of_1"][0].tolist() == [0.25, 0.5]
    assert at_floor(cols["sv_min"], cols["sv_max"])[0].tolist() == [True, False]
    assert not at_floor(0.0, 0.0)  # an exact zero is not 'at the floor': it is zero


def test_nan_spectrum_gives_nan_columns():
    cols = spectrum_columns(np.full((2, 1, 3), np.nan))
    assert all(np.isnan(v).all() for v in cols.values())


def test_a_float32_run_is_measured_in_float64():
    rng = np.random.default_rng(6)
    params = rand_params("rnn", 3, 8, 2, rng)
    x = rng.standard_normal((10, 2, 3))
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    spec = jacobian_spectrum(p32, x)
    ref = jacobian_spectrum({k: v.astype(np.float64) for k, v in p32.items()}, x)
    assert spec.log_sv.dtype == np.float64
    np.testing.assert_array_equal(spec.log_sv, ref.log_sv)


def test_a_non_finite_network_gives_a_nan_spectrum_quietly():
    rng = np.random.default_rng(7)
    params = rand_params("rnn", 3, 6, 2, rng)
    params["Whh"][0, 0] = np.inf  # as after a divergence
    with np.errstate(all="raise"):  # nothing may warn: a diverged run's statistics are NaN
        spec = jacobian_spectrum(params, rng.standard_normal((8, 2, 3)))
    assert np.isnan(spec.log_sv[1:]).all()  # h_1 is finite (h_0 = 0); from t = 2 on, NaN
    assert np.isnan(spec.columns()["frac_within_10pct_of_1"][1:]).all()
