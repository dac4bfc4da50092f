"""Recurrent cells: what runs inside the time loop, and what the rest of the package may ask.

The engine (``engine.py``) does the work that is the same for every cell, for all timesteps at
once: the input projection ``A = x Wxh^T + bh`` (T, B, G*H) before the loop, the readout
``o = h Why^T + by`` and the weight gradients after it (G gate blocks; G = 1 without gates).
A cell supplies the rest (DESIGN section 2):

- its parameters as data (``param_specs``): name, role, shape and gate blocks, in draw order;
- a forward step and a backward step of one timestep, bound once to a forward cache;
- its one-step Jacobian as an operator (``jacobian``), for the Jacobian statistics;
- the arrays the per-timestep statistics read (``stat_arrays``), and whether the mean-field
  theory applies (``mean_field_params``).

Index convention of the cache (time-major, 0-based arrays): ``hs[t]`` is h_t (``hs[0]`` = h_0)
and ``A[t]`` is a_{t+1}, so the engine's loop step t = 0..T-1 reads ``A[t]`` and ``hs[t]`` and
writes ``hs[t + 1]``. The vanilla cell lives here; the gated cells (LSTM and GRU, section 2's
table) in ``gated.py``; all three are entries of ``CELLS``. NumPy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import RnnInitError
from .cellbase import (
    ROLES,
    Cache,
    Cell,
    ParamSpec,
    StepJacobian,
    slope_buffer,
    slope_chunks,
)
from .gated import GRUCell, LSTMCell
from .names import suggest
from .nonlinearities import NONLINEARITIES

__all__ = ["CELLS", "CELL_COLUMNS", "ROLES", "Cache", "Cell", "GRUCell", "LSTMCell", "ParamSpec", "RNNCell",
           "StepJacobian", "get_cell"]  # fmt: skip


class RNNJacobian(StepJacobian):
    """The vanilla cell's J_t = diag(phi'(a_t)) Whh, per sequence.

    With row vectors: J_t v = phi'(a_t) * (v @ Whh.T) and J_t^T u = (u * phi'(a_t)) @ Whh.
    """

    def __init__(self, Whh: np.ndarray, cache: Cache) -> None:
        self.Whh, self.A, self.hs = Whh, cache.A, cache.hs
        self.dphi = NONLINEARITIES[cache.nonlinearity].dphi
        self._slopes = cache.dextra.get("slopes")  # the backward pass's phi'(a_t), (T, B, H)

    def _slope(self, t: int, ndim: int):
        """phi'(a_t) (B, H), or (B, 1, H) against a block of vectors; a scalar for linear
        (an array of ones where the backward pass kept them)."""
        d = self.dphi(self.A[t - 1], self.hs[t]) if self._slopes is None else self._slopes[t - 1]
        return d[:, None, :] if ndim == 3 and np.ndim(d) == 2 else d

    def apply(self, t: int, v: np.ndarray) -> np.ndarray:
        return self._slope(t, v.ndim) * (v @ self.Whh.T)

    def apply_T(self, t: int, u: np.ndarray) -> np.ndarray:
        return (u * self._slope(t, u.ndim)) @ self.Whh


class RNNCell(Cell):
    """The vanilla cell: a_t = x_t Wxh^T + h_{t-1} Whh^T + bh, h_t = phi(a_t)."""

    name = "rnn"
    state_names = ("h",)
    has_mean_field = True

    def param_specs(self, I: int, H: int, O: int) -> tuple[ParamSpec, ...]:
        return (
            ParamSpec("Wxh", "input", (H, I)),
            ParamSpec("Whh", "recurrent", (H, H)),
            ParamSpec("Why", "output", (O, H)),
            ParamSpec("bh", "bias", (H,)),
            ParamSpec("by", "bias", (O,)),
        )

    def forward_step(self, params: dict, cache: Cache) -> Callable[[int], None]:
        A, hs, WhhT = cache.A, cache.hs, params["Whh"].T
        phi = NONLINEARITIES[cache.nonlinearity].phi
        R = np.empty(hs.shape[1:], hs.dtype)  # h_t Whh^T (B, H)

        def step(t: int) -> None:
            a = A[t]  # a view: the in-place ops below write into A
            # np.dot: the same BLAS product as matmul (the same numbers), ~0.25 us less per call
            a += np.dot(hs[t], WhhT, out=R)  # a_{t+1} = (x_{t+1} Wxh^T + bh) + h_t Whh^T
            phi(a, hs[t + 1])  # h_{t+1} = phi(a_{t+1})

        return step

    def backward_step(self, params, cache, dH, dA):
        A, hs, Whh = cache.A, cache.hs, params["Whh"]
        dphi = NONLINEARITIES[cache.nonlinearity].dphi
        D = slope_buffer(cache, "slopes", A)  # phi'(a_t), a chunk of steps at a time
        if cache.keep_slopes:
            cache.dextra["slopes"] = D  # for the Jacobian probe
        chunks, n = slope_chunks(A.shape[0], D), len(D)

        def step(t: int, dnext: np.ndarray | None) -> np.ndarray:
            dh, da = dH[t], dA[t]  # views: the in-place ops below write into dH and dA
            if dnext is not None:
                dh += dnext  # gradient into h_t from a_{t+1} = ... + h_t @ Whh.T
            if t in chunks:  # phi'(a) of a few steps at once: one call for them all
                ts, rows = chunks[t]
                dphi(A[ts], hs[ts.start + 1 : ts.stop + 1], D[rows])
            np.multiply(dh, D[t % n], out=da)  # backprop through phi
            return np.dot(da, Whh)  # dL/dh_{t-1} (np.dot: see forward_step)

        return step

    def jacobian(self, params: dict, cache: Cache) -> StepJacobian:
        return RNNJacobian(params["Whh"], cache)


CELLS: dict[str, Cell] = {"rnn": RNNCell(), "lstm": LSTMCell(), "gru": GRUCell()}

# Every cell's own per-timestep columns (DESIGN section 3), in one fixed order for the CSV; a
# cell leaves the columns it does not have empty.
_GATES = dict.fromkeys(g for cell in CELLS.values() for g in cell.gates)  # i, f, g, o, r, z, n
CELL_COLUMNS: tuple[str, ...] = (
    "cell_var",
    *(f"gate_{g}_{s}" for g in _GATES for s in ("mean", "sat")),
    "cell_grad_var",
)


def get_cell(cell: str | Cell, where: str = "cell") -> Cell:
    """The cell registered under ``cell`` (a Cell is returned as is).

    Raises:
        RnnInitError: an unknown name, e.g. ``cell: unknown cell 'rn' (did you mean 'rnn'?);
            allowed: rnn``.
    """
    if isinstance(cell, str) and cell in CELLS:  # first: the engine calls this on every pass
        return CELLS[cell]
    if isinstance(cell, Cell):
        return cell
    raise RnnInitError(f"{where}: unknown cell {cell!r}{suggest(cell, CELLS)}; "
                       f"allowed: {', '.join(CELLS)}")  # fmt: skip
