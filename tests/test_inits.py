"""The init registry against formulas written out here, never against its own `moments`.

Sampling tolerance: with N i.i.d. entries of variance s2 and fourth central moment m4, the
sample mean has standard error sqrt(s2 / N) and the (ddof=0) sample variance has standard error
sqrt((m4 - s2^2) / N). For a normal m4 = 3 s2^2, so SE(var) = s2 sqrt(2 / N); for a uniform
m4 = 9/5 s2^2, so SE(var) = s2 sqrt(0.8 / N). We allow 5 standard errors (a fixed seed makes the
outcome deterministic; a formula off by even 5% fails at N = 120,000).
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnninit.core.inits import (
    GAINS,
    PARAM_NAMES,
    PRESET_ROLES,
    PRESETS,
    SCHEMES,
    InitSpec,
    describe_preset,
    init_params,
    measure_schemes,
    parse_init,
    preset_for,
)
from rnninit.errors import RnnInitError

ROOT = Path(__file__).resolve().parents[1]
FO, FI, H = 400, 300, 64  # a (fan_out, fan_in) weight; torch_default's bound uses H, not the fans
N = FO * FI

# name -> (mean, var, kurtosis m4/var^2) at gain 1, written from DESIGN section 4.
CLOSED = {
    "uniform": lambda fo, fi, h: (0.5, 1 / 12, 9 / 5),
    "small": lambda fo, fi, h: (0.0, 0.01**2, 3.0),
    "xavier": lambda fo, fi, h: (0.0, 1 / fi, 3.0),
    "lecun": lambda fo, fi, h: (0.0, 1 / fi, 3.0),
    "glorot_normal": lambda fo, fi, h: (0.0, 2 / (fi + fo), 3.0),
    "glorot_uniform": lambda fo, fi, h: (0.0, (6 / (fi + fo)) / 3, 9 / 5),  # U(±b): b^2 / 3
    "glorot_uniform_whole": lambda fo, fi, h: (0.0, (6 / (fi + fo)) / 3, 9 / 5),  # one matrix
    "he": lambda fo, fi, h: (0.0, 2 / fi, 3.0),
    "he_uniform": lambda fo, fi, h: (0.0, (6 / fi) / 3, 9 / 5),
    "torch_default": lambda fo, fi, h: (0.0, (1 / h) / 3, 9 / 5),
}
IID = [name for name, s in SCHEMES.items() if s.kind == "iid"]


def test_every_iid_scheme_has_a_closed_form_here():
    assert sorted(IID) == sorted(CLOSED)


@pytest.mark.parametrize("gain", [1.0, 2.0])
@pytest.mark.parametrize("name", sorted(CLOSED))
def test_iid_draw_delivers_the_formula(name, gain):
    mean, var, kurt = CLOSED[name](FO, FI, H)
    mean, var = gain * mean, gain**2 * var  # the draw is gain x base draw
    W = SCHEMES[name].draw(np.random.default_rng(1), (FO, FI), gain, H)
    assert W.shape == (FO, FI) and W.dtype == np.float64
    se_mean, se_var = math.sqrt(var / N), var * math.sqrt((kurt - 1) / N)
    assert abs(W.mean() - mean) < 5 * se_mean, (W.mean(), mean)
    assert abs(W.var() - var) < 5 * se_var, (W.var(), var)
    assert SCHEMES[name].moments((FO, FI), gain, H) == pytest.approx((mean, var), rel=1e-12, abs=0)


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_iid_bias_counts_as_fan_in_equals_fan_out(name):
    n = 50
    mean, var, _ = CLOSED[name](n, n, H)
    assert SCHEMES[name].moments((n,), 1.5, H) == pytest.approx((1.5 * mean, 2.25 * var))
    b = SCHEMES[name].draw(np.random.default_rng(0), (n,), 1.5, H)
    assert b.shape == (n,) and np.all(np.isfinite(b))


def test_uniform_is_the_naive_draw():
    W = SCHEMES["uniform"].draw(np.random.default_rng(0), (FO, FI), 1.0, H)
    assert W.min() >= 0 and W.max() < 1
    assert abs(W.mean() - 0.5) < 0.003 and abs(W.var() - 1 / 12) < 0.0015


@pytest.mark.parametrize(
    "name, bound",
    [
        ("glorot_uniform", math.sqrt(6 / (FI + FO))),
        ("he_uniform", math.sqrt(6 / FI)),
        ("torch_default", 1 / math.sqrt(H)),
    ],
)
def test_uniform_schemes_fill_their_bound_and_no_more(name, bound):
    W = SCHEMES[name].draw(np.random.default_rng(0), (FO, FI), 2.0, H)
    assert np.abs(W).max() <= 2 * bound
    assert np.abs(W).max() > 0.999 * 2 * bound  # no truncation inside the bound either


def test_torch_default_uses_hidden_size_for_every_weight_and_both_biases():
    I, Hs, O = 300, 100, 7  # 1/sqrt(I) = 0.058 < 1/sqrt(H) = 0.1 < 1/sqrt(O)
    p = init_params(I, Hs, O, init="torch_default", seed=3)
    bound = 1 / math.sqrt(Hs)
    assert np.abs(p["Wxh"]).max() <= bound and np.abs(p["Wxh"]).max() > 0.99 * bound
    assert abs(p["Wxh"].var() - bound**2 / 3) < 5 * (bound**2 / 3) * math.sqrt(0.8 / p["Wxh"].size)
    for name in PARAM_NAMES:
        assert np.abs(p[name]).max() <= bound
    for name in ("bh", "by"):
        assert np.all(p[name] != 0)


@pytest.mark.parametrize("shape", [(6, 6), (5, 8), (8, 5), (1, 7)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_is_semi_orthogonal_times_gain(shape, gain):
    m, n = shape
    W = SCHEMES["orthogonal"].draw(np.random.default_rng(0), shape, gain, m)
    assert W.shape == shape
    if m >= n:
        np.testing.assert_allclose(W.T @ W, gain**2 * np.eye(n), atol=1e-12)  # orthonormal columns
    if m <= n:
        np.testing.assert_allclose(W @ W.T, gain**2 * np.eye(m), atol=1e-12)  # orthonormal rows
    # squared entries sum to gain^2 min(m, n): the mean square is gain^2 / max(m, n)
    assert np.mean(W**2) == pytest.approx(gain**2 / max(m, n), rel=1e-12)
    assert SCHEMES["orthogonal"].moments(shape, gain, m) == pytest.approx((0, gain**2 / max(m, n)))


def test_orthogonal_seeds_differ_and_signs_are_corrected():
    draw = SCHEMES["orthogonal"].draw
    a, b = (draw(np.random.default_rng(s), (6, 6), 1.0, 6) for s in (0, 1))
    assert not np.allclose(a, b)
    # Haar: every entry has mean 0 and variance 1/4 for 4x4. Uncorrected QR puts all of Q's
    # diagonal on one side (Q00 = -|a00|/||a||), a bias of about -0.4 here.
    rng = np.random.default_rng(0)
    corners = np.array([draw(rng, (4, 4), 1.0, 4)[0, 0] for _ in range(400)])
    assert abs(corners.mean()) < 5 * math.sqrt(0.25 / 400)


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3)])
def test_identity_is_exact(shape):
    m, n = shape
    W = SCHEMES["identity"].draw(np.random.default_rng(0), shape, 0.5, m)
    expected = np.zeros(shape)
    for i in range(min(m, n)):
        expected[i, i] = 0.5
    np.testing.assert_array_equal(W, expected)
    p = min(m, n) / (m * n)  # fraction of entries equal to the gain
    assert SCHEMES["identity"].moments(shape, 0.5, m) == pytest.approx(
        (0.5 * p, 0.25 * p * (1 - p))
    )
    assert SCHEMES["identity"].moments(shape, 0.5, m) == pytest.approx((W.mean(), W.var()))


def test_zeros():
    W = SCHEMES["zeros"].draw(np.random.default_rng(0), (4, 3), 2.0, 4)
    np.testing.assert_array_equal(W, np.zeros((4, 3)))
    assert SCHEMES["zeros"].moments((4, 3), 2.0, 4) == (0.0, 0.0)


@pytest.mark.parametrize("name", ["orthogonal", "identity"])
def test_matrix_only_schemes_refuse_biases(name):
    with pytest.raises(RnnInitError, match="needs a matrix"):
        SCHEMES[name].draw(np.random.default_rng(0), (5,), 1.0, 5)
    with pytest.raises(RnnInitError, match=f"init.bh: scheme '{name}' needs a matrix"):
        parse_init({"bh": name})


def test_zero_mean_flags_where_the_theory_applies():
    assert not SCHEMES["uniform"].zero_mean and not SCHEMES["identity"].zero_mean
    assert all(SCHEMES[n].zero_mean for n in SCHEMES if n not in ("uniform", "identity"))


def test_xavier_and_lecun_are_one_draw_glorot_normal_another():
    draws = {
        n: SCHEMES[n].draw(np.random.default_rng(0), (FO, FI), 1.0, H)
        for n in ("xavier", "lecun", "glorot_normal")
    }
    np.testing.assert_array_equal(draws["xavier"], draws["lecun"])
    assert not np.allclose(draws["xavier"], draws["glorot_normal"])


# --- presets and init_params --------------------------------------------------------------------


def test_presets_name_the_documented_schemes():
    assert PRESETS["keras_default"] == {
        "Wxh": "glorot_uniform", "Whh": "orthogonal", "Why": "glorot_uniform",
        "bh": "zeros", "by": "zeros",
    }  # fmt: skip
    flax = {"Wxh": "lecun", "Whh": "orthogonal", "Why": "lecun", "bh": "zeros", "by": "zeros"}
    assert PRESETS["flax_default"] == flax
    assert PRESETS["torch_default"] == dict.fromkeys(PARAM_NAMES, "torch_default")
    assert PRESETS["irnn"] == {"Wxh": "small:0.1", "Whh": "identity", "Why": "small:0.1",
                               "bh": "zeros", "by": "zeros"}  # fmt: skip
    for name in PRESETS:
        spec = parse_init(name)
        want = {
            p: (s.partition(":")[0], float(s.partition(":")[2] or 1))
            for p, s in PRESETS[name].items()
        }
        assert spec.per_param == want
    assert describe_preset("flax_default").startswith("Wxh lecun, Whh orthogonal")


def test_keras_preset_draws_an_orthogonal_whh_and_zero_biases():
    p = init_params(10, 16, 4, init="keras_default", seed=0)
    np.testing.assert_allclose(p["Whh"].T @ p["Whh"], np.eye(16), atol=1e-12)
    assert np.abs(p["Wxh"]).max() <= math.sqrt(6 / 26)
    assert not p["bh"].any() and not p["by"].any()


@pytest.mark.parametrize("name", ["xavier", "he", "uniform", "orthogonal", "identity"])
def test_a_single_scheme_name_gives_zero_biases(name):
    spec = parse_init(name)
    assert spec.per_param == {
        "Wxh": (name, 1.0), "Whh": (name, 1.0), "Why": (name, 1.0),
        "bh": ("zeros", 1.0), "by": ("zeros", 1.0),
    }  # fmt: skip
    p = init_params(5, 8, 3, init=name, seed=0)
    assert not p["bh"].any() and not p["by"].any() and p["Whh"].any()


def test_draw_order_is_wxh_whh_why_bh_by_from_one_generator():
    I, Hs, O = 6, 9, 4
    p = init_params(I, Hs, O, init={"default": "xavier", "bh": "small", "by": "small"}, seed=11)
    rng = np.random.default_rng(11)  # an independent replay of N(0, 1/fan_in) then N(0, 0.01^2)
    expected = {
        "Wxh": rng.standard_normal((Hs, I)) / math.sqrt(I),
        "Whh": rng.standard_normal((Hs, Hs)) / math.sqrt(Hs),
        "Why": rng.standard_normal((O, Hs)) / math.sqrt(Hs),
        "bh": 0.01 * rng.standard_normal(Hs),
        "by": 0.01 * rng.standard_normal(O),
    }
    for name in PARAM_NAMES:
        np.testing.assert_allclose(p[name], expected[name], rtol=1e-14)


def test_same_seed_is_bit_identical_other_seed_differs():
    a = init_params(7, 12, 5, init="keras_default", seed=4)
    b = init_params(7, 12, 5, init="keras_default", seed=4)
    c = init_params(7, 12, 5, init="keras_default", seed=5)
    d = init_params(7, 12, 5, init="keras_default", rng=np.random.default_rng(4), seed=99)
    for name in PARAM_NAMES:
        assert a[name].tobytes() == b[name].tobytes() == d[name].tobytes()
    for name in ("Wxh", "Whh", "Why"):
        assert not np.array_equal(a[name], c[name])


@pytest.mark.parametrize("init", ["xavier", "Whh=he:relu", "Whh=orthogonal", "uniform"])
@pytest.mark.parametrize("R", [0.5, 1.3])
def test_spectral_radius_rescale_hits_r(init, R):
    spec = parse_init(init)
    spec = InitSpec(per_param=spec.per_param, spectral_radius=R)
    Whh = init_params(4, 32, 3, init=spec, seed=2)["Whh"]
    assert np.max(np.abs(np.linalg.eigvals(Whh))) == pytest.approx(R, abs=1e-10)


def test_spectral_radius_from_a_spec_and_of_zero_whh():
    Whh = init_params(4, 20, 3, init="Whh=he,spectral_radius=0.9", seed=0)["Whh"]
    assert np.max(np.abs(np.linalg.eigvals(Whh))) == pytest.approx(0.9, abs=1e-10)
    with pytest.raises(RnnInitError, match="spectral radius 0"):
        init_params(4, 20, 3, init=InitSpec({**parse_init("xavier").per_param,
                                             "Whh": ("zeros", 1.0)}, 1.0))  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_and_dtype(dtype):
    p = init_params(7, 11, 5, init="he", seed=0, dtype=dtype)
    assert list(p) == list(PARAM_NAMES)
    shapes = {"Wxh": (11, 7), "Whh": (11, 11), "Why": (5, 11), "bh": (11,), "by": (5,)}
    for name, shape in shapes.items():
        assert p[name].shape == shape and p[name].dtype == dtype


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_init_params_refuses_bad_sizes(bad):
    with pytest.raises(RnnInitError, match="H: expected a positive integer"):
        init_params(3, bad, 2)


# --- parse_init ---------------------------------------------------------------------------------


def test_gains_by_name_and_number():
    assert GAINS == {"linear": 1.0, "tanh": 5 / 3, "relu": math.sqrt(2)}
    spec = parse_init({"Whh": {"scheme": "orthogonal", "gain": "tanh"},
                       "Wxh": {"scheme": "he", "gain": 2}, "Why": {"scheme": "xavier"}})  # fmt: skip
    assert spec.per_param["Whh"] == ("orthogonal", 5 / 3)
    assert spec.per_param["Wxh"] == ("he", 2.0) and isinstance(spec.per_param["Wxh"][1], float)
    assert spec.per_param["Why"] == ("xavier", 1.0)


def test_compact_string_is_the_mapping():
    text = "Whh=orthogonal:relu, Wxh=he:0.5,by=small,spectral_radius=1.1"
    mapping = {"Whh": {"scheme": "orthogonal", "gain": "relu"},
               "Wxh": {"scheme": "he", "gain": 0.5}, "by": "small", "spectral_radius": 1.1}  # fmt: skip
    spec = parse_init(text)
    assert spec == parse_init(mapping)
    assert spec.per_param == {
        "Wxh": ("he", 0.5), "Whh": ("orthogonal", math.sqrt(2)), "Why": ("xavier", 1.0),
        "bh": ("zeros", 1.0), "by": ("small", 1.0),
    }  # fmt: skip
    assert spec.spectral_radius == 1.1


def test_mapping_default_is_a_scheme_or_a_preset():
    spec = parse_init({"default": "he", "Whh": "identity"})
    assert spec.per_param == {
        "Wxh": ("he", 1.0), "Whh": ("identity", 1.0), "Why": ("he", 1.0),
        "bh": ("zeros", 1.0), "by": ("zeros", 1.0),
    }  # fmt: skip
    assert parse_init({"default": "torch_default", "Whh": "orthogonal"}).per_param["bh"] == (
        "torch_default", 1.0
    )  # fmt: skip
    assert parse_init({"default": "flax_default"}).per_param["Wxh"] == ("lecun", 1.0)
    assert parse_init({}).per_param == parse_init("xavier").per_param
    assert parse_init({"Whh": "he"}).per_param["Wxh"] == ("xavier", 1.0)


BAD = [
    ("xavir", "init: unknown scheme or preset 'xavir' (did you mean 'xavier'?); allowed: uniform"),
    ({"Whh": "xavir"}, "init.Whh: unknown scheme 'xavir' (did you mean 'xavier'?); allowed: uniform, small"),
    ("Whh=xavir", "init.Whh: unknown scheme 'xavir' (did you mean 'xavier'?)"),
    ({"default": "kears_default"}, "init.default: unknown scheme or preset 'kears_default' (did you mean 'keras_default'?)"),
    ({"Wzz": "he"}, "init.Wzz: unknown matrix 'Wzz'; allowed: Wxh, Whh, Why, bh, by, default, spectral_radius"),
    ("Wzz=he", "init.Wzz: unknown matrix 'Wzz'"),
    ({"Whh": {"scheme": "he", "gain": "sigmoid"}}, "init.Whh.gain: expected a positive number or one of linear, tanh, relu, got 'sigmoid'"),
    ({"Whh": {"scheme": "he", "gain": "tahn"}}, "got 'tahn' (did you mean 'tanh'?)"),
    ({"Whh": {"scheme": "he", "gain": -1}}, "init.Whh.gain: expected a positive number or one of linear, tanh, relu, got -1"),
    ({"Whh": {"scheme": "he", "gain": 0}}, "init.Whh.gain: expected a positive number"),
    ({"Whh": {"scheme": "he", "gain": float("inf")}}, "init.Whh.gain: expected a positive number"),
    ("Whh=he:-2", "init.Whh.gain: expected a positive number"),
    ({"Whh": {"scheme": "he", "gain": True}}, "init.Whh.gain: expected a positive number or one of linear, tanh, relu, got True"),
    ({"spectral_radius": float("nan")}, "init.spectral_radius: expected a positive number, got nan"),
    ({"spectral_radius": -1.0}, "init.spectral_radius: expected a positive number, got -1.0"),
    ({"spectral_radius": True}, "init.spectral_radius: expected a positive number, got True"),
    ("spectral_radius=big", "init.spectral_radius: expected a positive number, got 'big'"),
    ({"Whh": "zeros", "spectral_radius": 1.0}, "init.spectral_radius: Whh is drawn with 'zeros'"),
    (True, "init: expected a scheme or preset name, PARAM=SCHEME pairs or a mapping per matrix, got True"),
    (["xavier"], "init: expected a scheme or preset name, PARAM=SCHEME pairs or a mapping per matrix, got ['xavier']"),
    (None, "init: expected a scheme or preset name"),
    ({"Whh": ["he"]}, "init.Whh: expected a scheme name or {scheme: NAME, gain: G}, got ['he']"),
    ({"Whh": {"scheme": "he", "gian": 2}}, "init.Whh.gian: unknown key 'gian' (did you mean 'gain'?); allowed: scheme, gain"),
    ({"Whh": {"gain": 2}}, "init.Whh: missing key 'scheme'"),
    ({"Whh": {"scheme": 3}}, "init.Whh.scheme: expected a scheme name, got 3"),
    ({"default": 3}, "init.default: expected a scheme or preset name, got 3"),
    ({"by": "identity"}, "init.by: scheme 'identity' needs a matrix and by is a 1-D bias"),
    ("Whh=he,,Wxh=he", "init: expected PARAM=SCHEME[:GAIN] pairs separated by commas, got ''"),
    ("Whh=he,Whh=xavier", "init.Whh: named twice"),
]  # fmt: skip


@pytest.mark.parametrize("spec, fragment", BAD)
def test_bad_specs_raise_one_line_naming_the_key(spec, fragment):
    with pytest.raises(RnnInitError) as err:
        parse_init(spec)
    message = str(err.value)
    assert fragment in message and "\n" not in message


def test_where_prefixes_the_message():
    with pytest.raises(RnnInitError, match=r"^compare init #2: unknown scheme or preset 'hee'"):
        parse_init("hee", where="compare init #2")
    with pytest.raises(RnnInitError, match=r"^model\.init\.Whh\.gain: "):
        parse_init({"Whh": {"scheme": "he", "gain": "x"}}, where="model.init")


def test_init_spec_passes_through():
    spec = parse_init("Whh=orthogonal")
    assert parse_init(spec) is spec


def test_the_cell_names_the_parameters():
    """cell="rnn" is the default; the names, shapes and draw order are the cell's."""
    assert parse_init("he", cell="rnn") == parse_init("he")
    a = init_params(4, 6, 3, init="keras_default", seed=2, cell="rnn")
    b = init_params(4, 6, 3, init="keras_default", seed=2)
    assert list(a) == list(PARAM_NAMES) == ["Wxh", "Whh", "Why", "bh", "by"]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert {k: v.shape for k, v in a.items()} == {
        "Wxh": (6, 4), "Whh": (6, 6), "Why": (3, 6), "bh": (6,), "by": (3,),
    }  # fmt: skip
    with pytest.raises(
        RnnInitError,
        match=r"^cell: unknown cell 'lstn' \(did you mean 'lstm'\?\); allowed: rnn, lstm, gru$",
    ):
        parse_init("xavier", cell="lstn")
    with pytest.raises(RnnInitError, match=r"^cell: unknown cell 'rnm' \(did you mean 'rnn'\?\)"):
        init_params(4, 6, 3, cell="rnm")


def test_presets_are_given_per_role():
    """A preset names a scheme per role; for the vanilla cell that is one per parameter."""
    assert PRESET_ROLES["keras_default"] == {
        "input": "glorot_uniform", "recurrent": "orthogonal", "output": "glorot_uniform",
        "bias": "zeros",
    }  # fmt: skip
    assert preset_for("flax_default", "rnn") == PRESETS["flax_default"]


def test_init_params_refuses_a_spec_without_every_parameter():
    spec = InitSpec(per_param={"Wxh": ("xavier", 1.0), "Whh": ("xavier", 1.0)})
    with pytest.raises(RnnInitError, match="no scheme for Why, bh, by of cell 'rnn'"):
        init_params(3, 4, 2, init=spec)


# --- measure_schemes ----------------------------------------------------------------------------


def test_measure_schemes_square():
    rows = measure_schemes((128, 128), seed=0, gain=2.0)
    assert [r["name"] for r in rows] == list(SCHEMES)
    keys = {"name", "formula", "note", "expected_mean", "expected_var", "mean", "var",
            "spectral_radius", "max_singular"}  # fmt: skip
    by = {r["name"]: r for r in rows}
    for name, r in by.items():
        assert keys <= set(r) and r["formula"] and r["note"]
        assert r["spectral_radius"] is not None and r["max_singular"] is not None
        if name in CLOSED:
            mean, var, kurt = CLOSED[name](128, 128, 128)
            assert (r["expected_mean"], r["expected_var"]) == pytest.approx((2 * mean, 4 * var))
            se_var = 4 * var * math.sqrt((kurt - 1) / 128**2)
            assert abs(r["var"] - 4 * var) < 5 * se_var
    assert by["orthogonal"]["spectral_radius"] == pytest.approx(2.0, abs=1e-10)
    assert by["orthogonal"]["max_singular"] == pytest.approx(2.0, abs=1e-10)
    assert by["identity"]["spectral_radius"] == pytest.approx(2.0)
    assert by["zeros"]["var"] == 0.0 and by["zeros"]["expected_var"] == 0.0
    assert by["uniform"]["spectral_radius"] > 100  # the Perron eigenvalue ~ 0.5 * 2 * 128


def test_measure_schemes_is_deterministic_and_rectangular_has_no_spectrum():
    a = measure_schemes((30, 50), seed=3)
    assert a == measure_schemes((30, 50), seed=3)
    assert a != measure_schemes((30, 50), seed=4)
    assert all(r["spectral_radius"] is None and r["max_singular"] is None for r in a)
    with pytest.raises(RnnInitError, match="shape"):
        measure_schemes((0, 5))


def test_core_imports_no_cli_or_yaml():
    code = "import rnninit.core.inits, sys; assert not {'rich', 'typer', 'yaml'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PATH": ""})  # fmt: skip


def test_irnn_preset_is_le_et_al_2015():
    """Identity Whh, N(0, 0.001^2) Wxh and Why (std measured on 512 x 512 draws), zero biases."""
    from rnninit.core.inits import describe_preset, init_params

    p = init_params(512, 512, 512, init="irnn", seed=0)
    assert np.array_equal(p["Whh"], np.eye(512))
    for name in ("Wxh", "Why"):
        w = p[name]  # 262,144 draws: the sample std is within 1% of 0.001 with room to spare
        assert abs(w.std() / 0.001 - 1) < 0.01 and abs(w.mean()) < 1e-5
    assert not p["bh"].any() and not p["by"].any()
    assert (
        describe_preset("irnn") == "Wxh small:0.1, Whh identity, Why small:0.1, bh zeros, by zeros"
    )
