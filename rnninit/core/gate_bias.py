"""Gate-bias schemes (DESIGN section 4): a gated cell's bias set gate block by gate block.

A gated bias ``bh`` is G blocks of H, one per gate (LSTM i, f, g, o; GRU r, z, n). These schemes
set the block of the gate that keeps the state (the "keep" gate) and, for chrono, the block that
writes into it; every other block is zero.

- LSTM: c_t = f*c_{t-1} + i*g, so f keeps and i writes.
- GRU: h_t = (1-z)*n + z*h_{t-1}, so z keeps (z near 1 keeps h_{t-1}); 1-z writes, and it is
  tied to z, so there is no separate write bias to set (b_r and b_n stay 0).

``forget_bias:V``: b_keep = V (default 1: Gers et al. 2000, Jozefowicz et al. 2015, Keras'
unit_forget_bias); on a GRU it sets b_z = V, which biases z towards keeping h_{t-1} as the
LSTM's forget bias biases f towards keeping c_{t-1}.
``chrono:T_max``: b_keep = log u, u ~ U[1, T_max - 1] i.i.d. per unit, and b_write = -b_keep
(Tallec & Ollivier 2018), so b_keep lies in [0, log(T_max - 1)]: the characteristic forgetting
times 1/(1 - sigma(b_keep)) ~ u spread over [2, T_max]. T_max defaults to the task's sequence
length.

Pure NumPy: no printing, no files, no global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (keep gate, write gate or None), tried in order against a bias's gate names.
KEEP_GATES: tuple[tuple[str, str | None], ...] = (("f", "i"), ("z", None))


def keep_gates(gates: tuple[str, ...]) -> tuple[str, str | None] | None:
    """(keep gate, write gate or None) of a bias with these gate blocks; None without one."""
    for keep, write in KEEP_GATES:
        if keep in gates:
            return keep, (write if write in gates else None)
    return None


def _log_uniform_moments(t_max: float) -> tuple[float, float]:
    """Mean and variance of log u, u ~ U[1, M], M = T_max - 1 (integrals of log u, log^2 u)."""
    M = t_max - 1.0
    if M == 1.0:
        return 0.0, 0.0
    L = math.log(M)
    m1 = (M * L - M + 1.0) / (M - 1.0)  # int_1^M log u du = M log M - M + 1
    m2 = (M * L * L - 2.0 * M * L + 2.0 * M - 2.0) / (M - 1.0)  # int_1^M log^2 u du
    return m1, max(m2 - m1 * m1, 0.0)


def _forget_blocks(rng, gates, H, value) -> dict[str, np.ndarray]:
    keep, _ = keep_gates(gates)
    return {keep: np.full(H, float(value))}


def _forget_moments(gates, value) -> dict[str, tuple[float, float]]:
    keep, _ = keep_gates(gates)
    return {keep: (float(value), 0.0)}


def _chrono_blocks(rng, gates, H, t_max) -> dict[str, np.ndarray]:
    keep, write = keep_gates(gates)
    b = np.log(rng.uniform(1.0, t_max - 1.0, size=H))  # b_keep = log u, u ~ U[1, T_max - 1]
    return {keep: b} if write is None else {keep: b, write: -b}


def _chrono_moments(gates, t_max) -> dict[str, tuple[float, float]]:
    keep, write = keep_gates(gates)
    mean, var = _log_uniform_moments(t_max)
    return {keep: (mean, var)} if write is None else {keep: (mean, var), write: (-mean, var)}


@dataclass(frozen=True)
class GateBias:
    """One gate-bias scheme.

    Attributes:
        name: the registry key. formula: what it sets, as text. note: who proposed it.
        arg: the name of its parameter (``t_max``, ``value``); a parameter, not a gain.
        default: the parameter's default (None: chrono's T_max, from the task's sequence length).
        arg_rule: what the parameter accepts, in words, for messages.
        minimum: the parameter must exceed this (None: any finite number).
        blocks: ``blocks(rng, gates, H, arg) -> {gate: (H,) array}`` for the blocks it sets.
        moments: ``moments(gates, arg) -> {gate: (mean, var)}`` of those blocks, exact.
    """

    name: str
    formula: str
    note: str
    arg: str
    default: float | None
    arg_rule: str
    minimum: float | None
    blocks: Callable
    moments: Callable


GATE_BIASES: dict[str, GateBias] = {
    g.name: g
    for g in [
        GateBias("forget_bias", "b_keep = V (default 1); other blocks 0",
                 "Gers et al. 2000, Jozefowicz et al. 2015 (Keras unit_forget_bias); GRU: b_z = V",
                 "value", 1.0, "a finite number", None, _forget_blocks, _forget_moments),
        GateBias("chrono", "b_keep = log u, u ~ U[1, T_max - 1]; LSTM b_i = -b_f; other blocks 0",
                 "Tallec & Ollivier 2018; GRU: b_z = log u only",
                 "t_max", None, "a number > 2", 2.0, _chrono_blocks, _chrono_moments),
    ]
}  # fmt: skip
