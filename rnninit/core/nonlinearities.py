"""The nonlinearity registry: everything the package knows about phi, in one entry per name.

Each entry carries what the engine needs (``phi`` and ``phi'``), what the statistics need (the
saturation rule of DESIGN section 3), what the inits need (the gain that keeps the signal's
scale, PyTorch's ``calculate_gain``) and what the mean-field theory needs (the Gaussian moments
of phi). The engine, stats, inits, theory and the config's choices all read ``NONLINEARITIES``;
adding a nonlinearity is one entry here. NumPy only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .quadrature import gauss_expect


@dataclass(frozen=True)
class Saturation:
    """When a unit counts as saturated (tanh) or dead (relu).

    Attributes:
        mask: ``mask(h) -> bool array`` of h's shape, True where the unit is saturated.
        text: the rule as text, e.g. ``"|h| > 0.99"``.
        phrase: a noun phrase for sentences, e.g. ``"tanh units saturated"``.
    """

    mask: Callable[[np.ndarray], np.ndarray]
    text: str
    phrase: str


@dataclass(frozen=True)
class Nonlinearity:
    """One entry of the registry.

    Attributes:
        name: the registry key.
        formula: phi and phi' as text.
        phi: ``phi(a, out)`` writes h = phi(a) into ``out`` (same shape).
        dphi: ``dphi(a, h, out=None) -> phi'(a)`` from the stored a and h = phi(a): an array (a
            new one, or ``out``, a float array of a's shape, filled), or without ``out`` a scalar
            where phi' is constant.
        gain: the factor on a weight's std that keeps the signal's scale through phi.
        moments: ``moments(q) -> (E[phi^2], Var[phi], E[phi'^2])`` of phi(sqrt(q) z), z ~ N(0, 1),
            elementwise over an array q (a moment that does not depend on q may come back as a
            float). The theory reads |E[phi]| as sqrt(E[phi^2] - Var[phi]), which needs
            phi(a) + phi(-a) of one sign for every a (odd phi: E[phi] = 0; relu: E[phi] > 0).
        theory_kind: how the theory finds a fixed point: ``"homogeneous"`` (phi(c a) = c phi(a)
            for c > 0, so E[phi^2] is proportional to q and E[phi'^2] constant: closed forms) or
            ``"saturating"`` (phi odd, |phi| < 1, phi'(0) = 1, as tanh: bisection).
        saturation: the saturation rule, or None where units never saturate (linear).
    """

    name: str
    formula: str
    phi: Callable[[np.ndarray, np.ndarray], None]
    dphi: Callable[[np.ndarray, np.ndarray], np.ndarray | float]
    gain: float
    moments: Callable[[float], tuple[float, float, float]]
    theory_kind: str
    saturation: Saturation | None = None


# --- phi: written into `out`, so that the engine's loop allocates nothing (tanh: np.tanh itself,
# whose second argument is out: no Python call in between) --------------------------------------


def _relu(a, out):
    np.maximum(a, 0, out=out)


def _linear(a, out):
    out[...] = a


# --- phi': a new array (or a scalar), or written into `out` (the engine's slope buffers) -------


def _tanh_slope(a, h, out=None):
    return np.subtract(1.0, np.multiply(h, h, out=out), out=out)  # 1 - h^2


def _relu_slope(a, h, out=None):
    return np.greater(a, 0, out=out)  # [a > 0]: bool, or 1.0 / 0.0 in a float `out`


def _linear_slope(a, h, out=None):
    if out is None:
        return 1.0
    out[...] = 1.0
    return out


# --- Gaussian moments: q -> (E[phi^2], Var[phi], E[phi'^2]) for phi(sqrt(q) z) -------------------
# Var[phi] is written in closed form where possible so that q = inf gives inf rather than inf - inf.
# q may be a float (floats out) or an array (arrays of its shape out; a constant may stay a float).


def _tanh_sq(a):
    return np.tanh(a) ** 2


def _sech4(a):
    return (1.0 - np.tanh(a) ** 2) ** 2  # tanh'^2 = sech^4, written without overflow


def _tanh_moments(q):
    """Quadrature; E[tanh] = 0 by symmetry, so Var[tanh] = E[tanh^2]."""
    e_phi2, e_dphi2 = gauss_expect(_tanh_sq, q), gauss_expect(_sech4, q)
    if np.ndim(q) == 0:
        return float(e_phi2), float(e_phi2), float(e_dphi2)
    return e_phi2, e_phi2.copy(), e_dphi2


def _relu_moments(q: float) -> tuple[float, float, float]:
    """E[relu^2] = q/2, E[relu] = sqrt(q/(2 pi)), Var = q (1/2 - 1/(2 pi)), E[relu'^2] = 1/2."""
    return 0.5 * q, q * (0.5 - 0.5 / math.pi), 0.5


def _linear_moments(q: float) -> tuple[float, float, float]:
    """E[a^2] = Var[a] = q, phi' = 1."""
    return q, q, 1.0


NONLINEARITIES: dict[str, Nonlinearity] = {
    "tanh": Nonlinearity(
        "tanh", "h = tanh(a), phi' = 1 - h^2", np.tanh, _tanh_slope,
        gain=5 / 3, moments=_tanh_moments, theory_kind="saturating",
        saturation=Saturation(lambda h: np.abs(h) > 0.99, "|h| > 0.99", "tanh units saturated"),
    ),
    "relu": Nonlinearity(
        "relu", "h = max(a, 0), phi' = [a > 0]", _relu, _relu_slope,
        gain=math.sqrt(2), moments=_relu_moments, theory_kind="homogeneous",
        saturation=Saturation(lambda h: h == 0, "h = 0", "relu units dead"),
    ),
    "linear": Nonlinearity(
        "linear", "h = a, phi' = 1", _linear, _linear_slope,
        gain=1.0, moments=_linear_moments, theory_kind="homogeneous",
    ),
}  # fmt: skip
