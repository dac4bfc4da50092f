"""The vanilla RNN and its exact backprop-through-time (DESIGN section 2).

Time-major arrays: ``T`` timesteps, batch ``B``, input ``I``, hidden ``H``, output ``O``::

    a_t = x_t @ Wxh.T + h_{t-1} @ Whh.T + bh        (B, H)   pre-activation
    h_t = phi(a_t)                                  (B, H)
    o_t = h_t @ Why.T + by                          (B, O)
    L   = sum_{t,b} m[t,b] * loss(o_t[b], y_t[b]) / sum(m)

The hot path does one matmul for the input projection of all timesteps, one for all outputs,
one for the output gradient, and one each for dWxh, dWhh, dWhy over the stacked T*B rows; only
the recurrence ``h_{t-1} @ Whh.T`` and its transpose stay in the Python loop.
Statistics (DESIGN section 3) are computed after the loops, vectorised over T.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .stats import timestep_stats

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


# ---------------------------------------------------------------------------------------------
# Nonlinearities: phi writes into `out`; dphi gives phi'(a) from the stored a and h = phi(a).
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Nonlinearity:
    name: str
    formula: str
    phi: Callable[[np.ndarray, np.ndarray], None]
    dphi: Callable[[np.ndarray, np.ndarray], np.ndarray | float]


def _tanh(a, out):
    np.tanh(a, out=out)


def _relu(a, out):
    np.maximum(a, 0, out=out)


def _linear(a, out):
    out[...] = a


NONLINEARITIES: dict[str, Nonlinearity] = {
    "tanh": Nonlinearity("tanh", "h = tanh(a), phi' = 1 - h^2", _tanh, lambda a, h: 1.0 - h * h),
    "relu": Nonlinearity("relu", "h = max(a, 0), phi' = [a > 0]", _relu, lambda a, h: a > 0),
    "linear": Nonlinearity("linear", "h = a, phi' = 1", _linear, lambda a, h: 1.0),
}


# ---------------------------------------------------------------------------------------------
# Losses: per-position loss (T, B) and dloss/do (T, B, O), both before the mask weighting.
# ---------------------------------------------------------------------------------------------
def _xent(out, y):
    """Softmax cross-entropy with integer targets; returns (loss (T,B), dloss/dout (T,B,O))."""
    z = out - out.max(axis=-1, keepdims=True)  # (T, B, O), shifted for stability
    p = np.exp(z)
    s = p.sum(axis=-1, keepdims=True)
    p /= s  # softmax
    rows = np.arange(y.size)
    z_y = z.reshape(y.size, -1)[rows, y.reshape(-1)].reshape(y.shape)
    loss = np.log(s[..., 0]) - z_y  # -log softmax(o)[y]
    p.reshape(y.size, -1)[rows, y.reshape(-1)] -= 1.0  # d/do of -log softmax = p - onehot(y)
    return loss, p


def _mse(out, y):
    """Squared error averaged over the O outputs; returns (loss (T,B), dloss/dout (T,B,O))."""
    diff = out - y
    n_out = out.shape[-1]
    return np.einsum("tbo,tbo->tb", diff, diff) / n_out, diff * (2.0 / n_out)


LOSSES: dict[str, Callable] = {"xent": _xent, "mse": _mse}
LOSS_FORMULAS = {
    "xent": "-log softmax(o_t)[y_t]  (nats)",
    "mse": "mean over outputs of (o_t - y_t)^2",
}


# ---------------------------------------------------------------------------------------------
# Forward, loss, backward
# ---------------------------------------------------------------------------------------------
@dataclass
class Cache:
    """What the backward pass needs from the forward pass."""

    x: np.ndarray  # (T, B) int token ids or (T, B, I) float
    A: np.ndarray  # (T, B, H)    pre-activations a_1..a_T
    hs: np.ndarray  # (T+1, B, H)  h_0..h_T
    out: np.ndarray  # (T, B, O)    outputs o_1..o_T


@dataclass
class BPTTResult:
    """The outcome of one forward + backward pass.

    loss: the masked mean loss L; grads: dL/dparam with the keys and shapes of params;
    dh0: dL/dh_0 (B, H); hT: the last hidden state (B, H); timesteps: per-timestep statistics
    (DESIGN section 3), one array of length T per column, or None when not collected.
    """

    loss: float
    grads: dict[str, np.ndarray]
    dh0: np.ndarray
    hT: np.ndarray
    timesteps: dict[str, np.ndarray] | None


def _token_ids(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.integer)


def forward(params: dict, x: np.ndarray, h0=None, nonlinearity: str = "tanh") -> Cache:
    """Run the RNN over all T steps. x: (T, B) int token ids or (T, B, I) floats."""
    Wxh, Whh, Why, bh, by = (params[k] for k in PARAM_NAMES)
    dtype = Whh.dtype
    phi = NONLINEARITIES[nonlinearity].phi
    H = Whh.shape[0]
    if _token_ids(x):  # one-hot inputs: gather columns of Wxh instead of multiplying
        T, B = x.shape
        A = np.take(np.ascontiguousarray(Wxh.T), x, axis=0)  # (T, B, H)
    else:
        x = np.asarray(x, dtype=dtype)
        T, B, I = x.shape
        A = (x.reshape(T * B, I) @ Wxh.T).reshape(T, B, H)  # all input projections at once
    A += bh
    hs = np.empty((T + 1, B, H), dtype=dtype)
    hs[0] = 0.0 if h0 is None else h0
    WhhT = Whh.T
    for t in range(T):  # the recurrence: the only sequential part
        A[t] += hs[t] @ WhhT
        phi(A[t], hs[t + 1])
    out = (hs[1:].reshape(T * B, H) @ Why.T).reshape(T, B, -1)  # all outputs at once
    out += by
    return Cache(x=x, A=A, hs=hs, out=out)


def loss_and_dout(out, y, mask=None, loss: str = "xent"):
    """Masked mean loss L and dL/dout (T, B, O)."""
    if loss == "mse":
        y = np.asarray(y, dtype=out.dtype)
    per_pos, dout = LOSSES[loss](out, y)
    if mask is None:
        w = np.full(per_pos.shape, 1.0 / per_pos.size, dtype=out.dtype)
    else:
        mask = np.asarray(mask, dtype=out.dtype)
        total = mask.sum()
        if not total > 0:
            raise ValueError("mask must have a positive sum")
        w = mask / total
    dout *= w[..., None]
    return float(np.sum(w * per_pos)), dout


def backward(params: dict, cache: Cache, dout: np.ndarray, nonlinearity: str = "tanh"):
    """Exact BPTT. Returns (grads, dH, dh0) where dH (T, B, H) is the total dL/dh_t."""
    Wxh, Whh, Why = params["Wxh"], params["Whh"], params["Why"]
    A, hs, x = cache.A, cache.hs, cache.x
    T, B, H = A.shape
    dphi = NONLINEARITIES[nonlinearity].dphi
    dout2 = dout.reshape(T * B, -1)  # (T*B, O)
    hflat = hs[1:].reshape(T * B, H)
    dWhy = dout2.T @ hflat  # (O, H)
    dby = dout2.sum(axis=0)
    dH = (dout2 @ Why).reshape(T, B, H)  # dL/dh_t from o_t; a_{t+1}'s share is added below
    dA = np.empty_like(A)
    dnext = None
    for t in range(T - 1, -1, -1):  # backprop through time
        if dnext is not None:
            dH[t] += dnext  # gradient into h_t from a_{t+1} = ... + h_t @ Whh.T
        np.multiply(dH[t], dphi(A[t], hs[t + 1]), out=dA[t])  # backprop through phi
        dnext = dA[t] @ Whh  # dL/dh_{t-1}
    dAflat = dA.reshape(T * B, H)
    dWhh = dAflat.T @ hs[:-1].reshape(T * B, H)  # all timesteps stacked, h_0 included
    dbh = dAflat.sum(axis=0)
    if _token_ids(x):  # scatter-add row dA[t, b] into row x[t, b] of dWxh.T (I, H)
        I = Wxh.shape[1]
        # on a flat view with one index per entry: 1-D np.add.at takes numpy's fast path,
        # about 4x faster than scattering whole rows into the 2-D array; same sums, same order
        flat = (x.reshape(-1, 1).astype(np.intp) * H + np.arange(H)).reshape(-1)  # (T*B*H,)
        dWxhT = np.zeros(I * H, dtype=A.dtype)
        np.add.at(dWxhT, flat, dAflat.reshape(-1))
        dWxh = dWxhT.reshape(I, H).T
    else:
        dWxh = dAflat.T @ x.reshape(T * B, -1)  # (H, I)
    grads = {"Wxh": dWxh, "Whh": dWhh, "Why": dWhy, "bh": dbh, "by": dby}
    return grads, dH, dnext


def bptt(
    params: dict,
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None = None,
    h0: np.ndarray | None = None,
    nonlinearity: str = "tanh",
    loss: str = "xent",
    stats: bool = True,
) -> BPTTResult:
    """Loss, exact gradients and per-timestep statistics of one forward + backward pass.

    Args:
        params: ``Wxh`` (H, I), ``Whh`` (H, H), ``Why`` (O, H), ``bh`` (H,), ``by`` (O,); all
            of one float dtype (float32 or float64), which the computation keeps.
        x: (T, B, I) floats, or (T, B) integer token ids for one-hot inputs.
        y: (T, B) integer classes for ``loss="xent"``; (T, B, O) floats for ``loss="mse"``.
        mask: (T, B) weights ``m >= 0``; ``L = sum(m * loss) / sum(m)``. None: all ones.
        h0: (B, H) initial hidden state; None: zeros.
        nonlinearity: ``tanh``, ``relu`` or ``linear``.
        loss: ``xent`` (softmax cross-entropy, nats) or ``mse``.
        stats: also compute the per-timestep statistics of DESIGN section 3.

    Returns:
        BPTTResult with ``loss``, ``grads`` (same keys and shapes as params), ``dh0``, ``hT`` and
        ``timesteps`` (preact_var, act_mean, act_var, grad_var, grad_norm, saturation; each (T,)).
    """
    cache = forward(params, x, h0=h0, nonlinearity=nonlinearity)
    L, dout = loss_and_dout(cache.out, y, mask, loss)
    grads, dH, dh0 = backward(params, cache, dout, nonlinearity)
    ts = timestep_stats(cache.A, cache.hs[1:], dH, nonlinearity) if stats else None
    return BPTTResult(loss=L, grads=grads, dh0=dh0, hT=cache.hs[-1].copy(), timesteps=ts)


def evaluate(params, x, y, mask=None, h0=None, nonlinearity="tanh", loss="xent") -> float:
    """The masked mean loss only (no gradients), e.g. on a validation batch."""
    cache = forward(params, x, h0=h0, nonlinearity=nonlinearity)
    if loss == "mse":
        y = np.asarray(y, dtype=cache.out.dtype)
    per_pos = LOSSES[loss](cache.out, y)[0]
    if mask is None:
        return float(per_pos.mean())
    mask = np.asarray(mask, dtype=per_pos.dtype)
    return float(np.sum(mask * per_pos) / mask.sum())
