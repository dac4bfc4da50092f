"""Optimizers against their update rules written out in the test."""

import math

import numpy as np
import pytest

from rnninit.core import optim

HP = {"lr": 0.1, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "rho": 0.99, "eps": 1e-8}


def run(name, grads_seq, **hp):
    params = {"w": np.array([1.0, -2.0])}
    state = optim.init_state(name, params)
    for g in grads_seq:
        optim.step(name, params, {"w": np.array(g)}, state, {**HP, **hp})
    return params["w"]


GRADS = [[0.5, -1.0], [0.2, 0.3], [-0.4, 0.1]]


def test_sgd():
    w = np.array([1.0, -2.0]) - 0.1 * np.sum(GRADS, axis=0)
    np.testing.assert_allclose(run("sgd", GRADS), w)


def test_momentum():
    w, v = np.array([1.0, -2.0]), np.zeros(2)
    for g in GRADS:
        v = 0.9 * v + np.array(g)
        w = w - 0.1 * v
    np.testing.assert_allclose(run("momentum", GRADS), w)


def test_adagrad():
    w, G = np.array([1.0, -2.0]), np.zeros(2)
    for g in GRADS:
        G = G + np.square(g)
        w = w - 0.1 * np.array(g) / (np.sqrt(G) + 1e-8)
    np.testing.assert_allclose(run("adagrad", GRADS), w)


def test_adam_textbook_form():
    w, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(GRADS, start=1):
        g = np.array(g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mhat, vhat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        w = w - 0.1 * mhat / (np.sqrt(vhat) + 1e-8)
    # the engine folds the bias correction into the rate, which moves eps slightly
    np.testing.assert_allclose(run("adam", GRADS), w, rtol=1e-6)


@pytest.mark.parametrize("rho", [0.99, 0.9, 0.0])
def test_rmsprop_as_torch_writes_it(rho):
    w, v = np.array([1.0, -2.0]), np.zeros(2)
    for g in GRADS:
        g = np.array(g)
        v = rho * v + (1 - rho) * np.square(g)
        w = w - 0.1 * g / (np.sqrt(v) + 1e-8)  # eps outside the root (PyTorch, not Keras 3)
    np.testing.assert_allclose(run("rmsprop", GRADS, rho=rho), w, rtol=1e-14)


def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_rho():
    # v starts at 0 and is not bias-corrected: step 1 is lr * sign(g) / sqrt(1 - rho), up to
    # a relative eps / (sqrt(1 - rho) |g|) = 2e-7 here
    w = run("rmsprop", GRADS[:1], rho=0.99)  # g = [0.5, -1.0], lr / sqrt(0.01) = 1.0
    np.testing.assert_allclose(w, [1.0 - 1.0, -2.0 + 1.0], rtol=0, atol=3e-7)


def test_rmsprop_state_is_one_array_per_parameter_shaped_and_typed_like_it():
    params = {"Whh": np.ones((3, 3), np.float32), "bh": np.ones(3, np.float32)}
    state = optim.init_state("rmsprop", params)
    assert set(state) == {"t", "v"} and set(state["v"]) == {"Whh", "bh"}
    grads = {"Whh": np.full((3, 3), 0.5, np.float32), "bh": np.full(3, -2.0, np.float32)}
    optim.step("rmsprop", params, grads, state, {**HP, "rho": 0.9})
    for k, p in params.items():
        assert state["v"][k].shape == p.shape and state["v"][k].dtype == p.dtype == np.float32
        np.testing.assert_allclose(state["v"][k], 0.1 * grads[k] ** 2, rtol=1e-6)


def test_train_rho_reaches_the_step():
    from rnninit.experiment.config import load_config
    from rnninit.experiment.training import _hyper

    assert load_config().train.rho == 0.99  # PyTorch's default alpha
    cfg = load_config(None, ["train.optimizer=rmsprop", "train.rho=0.5"])
    assert _hyper(cfg.train)["rho"] == 0.5


def test_clip_by_global_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    norm = optim.global_norm(grads)
    assert norm == pytest.approx(5.0)
    optim.clip_by_global_norm(grads, 1.0, norm)
    assert optim.global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    kept = {"a": np.array([0.3, 0.4])}
    optim.clip_by_global_norm(kept, 1.0, 0.5)
    np.testing.assert_allclose(kept["a"], [0.3, 0.4])
    optim.clip_by_global_norm(kept, 0.0, 0.5)  # 0 disables
    assert math.isclose(kept["a"][1], 0.4)
