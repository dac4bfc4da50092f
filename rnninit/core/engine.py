"""The BPTT engine: any cell of ``cells.py``, with exact backprop-through-time (DESIGN section 2).

Time-major arrays: ``T`` timesteps, batch ``B``, input ``I``, hidden ``H``, output ``O``. For the
vanilla cell::

    a_t = x_t @ Wxh.T + h_{t-1} @ Whh.T + bh        (B, H)   pre-activation
    h_t = phi(a_t)                                  (B, H)
    o_t = h_t @ Why.T + by                          (B, O)
    L   = sum_{t,b} m[t,b] * loss(o_t[b], y_t[b]) / sum(m)

The hot path does one matmul (or a gather, for token ids) for the input projection of all
timesteps, one for all outputs, one for the output gradient, and one each for dWxh, dWhh, dWhy
over the stacked T*B rows; only the cell's step (for the vanilla cell the recurrence
``h_{t-1} @ Whh.T`` and its transpose) stays in the Python loop.
Statistics (DESIGN section 3) are computed after the loops, vectorised over T; only ``jac_sq``
needs one more backward loop over t (from a random unit probe, with no loss injected), and only
when statistics are collected.

``bptt`` takes its (T, B, ...) arrays from a Workspace kept per thread (``cellbase.Workspace``),
so that a training loop does not fault the same memory in again at every step; nothing it
returns is one of them. ``forward`` and ``backward`` called on their own use fresh arrays.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .cellbase import Workspace, empty_from
from .cells import Cache, Cell, get_cell
from .losses import LOSS_FORMULAS, LOSSES, loss_and_dout, masked_mean_loss
from .nonlinearities import NONLINEARITIES, Nonlinearity
from .stats import jac_sq, timestep_stats, unit_probe

__all__ = [
    "BPTTResult",
    "Cache",
    "LOSSES",
    "LOSS_FORMULAS",
    "NONLINEARITIES",
    "Nonlinearity",
    "PARAM_NAMES",
    "backprop_through_time",
    "backward",
    "bptt",
    "evaluate",
    "forward",
    "loss_and_dout",
]

PARAM_NAMES = get_cell("rnn").param_names  # ("Wxh", "Whh", "Why", "bh", "by"): the vanilla cell's
PROBE_SEED = 0  # the Jacobian probe's seed when the caller passes no generator
SCATTER_MAX = 2**16  # dWxh for token ids: a scatter-add up to this many entries of dA, else a loop
_LOCAL = threading.local()  # .ws: this thread's Workspace for bptt (one per thread: no sharing)


def _workspace() -> Workspace:
    """The calling thread's Workspace, made on first use."""
    ws = getattr(_LOCAL, "ws", None)
    if ws is None:
        ws = _LOCAL.ws = Workspace()
    return ws


@dataclass
class BPTTResult:
    """The outcome of one forward + backward pass.

    loss: the masked mean loss L; grads: dL/dparam with the keys and shapes of params;
    dh0: dL/dh_0 (B, H); hT: the last hidden state (B, H); timesteps: per-timestep statistics
    (DESIGN section 3), one array of length T per column, or None when not collected; dc0:
    dL/dc_0 (B, H) of a cell with a cell state (lstm), None for the others.
    """

    loss: float
    grads: dict[str, np.ndarray]
    dh0: np.ndarray
    hT: np.ndarray
    timesteps: dict[str, np.ndarray] | None
    dc0: np.ndarray | None = None


def _token_ids(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.integer)


def forward(
    params: dict,
    x: np.ndarray,
    h0=None,
    nonlinearity: str = "tanh",
    cell: str | Cell = "rnn",
    c0=None,
    *,
    ws: Workspace | None = None,
) -> Cache:
    """Run the cell over all T steps. x: (T, B) int token ids or (T, B, I) floats.

    h0, c0: (B, H) initial states or None (zeros); c0 only for a cell with a cell state (lstm).
    ws: where the cache's arrays come from (``bptt``'s own); None: fresh arrays.
    Returns the ``Cache``: ``A`` (T, B, G*H) pre-activations, ``hs`` (T+1, B, H) h_0..h_T,
    ``out`` (T, B, O) outputs, and the cell's own arrays in ``extra``.

    Raises:
        RnnInitError: a nonlinearity the cell cannot run, or a c0 for a cell without c.
    """
    cell = get_cell(cell)
    cell.check_nonlinearity(nonlinearity)
    Wxh, bh = cell.projection_weights(params)  # the parameters, or the cell's scaled copies
    Why, by = params[cell.output_weight], params[cell.output_bias]
    dtype = params[cell.recurrent_weight].dtype
    H = Why.shape[1]
    T, B = np.shape(x)[:2]
    A = empty_from(ws, "A", (T, B, Wxh.shape[0]), dtype)  # (T, B, G*H)
    if _token_ids(x):  # one-hot inputs: gather rows of Wxh^T + bh instead of multiplying
        if x.size < Wxh.shape[1]:  # fewer positions than tokens: the columns, then + bh
            np.add(Wxh.T[x], bh, out=A)  # (a small array: indexing checks the ids itself)
        else:  # the table Wxh^T + bh once, then rows of it: the same sums
            _gather(np.ascontiguousarray(Wxh.T) + bh, x, A)
    else:
        x = np.asarray(x, dtype=dtype)
        np.matmul(x.reshape(T * B, -1), Wxh.T, out=A.reshape(T * B, -1))  # all steps at once
        A += bh
    hs = empty_from(ws, "hs", (T + 1, B, H), dtype)
    hs[0] = 0.0 if h0 is None else h0
    cache = Cache(x=x, A=A, hs=hs, out=None, cell=cell, nonlinearity=nonlinearity, ws=ws)
    cell.init_state(cache, c0)
    step = cell.forward_step(params, cache)
    for t in range(T):  # the recurrence: the only sequential part
        step(t)
    out = empty_from(ws, "out", (T, B, Why.shape[0]), dtype)
    np.matmul(hs[1:].reshape(T * B, H), Why.T, out=out.reshape(T * B, -1))  # all outputs at once
    out += by
    cache.out = out
    return cache


def _gather(table: np.ndarray, ids: np.ndarray, out: np.ndarray) -> None:
    """out[t, b] = table[ids[t, b]]: the rows of (I, n) for (T, B) token ids, into out (T, B, n).

    ``take`` into a given array with its default mode (``raise``) fills a temporary of the whole
    result first; mode ``wrap`` writes straight into out, and is the same for ids in [-I, I)
    (negative ones count from the end, as numpy's indexing does), so the others are refused
    first, with numpy's own error."""
    I = table.shape[0]
    if ids.size and not (-I <= ids.min() and ids.max() < I):
        np.take(table, ids, axis=0)  # raises IndexError, naming the bad id
    np.take(table, ids, axis=0, out=out, mode="wrap")


def _input_grad(x: np.ndarray, dAflat: np.ndarray, I: int) -> np.ndarray:
    """dL/dWxh (G*H, I) from dAflat (T*B, G*H): one product, or a sum per token for token ids."""
    if not _token_ids(x):
        return dAflat.T @ x.reshape(dAflat.shape[0], -1)  # (G*H, I)
    ids = x.reshape(-1)
    n = dAflat.shape[1]
    if n == 1 or dAflat.size <= SCATTER_MAX:
        # scatter-add row dA[t, b] into row x[t, b] of dWxh.T (I, n), on a flat view with one
        # index per entry (numpy's fast 1-D path): cheapest for few rows (at (25, 100) 8 us
        # against 51 for the loop below; at (3200, 128) 740 against 380), and the only exact
        # way for one column, whose sum over axis 0 would be pairwise; same sums, same order
        flat = (ids.astype(np.intp)[:, None] * n + np.arange(n)).reshape(-1)  # (T*B*n,)
        dWxhT = np.zeros(I * n, dtype=dAflat.dtype)
        np.add.at(dWxhT, flat, dAflat.reshape(-1))
        return dWxhT.reshape(I, n).T
    dWxhT = np.zeros((I, n), dtype=dAflat.dtype)
    order = np.argsort(ids, kind="stable")  # the rows of each token together, in time order
    bounds = np.searchsorted(ids[order], np.arange(I + 1))  # token v: rows bounds[v]:bounds[v+1]
    # row v of dWxh.T: the rows of token v added one after another to 0 (a sum over axis 0 of
    # 2 or more columns adds whole rows in order), the sums and the order of np.add.at, which
    # cost more than all the backward's other bookkeeping together; gathered token by token,
    # as small arrays that the allocator reuses, not one (T*B, G*H) copy of fresh memory
    for v in np.flatnonzero(np.diff(bounds)):
        rows = dAflat[order[bounds[v] : bounds[v + 1]]]
        np.add.reduce(rows, axis=0, out=dWxhT[v], initial=0.0)
    return dWxhT.T


def backward(params: dict, cache: Cache, dout: np.ndarray, keep_slopes: bool = True):
    """Exact BPTT. Returns (grads, dH, dh0) where dH (T, B, H) is the total dL/dh_t.

    keep_slopes: keep the cell's local derivatives in ``cache.dextra`` for the Jacobian probe
    (``cell.jacobian``); False when no probe follows, which saves the gated cells a (T, B, G*H)
    array (the probe, if one runs after all, computes them again).
    """
    cache.keep_slopes = keep_slopes
    cell, A, hs, x = cache.cell, cache.A, cache.hs, cache.x
    Wxh, Why = params[cell.input_weight], params[cell.output_weight]
    T, B, H = A.shape[0], A.shape[1], hs.shape[2]
    dout2 = dout.reshape(T * B, -1)  # (T*B, O)
    hflat = hs[1:].reshape(T * B, H)
    dWhy = dout2.T @ hflat  # (O, H): o_t = h_t Why^T + by, summed over t and b
    dby = np.add.reduce(dout2, axis=0)  # (O,): dout2.sum(axis=0) without its Python wrapper
    dH = cache.empty("dH", (T, B, H), hs.dtype)  # dL/dh_t from o_t; a_{t+1}'s share added below
    np.matmul(dout2, Why, out=dH.reshape(T * B, H))
    dA, dh0 = backprop_through_time(params, cache, dH)
    dAflat = dA.reshape(T * B, -1)
    dR = cell.recurrent_grad(cache, dA)  # dA itself for the vanilla cell
    dRflat = dAflat if dR is dA else dR.reshape(T * B, -1)
    dWhh = dRflat.T @ hs[:-1].reshape(T * B, H)  # a_t = ... + h_{t-1} Whh^T; h_0 included
    dbh = np.add.reduce(dAflat, axis=0)  # a_t = ... + bh
    dWxh = _input_grad(x, dAflat, Wxh.shape[1])  # a_t = x_t Wxh^T + ...
    grads = {
        cell.input_weight: dWxh,
        cell.recurrent_weight: dWhh,
        cell.output_weight: dWhy,
        cell.input_bias: dbh,
        cell.output_bias: dby,
        **cell.extra_grads(params, cache, dA),
    }
    return grads, dH, dh0


def backprop_through_time(params: dict, cache: Cache, dH: np.ndarray):
    """The backward recurrence, the cell's step for t = T-1..0. dH (T, B, H) holds dL/dh_t
    through the outputs and receives the share through a_{t+1}, so that it ends as the total
    dL/dh_t. Returns (dA, dh0): dL/dA (T, B, G*H) and dL/dh_0 (B, H)."""
    dA = cache.empty("dA", cache.A.shape, cache.A.dtype)
    step = cache.cell.backward_step(params, cache, dH, dA)
    dnext = None
    for t in range(cache.A.shape[0] - 1, -1, -1):
        dnext = step(t, dnext)  # fills dH[t], dA[t]; dnext = dL/dh_{t-1} through a_t
    return dA, dnext


def bptt(
    params: dict,
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None = None,
    h0: np.ndarray | None = None,
    nonlinearity: str = "tanh",
    loss: str = "xent",
    stats: bool = True,
    cell: str | Cell = "rnn",
    probe_rng: np.random.Generator | None = None,
    c0: np.ndarray | None = None,
) -> BPTTResult:
    """Loss, exact gradients and per-timestep statistics of one forward + backward pass.

    Args:
        params: the cell's parameters (``cells.CELLS[cell].param_specs``); for ``rnn``:
            ``Wxh`` (H, I), ``Whh`` (H, H), ``Why`` (O, H), ``bh`` (H,), ``by`` (O,); all of one
            float dtype (float32 or float64), which the computation keeps.
        x: (T, B, I) floats, or (T, B) integer token ids for one-hot inputs.
        y: (T, B) integer classes for ``loss="xent"``; (T, B, O) floats for ``loss="mse"``.
        mask: (T, B) weights ``m >= 0``; ``L = sum(m * loss) / sum(m)``. None: all ones.
        h0: (B, H) initial hidden state; None: zeros.
        nonlinearity: ``tanh``, ``relu`` or ``linear`` (a key of NONLINEARITIES); the gated
            cells take ``tanh`` only (their sigmoid and tanh are fixed).
        loss: ``xent`` (softmax cross-entropy, nats) or ``mse``.
        stats: also compute the per-timestep statistics of DESIGN section 3.
        cell: a key of ``cells.CELLS`` (``rnn``, ``lstm``, ``gru``) or a Cell.
        probe_rng: draws the unit probes of ``jac_sq`` (only when ``stats``); None: a generator
            seeded with PROBE_SEED, so that the same call gives the same numbers.
        c0: (B, H) initial cell state of the lstm; None: zeros. Refused for other cells.

    Returns:
        BPTTResult with ``loss``, ``grads`` (same keys and shapes as params), ``dh0``, ``hT`` and
        ``timesteps`` (preact_var, act_mean, act_var, grad_var, grad_norm, saturation, jac_sq,
        and a gated cell's ``Cell.stat_columns``: gate_<g>_mean, gate_<g>_sat, and for the lstm
        cell_var, cell_grad_var; each (T,)) and ``dc0`` (lstm; None otherwise).
    """
    cache = forward(params, x, h0=h0, nonlinearity=nonlinearity, cell=cell, c0=c0, ws=_workspace())
    L, dout = loss_and_dout(cache.out, y, mask, loss)
    grads, dH, dh0 = backward(params, cache, dout, keep_slopes=stats)  # the probe reuses them
    ts = None
    if stats:
        preact, act = cache.cell.stat_arrays(cache)
        ts = timestep_stats(preact, act, dH, nonlinearity)
        ts["jac_sq"] = _jac_sq(params, cache, probe_rng)
        ts.update(cache.cell.cell_stats(cache))  # a gated cell's: gates, c_t, dL/dc_t
    return BPTTResult(loss=L, grads=grads, dh0=dh0, hT=cache.hs[-1].copy(), timesteps=ts,
                      dc0=cache.dextra.get("dc0"))  # fmt: skip


def _jac_sq(params: dict, cache: Cache, rng: np.random.Generator | None) -> np.ndarray:
    """jac_sq (T,): one more backward pass, from a random unit probe per sequence at t = T, on
    the sphere of the cell's full state (B, S): S = H, or 2H for the LSTM's [h, c]."""
    T, B, H = cache.A.shape[0], cache.hs.shape[1], cache.hs.shape[2]
    rng = np.random.default_rng(PROBE_SEED) if rng is None else rng
    u = unit_probe(rng, B, cache.cell.state_size(H), cache.hs.dtype)  # (B, S)
    return jac_sq(cache.cell.jacobian(params, cache), u, T)


def evaluate(
    params, x, y, mask=None, h0=None, nonlinearity="tanh", loss="xent", cell="rnn", c0=None
) -> float:
    """The masked mean loss only (no gradients), e.g. on a validation batch."""
    cache = forward(params, x, h0=h0, nonlinearity=nonlinearity, cell=cell, c0=c0)
    return masked_mean_loss(cache.out, y, mask, loss)
