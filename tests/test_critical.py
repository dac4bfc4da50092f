"""Tests of rnninit.core.critical: the critical gain against an independent quadrature and a
naive fixed-point iteration, the limit cases, and the monotonicity the solver relies on."""

import math

import numpy as np
import pytest
from test_theory import dtanh_sq as sech4
from test_theory import normal_trapezoid, tanh_sq

from rnninit.core.critical import (
    NEARBY_FACTORS,
    critical_gain,
    critical_line,
    phase_grid,
)
from rnninit.core.nonlinearities import NONLINEARITIES
from rnninit.core.theory import fixed_point, fixed_points, regime

SATURATING = [n for n, e in NONLINEARITIES.items() if e.theory_kind == "saturating"]


def expect(f, q):
    """E[f(a)], a ~ N(0, q), by the trapezoid rule in a (tests/test_theory.py), 20001 points:
    spectrally accurate for tanh, and independent of rnninit's quadrature."""
    return normal_trapezoid(f, q, n=20_001) if q > 0 else float(f(np.zeros(1))[0])


def naive_fixed_point(s_w2, c, iters=20_000):
    """q <- s_w2 E[tanh^2](q) + c from q = 1, until it stops moving."""
    q = 1.0
    for _ in range(iters):
        q_next = s_w2 * expect(tanh_sq, q) + c
        if abs(q_next - q) <= 1e-15 * q_next:
            return q_next
        q = q_next
    raise AssertionError("the naive iteration did not settle")


# ------------------------------------------------------------------------------ tanh


def test_tanh_without_drive_is_exactly_one():
    r = critical_gain("tanh")
    assert (r.s_w2, r.gain, r.q_star, r.status) == (1.0, 1.0, 0.0, "exact")
    assert r.chi_star == pytest.approx(1.0, abs=1e-14)
    assert "exactly" in r.reason and "q* = 0" in r.reason


@pytest.mark.parametrize(("bias_var", "input_var"), [(0.05, 0.0), (0.0, 0.2), (0.05, 0.2067),
                                                     (0.5, 0.5), (1e-6, 0.0)])  # fmt: skip
def test_solved_gain_is_critical_by_independent_quadrature(bias_var, input_var):
    r = critical_gain("tanh", bias_var=bias_var, input_var=input_var)
    assert r.status == "solved" and r.gain == pytest.approx(math.sqrt(r.s_w2), rel=1e-15)
    q = naive_fixed_point(r.s_w2, bias_var + input_var)
    assert r.q_star == pytest.approx(q, rel=1e-9)
    assert r.s_w2 * expect(sech4, q) == pytest.approx(1.0, abs=1e-8)  # chi* = 1 to 1e-8
    assert r.chi_star == pytest.approx(1.0, abs=1e-9)


def test_critical_variance_grows_with_bias_as_in_the_literature():
    """Poole et al. 2016 / Schoenholz et al. 2017: with sigma_b^2 = 0.05 the tanh network is
    critical at sigma_w^2 ~ 1.76; more bias, more weight variance."""
    assert critical_gain("tanh", bias_var=0.05).s_w2 == pytest.approx(1.76, abs=0.005)
    biases = [0.0, 1e-4, 0.01, 0.05, 0.1, 0.3, 1.0]
    s = [critical_gain("tanh", bias_var=b).s_w2 for b in biases]
    assert s[0] == 1.0 and all(b > a for a, b in zip(s, s[1:]))
    # an input share moves it as a bias does: only u + b enters
    assert critical_gain("tanh", 0.03, 0.02).s_w2 == pytest.approx(s[3], rel=1e-12)


@pytest.mark.parametrize("name", SATURATING)
def test_undriven_chi_increases_with_q(name):
    """The one numerical claim of the monotonicity argument (rnninit/core/critical.py):
    chi_0(q) = q E[phi'^2] / E[phi^2] is non-decreasing in q, and E[phi^2] is concave."""
    moments = NONLINEARITIES[name].moments
    q = np.geomspace(1e-3, 1e7, 2001)
    e_phi2, _, e_dphi2 = moments(q)
    chi0 = q * e_dphi2 / e_phi2
    assert np.all(np.diff(chi0) > 0)
    small = np.geomspace(1e-5, 1e-3, 50)  # chi_0 = 1 + 4 q^2 / 3 + O(q^3) rises from 1
    e_phi2, _, e_dphi2 = moments(small)
    assert (small * e_dphi2 / e_phi2 - 1) / (4 * small**2 / 3) == pytest.approx(1, rel=0.02)
    assert chi0[-1] == pytest.approx(4 / 3 * math.sqrt(q[-1] / (2 * math.pi)), rel=1e-3)
    grid = np.linspace(0.0, 50.0, 5001)
    assert np.diff(moments(grid)[0], 2).max() < 0  # concave


@pytest.mark.parametrize("c", [0.0, 1e-3, 0.05, 0.5, 3.0])
def test_chi_star_increases_with_weight_variance(c):
    """What the bisection relies on, checked directly at the fixed points."""
    s = np.linspace(0.01, 6.0, 1200)
    _, chi = fixed_points("tanh", s, c, 0.0)
    assert np.all(np.diff(chi) > 0)


def test_nearby_gains_bracket_the_critical_one():
    r = critical_gain("tanh", bias_var=0.05)
    assert [row["factor"] for row in r.nearby] == list(NEARBY_FACTORS)
    for row in r.nearby:
        assert row["gain"] == pytest.approx(r.gain * row["factor"], rel=1e-15)
        q, chi = fixed_point("tanh", row["s_w2"], 0.0, 0.05)
        assert (row["q_star"], row["chi"]) == pytest.approx((q, chi), rel=1e-14)
        assert row["regime"] == regime(chi)
        if row["factor"] != 1.0:
            assert row["xi"] == pytest.approx(-1.0 / math.log(chi), rel=1e-12)
    assert [row["regime"] for row in r.nearby] == ["ordered"] * 2 + ["critical"] + ["chaotic"] * 2


# ------------------------------------------------------------------------------ relu, linear


@pytest.mark.parametrize(("name", "s_c"), [("relu", 2.0), ("linear", 1.0)])
def test_homogeneous_without_drive_is_exact(name, s_c):
    r = critical_gain(name)
    assert (r.s_w2, r.q_star, r.chi_star, r.status) == (s_c, 0.0, 1.0, "exact")
    assert r.gain == pytest.approx(math.sqrt(s_c), rel=1e-15)


@pytest.mark.parametrize(("name", "bias_var", "input_var"),
                         [("relu", 0.05, 0.0), ("relu", 0.0, 0.1), ("linear", 0.0, 0.1),
                          ("linear", 1e-12, 0.0)])  # fmt: skip
def test_homogeneous_with_drive_has_no_critical_gain(name, bias_var, input_var):
    r = critical_gain(name, bias_var=bias_var, input_var=input_var)
    assert (r.gain, r.s_w2, r.q_star, r.chi_star, r.status) == (None, None, None, None, "none")
    assert r.reason.startswith("No critical gain") and "infinite" in r.reason
    s_c = {"relu": 2.0, "linear": 1.0}[name]
    assert r.reference_gain == pytest.approx(math.sqrt(s_c), rel=1e-15)
    below, edge = r.nearby[0], r.nearby[2]
    assert below["q_star"] == pytest.approx((bias_var + input_var) / (1 - 0.81), rel=1e-12)
    assert below["regime"] == "ordered" and edge["q_star"] == math.inf


# ------------------------------------------------------------------------------ grid, line


def test_phase_grid_is_fixed_point_at_every_point():
    s_w2, s_b2 = np.linspace(0.1, 4.0, 7), np.array([0.0, 0.05, 0.4])
    g = phase_grid("tanh", s_w2, s_b2, input_var=0.1)
    assert g["chi_star"].shape == (3, 7) and g["regime"].shape == (3, 7)
    for i, b in enumerate(s_b2):
        for j, s in enumerate(s_w2):
            q, chi = fixed_point("tanh", float(s), 0.1, float(b))
            assert (g["q_star"][i, j], g["chi_star"][i, j]) == pytest.approx((q, chi), rel=1e-14)
            assert g["regime"][i, j] == regime(chi)
            assert g["xi"][i, j] == pytest.approx(-1.0 / math.log(chi), rel=1e-12)


def test_critical_line():
    s_b2 = np.array([0.0, 0.05, 0.2])
    line = critical_line("tanh", s_b2, input_var=0.0)
    assert line[0] == 1.0 and line[1] == critical_gain("tanh", 0.05).s_w2
    relu = critical_line("relu", s_b2)
    assert relu[0] == 2.0 and np.isnan(relu[1:]).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        critical_gain("gelu")
    with pytest.raises(ValueError, match="bias_var"):
        critical_gain("tanh", bias_var=-0.1)
    with pytest.raises(ValueError, match="input_var"):
        critical_gain("tanh", input_var=math.inf)
