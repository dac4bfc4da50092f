"""The mean-field prediction against the engine's own step-0 statistics at large width."""

import numpy as np
import pytest

from rnninit import bptt
from rnninit.core.inits import SCHEMES, init_params, parse_init
from rnninit.core.theory import theory_for_run

T, B, I, H, O = 6, 256, 64, 1024, 4


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
    from rnninit.experiment.config import load_config
    from rnninit.experiment.training import prepare, theory_at_init

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
