"""Optimizers against their update rules written out in the test."""

import math

import numpy as np
import pytest

from rnninit.core import optim

HP = {"lr": 0.1, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def run(name, grads_seq):
    params = {"w": np.array([1.0, -2.0])}
    state = optim.init_state(name, params)
    for g in grads_seq:
        optim.step(name, params, {"w": np.array(g)}, state, HP)
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
