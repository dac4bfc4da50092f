"""The registry of draws (DESIGN section 4): every scheme with its formula, its draw and its
exact moments, and the gains of the nonlinearities.

A weight has shape (fan_out, fan_in): ``Wxh`` (H, I), ``Whh`` (H, H), ``Why`` (O, H). A 1-D bias
of length n counts as fan_out = fan_in = n. Every draw takes a ``numpy.random.Generator`` and a
``gain`` that multiplies the standard deviation, as in PyTorch: the draw is gain x the base draw.
No draw is truncated or rescaled behind the user's back, so each delivers the mean and variance
its ``moments`` state; the tests check both against formulas written out by hand.
The registry is data: adding a scheme is one entry in ``SCHEMES``.

A gated cell stacks its gate blocks in one parameter (an LSTM's ``Whh`` is 4H x H) and a scheme
applies block by block, with the fans of a block. The ``_whole`` variants (``whole_of`` set)
draw the stacked matrix in one piece instead, as Keras draws its LSTM and GRU kernels: the same
draw and formula, with the fans of the whole matrix (``presets.py`` uses them for
``keras_default``). On a parameter without gate blocks a variant draws what its base draws.

Pure NumPy: no printing, no files, no global RNG, no rich/typer/yaml.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..errors import RnnInitError
from .nonlinearities import NONLINEARITIES

# The gain that keeps the signal's scale through each nonlinearity (PyTorch's calculate_gain),
# from the registry; linear (gain 1, the reference) first, as messages have always listed them.
GAINS: dict[str, float] = {
    nl.name: nl.gain for nl in sorted(NONLINEARITIES.values(), key=lambda nl: nl.gain != 1.0)
}


@dataclass(frozen=True)
class Scheme:
    """One entry of the registry.

    Attributes:
        name: the registry key.
        formula: the draw at gain 1, as text (shown by ``rnninit inits`` and in ``--help``).
        note: one short line: who proposed it, or why it is here.
        kind: ``"iid"``, ``"orthogonal"``, ``"identity"`` or ``"zeros"``.
        draw: ``draw(rng, shape, gain, hidden_size) -> float64 array of shape``.
        moments: ``moments(shape, gain, hidden_size) -> (mean, var)`` of one entry, exact.
        zero_mean: True where the mean-field theory applies (zero-mean i.i.d. or orthogonal).
        whole_of: for a ``_whole`` variant, the scheme it draws over a gated parameter's whole
            stacked matrix (one draw, fans of the whole); None for a scheme drawn block by block.
    """

    name: str
    formula: str
    note: str
    kind: str
    draw: Callable
    moments: Callable
    zero_mean: bool
    whole_of: str | None = None


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_out, fan_in) of a weight (fan_out, fan_in); a bias (n,) counts as (n, n)."""
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise RnnInitError(f"init: expected a 1-D or 2-D shape, got {tuple(shape)}")


# --- i.i.d. draws -------------------------------------------------------------------------------
# N(0, s^2) has variance s^2; U(-b, b) has variance b^2 / 3; U[0, 1) has mean 1/2, variance 1/12.


def _normal(std: Callable[[int, int, int], float]) -> tuple[Callable, Callable]:
    """draw and moments of gain * N(0, s^2), s = std(fan_out, fan_in, H)."""

    def draw(rng, shape, gain, hidden_size):
        fo, fi = fans(shape)
        return gain * std(fo, fi, hidden_size) * rng.standard_normal(shape)

    def moments(shape, gain, hidden_size):
        fo, fi = fans(shape)
        return 0.0, (gain * std(fo, fi, hidden_size)) ** 2

    return draw, moments


def _symmetric_uniform(bound: Callable[[int, int, int], float]) -> tuple[Callable, Callable]:
    """draw and moments of gain * U(-b, b), b = bound(fan_out, fan_in, H)."""

    def draw(rng, shape, gain, hidden_size):
        fo, fi = fans(shape)
        b = bound(fo, fi, hidden_size)
        return gain * rng.uniform(-b, b, size=shape)

    def moments(shape, gain, hidden_size):
        fo, fi = fans(shape)
        return 0.0, (gain * bound(fo, fi, hidden_size)) ** 2 / 3

    return draw, moments


def _uniform01_draw(rng, shape, gain, hidden_size):
    return gain * rng.random(shape)


def _uniform01_moments(shape, gain, hidden_size):
    return gain / 2, gain**2 / 12


# --- structured draws ---------------------------------------------------------------------------


def _matrix(shape, name: str) -> tuple[int, int]:
    if len(shape) != 2:
        raise RnnInitError(f"init: scheme '{name}' needs a matrix, got shape {tuple(shape)}")
    return shape[0], shape[1]


def _orthogonal_draw(rng, shape, gain, hidden_size):
    """gain * Q, Q from the QR of a Gaussian with Q's columns multiplied by sign(diag(R)).

    The sign correction makes Q Haar-distributed (plain QR favours diag(R) > 0). A (big, small)
    Gaussian gives orthonormal columns; it is transposed when fan_out < fan_in, so that the
    rows are orthonormal instead.
    """
    m, n = _matrix(shape, "orthogonal")
    Q, R = np.linalg.qr(rng.standard_normal((max(m, n), min(m, n))))  # Q (big, small), Q^T Q = I
    Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)  # column j times sign(R_jj)
    return gain * (Q if m >= n else Q.T)


def _orthogonal_moments(shape, gain, hidden_size):
    # A semi-orthogonal (m, n) matrix has min(m, n) unit-norm rows or columns, so its squared
    # entries sum to min(m, n); Haar symmetry (Q -> -Q) gives every entry mean 0, and the entries
    # are exchangeable, so Var = E[w^2] = min(m, n) / (m n) = 1 / max(m, n).
    m, n = _matrix(shape, "orthogonal")
    return 0.0, gain**2 / max(m, n)


def _identity_draw(rng, shape, gain, hidden_size):
    m, n = _matrix(shape, "identity")
    return gain * np.eye(m, n)


def _identity_moments(shape, gain, hidden_size):
    # gain * eye(m, n): a fraction p = min(m, n) / (m n) of the entries equal gain, the rest 0,
    # so the entries have mean p gain and (population) variance p (1 - p) gain^2.
    m, n = _matrix(shape, "identity")
    p = min(m, n) / (m * n)
    return gain * p, gain**2 * p * (1 - p)


def _zeros_draw(rng, shape, gain, hidden_size):
    return np.zeros(shape)


def _zeros_moments(shape, gain, hidden_size):
    return 0.0, 0.0


def _scheme(name, formula, note, kind, pair, zero_mean=True) -> Scheme:
    return Scheme(name, formula, note, kind, pair[0], pair[1], zero_mean)


_LECUN = _normal(lambda fo, fi, H: math.sqrt(1 / fi))  # N(0, 1/fan_in), under two names

SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        _scheme("uniform", "U[0, 1)", "the naive draw; mean 0.5, variance 1/12", "iid",
                (_uniform01_draw, _uniform01_moments), zero_mean=False),
        _scheme("small", "N(0, 0.01²)", "min-char-rnn's choice", "iid",
                _normal(lambda fo, fi, H: 0.01)),
        _scheme("xavier", "N(0, 1/fan_in)", "what most RNN code calls Xavier; Glorot's own is glorot_normal",
                "iid", _LECUN),
        _scheme("glorot_normal", "N(0, 2/(fan_in+fan_out))", "Glorot & Bengio 2010", "iid",
                _normal(lambda fo, fi, H: math.sqrt(2 / (fi + fo)))),
        _scheme("glorot_uniform", "U(±sqrt(6/(fan_in+fan_out)))", "Glorot & Bengio 2010", "iid",
                _symmetric_uniform(lambda fo, fi, H: math.sqrt(6 / (fi + fo)))),
        _scheme("he", "N(0, 2/fan_in)", "He et al. 2015, for relu", "iid",
                _normal(lambda fo, fi, H: math.sqrt(2 / fi))),
        _scheme("he_uniform", "U(±sqrt(6/fan_in))", "He et al. 2015, uniform form (variance 2/fan_in)",
                "iid", _symmetric_uniform(lambda fo, fi, H: math.sqrt(6 / fi))),
        _scheme("orthogonal", "QR of N(0, 1), sign-corrected", "Saxe et al. 2013; semi-orthogonal if not square",
                "orthogonal", (_orthogonal_draw, _orthogonal_moments)),
        _scheme("identity", "I (rectangular eye if not square)", "Le, Jaitly & Hinton 2015 (IRNN)",
                "identity", (_identity_draw, _identity_moments), zero_mean=False),
        _scheme("lecun", "N(0, 1/fan_in)", "LeCun et al. 1998; the same draw as xavier", "iid",
                _LECUN),
        _scheme("torch_default", "U(±1/sqrt(H))", "PyTorch nn.RNN's default (H = hidden size), biases too",
                "iid", _symmetric_uniform(lambda fo, fi, H: 1 / math.sqrt(H))),
        _scheme("zeros", "0", "for biases", "zeros", (_zeros_draw, _zeros_moments)),
    ]
}  # fmt: skip


def _whole(base: Scheme, note: str) -> Scheme:
    """``base`` drawn over a gated parameter's whole stacked matrix: the same draw and formula."""
    return replace(base, name=f"{base.name}_whole", note=note, whole_of=base.name)


# Keras keeps an LSTM's or GRU's kernel (I, G*H) and recurrent_kernel (H, G*H) in one piece each
# and draws each whole: glorot_uniform with fan_out G*H, and one orthogonal recurrent_kernel with
# orthonormal rows, which are the columns of our Whh (G*H, H): Whh.T @ Whh = I_H, while no H x H
# block is orthogonal (its entries have variance 1/(G*H), not 1/H).
SCHEMES.update({
    s.name: s
    for s in [
        _whole(SCHEMES["glorot_uniform"], "Keras' LSTM/GRU kernel: glorot_uniform over all gate "
               "blocks at once (fan_out G·H)"),
        _whole(SCHEMES["orthogonal"], "Keras' LSTM/GRU recurrent kernel: one orthogonal matrix "
               "over all gate blocks (orthonormal columns)"),
    ]
})  # fmt: skip

MATRIX_ONLY = tuple(n for n, s in SCHEMES.items() if s.kind in ("orthogonal", "identity"))


@dataclass(frozen=True)
class Solved:
    """A scheme whose gain is solved at run time, not given: the run resolves it to ``base`` at
    the solved gain before drawing (``core.critical.resolve_critical``), so it never draws itself
    and has no fixed variance. It names one parameter of the role ``role`` of a cell with a
    mean-field theory.

    Attributes:
        name, formula, note: as a Scheme's. base: the scheme drawn at the solved gain.
        role: the cell role of the one parameter it may name (``"recurrent"``).
    """

    name: str
    formula: str
    note: str
    base: str
    role: str


SOLVED: dict[str, Solved] = {
    "critical": Solved("critical", "N(0, g*²/fan_in), g* solved: chi* = 1",
                       "the edge of chaos for the run's nonlinearity, bias and inputs (xavier at g*)",
                       base="xavier", role="recurrent"),
}  # fmt: skip
