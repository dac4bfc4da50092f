"""The cell interface (see ``cells.py``): ParamSpec, Cache, StepJacobian and the Cell base class,
with what the cells' loops share: the Workspace a cache allocates from, and the chunks in which a
backward pass computes its local derivatives.

A module of its own so that the cells (``cells.py``, ``gated.py``) build on it without importing
one another. NumPy only, no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import RnnInitError
from .names import suggest
from .nonlinearities import NONLINEARITIES

ROLES = ("input", "recurrent", "output", "bias")
SLOPE_CHUNK = 8  # backward steps whose local derivatives are computed together


class Workspace:
    """Arrays reused from one BPTT pass to the next, by name (``engine.bptt`` keeps one per thread).

    A fresh (T, B, ...) array is faulted in page by page on every call: glibc hands freed large
    blocks back to the kernel, and at the gated rows of benchmarks/bench_bptt.py that cost 10-40
    ms of system time per call. ``empty`` returns the array kept under a name when it has the
    shape and dtype asked for, else a new one that replaces it; like ``np.empty``, its contents
    are whatever the last call left. Only arrays that never leave the call may come from here.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """The array kept under ``name`` if it has this shape and dtype, else a new one."""
        arr = self._arrays.get(name)
        if arr is None or arr.shape != tuple(shape) or arr.dtype != dtype:
            arr = self._arrays[name] = np.empty(shape, dtype)
        return arr


def empty_from(ws: Workspace | None, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``ws.empty(name, shape, dtype)``, or a fresh ``np.empty`` without a workspace."""
    return np.empty(shape, dtype) if ws is None else ws.empty(name, shape, dtype)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a cell.

    Attributes:
        name: the key in the params dict, e.g. ``"Whh"``.
        role: ``"input"`` (x -> hidden), ``"recurrent"`` (hidden -> hidden), ``"output"``
            (hidden -> output) or ``"bias"``.
        shape: (fan_out, fan_in) of a weight, (n,) of a bias.
        gates: the names of the equal blocks along axis 0 (e.g. i, f, g, o); () without gates.
    """

    name: str
    role: str
    shape: tuple[int, ...]
    gates: tuple[str, ...] = ()


@dataclass
class Cache:
    """What one forward pass leaves for the backward pass and the statistics.

    Attributes:
        x: (T, B) int token ids or (T, B, I) floats, as the engine read them.
        A: (T, B, G*H) pre-activations: A[t] = a_{t+1} (the input projection, completed in place
            by the cell's forward step).
        hs: (T+1, B, H) hidden states h_0..h_T.
        out: (T, B, O) outputs o_1..o_T (None until the readout).
        cell: the cell that ran. nonlinearity: the key of phi in NONLINEARITIES.
        extra: further per-timestep arrays of a cell (e.g. an LSTM's c_t); empty for the rnn.
        dextra: what a cell's backward pass leaves besides dH and dA (an LSTM's ``dc0`` and
            ``dC`` (T, B, H) the total dL/dc_t, a GRU's recurrent gradient ``dR``, the gated
            cells' local derivatives ``slopes``, which the Jacobian probe reuses); empty for the
            rnn.
        keep_slopes: whether the backward pass keeps its local derivatives (``slopes``) for a
            Jacobian probe that follows; False when none follows, so that a cell may compute
            them a few steps at a time into a small buffer (``engine.backward`` sets it).
        ws: the Workspace the pass's (T, ...) arrays come from (``empty``), or None for fresh
            arrays: ``engine.bptt`` passes its own, since nothing of the cache leaves it; a
            cache that ``engine.forward`` returns has fresh arrays.
    """

    x: np.ndarray
    A: np.ndarray
    hs: np.ndarray
    out: np.ndarray | None
    cell: Cell
    nonlinearity: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    dextra: dict[str, np.ndarray] = field(default_factory=dict)
    keep_slopes: bool = True
    ws: Workspace | None = None

    def empty(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised array for the pass: the workspace's array ``name``, or a fresh one."""
        return empty_from(self.ws, name, shape, dtype)


def slope_chunks(T: int, buffer: np.ndarray) -> dict[int, tuple[slice, slice]]:
    """The backward steps (going T-1..0) that first compute the local derivatives of a chunk:
    step t -> (the chunk's steps lo..t, their rows in ``buffer``, a ``slope_buffer``), for each
    t that is the last step of its chunk (lo = t - t % SLOPE_CHUNK). A chunk costs the NumPy
    calls of one step and is still in cache when its steps read it; measured, all T at once and
    one step at a time were each up to 8% slower in float32 (even in float64). Built once per
    pass, so that a step only looks itself up."""
    out = {}
    for t in (T - 1, *range(SLOPE_CHUNK - 1, T - 1, SLOPE_CHUNK)):
        lo = t - t % SLOPE_CHUNK
        rows = lo % len(buffer)
        out[t] = slice(lo, t + 1), slice(rows, rows + t + 1 - lo)
    return out


def slope_buffer(cache: Cache, name: str, like: np.ndarray) -> np.ndarray:
    """Where a backward pass writes local derivatives shaped like ``like`` (T, B, n): every
    step's, kept for the Jacobian probe (``cache.keep_slopes``), or one chunk's
    (SLOPE_CHUNK, B, n), reused chunk after chunk when no probe follows (no (T, B, n) array:
    measured 5-10% faster for the LSTM). Step s is row s % len(buffer) either way."""
    if cache.keep_slopes:
        return cache.empty(name, like.shape, like.dtype)
    return cache.empty(f"{name}_chunk", (SLOPE_CHUNK, *like.shape[1:]), like.dtype)


class StepJacobian(ABC):
    """J_t = dh_t/dh_{t-1} of one step, t = 1..T as in DESIGN section 3, at a forward cache.

    Vectors are rows, one per sequence: v is (B, S), or (B, K, S) for K vectors per sequence, S the
    size of the cell's full state (``Cell.state_size``: H, or 2H for the LSTM's [h, c]).
    """

    @abstractmethod
    def apply(self, t: int, v: np.ndarray) -> np.ndarray:
        """J_t v for each sequence; same shape as v."""

    @abstractmethod
    def apply_T(self, t: int, u: np.ndarray) -> np.ndarray:
        """J_t^T u for each sequence; same shape as u."""


class Cell(ABC):
    """The interface every cell implements (see the module docstring).

    The names the engine reads directly: the input projection ``input_weight``, ``input_bias``
    (A = x Wxh^T + bh), the recurrent weight ``recurrent_weight`` (dWhh from the stacked
    h_0..h_{T-1}) and the readout ``output_weight``, ``output_bias`` (o = h Why^T + by). Every
    cell of DESIGN section 2 shares these names; ``param_specs`` must declare them.
    """

    name: str = ""
    state_names: tuple[str, ...] = ("h",)
    gates: tuple[str, ...] = ()
    input_weight, input_bias = "Wxh", "bh"
    recurrent_weight = "Whh"
    output_weight, output_bias = "Why", "by"
    has_mean_field: bool = False  # True where the mean-field theory (theory.py) describes it

    @abstractmethod
    def param_specs(self, I: int, H: int, O: int) -> tuple[ParamSpec, ...]:
        """The parameters for input size I, hidden size H, output size O, in draw order."""

    def state_size(self, H: int) -> int:
        """The size of the full recurrent state (the Jacobian's vectors): H here."""
        return H

    def init_state(self, cache: Cache, c0=None) -> None:
        """Set up the states beyond h (in ``cache.extra``) from their initial values; the rnn
        has none, so a ``c0`` is refused."""
        if c0 is not None:
            raise RnnInitError(f"c0: the {self.name} cell has no cell state c; c0 is for lstm")

    def projection_weights(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """(Wxh, bh) of the input projection A = x Wxh^T + bh that the engine computes for all
        steps before the loop: the parameters themselves here. A cell may return scaled copies
        that its forward step undoes, so that cache.A holds the pre-activations after it."""
        return params[self.input_weight], params[self.input_bias]

    def check_nonlinearity(self, nonlinearity: str, where: str = "model.nonlinearity") -> None:
        """Refuse a nonlinearity this cell cannot run, with one line; any registered one here."""
        if nonlinearity not in NONLINEARITIES:
            raise RnnInitError(f"{where}: unknown nonlinearity {nonlinearity!r}"
                               f"{suggest(nonlinearity, NONLINEARITIES)}; "
                               f"allowed: {', '.join(NONLINEARITIES)}")  # fmt: skip

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names in draw order."""
        return tuple(s.name for s in self.param_specs(1, 1, 1))

    @property
    def param_roles(self) -> dict[str, str]:
        """Parameter name -> role, in draw order."""
        return {s.name: s.role for s in self.param_specs(1, 1, 1)}

    def names_with_role(self, role: str) -> tuple[str, ...]:
        """The names of the parameters with ``role`` (one of ROLES), in draw order."""
        if role not in ROLES:
            raise ValueError(
                f"unknown role {role!r}{suggest(role, ROLES)}; allowed: {', '.join(ROLES)}"
            )
        return tuple(name for name, r in self.param_roles.items() if r == role)

    @property
    def mean_field_params(self) -> dict[str, str] | None:
        """The parameters the mean-field theory reads, by role: ``{"input": "Wxh", "recurrent":
        "Whh", "bias": "bh"}`` (the bias of the pre-activation); None where it does not apply."""
        if not self.has_mean_field:
            return None
        return {
            "input": self.input_weight,
            "recurrent": self.recurrent_weight,
            "bias": self.input_bias,
        }

    @abstractmethod
    def forward_step(self, params: dict, cache: Cache) -> Callable[[int], None]:
        """Bind the forward step to a cache: ``step(t)`` completes A[t] (the projection with
        ``projection_weights``) with the recurrent term into the pre-activation and writes the
        states at t + 1 (``hs[t + 1]``), for t = 0..T-1 in order."""

    @abstractmethod
    def backward_step(
        self, params: dict, cache: Cache, dH: np.ndarray, dA: np.ndarray
    ) -> Callable[[int, np.ndarray | None], np.ndarray]:
        """Bind the backward step: ``step(t, dnext)`` for t = T-1..0 adds dnext (dL/dhs[t+1]
        through step t + 1; None at the last step) to dH[t], writes dL/dA[t] into dA[t] and
        returns dL/dhs[t] through A[t]. A cell with more states keeps their gradients itself."""

    def recurrent_grad(self, cache: Cache, dA: np.ndarray) -> np.ndarray:
        """dL/d(hs[t] Whh^T) for every t, (T, B, G*H), from which dWhh is one product.

        dA itself where the recurrent term enters A unchanged (rnn, LSTM); a GRU, whose
        candidate reads r * (h Whh_n^T + bhn), returns its own array.
        """
        return dA

    def extra_grads(self, params: dict, cache: Cache, dA: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of parameters the engine does not know (a GRU's ``bhn``); none here."""
        return {}

    @abstractmethod
    def jacobian(self, params: dict, cache: Cache) -> StepJacobian:
        """The one-step Jacobian of the full state (h, or the LSTM's [h, c]) at the cache."""

    def stat_arrays(self, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
        """(preact, act), each (T, B, H): the arrays of the per-timestep statistics."""
        return cache.A, cache.hs[1:]

    @property
    def stat_columns(self) -> tuple[str, ...]:
        """The per-timestep columns of ``cell_stats`` (DESIGN section 3's gated columns); none
        for the vanilla cell."""
        return ()

    def cell_stats(self, cache: Cache) -> dict[str, np.ndarray]:
        """The statistics of ``stat_columns`` after a forward and backward pass, (T,) each."""
        return {}
