"""Tests of rnninit.theory against closed forms, independent quadrature and a plain NumPy RNN."""

import ast
import functools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnninit.theory import (
    NONLINEARITIES,
    fixed_point,
    gauss_expect,
    grad_var_profile,
    mean_field,
    regime,
    theory_for_run,
)

REPO = Path(__file__).resolve().parents[1]


def trapezoid_normal(f, q, n=400_001):
    """E[f(a)], a ~ N(0, q), by a fine trapezoid rule in a on [-12 sqrt(q), 12 sqrt(q)]."""
    s = math.sqrt(q)
    a = np.linspace(-12 * s, 12 * s, n)
    y = f(a) * np.exp(-a * a / (2 * q)) / math.sqrt(2 * math.pi * q)
    return float((y[0] / 2 + y[1:-1].sum() + y[-1] / 2) * (a[1] - a[0]))


def tanh2(a):
    return np.tanh(a) ** 2


def sech4(a):
    return (1 - np.tanh(a) ** 2) ** 2


# ---------------------------------------------------------------- gauss_expect


@pytest.mark.parametrize("q", [0.3, 1.0, 2.5, 40.0])
def test_gauss_expect_moments(q):
    assert gauss_expect(lambda a: a**0 * 1.0, q) == pytest.approx(1.0, rel=1e-12)
    assert gauss_expect(lambda a: a**2, q) == pytest.approx(q, rel=1e-12)
    assert gauss_expect(lambda a: a**4, q) == pytest.approx(3 * q**2, rel=1e-12)


def test_gauss_expect_unit_z_squared():
    assert gauss_expect(lambda z: z**2, 1.0) == pytest.approx(1.0, rel=1e-13)


@pytest.mark.parametrize("q", [0.05, 0.5, 0.7, 1.0, 3.0, 10.0, 100.0, 1e4])  # both rules
def test_gauss_expect_tanh_against_trapezoid(q):
    assert abs(float(gauss_expect(tanh2, q)) - trapezoid_normal(tanh2, q)) < 1e-6
    assert abs(float(gauss_expect(sech4, q)) - trapezoid_normal(sech4, q)) < 1e-6


def test_gauss_expect_keeps_shape_and_rejects_bad_q():
    q = np.array([[0.5, 2.0], [0.0, 9.0]])
    out = gauss_expect(lambda a: a**2, q)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, q, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError):
        gauss_expect(np.tanh, -1.0)


# ---------------------------------------------------------------- linear


def test_linear_mean_field_is_geometric_series():
    s_w2, s_u2, s_b2 = 0.7, 1.3, 0.2
    x_sq = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 1.0])
    m = mean_field("linear", s_w2, s_u2, s_b2, x_sq)
    inp = s_u2 * x_sq + s_b2
    expect = [sum(s_w2 ** (t - k) * inp[k] for k in range(t + 1)) for t in range(len(x_sq))]
    np.testing.assert_allclose(m["preact_var"], expect, rtol=1e-14)
    np.testing.assert_allclose(m["act_var"], expect, rtol=1e-14)
    np.testing.assert_allclose(m["chi"], s_w2)


def test_linear_constant_input_closed_form_and_fixed_point():
    s_w2, c, T = 0.81, 1.0, 30
    m = mean_field("linear", s_w2, c, 0.0, np.ones(T))
    t = np.arange(1, T + 1)
    np.testing.assert_allclose(m["preact_var"], c * (1 - s_w2**t) / (1 - s_w2), rtol=1e-13)
    q_star, chi_star = fixed_point("linear", s_w2, c)
    assert q_star == pytest.approx(c / (1 - s_w2), rel=1e-14)
    assert chi_star == pytest.approx(s_w2)
    assert fixed_point("linear", 1.2, 1.0)[0] == math.inf
    assert fixed_point("linear", 0.5) == (0.0, 0.5)


# ---------------------------------------------------------------- relu


def test_relu_mean_field_recursion_and_closed_forms():
    s_w2, s_u2, s_b2 = 1.6, 0.9, 0.1
    x_sq = np.array([1.0, 2.0, 0.5, 1.0, 1.0])
    m = mean_field("relu", s_w2, s_u2, s_b2, x_sq)
    q = 0.0
    for t in range(len(x_sq)):
        q = s_w2 * q / 2 + s_u2 * x_sq[t] + s_b2
        assert m["preact_var"][t] == pytest.approx(q, rel=1e-14)
        # act variance against an independent integral of relu and relu^2
        e1 = trapezoid_normal(lambda a: np.maximum(a, 0), q)
        e2 = trapezoid_normal(lambda a: np.maximum(a, 0) ** 2, q)
        assert m["act_var"][t] == pytest.approx(e2 - e1**2, rel=1e-6)
    np.testing.assert_allclose(m["chi"], s_w2 / 2)


def test_relu_fixed_point_and_he_is_critical():
    q_star, chi_star = fixed_point("relu", 1.0, 0.5, 0.25)
    assert q_star == pytest.approx(0.75 / (1 - 0.5))
    assert chi_star == pytest.approx(0.5)
    q_he, chi_he = fixed_point("relu", 2.0)
    assert chi_he == 1.0
    assert regime(chi_he) == "critical"
    assert fixed_point("relu", 2.0, 1.0)[0] == math.inf  # He with input: q grows without bound
    assert regime(fixed_point("relu", 1.0)[1]) == "ordered"
    assert regime(fixed_point("relu", 3.0)[1]) == "chaotic"


# ---------------------------------------------------------------- tanh


@pytest.mark.parametrize("s_w2", [0.25, 0.8, 1.0])
def test_tanh_no_input_ordered_fixed_point_is_zero(s_w2):
    q_star, chi_star = fixed_point("tanh", s_w2)
    assert q_star == 0.0
    assert chi_star == pytest.approx(s_w2, rel=1e-12)  # tanh'(0)^2 = 1


@pytest.mark.parametrize(
    ("s_w2", "c"), [(1.5, 0.0), (2.0, 0.0), (4.0, 0.0), (2.25, 1.0), (0.5, 0.3)]
)
def test_tanh_fixed_point_residual(s_w2, c):
    q_star, chi_star = fixed_point("tanh", s_w2, c)
    assert q_star > 0
    assert abs(q_star - (s_w2 * trapezoid_normal(tanh2, q_star) + c)) < 1e-9
    assert chi_star == pytest.approx(s_w2 * trapezoid_normal(sech4, q_star), rel=1e-8)


def test_tanh_regimes():
    assert regime(fixed_point("tanh", 0.8)[1]) == "ordered"
    assert regime(fixed_point("tanh", 1.0)[1]) == "critical"
    assert regime(fixed_point("tanh", 2.0)[1]) == "chaotic"  # chi* > 1 at the nonzero q*
    assert fixed_point("tanh", 2.0)[1] > 1.0
    # a strong input pushes tanh into saturation and makes the same weights ordered
    assert regime(fixed_point("tanh", 2.0, 1.0)[1]) == "ordered"


def test_tanh_mean_field_first_steps_and_convergence_to_fixed_point():
    s_w2, s_u2, s_b2 = 2.25, 1.5, 0.1
    m = mean_field("tanh", s_w2, s_u2, s_b2, np.ones(400))
    q1 = s_u2 + s_b2
    q2 = s_w2 * trapezoid_normal(tanh2, q1) + s_u2 + s_b2
    assert m["preact_var"][:2] == pytest.approx([q1, q2], rel=1e-9)
    assert m["act_var"][0] == pytest.approx(trapezoid_normal(tanh2, q1), rel=1e-9)
    assert m["chi"][0] == pytest.approx(s_w2 * trapezoid_normal(sech4, q1), rel=1e-9)
    q_star, chi_star = fixed_point("tanh", s_w2, s_u2, s_b2)
    assert m["preact_var"][-1] == pytest.approx(q_star, rel=1e-9)
    assert m["chi"][-1] == pytest.approx(chi_star, rel=1e-9)


# ---------------------------------------------------------------- regime, profile, errors


def test_regime_labels():
    assert regime(0.5) == "ordered"
    assert regime(0.9995) == "critical"
    assert regime(1.0005) == "critical"
    assert regime(1.5) == "chaotic"
    assert regime(1.05, tol=0.1) == "critical"
    assert regime(math.inf) == "chaotic"
    with pytest.raises(ValueError):
        regime(math.nan)


def test_grad_var_profile_against_direct_product():
    chi = np.random.default_rng(0).uniform(0.5, 1.5, size=12)
    direct = [np.prod(chi[t + 1 :]) for t in range(len(chi))]
    np.testing.assert_allclose(grad_var_profile(chi), direct, rtol=1e-13)
    assert grad_var_profile(chi)[-1] == 1.0
    assert grad_var_profile(np.array([])).shape == (0,)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mean_field("sigmoid", 1.0, 1.0, 0.0, np.ones(3)),
        lambda: fixed_point("gelu", 1.0),
        lambda: theory_for_run("softplus", 1.0, 1.0, 0.0, 4, 4, np.ones(3)),
        lambda: mean_field("tanh", -1.0, 1.0, 0.0, np.ones(3)),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_theory_for_run_scales_variances_and_returns_none_where_not_applicable():
    I, H, x_sq = 8, 32, np.full(5, 1.0 / 8)  # one-hot inputs: ||x||^2 / I = 1 / I
    out = theory_for_run("tanh", 1 / I, 1.5 / H, 0.0, I, H, x_sq)
    ref = mean_field("tanh", 1.5, 1.0, 0.0, x_sq)
    for key in ("preact_var", "act_var", "chi"):
        np.testing.assert_allclose(out[key], ref[key], rtol=1e-12)
    assert out["preact_var"][0] == pytest.approx(1 / I)  # s_u2 / I = Var(Wxh) for one-hot
    assert theory_for_run("tanh", None, 1.0 / H, 0.0, I, H, x_sq) is None
    assert theory_for_run("relu", 1.0 / I, None, 0.0, I, H, x_sq) is None
    assert set(NONLINEARITIES) == {"tanh", "relu", "linear"}


# ---------------------------------------------------------------- against a wide simulated RNN
#
# A plain NumPy RNN (no other rnninit module), Wxh and Whh ~ N(0, g^2 / fan_in), bh = 0,
# x ~ N(0, 1). The theory is an infinite-width statement; at H = 1024 a single weight draw agrees
# within ~3% forward for tanh and linear over T = 20 steps. relu is different: its nonzero mean
# puts one direction (Whh @ 1) into every sample, so batch averaging does not damp the
# finite-width noise of that direction, and at He init (q_t = q_{t-1} + input: slope 1, chi = 1)
# nothing damps it across time either: the log-variance random-walks. Single He draws were measured
# 50-100% off by t = 20, and even means of 8 draws drift past 5% beyond t ~ 5. relu is therefore
# checked on the mean of 8 draws, He (critical) for T = 4 and g^2 = 1 (ordered, slope 1/2) for T = 8.

SIM_CASES = {  # name: (nonlinearity, g^2 of both Wxh and Whh)
    "tanh-g1": ("tanh", 1.0),
    "tanh-g1.5": ("tanh", 2.25),
    "linear-g0.9": ("linear", 0.81),
    "relu-he": ("relu", 2.0),
    "relu-g1": ("relu", 1.0),
}
PHI = {  # nonlinearity: (phi, phi')
    "tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
    "relu": (lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(a.dtype)),
    "linear": (lambda a: a, np.ones_like),
}


@functools.cache
def simulate(case, seed, H=1024, B=256, I=64, T=20):
    """Measured / predicted per timestep: (preact_var, act_var, Var(dh_t) / Var(dh_T)), each (T,)."""
    nl, g2 = SIM_CASES[case]
    phi, dphi = PHI[nl]
    rng = np.random.default_rng(seed)
    Wxh = rng.standard_normal((H, I)) * math.sqrt(g2 / I)
    Whh = rng.standard_normal((H, H)) * math.sqrt(g2 / H)
    x = rng.standard_normal((T, B, I))
    h = np.zeros((B, H))
    pre, act, dphis = [], [], []
    for t in range(T):
        a = x[t] @ Wxh.T + h @ Whh.T  # (B, H)
        h = phi(a)
        pre.append(a.var())
        act.append(h.var())
        dphis.append(dphi(a))
    dh = rng.standard_normal((B, H))  # dL/dh_T from a loss at the last step only
    grad = [dh.var()]
    for t in range(T - 1, 0, -1):
        dh = (dh * dphis[t]) @ Whh  # dL/dh_{t-1} through a_t = ... + h_{t-1} Whh^T
        grad.append(dh.var())
    grad = np.array(grad[::-1]) / grad[0]
    x_sq = (x**2).sum(axis=2).mean(axis=1) / I  # (T,)
    theory = theory_for_run(nl, g2 / I, g2 / H, 0.0, I, H, x_sq)
    profile = grad_var_profile(theory["chi"])
    return pre / theory["preact_var"], act / theory["act_var"], grad / profile


@pytest.mark.parametrize("case", ["tanh-g1", "tanh-g1.5", "linear-g0.9"])
def test_mean_field_forward_matches_one_wide_draw(case):
    pre, act, _ = simulate(case, seed=1234)  # H = 1024, B = 256, I = 64, T = 20
    np.testing.assert_allclose(pre, 1.0, rtol=0.05)
    np.testing.assert_allclose(act, 1.0, rtol=0.05)


@pytest.mark.parametrize("case", ["tanh-g1", "tanh-g1.5", "linear-g0.9"])
def test_grad_var_profile_matches_backprop_of_one_wide_draw(case):
    _, _, grad = simulate(case, seed=1234)
    np.testing.assert_allclose(grad[-7:], 1.0, rtol=0.10)  # t = T-6 .. T


@pytest.mark.parametrize(("case", "T", "k_back"), [("relu-he", 4, 3), ("relu-g1", 8, 6)])
def test_relu_mean_field_matches_mean_of_eight_draws(case, T, k_back):
    runs = [simulate(case, seed=s, B=32, T=T) for s in range(8)]
    pre, act, grad = (np.mean([r[k] for r in runs], axis=0) for k in range(3))
    np.testing.assert_allclose(pre, 1.0, rtol=0.05)
    np.testing.assert_allclose(act, 1.0, rtol=0.05)
    np.testing.assert_allclose(grad[-k_back - 1 :], 1.0, rtol=0.10)


# ---------------------------------------------------------------- imports


def test_theory_imports_only_numpy_and_stdlib():
    code = (
        "import rnninit.theory, sys; "
        "assert not {'rich', 'typer', 'yaml', 'matplotlib'} & set(sys.modules), sys.modules.keys()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    tree = ast.parse((REPO / "rnninit" / "theory.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "math", "dataclasses", "typing", "numpy", "collections.abc"}
    assert imported <= allowed, imported - allowed
