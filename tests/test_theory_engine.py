"""The mean-field prediction against the engine's own step-0 statistics at large width."""

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from rnninit import bptt
from rnninit.core.engine import forward
from rnninit.core.inits import SCHEMES, init_params, parse_init
from rnninit.core.theory import mean_field_per_sequence, realised_drive, theory_for_run
from rnninit.experiment.config import load_config
from rnninit.experiment.training import prepare, theory_at_init

T, B, I, H, O = 6, 256, 64, 1024, 4


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One BLAS thread: on a shared machine two threads made the QR of an orthogonal draw at
    H = 1024 ten times slower, and the results do not depend on it."""
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize(
    "nonlin,init",
    [("tanh", "xavier"), ("tanh", "orthogonal"), ("tanh", {"default": "xavier", "Whh": {"scheme": "xavier", "gain": 1.5}}),
     ("relu", "he"), ("linear", {"default": "xavier", "Whh": {"scheme": "xavier", "gain": 0.9}})],
)  # fmt: skip
def test_theory_matches_engine_at_step_0(nonlin, init):
    rng = np.random.default_rng(2024)
    params = init_params(I, H, O, init=init, rng=rng)
    x = rng.standard_normal((T, B, I))
    y = rng.standard_normal((T, B, O))
    res = bptt(params, x, y, nonlinearity=nonlin, loss="mse")
    spec = parse_init(init)
    var = {}
    for name, shape in {"Wxh": (H, I), "Whh": (H, H), "bh": (H,)}.items():
        scheme, gain = spec.per_param[name]
        var[name] = SCHEMES[scheme].moments(shape, gain, H)[1]
    x_sq = np.einsum("tbi,tbi->t", x, x) / (B * I)
    theory = theory_for_run(nonlin, var["Wxh"], var["Whh"], var["bh"], I, H, x_sq)
    # relu at He is critical (slope 1) and its shared mean direction makes one finite-width draw
    # drift like a random walk (~8% by t = 6 at H = 1024): compare its first steps only
    n = 3 if nonlin == "relu" else T
    np.testing.assert_allclose(res.timesteps["preact_var"][:n], theory["preact_var"][:n], rtol=0.05)
    np.testing.assert_allclose(res.timesteps["act_var"][:n], theory["act_var"][:n], rtol=0.05)


def test_theory_does_not_apply_to_uniform():
    cfg = load_config(
        None, ["task.name=adding", "task.seq_len=4", "init=uniform", "model.hidden_size=8"]
    )
    setup = prepare(cfg)
    batch = setup.task.sample(np.random.default_rng(0), 4)
    assert theory_at_init(setup, batch.x) is None
    cfg = load_config(
        None, ["task.name=adding", "task.seq_len=4", "init=xavier", "model.hidden_size=8"]
    )
    setup = prepare(cfg)
    assert theory_at_init(setup, batch.x) is not None


def test_theory_jac_sq_is_the_product_of_chi_after_t():
    from rnninit.experiment.training import _with_jac_sq

    theory = {"preact_var": np.ones(4), "chi": np.array([2.0, 3.0, 5.0, 7.0])}
    np.testing.assert_allclose(_with_jac_sq(theory)["jac_sq"], [105.0, 35.0, 7.0, 1.0], rtol=1e-15)
    assert _with_jac_sq(None) is None  # no theory (uniform, ...): the columns stay empty


def test_theory_at_init_reads_the_drawn_rescaled_whh():
    """With spectral_radius, s_w2 is the drawn matrix's ||Whh||_F^2 / H (linear: chi = s_w2),
    not rho^2, which the circular law gives only on average."""
    cfg = load_config(None, ["task.name=adding", "task.seq_len=4", "model.hidden_size=64",
                             "model.nonlinearity=linear", "init.spectral_radius=0.9"])  # fmt: skip
    setup = prepare(cfg)
    batch = setup.task.sample(np.random.default_rng(0), 8)
    Whh = setup.params["Whh"]
    s_w2 = float(np.sum(Whh * Whh)) / 64
    chi = theory_at_init(setup, batch.x)["chi"]
    np.testing.assert_allclose(chi, np.full(4, s_w2), rtol=1e-14)
    assert abs(s_w2 - 0.81) > 0.01


# ------------------------------------------------------------------------------ per sequence
#
# theory_at_init (the columns a run writes at step 0) against the engine's own step-0 forward
# pass on the tasks' batches, at H = 1024. The measurement is computed here from the definition
# (population variance over the batch and the units at each t), not by the stats module.
#
# One draw scatters about the theory by O(1/sqrt(H)), and the batch does not average this when
# its sequences share input directions: one-hot inputs repeat the same columns of Wxh, adding's
# values all push along one column, relu's positive mean is one direction for every sequence.
# Measured at H = 1024 (std over draws of the error at t = T): tanh 1-3% on char and adding,
# 2-6% on copy; relu 9% on char, 15% on adding, 20% on copy; B = 32 or 256 alike. The mean-field
# prediction is of the average over draws, so each case compares the mean over K draws (seeds
# 0..K-1, each with its own batch) of the measurement with the mean of the theory. Largest error
# over t when written: tanh 1.8% (char, adding), 4.9% (copy); relu 2.3% (char), 3.6% (adding),
# 1.4% (copy).

TASK_ARGS = {
    "char": ["task.name=char", "task.seq_len=25"],
    "adding": ["task.name=adding", "task.seq_len=20"],
    "copy": ["task.name=copy", "task.seq_len=25"],  # a delay of 25: T = 45
}
TANH_WHH = [(scheme, gain) for scheme in ("xavier", "orthogonal") for gain in (0.5, 1.0, 1.5)]


def measured_and_theory(task, nonlinearity, scheme, gain, draws, B, H=1024):
    """(mean over draws of measured [preact_var, act_var], mean of the theory), each (2, T);
    and the first draw's setup and batch."""
    measured, theory, first = [], [], None
    for seed in range(draws):
        cfg = load_config(None, [*TASK_ARGS[task], f"model.hidden_size={H}",
                                 f"train.batch_size={B}", f"model.nonlinearity={nonlinearity}",
                                 f"init.Whh.scheme={scheme}", f"init.Whh.gain={gain}",
                                 f"seed={seed}"])  # fmt: skip
        setup = prepare(cfg, memory_check=False)
        x = setup.task.sample(setup.rng_data, B).x  # the batch of step 0
        cache = forward(setup.params, x, nonlinearity=nonlinearity)
        measured.append([cache.A.var(axis=(1, 2)), cache.hs[1:].var(axis=(1, 2))])
        th = theory_at_init(setup, x)
        theory.append([th["preact_var"], th["act_var"]])
        first = first or (setup, x)
    return np.mean(measured, axis=0), np.mean(theory, axis=0), first


@pytest.mark.parametrize("task", ["char", "adding"])
@pytest.mark.parametrize(("scheme", "gain"), TANH_WHH)
def test_theory_at_init_tracks_tanh_within_3_percent(task, scheme, gain):
    measured, theory, _ = measured_and_theory(task, "tanh", scheme, gain, draws=3, B=256)
    np.testing.assert_allclose(theory, measured, rtol=0.03)


@pytest.mark.parametrize("task", ["char", "adding"])
def test_theory_at_init_tracks_relu_he(task):
    """He at gain 0.8 (chi = 0.64): one draw scatters by 9% (char) to 15% (adding) about the
    theory, so 32 draws of B = 16 (the scatter is per draw, not per sequence). Their mean came
    within 2.3% and 3.6%: 3% is not reached on adding at this width, hence 5%."""
    measured, theory, _ = measured_and_theory(task, "relu", "he", 0.8, draws=32, B=16)
    np.testing.assert_allclose(theory, measured, rtol=0.05)


@pytest.mark.parametrize(
    ("nonlinearity", "scheme", "gain", "draws", "B"),
    [*[("tanh", s, g, 4, 64) for s, g in TANH_WHH], ("relu", "he", 0.8, 32, 16)],
)
def test_theory_at_init_on_copy_within_10_percent(nonlinearity, scheme, gain, draws, B):
    """copy repeats one blank input for every sequence over 24 steps: the batch is one
    trajectory, and one draw was off by up to 20% (tanh) and 37% (relu)."""
    measured, theory, _ = measured_and_theory("copy", nonlinearity, scheme, gain, draws, B)
    np.testing.assert_allclose(theory, measured, rtol=0.10)


def test_averaging_inputs_over_the_batch_first_would_miss_on_adding():
    """The per-sequence recursion matters: with the drive averaged over the batch first, the
    prediction for tanh xavier on adding is off by more than 10% at t = 1 (Jensen's gap), while
    the per-sequence one is within 1%."""
    measured, theory, (setup, x) = measured_and_theory("adding", "tanh", "xavier", 1.0, 1, 256)
    p = setup.params
    drive = realised_drive(p["Wxh"], p["bh"], x)  # (T, B)
    s_w2 = float(np.sum(p["Whh"] ** 2)) / p["Whh"].shape[0]
    batch_first = mean_field_per_sequence("tanh", s_w2, drive.mean(axis=1, keepdims=True))
    assert batch_first["act_var"][0] / measured[1][0] - 1 > 0.10
    assert math.isclose(theory[1][0], measured[1][0], rel_tol=0.01)
