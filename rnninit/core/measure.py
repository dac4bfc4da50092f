"""One draw measured beside its formula: every scheme on one matrix (``measure_schemes``, the
table of ``rnninit inits``) and a cell's init block by block (``measure_blocks``, the table of
``rnninit inits --cell``).

Pure NumPy: no printing, no files, no global RNG, no rich/typer/yaml.
"""

from __future__ import annotations

import numpy as np

from ..errors import RnnInitError
from .blocks import block_moments, block_plan, init_params, spectral_radius
from .cells import Cell, get_cell
from .draws import SCHEMES, fans
from .gate_bias import GATE_BIASES
from .initspec import parse_gain


def measure_schemes(shape: tuple[int, int], seed: int = 0, gain: float = 1.0) -> list[dict]:
    """Draw one matrix of ``shape`` with every scheme and measure it beside its formula.

    Every scheme draws from its own ``np.random.default_rng(seed)`` with ``hidden_size =
    shape[0]``, so a row does not depend on the registry's order (and ``xavier`` and ``lecun``,
    the same draw, show the same numbers).

    Args:
        shape: (fan_out, fan_in) of the matrix.
        seed: seed of every draw.
        gain: the gain every scheme is drawn with (a number or a nonlinearity's name).

    Returns:
        One dict per scheme, in registry order: ``name``, ``formula``, ``note``,
        ``expected_mean``, ``expected_var`` (from the formula), ``mean``, ``var`` (measured,
        ddof=0), ``spectral_radius`` and ``max_singular`` (square shapes only; None otherwise).

    Raises:
        RnnInitError: a shape that is not two positive integers, or a bad gain.
    """
    if len(shape) != 2 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
        raise RnnInitError(f"shape: expected two positive integers, got {tuple(shape)}")
    shape = (int(shape[0]), int(shape[1]))
    gain = parse_gain(gain, "gain")
    square = shape[0] == shape[1]
    rows = []
    for scheme in SCHEMES.values():
        W = scheme.draw(np.random.default_rng(seed), shape, gain, shape[0])
        mean, var = scheme.moments(shape, gain, shape[0])
        rows.append({
            "name": scheme.name,
            "formula": scheme.formula,
            "note": scheme.note,
            "expected_mean": float(mean),
            "expected_var": float(var),
            "mean": float(W.mean()),
            "var": float(W.var()),
            "spectral_radius": spectral_radius(W) if square else None,
            "max_singular": float(np.linalg.norm(W, 2)) if square else None,
        })  # fmt: skip
    return rows


def measure_blocks(
    I: int,
    H: int,
    O: int,
    init="xavier",
    cell: str | Cell = "rnn",
    seed: int = 0,
    seq_len: int | None = None,
) -> list[dict]:
    """One draw of ``init_params`` measured block by block beside each block's formula.

    Returns:
        One dict per block, in draw order (``block_plan``): ``param``, ``gate`` ("" for a whole
        parameter), ``whole`` (True for a gated parameter drawn in one piece, as keras_default
        draws Wxh and Whh), ``shape`` (the block's), ``fan_out``, ``fan_in`` (the block's: a
        bias (n,) counts as n, n), ``scheme``, ``gain``, ``arg`` (a gate bias's parameter, else
        None),
        ``formula``, ``expected_mean``, ``expected_var`` (exact, from the formula) and ``mean``,
        ``var`` (measured, ddof=0).

    Raises:
        RnnInitError: as ``init_params``.
    """
    cell = get_cell(cell)
    params = init_params(I, H, O, init, seed, cell=cell, seq_len=seq_len)
    plan = block_plan(I, H, O, init, cell, seq_len)
    count = {p: sum(b.param == p for b in plan) for p in params}
    rows, seen = [], {}
    for b in plan:
        k = seen[b.param] = seen.get(b.param, -1) + 1
        W = np.split(params[b.param], count[b.param])[k]
        fan_out, fan_in = fans(b.shape)
        mean, var = block_moments(b, H)
        formula = (GATE_BIASES if b.scheme in GATE_BIASES else SCHEMES)[b.scheme].formula
        rows.append({
            "param": b.param, "gate": b.gate, "whole": bool(b.gates) and not b.gate,
            "shape": b.shape, "fan_out": fan_out,
            "fan_in": fan_in, "scheme": b.scheme, "gain": b.gain, "arg": b.arg,
            "formula": formula, "expected_mean": float(mean), "expected_var": float(var),
            "mean": float(W.mean()), "var": float(W.var()),
        })  # fmt: skip
    return rows
