"""Tests of rnninit.core.theory: closed forms, an independent trapezoid rule, a plain wide RNN loop."""

import functools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnninit.core.inits import SCHEMES
from rnninit.core.nonlinearities import NONLINEARITIES
from rnninit.core.theory import (
    REGIME_TOL,
    ROUNDING_TOL,
    fixed_point,
    gauss_expect,
    grad_var_profile,
    mean_field,
    mean_field_per_sequence,
    realised_drive,
    recurrence_regime,
    regime,
    theory_for_run,
    theory_from_weights,
    timescale,
)

REPO = Path(__file__).resolve().parents[1]


def normal_trapezoid(f, q, n=400_001):
    """E[f(a)] for a ~ N(0, q): trapezoid rule in a on [-12 sqrt(q), 12 sqrt(q)]."""
    s = math.sqrt(q)
    a = np.linspace(-12.0 * s, 12.0 * s, n)
    y = f(a) * np.exp(-a * a / (2.0 * q)) / math.sqrt(2.0 * math.pi * q)
    return float((y.sum() - 0.5 * (y[0] + y[-1])) * (a[1] - a[0]))


def tanh_sq(a):
    return np.tanh(a) ** 2


def dtanh_sq(a):
    return (1.0 - np.tanh(a) ** 2) ** 2


# ------------------------------------------------------------------------------ gauss_expect


def test_gauss_expect_standard_normal_second_moment():
    assert float(gauss_expect(lambda z: z**2, 1.0)) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("q", [0.1, 0.5, 1.0, 3.0, 50.0])  # both quadrature rules
def test_gauss_expect_polynomial_moments(q):
    assert float(gauss_expect(np.ones_like, q)) == pytest.approx(1.0, rel=1e-12)
    assert float(gauss_expect(lambda a: a**2, q)) == pytest.approx(q, rel=1e-12)
    assert float(gauss_expect(lambda a: a**4, q)) == pytest.approx(3.0 * q**2, rel=1e-12)
    assert abs(float(gauss_expect(lambda a: a**3, q))) < 1e-12 * q**1.5


@pytest.mark.parametrize("q", [0.02, 0.3, 0.5, 0.8, 2.0, 10.0, 100.0, 1e4])
def test_gauss_expect_tanh_against_fine_trapezoid(q):
    assert abs(float(gauss_expect(tanh_sq, q)) - normal_trapezoid(tanh_sq, q)) < 1e-6
    assert abs(float(gauss_expect(dtanh_sq, q)) - normal_trapezoid(dtanh_sq, q)) < 1e-6


def test_gauss_expect_array_q_keeps_shape_and_matches_scalars():
    q = np.array([[0.0, 0.25], [4.0, 900.0]])
    out = gauss_expect(tanh_sq, q)
    assert out.shape == (2, 2)
    for idx in np.ndindex(q.shape):
        assert out[idx] == pytest.approx(float(gauss_expect(tanh_sq, float(q[idx]))), abs=1e-15)
    assert out[0, 0] == 0.0


@pytest.mark.parametrize("q", [-1.0, math.nan, math.inf])
def test_gauss_expect_rejects_bad_q(q):
    with pytest.raises(ValueError):
        gauss_expect(tanh_sq, q)


def test_gauss_expect_vectorised_over_many_rules_matches_scalars():
    """q across Gauss-Hermite and several trapezoid steps, repeated, and a q large enough that
    the rows are evaluated in chunks: every entry as its scalar call gives it."""
    q = np.array([0.01, 0.5, 0.51, 3.9, 4.0, 4.1, 17.0, 250.0, 1e6, 0.3, 4.1] + [2e6] * 50)
    out = gauss_expect(dtanh_sq, q)
    for k, qk in enumerate(q):
        assert out[k] == pytest.approx(float(gauss_expect(dtanh_sq, float(qk))), abs=1e-15)
    for qk in (4.1, 17.0, 250.0, 1e6):
        assert abs(float(gauss_expect(tanh_sq, qk)) - normal_trapezoid(tanh_sq, qk)) < 1e-6


# ------------------------------------------------------------------------------ linear


def test_linear_q_is_exactly_the_geometric_series():
    s_w2, s_u2, s_b2, T = 0.8, 1.5, 0.1, 12
    x_sq = np.linspace(0.5, 2.0, T)
    mf = mean_field("linear", s_w2, s_u2, s_b2, x_sq)
    # q_t = sum_{k=1}^{t} s_w2^{t-k} (s_u2 x_sq[k] + s_b2), written as an explicit double sum
    inject = s_u2 * x_sq + s_b2
    expected = [sum(s_w2 ** (t - k) * inject[k] for k in range(t + 1)) for t in range(T)]
    np.testing.assert_allclose(mf["preact_var"], expected, rtol=1e-13)
    np.testing.assert_allclose(mf["act_var"], expected, rtol=1e-13)
    np.testing.assert_array_equal(mf["chi"], np.full(T, s_w2))


@pytest.mark.parametrize("s_w2", [0.0, 0.5, 0.9, 0.99])
def test_linear_fixed_point_closed_form(s_w2):
    q_star, chi_star = fixed_point("linear", s_w2, s_u2_in=0.7, s_b2=0.2)
    assert q_star == pytest.approx(0.9 / (1.0 - s_w2), rel=1e-13)
    assert chi_star == s_w2
    # the recursion converges to it
    q_long = mean_field("linear", s_w2, 0.7, 0.2, np.ones(5000))["preact_var"][-1]
    assert q_long == pytest.approx(q_star, rel=1e-9)


def test_linear_fixed_point_diverges_at_and_beyond_one():
    assert fixed_point("linear", 1.0, s_u2_in=0.5) == (math.inf, 1.0)
    assert fixed_point("linear", 1.2, s_u2_in=0.5)[0] == math.inf
    assert fixed_point("linear", 1.0) == (0.0, 1.0)  # no input: h stays 0


# ------------------------------------------------------------------------------ relu


def test_relu_recursion_and_closed_forms():
    s_w2, s_u2, s_b2, T = 1.6, 0.9, 0.05, 10
    x_sq = np.linspace(1.0, 0.3, T)
    mf = mean_field("relu", s_w2, s_u2, s_b2, x_sq)
    q_prev, q = 0.0, []
    for t in range(T):
        q_prev = s_w2 * q_prev / 2.0 + s_u2 * x_sq[t] + s_b2
        q.append(q_prev)
    q = np.array(q)
    np.testing.assert_allclose(mf["preact_var"], q, rtol=1e-13)
    # Var[relu(a)] = q/2 - q/(2 pi), against an independent trapezoid integral at one q
    np.testing.assert_allclose(mf["act_var"], q / 2 - q / (2 * math.pi), rtol=1e-13)
    q3 = float(q[3])
    m1 = normal_trapezoid(lambda a: np.maximum(a, 0.0), q3)
    m2 = normal_trapezoid(lambda a: np.maximum(a, 0.0) ** 2, q3)
    assert mf["act_var"][3] == pytest.approx(m2 - m1**2, rel=1e-6)
    np.testing.assert_array_equal(mf["chi"], np.full(T, s_w2 / 2))


def test_relu_fixed_point_and_he_is_critical():
    q_star, chi_star = fixed_point("relu", 1.0, s_u2_in=1.0, s_b2=0.5)
    assert q_star == pytest.approx(1.5 / (1 - 0.5), rel=1e-13)
    assert chi_star == 0.5
    q_he, chi_he = fixed_point("relu", 2.0, s_u2_in=1.0)  # He: s_w2 = 2
    assert chi_he == 1.0 and regime(chi_he) == "critical"
    assert q_he == math.inf  # q_t = q_{t-1} + 1 grows without bound
    mf = mean_field("relu", 2.0, 1.0, 0.0, np.ones(6))
    np.testing.assert_allclose(mf["preact_var"], np.arange(1, 7), rtol=1e-14)
    assert fixed_point("relu", 2.5, s_u2_in=1.0)[0] == math.inf
    assert regime(fixed_point("relu", 2.5)[1]) == "chaotic"


# ------------------------------------------------------------------------------ tanh


@pytest.mark.parametrize("s_w2", [0.3, 0.9, 1.0])
def test_tanh_without_input_ordered_fixed_point_is_zero(s_w2):
    assert fixed_point("tanh", s_w2) == (0.0, pytest.approx(s_w2, rel=1e-14))


@pytest.mark.parametrize(
    ("s_w2", "c"), [(1.2, 0.0), (2.0, 0.0), (4.0, 0.0), (1.0, 0.5), (0.5, 2.0)]
)
def test_tanh_fixed_point_residual(s_w2, c):
    q_star, chi_star = fixed_point("tanh", s_w2, s_u2_in=c)
    assert q_star > 0.0
    e_tanh2 = normal_trapezoid(tanh_sq, q_star)  # independent of gauss_expect
    assert q_star == pytest.approx(s_w2 * e_tanh2 + c, abs=1e-9)
    assert chi_star == pytest.approx(s_w2 * normal_trapezoid(dtanh_sq, q_star), abs=1e-9)
    # the mean-field recursion settles on it (with no input, kicked off q = 0 by a first pulse)
    x_sq = np.ones(400) if c > 0 else np.r_[1.0, np.zeros(399)]
    q_long = mean_field("tanh", s_w2, c if c > 0 else 1.0, 0.0, x_sq)["preact_var"][-1]
    assert q_long == pytest.approx(q_star, rel=1e-6)


def test_tanh_regimes():
    assert regime(fixed_point("tanh", 0.5)[1]) == "ordered"
    assert regime(fixed_point("tanh", 1.0)[1]) == "critical"
    assert regime(fixed_point("tanh", 2.0)[1]) == "chaotic"  # no bias: chaotic above s_w2 = 1
    assert regime(fixed_point("tanh", 1.0, s_u2_in=1.0)[1]) == "ordered"  # input saturates tanh


def test_tanh_first_step_by_hand():
    mf = mean_field("tanh", 2.25, 1.0, 0.0, np.array([0.8, 1.0]))
    q1 = 0.8
    assert mf["preact_var"][0] == pytest.approx(q1, rel=1e-14)
    assert mf["act_var"][0] == pytest.approx(normal_trapezoid(tanh_sq, q1), abs=1e-9)
    assert mf["chi"][0] == pytest.approx(2.25 * normal_trapezoid(dtanh_sq, q1), abs=1e-9)
    q2 = 2.25 * normal_trapezoid(tanh_sq, q1) + 1.0
    assert mf["preact_var"][1] == pytest.approx(q2, abs=1e-9)


def test_one_ulp_does_not_flip_q_star_xi_or_label():
    """xavier's 512 * (1/sqrt(512))^2 is 1 + 2e-16 and orthogonal's is 1: same q*, xi, label."""
    n = 512
    xavier = n * SCHEMES["xavier"].moments((n, n), 1.0, n)[1]
    orthogonal = n * SCHEMES["orthogonal"].moments((n, n), 1.0, n)[1]
    assert xavier == 1.0000000000000002 and orthogonal == 1.0  # the rounding this is about
    he = n * SCHEMES["he"].moments((n, n), 1.0, n)[1]
    for nonlinearity, s_w2s in [("linear", [xavier, orthogonal, math.nextafter(1.0, 0.0)]),
                                ("tanh", [xavier, orthogonal, math.nextafter(1.0, 0.0)]),
                                ("relu", [xavier, orthogonal]),
                                ("relu", [he, 2.0, math.nextafter(2.0, 3.0)])]:  # fmt: skip
        got = [recurrence_regime(nonlinearity, s) for s in s_w2s]
        assert len({r["regime"] for r in got}) == 1, (nonlinearity, got)
        assert len({r["q_star"] for r in got}) == 1, (nonlinearity, got)
        assert all(r["xi"] == pytest.approx(got[0]["xi"], rel=1e-12) for r in got), got
    assert recurrence_regime("linear", xavier)["q_star"] == 0.0  # not inf
    assert recurrence_regime("tanh", xavier)["q_star"] == 0.0  # not 4.5e-13
    assert recurrence_regime("tanh", xavier)["regime"] == "critical"
    assert recurrence_regime("relu", he)["regime"] == "critical"
    # with an input, a slope of 1 up to rounding diverges either way
    assert fixed_point("linear", xavier, s_u2_in=0.1)[0] == math.inf
    assert fixed_point("linear", math.nextafter(1.0, 0.0), s_u2_in=0.1)[0] == math.inf
    # beyond the rounding tolerance the slope is taken as it is
    assert fixed_point("linear", 1.0 - 1e-6, s_u2_in=0.1)[0] == pytest.approx(1e5, rel=1e-6)
    assert fixed_point("tanh", 1.0 + 1e-6)[0] > 0.0
    assert ROUNDING_TOL == 1e-9 and REGIME_TOL == 1e-3


def test_timescale():
    assert timescale(0.5) == pytest.approx(1.0 / math.log(2.0), rel=1e-15)
    assert timescale(2.0) == pytest.approx(-1.0 / math.log(2.0), rel=1e-15)  # grows
    assert timescale(1.0) == math.inf
    assert timescale(1.0 + 1e-12) == math.inf and timescale(1.0 - 1e-12) == math.inf
    assert timescale(1.0 - 1e-6) == pytest.approx(1e6, rel=1e-5)
    assert timescale(0.0) == 0.0
    with pytest.raises(ValueError):
        timescale(-0.1)


def test_driven_recurrence_regime_against_fine_quadrature():
    """Inputs and a bias move tanh's fixed point: q* = s_w2 E[tanh^2](q*) + u + b, chi* and
    xi there, checked with an independent trapezoid rule. adding's mean input share for xavier,
    E[v^2 + m] / 2 = (1/3 + 2/25) / 2 at T = 25, leaves xavier ordered with chi* about 0.6, and
    a recurrent gain of 1.5 near critical."""
    u = (1.0 / 3.0 + 2.0 / 25.0) / 2.0
    for s_w2, inp, bias in [(1.0, u, 0.0), (2.25, u, 0.0), (1.0, 0.3, 0.2), (0.5, 0.0, 0.05)]:
        r = recurrence_regime("tanh", s_w2, input_var=inp, bias_var=bias)
        q = r["q_star"]
        assert q == pytest.approx(s_w2 * normal_trapezoid(tanh_sq, q) + inp + bias, abs=1e-9)
        chi = s_w2 * normal_trapezoid(dtanh_sq, q)
        assert r["chi"] == pytest.approx(chi, abs=1e-9)
        assert r["xi"] == pytest.approx(-1.0 / math.log(chi), rel=1e-7)
        assert r["regime"] == regime(chi)
    assert recurrence_regime("tanh", 1.0, input_var=u)["regime"] == "ordered"
    assert recurrence_regime("tanh", 1.0, input_var=u)["chi"] == pytest.approx(0.60, abs=0.01)
    assert recurrence_regime("tanh", 2.25, input_var=u)["chi"] == pytest.approx(0.99, abs=0.01)
    assert recurrence_regime("tanh", 1.0) == {"q_star": 0.0, "chi": pytest.approx(1.0),
                                              "xi": math.inf, "regime": "critical"}  # fmt: skip
    # relu and linear: q* = (u + b) / (1 - k), chi* = k whatever the input
    r = recurrence_regime("relu", 1.2, input_var=0.3, bias_var=0.1)
    assert r["q_star"] == pytest.approx(0.4 / (1 - 0.6), rel=1e-14) and r["chi"] == 0.6


def test_regime_labels_and_tolerance():
    assert regime(0.5) == "ordered"
    assert regime(1.5) == "chaotic"
    assert regime(1.0) == "critical"
    assert regime(1.0005) == "critical" and regime(0.9995) == "critical"
    assert regime(1.002) == "chaotic" and regime(0.998) == "ordered"
    assert regime(1.002, tol=0.01) == "critical"
    with pytest.raises(ValueError):
        regime(math.nan)


# ------------------------------------------------------------------------------ per sequence


def direct_per_sequence(nonlinearity, s_w2, drive):
    """The per-sequence recursion written out: a loop over sequences and steps, each moment by
    the fine trapezoid rule, then pooled over the batch as the measurement pools it."""
    phi, dphi = PHI[nonlinearity]
    dphi2 = lambda a: dphi(a) ** 2  # noqa: E731
    if nonlinearity == "relu":  # phi'^2 is a step: 1/2 at the node a = 0 (which linspace puts
        # within rounding of 0) makes the trapezoid rule exact by symmetry
        dphi2 = lambda a: np.where(np.abs(a) < 1e-9 * a.max(), 0.5, a > 0)  # noqa: E731
    T, B = drive.shape
    q = np.zeros((T, B))
    m1, m2, d2 = np.zeros((T, B)), np.zeros((T, B)), np.zeros((T, B))
    for b in range(B):
        e_phi2_prev = 0.0
        for t in range(T):
            q[t, b] = s_w2 * e_phi2_prev + drive[t, b]
            m1[t, b] = normal_trapezoid(phi, q[t, b])
            m2[t, b] = normal_trapezoid(lambda a: phi(a) ** 2, q[t, b])
            d2[t, b] = normal_trapezoid(dphi2, q[t, b])
            e_phi2_prev = m2[t, b]
    pooled_var = m2.mean(axis=1) - m1.mean(axis=1) ** 2  # E over b and units of h^2 - mean^2
    return {"preact_var": q.mean(axis=1), "act_var": pooled_var,
            "chi": s_w2 * d2.mean(axis=1)}  # fmt: skip


@pytest.mark.parametrize(
    ("nonlinearity", "s_w2"), [("tanh", 2.25), ("relu", 1.28), ("linear", 0.8)]
)
def test_per_sequence_recursion_against_a_direct_loop(nonlinearity, s_w2):
    rng = np.random.default_rng(7)
    drive = rng.uniform(0.0, 1.5, size=(6, 5))  # (T, B): sequences with different inputs
    drive[2, 1] = 0.0  # a step without input
    got = mean_field_per_sequence(nonlinearity, s_w2, drive)
    want = direct_per_sequence(nonlinearity, s_w2, drive)
    for key in ("preact_var", "act_var", "chi"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)


def test_relu_pooled_variance_includes_the_spread_of_the_sequence_means():
    """Two sequences with q = 1 and q = 4: relu's pooled variance is the mean of the two
    variances plus the variance of the two means sqrt(q / (2 pi)), which is not 0."""
    got = mean_field_per_sequence("relu", 0.0, np.array([[1.0, 4.0]]))["act_var"][0]
    var = lambda q: q * (0.5 - 0.5 / math.pi)  # noqa: E731
    mean = [math.sqrt(1.0 / (2 * math.pi)), math.sqrt(4.0 / (2 * math.pi))]
    assert got == pytest.approx(0.5 * (var(1.0) + var(4.0)) + np.var(mean), rel=1e-14)
    assert np.var(mean) > 0.01 * got


def test_per_sequence_and_batch_averaged_inputs():
    """Linear: the recursion is linear in the drive, so averaging the inputs first is exact.
    tanh: it is not (Jensen's gap), and ``mean_field`` is the one-sequence case."""
    drive = np.array([[0.05, 0.05, 1.0, 2.0], [0.0, 1.0, 0.0, 1.0], [0.3, 0.3, 0.3, 0.3]])
    averaged = drive.mean(axis=1, keepdims=True)
    lin = mean_field_per_sequence("linear", 0.7, drive)
    lin_avg = mean_field_per_sequence("linear", 0.7, averaged)
    for key in lin:
        np.testing.assert_allclose(lin[key], lin_avg[key], rtol=1e-14)
    tanh = mean_field_per_sequence("tanh", 1.0, drive)["act_var"]
    tanh_avg = mean_field_per_sequence("tanh", 1.0, averaged)["act_var"]
    assert tanh_avg[0] > 1.05 * tanh[0]  # tanh^2 is concave in q: the average overestimates
    nominal = mean_field("tanh", 1.0, 2.0, 0.1, np.array([0.5, 0.2]))
    one = mean_field_per_sequence("tanh", 1.0, (2.0 * np.array([0.5, 0.2]) + 0.1)[:, None])
    for key in nominal:
        np.testing.assert_allclose(nominal[key], one[key], rtol=1e-14)


def test_realised_drive_is_the_mean_square_of_the_input_projection():
    rng = np.random.default_rng(3)
    H, I, T, B = 40, 6, 4, 3
    Wxh, bh = rng.standard_normal((H, I)) / math.sqrt(I), 0.3 * rng.standard_normal(H)
    x = rng.standard_normal((T, B, I))
    want = np.array([[np.mean((Wxh @ x[t, b] + bh) ** 2) for b in range(B)] for t in range(T)])
    np.testing.assert_allclose(realised_drive(Wxh, bh, x), want, rtol=1e-12)
    ids = rng.integers(0, I, size=(T, B))  # one-hot: the mean square of the used column + bh
    want = np.array([[np.mean((Wxh[:, ids[t, b]] + bh) ** 2) for b in range(B)] for t in range(T)])
    np.testing.assert_allclose(realised_drive(Wxh, bh, ids), want, rtol=1e-12)
    onehot = np.eye(I)[ids]  # (T, B, I): the same numbers through the dense path
    np.testing.assert_allclose(realised_drive(Wxh, bh, onehot), want, rtol=1e-12)


def test_theory_from_weights_reads_the_drawn_matrices():
    """s_w2 = ||Whh||_F^2 / H: g^2 exactly for an orthogonal Whh of gain g; for a Gaussian draw
    the drawn value, not the nominal g^2."""
    rng = np.random.default_rng(5)
    H, I, T, B = 64, 3, 5, 4
    Wxh, bh = rng.standard_normal((H, I)), np.zeros(H)
    x = rng.uniform(size=(T, B, I))
    Q = np.linalg.qr(rng.standard_normal((H, H)))[0]
    drive = realised_drive(Wxh, bh, x)
    got = theory_from_weights("tanh", Wxh, 1.5 * Q, bh, x)
    want = mean_field_per_sequence("tanh", 2.25, drive)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12)
    W = rng.standard_normal((H, H)) / math.sqrt(H)
    got = theory_from_weights("linear", Wxh, W, bh, x)
    s_w2 = float(np.sum(W * W)) / H
    assert abs(s_w2 - 1.0) > 1e-3  # the draw is not nominal
    np.testing.assert_allclose(got["chi"], np.full(T, s_w2), rtol=1e-14)


# ------------------------------------------------------------------------------ gradients


def test_grad_var_profile_against_direct_product():
    chi = np.random.default_rng(0).uniform(0.5, 1.5, size=9)
    T = len(chi)
    direct = [math.prod(chi[t + 1 :]) for t in range(T)]  # prod of chi_{t+1..T}, 1 at t = T
    np.testing.assert_allclose(grad_var_profile(chi), direct, rtol=1e-13)
    assert grad_var_profile(chi)[-1] == 1.0
    np.testing.assert_array_equal(grad_var_profile(np.array([3.0])), [1.0])
    np.testing.assert_allclose(grad_var_profile(np.full(4, 0.5)), [0.125, 0.25, 0.5, 1.0])


# ------------------------------------------------------------------------------ API edges


@pytest.mark.parametrize(
    "call",
    [
        lambda: mean_field("sigmoid", 1.0, 1.0, 0.0, np.ones(3)),
        lambda: fixed_point("gelu", 1.0),
        lambda: theory_for_run("softplus", 1.0, 1.0, 0.0, 4, 4, np.ones(3)),
        lambda: mean_field("tanh", -1.0, 1.0, 0.0, np.ones(3)),
        lambda: mean_field("tanh", 1.0, 1.0, 0.0, np.array([1.0, np.nan])),
        lambda: fixed_point("relu", 1.0, s_u2_in=-0.1),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_theory_for_run_scales_variances_and_returns_none():
    I, H, x_sq = 8, 32, np.array([1.0, 0.5, 2.0])
    got = theory_for_run("tanh", 0.3 / I, 1.7 / H, 0.01, I, H, x_sq)
    want = mean_field("tanh", 1.7, 0.3, 0.01, x_sq)
    assert set(got) == {"preact_var", "act_var", "chi"}
    for key in want:
        assert got[key].shape == (3,)
        np.testing.assert_allclose(got[key], want[key], rtol=1e-13)
    assert theory_for_run("tanh", None, 1.0 / H, 0.0, I, H, x_sq) is None
    assert theory_for_run("relu", 1.0 / I, None, 0.0, I, H, x_sq) is None


def test_every_registered_nonlinearity_has_a_theory():
    assert tuple(NONLINEARITIES) == ("tanh", "relu", "linear")
    for name in NONLINEARITIES:
        mf = mean_field(name, 0.5, 1.0, 0.0, np.ones(4))
        assert all(np.all(np.isfinite(v)) for v in mf.values())


# ------------------------------------------------------------------------------ wide simulation
#
# A plain NumPy RNN, independent of every rnninit module: H = 1024, I = 64, x ~ N(0, 1),
# Wxh, Whh ~ N(0, g^2 / fan_in), bh = 0, so s_w2 = s_u2 = g^2.
#
# relu at He (g^2 = 2) is simulated differently. Its activations share a positive mean, a common
# direction of h_t that the same Whh multiplies at every step, and at chi = 1 nothing damps the
# resulting finite-width error: over 40 draws at H = 1024 the relative scatter of one draw's
# Var(a_t) about q_t was 1% at t = 2, 5% at t = 5, 18% at t = 10 and 68% at t = 20 (heavy-tailed,
# mean +20% there), while one run redrawing Whh at every step matched q_20 within 10%. So for
# relu the test averages N_DRAWS draws over the first T_RELU steps; tanh and linear (chi < 1
# here, so errors are damped) use one draw over all T = 20 steps.

H, I, T, K_BACK = 1024, 64, 20, 5
B = 128  # the variance is over B * H = 131072 values; the draw of W dominates the error
T_RELU, N_DRAWS, B_RELU = 5, 16, 16  # mean of 16 draws: scatter at t = 5 about 5% / 4

PHI = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(a.dtype)),
    "linear": (lambda a: a, np.ones_like),
}
CASES = [("tanh", 1.0), ("tanh", 1.5**2), ("relu", 2.0), ("linear", 0.9**2)]  # (phi, g^2)


def simulate_once(nonlinearity, g2, rng, T, B):
    """One draw: per-t Var(a_t), Var(h_t), Var(dh_t) / Var(dh_T) (last k + 1 t), x_sq.

    k = min(K_BACK, T - 1) steps back, so that the last ratio is still of an h_t with t >= 1.
    """
    phi, dphi = PHI[nonlinearity]
    Wxh = rng.standard_normal((H, I)) * math.sqrt(g2 / I)  # N(0, g^2 / fan_in)
    Whh = rng.standard_normal((H, H)) * math.sqrt(g2 / H)
    x = rng.standard_normal((T, B, I))
    h = np.zeros((B, H))  # h_0 = 0
    a_s, var_a, var_h = [], [], []
    for t in range(T):
        a = x[t] @ Wxh.T + h @ Whh.T  # (B, H)
        h = phi(a)
        a_s.append(a)
        var_a.append(a.var())
        var_h.append(h.var())
    dh = rng.standard_normal((B, H))  # upstream gradient into h_T only
    var_dh = [dh.var()]
    for t in range(T - 1, T - 1 - min(K_BACK, T - 1), -1):
        dh = (dh * dphi(a_s[t])) @ Whh  # dL/dh_{t-1} = (dL/dh_t * phi'(a_t)) Whh
        var_dh.append(dh.var())
    grad_ratio = np.array(var_dh[::-1]) / var_dh[0]  # t = T - k .. T
    x_sq = (x**2).mean(axis=(1, 2))  # (T,) batch mean of ||x_t||^2 / I
    return np.array(var_a), np.array(var_h), grad_ratio, x_sq


@functools.cache
def simulate(nonlinearity, g2):
    """Measured statistics and the theory's prediction for the same inputs."""
    rng = np.random.default_rng(20240611)
    if nonlinearity == "relu":
        draws = [simulate_once(nonlinearity, g2, rng, T_RELU, B_RELU) for _ in range(N_DRAWS)]
        var_a, var_h, grad_ratio, x_sq = (
            np.mean(parts, axis=0) for parts in zip(*draws, strict=True)
        )
    else:
        var_a, var_h, grad_ratio, x_sq = simulate_once(nonlinearity, g2, rng, T, B)
    mf = theory_for_run(nonlinearity, g2 / I, g2 / H, 0.0, I, H, x_sq)
    return var_a, var_h, grad_ratio, mf


@pytest.mark.parametrize(("nonlinearity", "g2"), CASES)
def test_mean_field_forward_matches_wide_simulation(nonlinearity, g2):
    var_a, var_h, _, mf = simulate(nonlinearity, g2)
    np.testing.assert_allclose(var_a, mf["preact_var"], rtol=0.05)
    np.testing.assert_allclose(var_h, mf["act_var"], rtol=0.05)


@pytest.mark.parametrize(("nonlinearity", "g2"), CASES)
def test_grad_var_profile_matches_wide_backprop(nonlinearity, g2):
    _, _, grad_ratio, mf = simulate(nonlinearity, g2)
    predicted = grad_var_profile(mf["chi"])[-len(grad_ratio) :]
    assert len(grad_ratio) == min(K_BACK, len(mf["chi"]) - 1) + 1
    np.testing.assert_allclose(grad_ratio, predicted, rtol=0.10)


def test_simulated_gradient_checks_are_not_vacuous():
    """Over K_BACK steps the predicted tanh and linear profiles move well away from 1."""
    for nonlinearity, g2 in [("tanh", 1.0), ("tanh", 1.5**2), ("linear", 0.9**2)]:
        predicted = grad_var_profile(simulate(nonlinearity, g2)[3]["chi"])
        assert predicted[-(K_BACK + 1)] < 0.6


# ------------------------------------------------------------------------------ imports


def test_import_pulls_in_no_heavy_dependency():
    code = (
        "import sys, rnninit.core.theory; "
        "print(','.join(m for m in ('rich', 'typer', 'yaml', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
