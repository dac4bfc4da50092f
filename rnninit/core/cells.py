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
writes ``hs[t + 1]``. Only the vanilla cell exists so far; LSTM and GRU (section 2's table) are
meant to be two more entries of ``CELLS``. NumPy only, no I/O.
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
    """

    x: np.ndarray
    A: np.ndarray
    hs: np.ndarray
    out: np.ndarray | None
    cell: Cell
    nonlinearity: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class StepJacobian(ABC):
    """J_t = dh_t/dh_{t-1} of one step, t = 1..T as in DESIGN section 3, at a forward cache.

    Vectors are rows, one per sequence: v is (B, H), or (B, K, H) for K vectors per sequence.
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
        """Bind the forward step to a cache: ``step(t)`` completes A[t] with the recurrent
        term and writes the states at t + 1 (``hs[t + 1]``), for t = 0..T-1 in order."""

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
        """The one-step Jacobian dh_t/dh_{t-1} at the cache, as an operator."""

    def stat_arrays(self, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
        """(preact, act), each (T, B, H): the arrays of the per-timestep statistics."""
        return cache.A, cache.hs[1:]


class RNNJacobian(StepJacobian):
    """The vanilla cell's J_t = diag(phi'(a_t)) Whh, per sequence.

    With row vectors: J_t v = phi'(a_t) * (v @ Whh.T) and J_t^T u = (u * phi'(a_t)) @ Whh.
    """

    def __init__(self, Whh: np.ndarray, cache: Cache) -> None:
        self.Whh, self.A, self.hs = Whh, cache.A, cache.hs
        self.dphi = NONLINEARITIES[cache.nonlinearity].dphi

    def _slope(self, t: int, ndim: int):
        """phi'(a_t) (B, H), or (B, 1, H) against a block of vectors; a scalar for linear."""
        d = self.dphi(self.A[t - 1], self.hs[t])
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

        def step(t: int) -> None:
            a = A[t]  # a view: the in-place ops below write into A
            a += hs[t] @ WhhT  # a_{t+1} = (x_{t+1} Wxh^T + bh) + h_t Whh^T
            phi(a, hs[t + 1])  # h_{t+1} = phi(a_{t+1})

        return step

    def backward_step(self, params, cache, dH, dA):
        A, hs, Whh = cache.A, cache.hs, params["Whh"]
        dphi = NONLINEARITIES[cache.nonlinearity].dphi

        def step(t: int, dnext: np.ndarray | None) -> np.ndarray:
            dh, da = dH[t], dA[t]  # views: the in-place ops below write into dH and dA
            if dnext is not None:
                dh += dnext  # gradient into h_t from a_{t+1} = ... + h_t @ Whh.T
            np.multiply(dh, dphi(A[t], hs[t + 1]), out=da)  # backprop through phi
            return da @ Whh  # dL/dh_{t-1}

        return step

    def jacobian(self, params: dict, cache: Cache) -> StepJacobian:
        return RNNJacobian(params["Whh"], cache)


CELLS: dict[str, Cell] = {"rnn": RNNCell()}


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
