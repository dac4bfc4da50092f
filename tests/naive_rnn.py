"""A plain per-timestep RNN in the style of min-char-rnn: every operation inside the time loop.

Independent of rnninit's engine; used by the tests as a reference and by the benchmark as the
naive baseline.
"""

import numpy as np


def naive_bptt(params, x, y, mask=None, h0=None, nonlinearity="tanh", loss="xent"):
    """Return (loss, grads, per-timestep lists a_t, h_t, dL/dh_t), one timestep at a time."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    T, B = y.shape[:2]
    H = Whh.shape[0]
    if np.issubdtype(np.asarray(x).dtype, np.integer):
        x = np.eye(Wxh.shape[1], dtype=Wxh.dtype)[x]  # one-hot (T, B, I)
    m = np.ones((T, B)) if mask is None else np.asarray(mask, dtype=float)
    w = m / m.sum()
    hs = {-1: np.zeros((B, H)) if h0 is None else np.array(h0, dtype=float)}
    acts, outs, L = {}, {}, 0.0
    for t in range(T):
        acts[t] = x[t] @ Wxh.T + hs[t - 1] @ Whh.T + bh
        if nonlinearity == "tanh":
            hs[t] = np.tanh(acts[t])
        elif nonlinearity == "relu":
            hs[t] = np.maximum(acts[t], 0)
        else:
            hs[t] = acts[t].copy()
        outs[t] = hs[t] @ Why.T + by
        for b in range(B):
            if loss == "xent":
                z = outs[t][b] - outs[t][b].max()
                L += w[t, b] * (np.log(np.exp(z).sum()) - z[y[t, b]])
            else:
                L += w[t, b] * np.mean((outs[t][b] - y[t, b]) ** 2)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dhnext = np.zeros((B, H))
    dhs = {}
    for t in reversed(range(T)):
        do = np.zeros_like(outs[t])
        for b in range(B):
            if loss == "xent":
                e = np.exp(outs[t][b] - outs[t][b].max())
                do[b] = e / e.sum()
                do[b, y[t, b]] -= 1
            else:
                do[b] = 2 * (outs[t][b] - y[t, b]) / outs[t].shape[1]
            do[b] *= w[t, b]
        grads["Why"] += do.T @ hs[t]
        grads["by"] += do.sum(0)
        dh = do @ Why + dhnext
        dhs[t] = dh
        if nonlinearity == "tanh":
            da = (1 - hs[t] ** 2) * dh
        elif nonlinearity == "relu":
            da = (acts[t] > 0) * dh
        else:
            da = dh
        grads["bh"] += da.sum(0)
        grads["Wxh"] += da.T @ x[t]
        grads["Whh"] += da.T @ hs[t - 1]
        dhnext = da @ Whh
    return (
        L,
        grads,
        [acts[t] for t in range(T)],
        [hs[t] for t in range(T)],
        [dhs[t] for t in range(T)],
    )
