"""Losses per position and the masked mean loss (DESIGN section 2).

    xent:  loss_t = -log softmax(o_t)[y_t]                (nats; y (T, B) int classes)
    mse:   loss_t = mean over the O outputs of (o_t - y_t)^2   (y (T, B, O) floats)
    L = sum_{t,b} m[t,b] * loss_t[b] / sum(m)              (m = 1 everywhere without a mask)

Each loss returns the per-position loss (T, B) and dloss/do (T, B, O), before the mask weighting.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _xent(out, y):
    """Softmax cross-entropy with integer targets; returns (loss (T,B), dloss/dout (T,B,O))."""
    z = out - np.maximum.reduce(out, axis=-1, keepdims=True)  # (T, B, O), shifted for stability
    p = np.exp(z)
    s = np.add.reduce(p, axis=-1, keepdims=True)  # p.sum(...) without its Python wrapper
    p /= s  # softmax
    at_y = np.arange(0, z.size, z.shape[-1]) + y.reshape(-1)  # o_t[y_t] in the flat (T*B*O,)
    loss = np.log(s[..., 0]) - z.reshape(-1)[at_y].reshape(y.shape)  # -log softmax(o)[y]
    p.reshape(-1)[at_y] -= 1.0  # d/do of -log softmax = p - onehot(y)
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


def loss_and_dout(out, y, mask=None, loss: str = "xent"):
    """Masked mean loss L and dL/dout (T, B, O).

    out: (T, B, O) outputs; y: (T, B) int classes (xent) or (T, B, O) floats (mse); mask: (T, B)
    weights m >= 0 or None. dL/do_t[b] = m[t,b] / sum(m) * dloss/do_t[b].

    Raises:
        ValueError: a mask whose sum is not positive.
    """
    if loss == "mse":
        y = np.asarray(y, dtype=out.dtype)
    per_pos, dout = LOSSES[loss](out, y)
    if mask is None:  # the same weight 1 / (T B) everywhere: a scalar, the same products
        w = out.dtype.type(1.0 / per_pos.size)
        dout *= w
    else:
        mask = np.asarray(mask, dtype=out.dtype)
        total = mask.sum()
        if not total > 0:
            raise ValueError("mask must have a positive sum")
        w = mask / total
        dout *= w[..., None]
    return float(np.add.reduce(w * per_pos, axis=None)), dout  # np.sum's own reduction


def masked_mean_loss(out, y, mask=None, loss: str = "xent") -> float:
    """The masked mean loss L only (no gradient): sum(m * loss) / sum(m), or the plain mean."""
    if loss == "mse":
        y = np.asarray(y, dtype=out.dtype)
    per_pos = LOSSES[loss](out, y)[0]
    if mask is None:
        return float(per_pos.mean())
    mask = np.asarray(mask, dtype=per_pos.dtype)
    return float(np.sum(mask * per_pos) / mask.sum())


def accuracy_counts(out, y, keep) -> tuple[int, int]:
    """(correct, counted): positions where keep (T, B) is true and argmax_o out (T, B, O)
    equals the class y (T, B); top-1, ties to the lowest class as np.argmax breaks them."""
    keep = np.asarray(keep, dtype=bool)
    hits = np.argmax(out, axis=-1) == y  # (T, B)
    return int(np.count_nonzero(hits & keep)), int(np.count_nonzero(keep))
