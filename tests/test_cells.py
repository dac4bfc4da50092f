"""The cell interface and the nonlinearity registry, against independent references.

The one-step Jacobian operator against central finite differences of one forward step, its
transpose against the dense matrix; the parameter table against shapes written out by hand; the
saturation rules against masks written out by hand.
"""

import math

import numpy as np
import pytest

from rnninit.core.cells import CELLS, ROLES, ParamSpec, RNNCell, StepJacobian, get_cell
from rnninit.core.engine import bptt, forward
from rnninit.core.names import suggest
from rnninit.core.nonlinearities import NONLINEARITIES
from rnninit.core.stats import jac_sq, mean_std, unit_probe
from rnninit.errors import RnnInitError

T, B, I, H, O, K = 4, 3, 5, 6, 2, 3
NONLINS = ["tanh", "relu", "linear"]


def make_problem(seed, nonlin):
    rng = np.random.default_rng(seed)
    shapes = {"Wxh": (H, I), "Whh": (H, H), "Why": (O, H), "bh": (H,), "by": (O,)}
    params = {k: 0.8 * rng.standard_normal(s) for k, s in shapes.items()}
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((B, H))
    cache = forward(params, x, h0=h0, nonlinearity=nonlin)
    return rng, params, x, cache


def one_step(params, x, nonlin, t, h_prev):
    """h_t as a function of h_{t-1}: one forward step of the engine, started from h_prev."""
    return forward(params, x[t - 1 : t], h0=h_prev, nonlinearity=nonlin).hs[1]


def fd_directional(params, x, nonlin, t, h_prev, v, eps=1e-6):
    """(h_t(h_{t-1} + eps v) - h_t(h_{t-1} - eps v)) / (2 eps), per sequence: (B, H)."""
    up = one_step(params, x, nonlin, t, h_prev + eps * v)
    down = one_step(params, x, nonlin, t, h_prev - eps * v)
    return (up - down) / (2 * eps)


def dense_jacobian(params, x, nonlin, t, h_prev):
    """J_t per sequence (B, H, H), column j from the finite difference along e_j."""
    cols = [fd_directional(params, x, nonlin, t, h_prev, np.tile(e, (B, 1))) for e in np.eye(H)]
    return np.stack(cols, axis=-1)  # (B, H_out, H_in)


# --------------------------------------------------------------------------------- Jacobian


@pytest.mark.parametrize("nonlin", NONLINS)
@pytest.mark.parametrize("t", [1, T])
def test_jacobian_of_a_vector_matches_finite_differences(nonlin, t):
    rng, params, x, cache = make_problem(NONLINS.index(nonlin), nonlin)
    jac = get_cell("rnn").jacobian(params, cache)
    v = rng.standard_normal((B, H))
    want = fd_directional(params, x, nonlin, t, cache.hs[t - 1], v)
    np.testing.assert_allclose(jac.apply(t, v), want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("nonlin", NONLINS)
def test_jacobian_of_a_block_of_vectors_matches_finite_differences(nonlin):
    rng, params, x, cache = make_problem(10 + NONLINS.index(nonlin), nonlin)
    jac = get_cell("rnn").jacobian(params, cache)
    t = 2
    V = rng.standard_normal((B, K, H))
    got = jac.apply(t, V)
    assert got.shape == (B, K, H)
    for k in range(K):
        want = fd_directional(params, x, nonlin, t, cache.hs[t - 1], V[:, k])
        np.testing.assert_allclose(got[:, k], want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("nonlin", NONLINS)
def test_jacobian_transpose_against_the_dense_matrix(nonlin):
    rng, params, x, cache = make_problem(20 + NONLINS.index(nonlin), nonlin)
    jac = get_cell("rnn").jacobian(params, cache)
    t = 3
    J = dense_jacobian(params, x, nonlin, t, cache.hs[t - 1])  # (B, H, H)
    u, v = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    np.testing.assert_allclose(
        jac.apply_T(t, u), np.einsum("bij,bi->bj", J, u), rtol=1e-7, atol=1e-9
    )
    # the adjoint identity u^T (J v) = (J^T u)^T v, per sequence, without finite differences
    lhs = np.einsum("bi,bi->b", u, jac.apply(t, v))
    rhs = np.einsum("bi,bi->b", jac.apply_T(t, u), v)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-14)
    # and on a block of vectors
    U = rng.standard_normal((B, K, H))
    np.testing.assert_allclose(
        jac.apply_T(t, U), np.einsum("bij,bki->bkj", J, U), rtol=1e-7, atol=1e-9
    )


def test_jacobian_of_linear_identity_is_the_identity():
    """Whh = I with linear units: J_t = I exactly, so J v = v and J^T u = u."""
    rng, params, x, _ = make_problem(30, "linear")
    params["Whh"] = np.eye(H)
    cache = forward(params, x, nonlinearity="linear")
    jac = get_cell("rnn").jacobian(params, cache)
    v = rng.standard_normal((B, K, H))
    np.testing.assert_array_equal(jac.apply(1, v), v)
    np.testing.assert_array_equal(jac.apply_T(T, v), v)


# --------------------------------------------------------------------------- the parameter table


def test_rnn_param_specs_roles_and_shapes():
    cell = get_cell("rnn")
    assert cell.param_specs(I, H, O) == (
        ParamSpec("Wxh", "input", (H, I)),
        ParamSpec("Whh", "recurrent", (H, H)),
        ParamSpec("Why", "output", (O, H)),
        ParamSpec("bh", "bias", (H,)),
        ParamSpec("by", "bias", (O,)),
    )
    assert cell.param_names == ("Wxh", "Whh", "Why", "bh", "by")
    assert cell.param_roles == {
        "Wxh": "input", "Whh": "recurrent", "Why": "output", "bh": "bias", "by": "bias",
    }  # fmt: skip
    assert cell.names_with_role("bias") == ("bh", "by")
    assert cell.names_with_role("recurrent") == ("Whh",)
    assert all(s.gates == () for s in cell.param_specs(I, H, O))
    assert cell.state_names == ("h",) and cell.gates == ()
    with pytest.raises(ValueError, match="did you mean 'bias'"):
        cell.names_with_role("biass")


@pytest.mark.parametrize("name", list(CELLS))
def test_every_cell_declares_the_names_the_engine_reads(name):
    cell = CELLS[name]
    roles = {s.name: s.role for s in cell.param_specs(I, H, O)}
    assert set(roles.values()) <= set(ROLES)
    assert roles[cell.input_weight] == "input"
    assert roles[cell.recurrent_weight] == "recurrent"
    assert roles[cell.output_weight] == "output"
    assert roles[cell.input_bias] == roles[cell.output_bias] == "bias"


def test_mean_field_params_by_role():
    assert get_cell("rnn").mean_field_params == {"input": "Wxh", "recurrent": "Whh", "bias": "bh"}


def test_unknown_cell_is_refused_with_a_suggestion():
    with pytest.raises(
        RnnInitError,
        match=r"^model\.cell: unknown cell 'rnm' \(did you mean 'rnn'\?\); allowed: rnn, lstm, gru$",
    ):
        get_cell("rnm", where="model.cell")
    with pytest.raises(RnnInitError, match="unknown cell 3; allowed: rnn, lstm, gru"):
        get_cell(3)
    cell = RNNCell()
    assert get_cell(cell) is cell


def test_the_engine_runs_a_cell_given_as_an_instance():
    _, params, x, _ = make_problem(40, "tanh")
    y = np.zeros((T, B), dtype=np.int64)
    r1 = bptt(params, x, y)
    r2 = bptt(params, x, y, cell=RNNCell())
    assert r1.loss == r2.loss
    for k in params:
        np.testing.assert_array_equal(r1.grads[k], r2.grads[k])


# ------------------------------------------------------------------------- the nonlinearities


def test_saturation_rules_against_hand_written_masks():
    h = np.array([[0.995, -0.999, 0.99, -0.99, 0.0, 0.5], [1.0, -1.0, 0.9901, 1e-300, -0.0, 2.0]])
    tanh_mask = np.array(
        [[True, True, False, False, False, False], [True, True, True, False, False, True]]
    )
    relu_mask = np.array(
        [[False, False, False, False, True, False], [False, False, False, False, True, False]]
    )
    np.testing.assert_array_equal(NONLINEARITIES["tanh"].saturation.mask(h), tanh_mask)
    np.testing.assert_array_equal(NONLINEARITIES["relu"].saturation.mask(h), relu_mask)
    assert NONLINEARITIES["linear"].saturation is None
    assert NONLINEARITIES["tanh"].saturation.text == "|h| > 0.99"
    assert NONLINEARITIES["tanh"].saturation.phrase == "tanh units saturated"
    assert NONLINEARITIES["relu"].saturation.phrase == "relu units dead"


def test_registry_gains_and_derivatives():
    assert {n: nl.gain for n, nl in NONLINEARITIES.items()} == {
        "tanh": 5 / 3, "relu": math.sqrt(2), "linear": 1.0,
    }  # fmt: skip
    a = np.linspace(-3, 3, 13) + 0.05  # no exact zero: relu' is defined everywhere here
    for name, nl in NONLINEARITIES.items():
        h = np.empty_like(a)
        nl.phi(a, h)
        eps = 1e-6
        up, down = np.empty_like(a), np.empty_like(a)
        nl.phi(a + eps, up)
        nl.phi(a - eps, down)
        np.testing.assert_allclose(
            nl.dphi(a, h) * np.ones_like(a),
            (up - down) / (2 * eps),
            rtol=1e-8,
            atol=1e-9,
            err_msg=name,
        )


# ------------------------------------------------------------------------------ small helpers


def test_suggest():
    assert suggest("xavir", ["xavier", "he"]) == " (did you mean 'xavier'?)"
    assert suggest("zzz", ["xavier", "he"]) == ""
    assert suggest(None, ["xavier"]) == ""


def test_mean_std_is_population_std_over_the_finite_values():
    mean, std, n = mean_std([1.0, None, 2.0, float("nan"), 4.0, float("inf")])
    assert n == 3
    assert mean == pytest.approx(7 / 3, rel=1e-15)
    assert std == pytest.approx(
        math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 3), rel=1e-15
    )
    assert mean_std([None, float("nan")]) == (None, None, 0)
    assert mean_std(iter([5])) == (5.0, 0.0, 1)


class _ScaledSteps(StepJacobian):
    """J_t = c_t I, with a different c_t at every t: J(T, t) = prod_{s=t+1}^{T} c_s I."""

    def __init__(self, c):
        self.c = c  # c[t - 1] = c_t, t = 1..T

    def apply(self, t, v):
        return self.c[t - 1] * v

    def apply_T(self, t, u):
        return self.c[t - 1] * u


def test_jac_sq_runs_any_cell_through_its_operator_with_the_time_index_of_the_definition():
    c = np.array([2.0, 3.0, 5.0, 7.0])  # c_1 never enters: J(T, t) starts at J_{t+1}
    u = unit_probe(np.random.default_rng(0), 4, 3)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-15)
    expected = [(3 * 5 * 7) ** 2, (5 * 7) ** 2, 7**2, 1.0]
    np.testing.assert_allclose(jac_sq(_ScaledSteps(c), u, 4), expected, rtol=1e-14)
