"""Optimizers and global-norm clipping (numeric core).

Each optimizer is a pure function of (params, grads, state, hyper-parameters) that updates the
parameters in place and returns its state, so that a checkpoint can store the state as arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Optimizer:
    name: str
    formula: str
    step: Callable[[dict, dict, dict, dict], None]  # (params, grads, state, hyper) -> None
    state_keys: tuple[str, ...]  # per-parameter state arrays, each shaped like the parameter


def _sgd(params, grads, state, hp):
    for k, g in grads.items():
        params[k] -= hp["lr"] * g


def _momentum(params, grads, state, hp):
    for k, g in grads.items():
        v = state["v"][k]
        v *= hp["momentum"]
        v += g
        params[k] -= hp["lr"] * v


def _adagrad(params, grads, state, hp):
    for k, g in grads.items():
        G = state["G"][k]
        G += g * g
        params[k] -= hp["lr"] * g / (np.sqrt(G) + hp["eps"])


def _adam(params, grads, state, hp):
    state["t"] = t = state.get("t", 0) + 1
    b1, b2 = hp["beta1"], hp["beta2"]
    lr_t = hp["lr"] * np.sqrt(1 - b2**t) / (1 - b1**t)  # bias corrections folded into the rate
    for k, g in grads.items():
        m, v = state["m"][k], state["v"][k]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        params[k] -= lr_t * m / (np.sqrt(v) + hp["eps"])


def _rmsprop(params, grads, state, hp):
    """RMSprop (Hinton's lecture 6e), as torch.optim.RMSprop with centered=False, momentum=0:

        v = rho * v + (1 - rho) * g^2        # v starts at 0; no bias correction
        w -= lr * g / (sqrt(v) + eps)        # eps outside the square root

    rho is PyTorch's ``alpha`` (default 0.99) and Keras' ``rho`` (default 0.9). PyTorch puts eps
    outside the root, as here, and so did standalone Keras up to 2.3; tf.keras (optimizer_v2 and
    later) and Keras 3 divide by sqrt(v + eps) instead, eps default 1e-7. The forms part where
    gradients are small: the denominator's floor is eps here but sqrt(eps) there (3.2e-4 at
    1e-7), so a Keras run is matched only where sqrt(v) is far above both.
    """
    rho = hp["rho"]
    for k, g in grads.items():
        v = state["v"][k]
        v *= rho
        v += (1 - rho) * g * g  # torch fuses this add (FMA): v may differ from it by 1 ulp
        params[k] -= hp["lr"] * g / (np.sqrt(v) + hp["eps"])


OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer("sgd", "w -= lr * g", _sgd, ()),
    "momentum": Optimizer("momentum", "v = mu * v + g; w -= lr * v", _momentum, ("v",)),
    "adagrad": Optimizer("adagrad", "G += g^2; w -= lr * g / (sqrt(G) + eps)", _adagrad, ("G",)),
    "adam": Optimizer("adam", "Kingma & Ba 2015, bias-corrected", _adam, ("m", "v")),
    "rmsprop": Optimizer(
        "rmsprop", "v = rho * v + (1 - rho) * g^2; w -= lr * g / (sqrt(v) + eps)", _rmsprop, ("v",)
    ),
}


def init_state(name: str, params: dict) -> dict:
    """Fresh optimizer state: zero arrays shaped like the parameters, and a step counter."""
    state: dict = {"t": 0}
    for key in OPTIMIZERS[name].state_keys:
        state[key] = {k: np.zeros_like(p) for k, p in params.items()}
    return state


def global_norm(grads: dict) -> float:
    """sqrt of the sum of squares of every gradient entry."""
    return float(np.sqrt(sum(np.vdot(g, g).real for g in grads.values())))


def clip_by_global_norm(grads: dict, max_norm: float, norm: float) -> None:
    """Scale every gradient by max_norm / norm when norm exceeds max_norm (0 disables)."""
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / norm
        for g in grads.values():
            g *= scale


def step(name: str, params: dict, grads: dict, state: dict, hyper: dict) -> None:
    """Apply one update of optimizer `name` in place."""
    OPTIMIZERS[name].step(params, grads, state, hyper)
