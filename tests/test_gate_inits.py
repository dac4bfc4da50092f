"""Gated cells' inits: block by block, gate overrides, gate biases and presets per cell.

Fake cells below carry exactly the parameter specs the real LSTM and GRU declare (names, roles,
shapes, gate blocks, draw order), so the draws are tested apart from the cells' code. Every
expected value is written out here from DESIGN section 4, never read from the registry's
``moments``. Sampling tolerances as in test_inits.py: 5 standard errors at a fixed seed.
"""

import io
import math

import numpy as np
import pytest

from rnninit.core.cells import Cell, ParamSpec
from rnninit.core.gate_bias import GATE_BIASES
from rnninit.core.inits import (
    block_moments,
    block_plan,
    describe_preset,
    init_params,
    parse_init,
    preset_for,
)
from rnninit.errors import RnnInitError

LSTM_GATES, GRU_GATES = ("i", "f", "g", "o"), ("r", "z", "n")


class _Fake(Cell):
    def forward_step(self, params, cache):
        raise AssertionError("not used")

    def backward_step(self, params, cache, dH, dA):
        raise AssertionError("not used")

    def jacobian(self, params, cache):
        raise AssertionError("not used")


class FakeLSTM(_Fake):
    name, gates = "lstm", LSTM_GATES

    def param_specs(self, I, H, O):
        g = LSTM_GATES
        return (
            ParamSpec("Wxh", "input", (4 * H, I), g),
            ParamSpec("Whh", "recurrent", (4 * H, H), g),
            ParamSpec("Why", "output", (O, H)),
            ParamSpec("bh", "bias", (4 * H,), g),
            ParamSpec("by", "bias", (O,)),
        )


class FakeGRU(_Fake):
    name, gates = "gru", GRU_GATES

    def param_specs(self, I, H, O):
        g = GRU_GATES
        return (
            ParamSpec("Wxh", "input", (3 * H, I), g),
            ParamSpec("Whh", "recurrent", (3 * H, H), g),
            ParamSpec("Why", "output", (O, H)),
            ParamSpec("bh", "bias", (3 * H,), g),
            ParamSpec("bhn", "bias", (H,)),
            ParamSpec("by", "bias", (O,)),
        )


LSTM, GRU = FakeLSTM(), FakeGRU()


def blocks(W: np.ndarray, gates) -> dict[str, np.ndarray]:
    """gate -> its block along axis 0."""
    return dict(zip(gates, np.split(W, len(gates)), strict=True))


# --- block by block -----------------------------------------------------------------------------


@pytest.mark.parametrize("cell, gates", [(LSTM, LSTM_GATES), (GRU, GRU_GATES)])
def test_orthogonal_is_orthogonal_per_block(cell, gates):
    H = 16
    Whh = init_params(5, H, 3, "Whh=orthogonal", seed=0, cell=cell)["Whh"]
    assert Whh.shape == (len(gates) * H, H)
    for g, B in blocks(Whh, gates).items():
        np.testing.assert_allclose(B.T @ B, np.eye(H), atol=1e-12, err_msg=g)
    with pytest.raises(AssertionError):  # the stacked matrix itself is not orthonormal
        np.testing.assert_allclose(Whh.T @ Whh, np.eye(H), atol=1e-6)


def test_identity_is_an_eye_per_block():
    Whh = init_params(5, 6, 3, "Whh=identity:0.5", seed=0, cell=LSTM)["Whh"]
    np.testing.assert_array_equal(Whh, np.vstack([0.5 * np.eye(6)] * 4))


@pytest.mark.parametrize(
    "scheme, var",  # the variance of one entry, with the block's fans (fan_out H, fan_in I)
    [
        ("xavier", lambda H, I: 1 / I),
        ("glorot_normal", lambda H, I: 2 / (I + H)),  # fan_out = H, not 4H
        ("glorot_uniform", lambda H, I: 6 / (I + H) / 3),
        ("he", lambda H, I: 2 / I),
        ("torch_default", lambda H, I: 1 / H / 3),
    ],
)
def test_iid_draws_use_the_fans_of_a_block(scheme, var):
    I, H = 200, 150
    Wxh = init_params(I, H, 2, f"Wxh={scheme}", seed=1, cell=LSTM)["Wxh"]
    kurt = 3.0 if "uniform" not in scheme and scheme != "torch_default" else 9 / 5
    v, n = var(H, I), H * I
    for g, B in blocks(Wxh, LSTM_GATES).items():
        assert abs(B.var() - v) < 5 * v * math.sqrt((kurt - 1) / n), (g, B.var(), v)
        assert abs(B.mean()) < 5 * math.sqrt(v / n)
    if scheme == "glorot_uniform":
        assert np.abs(Wxh).max() <= math.sqrt(6 / (I + H))
        assert np.abs(Wxh).max() > math.sqrt(6 / (I + 4 * H))  # would be the bound with 4H


def test_draw_order_is_block_by_block_in_gate_order():
    I, H, O = 3, 5, 2
    spec = "default=xavier,Whh=orthogonal,Whh.f=small,bh.g=small,bh.o=he"
    p = init_params(I, H, O, spec, seed=7, cell=LSTM)
    rng = np.random.default_rng(7)  # an independent replay

    def ortho(n):
        Q, R = np.linalg.qr(rng.standard_normal((n, n)))
        return Q * np.where(np.diag(R) < 0, -1.0, 1.0)

    Wxh = np.vstack([rng.standard_normal((H, I)) / math.sqrt(I) for _ in LSTM_GATES])
    Whh_i = ortho(H)
    Whh_f = 0.01 * rng.standard_normal((H, H))
    Whh_g, Whh_o = ortho(H), ortho(H)
    Why = rng.standard_normal((O, H)) / math.sqrt(H)
    b_g = 0.01 * rng.standard_normal(H)
    b_o = math.sqrt(2 / H) * rng.standard_normal(H)
    np.testing.assert_allclose(p["Wxh"], Wxh, rtol=1e-14)
    np.testing.assert_allclose(p["Whh"], np.vstack([Whh_i, Whh_f, Whh_g, Whh_o]), rtol=1e-12)
    np.testing.assert_allclose(p["Why"], Why, rtol=1e-14)
    np.testing.assert_allclose(p["bh"], np.concatenate([np.zeros(2 * H), b_g, b_o]), rtol=1e-14)
    assert not p["by"].any()
    assert list(p) == ["Wxh", "Whh", "Why", "bh", "by"]


def test_gate_override_in_a_mapping_equals_the_compact_form():
    mapping = {"Whh": "orthogonal", "Whh.f": {"scheme": "identity", "gain": 2}, "bh": "zeros"}
    a = parse_init(mapping, cell=LSTM)
    assert a == parse_init("Whh=orthogonal,Whh.f=identity:2,bh=zeros", cell=LSTM)
    assert a.per_gate == {"Whh.f": ("identity", 2.0)}
    Whh = init_params(3, 4, 2, mapping, seed=0, cell=LSTM)["Whh"]
    np.testing.assert_array_equal(blocks(Whh, LSTM_GATES)["f"], 2 * np.eye(4))


# --- gate biases --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, V", [("bh=forget_bias", 1.0), ("bh=forget_bias:-0.5", -0.5),
                                     ({"bh": {"scheme": "forget_bias", "value": 3}}, 3.0)])  # fmt: skip
def test_forget_bias_sets_the_f_block_only(spec, V):
    bh = init_params(3, 6, 2, spec, seed=0, cell=LSTM)["bh"]
    b = blocks(bh, LSTM_GATES)
    np.testing.assert_array_equal(b["f"], np.full(6, V))
    for g in "igo":
        assert not b[g].any()


def test_forget_bias_on_a_gru_sets_the_update_gate():
    p = init_params(3, 6, 2, "bh=forget_bias:2", seed=0, cell=GRU)
    b = blocks(p["bh"], GRU_GATES)
    np.testing.assert_array_equal(b["z"], np.full(6, 2.0))
    assert not b["r"].any() and not b["n"].any() and not p["bhn"].any()


def log_uniform_cdf(x, t_max):
    """P(log u <= x) for u ~ U[1, T_max - 1]: (e^x - 1) / (T_max - 2)."""
    return (np.exp(x) - 1) / (t_max - 2)


def log_uniform_moments(t_max):
    """Mean and variance of log u, u ~ U[1, M], M = T_max - 1, integrated by hand:
    int log u = u log u - u, int log^2 u = u log^2 u - 2 u log u + 2 u."""
    M = t_max - 1
    m1 = (M * math.log(M) - M + 1) / (M - 1)
    m2 = (M * math.log(M) ** 2 - 2 * M * math.log(M) + 2 * M - 2) / (M - 1)
    return m1, m2 - m1**2


@pytest.mark.parametrize("t_max", [3.5, 50, 784])
def test_chrono_lstm_ranges_and_distribution(t_max):
    # init_params draws Whh (4H, H) too: the structure on a small H, the law on H = 20000 from
    # the scheme's own block draw (the same call init_params makes)
    b = blocks(init_params(2, 300, 2, f"bh=chrono:{t_max}", seed=3, cell=LSTM)["bh"], LSTM_GATES)
    assert b["f"].min() >= 0 and b["f"].max() <= math.log(t_max - 1)
    np.testing.assert_array_equal(b["i"], -b["f"])
    assert not b["g"].any() and not b["o"].any()
    H = 20000
    b = GATE_BIASES["chrono"].blocks(np.random.default_rng(3), LSTM_GATES, H, t_max)
    assert set(b) == {"f", "i"}
    bf = b["f"]
    assert bf.min() >= 0 and bf.max() <= math.log(t_max - 1)
    assert bf.min() < 0.01 * math.log(t_max - 1) and bf.max() > 0.99 * math.log(t_max - 1)
    # Kolmogorov-Smirnov against the log-uniform CDF: sqrt(n) D < 1.95 at the 0.1% level
    x = np.sort(bf)
    F = log_uniform_cdf(x, t_max)
    D = max(np.max(np.arange(1, H + 1) / H - F), np.max(F - np.arange(H) / H))
    assert math.sqrt(H) * D < 1.95, D
    mean, var = log_uniform_moments(t_max)
    assert abs(bf.mean() - mean) < 5 * math.sqrt(var / H)
    assert abs(bf.var() - var) < 5 * var * math.sqrt(2 / H)  # kurtosis of a bounded law < 3


def test_chrono_gru_sets_b_z_only():
    H, t_max = 300, 100
    p = init_params(2, H, 2, {"bh": {"scheme": "chrono", "t_max": t_max}}, seed=0, cell=GRU)
    b = blocks(p["bh"], GRU_GATES)
    assert b["z"].min() >= 0 and b["z"].max() <= math.log(t_max - 1)
    assert b["z"].std() > 0.5  # spread out, not a constant
    assert not b["r"].any() and not b["n"].any() and not p["bhn"].any()


def test_chrono_t_max_from_the_sequence_length():
    a = init_params(2, 8, 2, "bh=chrono", seed=0, cell=LSTM, seq_len=200)
    b = init_params(2, 8, 2, "bh=chrono:200", seed=0, cell=LSTM)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert parse_init({"bh": {"scheme": "chrono", "t_max": None}}, cell=LSTM).args == {"bh": None}
    with pytest.raises(RnnInitError, match=r"^init\.bh: chrono needs T_max: write bh=chrono:T_MAX"):
        init_params(2, 8, 2, "bh=chrono", seed=0, cell=LSTM)
    with pytest.raises(
        RnnInitError, match=r"T_max from the sequence length: expected a number > 2"
    ):
        init_params(2, 8, 2, "bh=chrono", seed=0, cell=LSTM, seq_len=2)


def test_gate_bias_moments_are_exact():
    plan = block_plan(2, 4, 2, "bh=chrono:30,Wxh=he", LSTM)
    by = {(b.param, b.gate): b for b in plan}
    mean, var = log_uniform_moments(30)
    assert block_moments(by["bh", "f"], 4) == pytest.approx((mean, var), rel=1e-12)
    assert block_moments(by["bh", "i"], 4) == pytest.approx((-mean, var), rel=1e-12)
    assert block_moments(by["bh", "g"], 4) == (0.0, 0.0)
    assert block_moments(by["Wxh", "o"], 4) == pytest.approx((0.0, 2 / 2))
    assert GATE_BIASES["forget_bias"].moments(LSTM_GATES, 1.5) == {"f": (1.5, 0.0)}


def test_other_blocks_of_a_gate_bias_may_be_overridden():
    b = blocks(init_params(2, 4, 2, "bh=forget_bias,bh.o=zeros,bh.g=torch_default", seed=0,
                           cell=LSTM)["bh"], LSTM_GATES)  # fmt: skip
    assert b["g"].any() and np.abs(b["g"]).max() <= 0.5 and (b["f"] == 1).all()


# --- presets per cell ---------------------------------------------------------------------------


# Keras' LSTM and GRU keep one kernel (I, G*H) and one recurrent_kernel (H, G*H) and draw each
# whole: glorot_uniform with fan_in I, fan_out G*H, and Orthogonal over the whole matrix, which
# in our layout (Whh is the recurrent_kernel transposed, (G*H, H)) means Whh.T @ Whh = I_H.


@pytest.mark.parametrize("cell, gates", [(LSTM, LSTM_GATES), (GRU, GRU_GATES)])
def test_keras_default_draws_the_recurrent_kernel_whole(cell, gates):
    I, H = 10, 32
    Whh = init_params(I, H, 3, "keras_default", seed=0, cell=cell)["Whh"]
    np.testing.assert_allclose(Whh.T @ Whh, np.eye(H), atol=1e-12)
    for g, B in blocks(Whh, gates).items():  # a block is not orthogonal: B.T B ~ I/G
        assert np.abs(B.T @ B - np.eye(H)).max() > 0.3, g


@pytest.mark.parametrize("cell, G", [(LSTM, 4), (GRU, 3)])
def test_keras_default_draws_the_kernel_whole_with_its_fans(cell, G):
    I, H = 300, 200
    Wxh = init_params(I, H, 3, "keras_default", seed=1, cell=cell)["Wxh"]
    bound, var, n = math.sqrt(6 / (I + G * H)), 2 / (I + G * H), Wxh.size
    assert np.abs(Wxh).max() <= bound and np.abs(Wxh).max() > 0.999 * bound
    assert abs(Wxh.var() - var) < 5 * var * math.sqrt(0.8 / n)  # U(±b): kurtosis 9/5
    assert abs(Wxh.mean()) < 5 * math.sqrt(var / n)


@pytest.mark.parametrize("cell, G", [(LSTM, 4), (GRU, 3)])
def test_keras_default_replays_from_an_independent_draw(cell, G):
    """Kernel, recurrent kernel and output weight drawn here in the same order from the same
    seed: glorot_uniform over (G*H, I), one sign-corrected QR of a (G*H, H) Gaussian, glorot
    over (O, H); biases zero but for the LSTM's forget block, 1."""
    I, H, O = 5, 6, 3
    p = init_params(I, H, O, "keras_default", seed=3, cell=cell)
    rng = np.random.default_rng(3)
    Wxh = rng.uniform(-1, 1, size=(G * H, I)) * math.sqrt(6 / (I + G * H))
    Q, R = np.linalg.qr(rng.standard_normal((G * H, H)))
    Whh = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    Why = rng.uniform(-1, 1, size=(O, H)) * math.sqrt(6 / (O + H))
    for name, W in (("Wxh", Wxh), ("Whh", Whh), ("Why", Why)):
        np.testing.assert_allclose(p[name], W, rtol=1e-13, atol=1e-15, err_msg=name)
    forget = np.concatenate([np.zeros(H), np.ones(H), np.zeros(2 * H)]) if G == 4 else 0.0
    np.testing.assert_array_equal(p["bh"], np.zeros(G * H) + forget)
    assert not any(p[n].any() for n in p if n not in ("Wxh", "Whh", "Why", "bh"))


def test_keras_default_names_the_whole_draws():
    assert preset_for("keras_default", LSTM) == {
        "Wxh": "glorot_uniform_whole", "Whh": "orthogonal_whole", "Why": "glorot_uniform",
        "bh": "forget_bias", "by": "zeros",
    }  # fmt: skip
    assert describe_preset("keras_default", LSTM).endswith("bh forget_bias:1, by zeros")
    assert preset_for("keras_default", "rnn")["Whh"] == "orthogonal"  # the vanilla cell: as was
    plan = {b.param: b for b in block_plan(7, 5, 2, "keras_default", LSTM)}
    assert plan["Whh"].gate == "" and plan["Whh"].shape == (20, 5)  # one block, the whole


def test_a_whole_scheme_on_an_ungated_matrix_is_its_base():
    a = init_params(6, 9, 4, "Wxh=glorot_uniform_whole,Whh=orthogonal_whole", seed=2)
    b = init_params(6, 9, 4, "Wxh=glorot_uniform,Whh=orthogonal", seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_named_matrices_keep_the_block_by_block_rule_beside_the_preset():
    H = 8
    p = init_params(4, H, 2, {"default": "keras_default", "Whh": "orthogonal"}, seed=0, cell=LSTM)
    for B in blocks(p["Whh"], LSTM_GATES).values():  # the user's Whh: orthogonal per block
        np.testing.assert_allclose(B.T @ B, np.eye(H), atol=1e-12)
    assert np.abs(p["Wxh"]).max() <= math.sqrt(6 / (4 + 4 * H))  # the preset's, whole


def test_a_gain_override_and_a_compare_arm_keep_the_whole_draw():
    from rnninit.experiment.arms import resolve_arm
    from rnninit.experiment.config import load_config

    cfg = load_config(None, ["model.cell=lstm", "init=keras_default", "init.Whh.gain=0.9"])
    assert cfg.init == {"default": "keras_default",
                        "Whh": {"scheme": "orthogonal_whole", "gain": 0.9}}  # fmt: skip
    merged = resolve_arm("Wxh=he", "keras_default", "arm", cell="lstm")
    assert merged["Whh"] == "orthogonal_whole" and merged["Wxh"] == "he"


def test_keras_default_gru_has_no_forget_bias():
    p = init_params(4, 8, 3, "keras_default", seed=0, cell=GRU)
    assert not p["bh"].any() and not p["bhn"].any() and not p["by"].any()


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_torch_default_every_weight_and_bias(cell):
    H = 64
    p = init_params(300, H, 7, "torch_default", seed=0, cell=cell)
    bound = 1 / math.sqrt(H)
    for name, W in p.items():
        assert np.abs(W).max() <= bound and np.all(W != 0), name
        if W.size >= H:  # enough draws to come near the bound
            assert np.abs(W).max() > 0.9 * bound, name
    assert set(p) == {s.name for s in cell.param_specs(1, 1, 1)}  # incl. the GRU's bhn


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_flax_default(cell):
    I, H = 400, 24
    p = init_params(I, H, 3, "flax_default", seed=0, cell=cell)
    for B in np.split(p["Whh"], len(cell.gates)):
        np.testing.assert_allclose(B.T @ B, np.eye(H), atol=1e-12)
    for B in np.split(p["Wxh"], len(cell.gates)):
        assert abs(B.var() - 1 / I) < 5 * (1 / I) * math.sqrt(2 / B.size)
    assert not any(p[n].any() for n in p if n.startswith("b"))


# --- refusals -----------------------------------------------------------------------------------

BAD = [
    (LSTM, "Whh=chrono:20", "init.Whh.scheme: scheme 'chrono' sets a gate bias and Whh is a matrix; allowed: uniform"),
    (LSTM, "by=forget_bias", "init.by: scheme 'forget_bias' sets a gate bias and by has no forget (f) or update (z) gate block; allowed: uniform"),
    (GRU, "bhn=chrono:20", "init.bhn.scheme: scheme 'chrono' sets a gate bias and bhn has no forget (f) or update (z) gate block"),
    ("rnn", "bh=chrono:20", "init.bh.scheme: scheme 'chrono' sets a gate bias and bh has no forget (f) or update (z) gate block"),
    (LSTM, "bh.f=chrono:20", "init.bh.f.scheme: scheme 'chrono' sets a gate bias and it sets the whole bias: write bh=chrono"),
    (LSTM, "bh=chrono:2", "init.bh.t_max: expected a number > 2 for chrono's t_max, got '2'"),
    (LSTM, "bh=chrono:long", "init.bh.t_max: expected a number > 2 for chrono's t_max, got 'long'"),
    (LSTM, "bh=forget_bias:x", "init.bh.value: expected a finite number for forget_bias's value, got 'x'"),
    (LSTM, {"bh": {"scheme": "chrono", "gain": 2}}, "init.bh.gain: unknown key 'gain'; allowed: scheme, t_max"),
    (LSTM, {"bh": {"scheme": "forget_bias", "t_max": 2}}, "init.bh.t_max: unknown key 't_max'; allowed: scheme, value"),
    (LSTM, {"Whh": {"scheme": "he", "t_max": 2}}, "init.Whh.t_max: unknown key 't_max'; allowed: scheme, gain"),
    (LSTM, "Whh.x=he", "init.Whh.x: unknown matrix 'Whh.x'"),
    (LSTM, "Why.f=he", "allowed: Wxh, Whh, Why, bh, by, default, spectral_radius, PARAM.GATE (Wxh.i, Wxh.f"),
    (LSTM, "bh.g=orthogonal", "init.bh.g: scheme 'orthogonal' needs a matrix and bh is a 1-D bias"),
    (LSTM, "bh=chrono:20,bh.i=he", "init.bh.i: bh=chrono sets the i block itself"),
    (GRU, "bh=chrono:20,bh.z=he", "init.bh.z: bh=chrono sets the z block itself"),
    (LSTM, "chrono", "init: unknown scheme or preset 'chrono' (chrono sets a gate bias: name the bias, e.g. bh=chrono)"),
    (LSTM, "Whh=he,spectral_radius=1", "init.spectral_radius: Whh of cell 'lstm' stacks 4 gate blocks"),
    (LSTM, "bh=chrono:20,bh=he", "init.bh: named twice"),
    (LSTM, "Whh.f=orthogonal_whole", "init.Whh.f: scheme 'orthogonal_whole' draws all gate blocks in one piece: write Whh=orthogonal_whole"),
    (LSTM, "default=keras_default,Whh.f=identity", "init.Whh.f: Whh is drawn with orthogonal_whole, all its gate blocks in one piece, so one block cannot take its own scheme; draw Whh block by block to name a block (e.g. Whh=orthogonal)"),
]  # fmt: skip


@pytest.mark.parametrize("cell, spec, fragment", BAD)
def test_refusals_name_the_key_what_was_given_and_what_is_allowed(cell, spec, fragment):
    with pytest.raises(RnnInitError) as err:
        parse_init(spec, cell=cell)
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_gru_allows_chrono_only_where_it_means_something():
    spec = parse_init("bh=chrono:40,bh.r=small", cell=GRU)
    assert spec.per_param["bh"] == ("chrono", 1.0) and spec.args == {"bh": 40.0}
    assert spec.per_gate == {"bh.r": ("small", 1.0)}


# --- the experiment layer: records, overrides and compare arms keep gates and gate biases ------


@pytest.mark.parametrize(
    "spec",
    [
        "keras_default",
        "Whh=orthogonal:tanh,Whh.f=identity:0.5,bh=chrono:200,bh.o=small",
        {"bh": {"scheme": "chrono", "t_max": None}, "Wxh.g": "he"},
        "bh=forget_bias:2.5,Why=zeros",
    ],
)
def test_spec_mapping_reads_back_to_the_same_spec(spec):
    from rnninit.core.inits import spec_mapping

    a = parse_init(spec, cell=LSTM)
    assert parse_init(spec_mapping(a), cell=LSTM) == a


def test_init_overrides_reach_a_gate_block_and_a_gate_bias_parameter():
    from rnninit.experiment.config import _edit_init

    out = _edit_init({"default": "xavier"}, ["Whh", "f"], "identity", "override", cell=LSTM)
    assert out == {"default": "xavier", "Whh.f": "identity"}
    out = _edit_init("Whh=orthogonal", ["Whh", "g", "gain"], 2, "override", cell=LSTM)
    assert out["Whh.g"] == {"scheme": "orthogonal", "gain": 2}  # the block's scheme kept
    out = _edit_init("bh=chrono:20", ["bh", "t_max"], 300, "override", cell=LSTM)
    assert parse_init(out, cell=LSTM).args == {"bh": 300.0}


def test_a_compare_arm_merges_gates_and_gate_biases():
    from rnninit.experiment.arms import arm_text, resolve_arm

    base = "Whh=orthogonal,Whh.f=identity,bh=chrono:50"
    merged = parse_init(resolve_arm("Wxh=he", base, "arm", cell=LSTM), cell=LSTM)
    assert merged.per_gate == {"Whh.f": ("identity", 1.0)} and merged.args == {"bh": 50.0}
    assert merged.per_param["Wxh"] == ("he", 1.0)
    merged = parse_init(resolve_arm("Whh=xavier,bh=forget_bias", base, "arm", cell=LSTM), cell=LSTM)
    assert merged.per_gate == {} and merged.args == {"bh": 1.0}  # named matrices replaced whole
    assert arm_text({"bh": {"scheme": "chrono", "t_max": 80}}) == "bh=chrono:80"


def test_config_refuses_a_gate_bias_on_the_vanilla_cell():
    from rnninit.experiment.config import load_config

    with pytest.raises(RnnInitError, match=r"init\.bh: scheme 'chrono' sets a gate bias"):
        load_config(None, ["init.bh=chrono", "init.bh.t_max=20"])
    with pytest.raises(RnnInitError, match=r"init\.Whh\.f: unknown matrix 'Whh\.f'"):
        load_config(None, ["init.Whh.f=identity"])


# --- rnninit inits --cell: the listing takes a Cell ---------------------------------------------


def test_gate_block_listing_per_scheme_per_block():
    from rnninit.experiment.schemes import gate_block_listing

    H, I = 24, 10
    listing = gate_block_listing(LSTM, H, I, seed=0, t_max=60)
    by = {s["init"]: s["rows"] for s in listing["sections"]}
    assert (
        list(by)[:2] == ["uniform", "small"] and "bh=chrono:60" in by and "bh=forget_bias:1" in by
    )
    xavier = {(r["param"], r["gate"]): r for r in by["xavier"]}
    assert set(xavier) == {(p, g) for p in ("Wxh", "Whh") for g in LSTM_GATES}
    assert xavier["Wxh", "f"]["fan_in"] == I and xavier["Wxh", "f"]["fan_out"] == H
    assert xavier["Wxh", "f"]["expected_var"] == pytest.approx(1 / I)
    glorot = {(r["param"], r["gate"]): r for r in by["glorot_uniform"]}
    assert glorot["Whh", "o"]["expected_var"] == pytest.approx(6 / (2 * H) / 3)  # fan_out H
    orth = {(r["param"], r["gate"]): r for r in by["orthogonal"]}
    assert orth["Whh", "g"]["var"] == pytest.approx(1 / H, abs=1e-3)  # an orthogonal H x H block
    chrono = {r["gate"]: r for r in by["bh=chrono:60"]}
    mean, var = log_uniform_moments(60)
    assert chrono["f"]["expected_mean"] == pytest.approx(mean)
    assert chrono["i"]["expected_mean"] == pytest.approx(-mean)
    assert chrono["i"]["mean"] == pytest.approx(-chrono["f"]["mean"])
    assert chrono["g"]["expected_var"] == 0 and chrono["g"]["var"] == 0
    keras = {(r["param"], r["gate"]): r for r in by["keras_default"]}
    assert keras["bh", "f"]["mean"] == 1.0 and keras["bh", "f"]["var"] == 0.0
    assert keras["bh", "i"]["mean"] == 0.0 and keras["Why", ""]["scheme"] == "glorot_uniform"


def test_gate_block_listing_shows_keras_kernels_whole():
    from rnninit.experiment.schemes import gate_block_listing

    H, I = 24, 10
    by = {s["init"]: s["rows"] for s in gate_block_listing(LSTM, H, I, seed=0)["sections"]}
    keras = {(r["param"], r["gate"]): r for r in by["keras_default"]}
    wxh, whh = keras["Wxh", ""], keras["Whh", ""]
    assert wxh["whole"] and whh["whole"] and not keras["Why", ""]["whole"]
    assert (wxh["fan_out"], wxh["fan_in"], whh["fan_out"], whh["fan_in"]) == (4 * H, I, 4 * H, H)
    assert wxh["expected_var"] == pytest.approx(2 / (I + 4 * H))  # U(±sqrt(6/(I + 4H)))
    assert whh["expected_var"] == pytest.approx(1 / (4 * H))  # H unit columns over 4H x H
    assert ("Whh", "f") not in keras and ("bh", "f") in keras  # the forget bias: per block
    assert {r["gate"] for r in by["flax_default"] if r["param"] == "Whh"} == set(LSTM_GATES)


def test_gate_block_listing_gru_covers_bhn_in_presets():
    from rnninit.experiment.schemes import gate_block_listing

    listing = gate_block_listing(GRU, 16, 8, seed=0)
    by = {s["init"]: s["rows"] for s in listing["sections"]}
    torch = {(r["param"], r["gate"]): r for r in by["torch_default"]}
    assert torch["bhn", ""]["expected_var"] == pytest.approx(1 / 16 / 3)
    assert torch["bhn", ""]["var"] > 0
    assert {r["gate"] for r in by["bh=chrono:100"]} == {"r", "z", "n"}


def test_cli_inits_cell_rnn_unchanged_and_unknown_cell_refused():
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    runner = CliRunner()
    plain = runner.invoke(app, ["inits", "--shape", "16", "16"])
    rnn = runner.invoke(app, ["inits", "--shape", "16", "16", "--cell", "rnn"])
    assert plain.exit_code == rnn.exit_code == 0 and plain.output == rnn.output
    bad = runner.invoke(app, ["inits", "--cell", "lstn"])
    assert bad.exit_code == 2
    assert "--cell: unknown cell 'lstn'" in bad.output and "allowed: rnn" in bad.output


@pytest.mark.parametrize("cell, gates, biases", [("lstm", "ifgo", ["bh", "by"]),
                                                 ("gru", "rzn", ["bh", "bhn", "by"])])  # fmt: skip
def test_cli_inits_cell_fits_160_columns_untruncated(cell, gates, biases):
    """Off a terminal the console is 160 columns wide (CliRunner's too): nothing is cut to '…',
    and every block of every matrix, whole or per gate, is named; at 100 columns nothing is cut
    either (the formula column wraps)."""
    from rich.console import Console
    from typer.testing import CliRunner

    from rnninit.cli.app import app
    from rnninit.core.inits import PRESETS, SCHEMES
    from rnninit.experiment.schemes import gate_block_listing
    from rnninit.report.terminal import gate_blocks_table

    result = CliRunner().invoke(app, ["inits", "--cell", cell, "--shape", "32", "16"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "…" not in result.output and max(len(line) for line in lines) <= 160
    names = {line.split("│")[2].strip() for line in lines if line.startswith("│")}  # block
    blocks = {f"{p}.{g}" for p in ("Wxh", "Whh") for g in gates} | {"Wxh (whole)", "Whh (whole)"}
    blocks |= {f"bh.{g}" for g in gates} | {"Why", *biases[1:]}
    assert names - {""} == blocks
    for name in [*SCHEMES, *PRESETS, "bh=forget_bias:1", "bh=chrono:100"]:
        assert name in result.output, name
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(gate_blocks_table(gate_block_listing(cell, 32, 16)))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 100


def test_compare_records_tell_gate_biases_and_gate_overrides_apart():
    from rnninit.experiment.arms import describe, resolved_record

    a = resolved_record("bh=chrono:50", cell=LSTM)
    b = resolved_record("bh=chrono:100", cell=LSTM)
    c = resolved_record("bh=chrono:50,Whh.f=identity", cell=LSTM)
    assert a != b and a != c
    assert a["bh"] == {"scheme": "chrono", "gain": 1.0, "arg": 50.0}
    assert c["Whh.f"] == {"scheme": "identity", "gain": 1.0}
    assert describe({"bh": a["bh"]}, None)["bh"] == "chrono:50"
    assert resolved_record("xavier") == resolved_record("xavier", cell="rnn")  # rnn: no new keys
    assert set(resolved_record("xavier")) == {"Wxh", "Whh", "Why", "bh", "by", "spectral_radius"}


def test_every_gate_bias_scheme_has_a_closed_form_here():
    assert sorted(GATE_BIASES) == ["chrono", "forget_bias"]  # each tested above by hand


def test_chrono_draws_once_in_its_place_in_the_order():
    I, H, O = 3, 4, 2
    p = init_params(I, H, O, "bh=chrono:50,by=small", seed=5, cell=LSTM)
    rng = np.random.default_rng(5)  # replay: xavier Wxh and Whh block by block, Why, then bh
    for _ in range(4):
        rng.standard_normal((H, I))
    for _ in range(4):
        rng.standard_normal((H, H))
    rng.standard_normal((O, H))
    bf = np.log(rng.uniform(1.0, 49.0, size=H))
    by = 0.01 * rng.standard_normal(O)
    np.testing.assert_allclose(p["bh"], np.concatenate([-bf, bf, np.zeros(2 * H)]), rtol=1e-15)
    np.testing.assert_allclose(p["by"], by, rtol=1e-15)
