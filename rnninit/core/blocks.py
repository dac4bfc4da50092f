"""Drawing a cell's parameters (DESIGN section 4): ``block_plan`` lays out the blocks an init
draws, in a fixed order, and ``init_params`` draws them from one generator.

A gated parameter is drawn gate block by gate block, each block with its own fans (an LSTM's
``Whh=orthogonal`` is four orthogonal H x H blocks), unless its scheme is a ``_whole`` variant,
which draws the stacked matrix in one piece (``keras_default``: as Keras draws it, whole
kernels); a gate-bias scheme sets the blocks it names.
The parameters' names, shapes, roles and gate blocks come from the cell (``cells.py``).

Pure NumPy: no printing, no files, no global RNG, no rich/typer/yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RnnInitError
from .cells import Cell, get_cell
from .draws import SCHEMES, SOLVED
from .gate_bias import GATE_BIASES
from .initspec import InitSpec, parse_gate_arg, parse_init


def spectral_radius(W: np.ndarray) -> float:
    """max |eigenvalue| of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


@dataclass(frozen=True)
class Block:
    """One gate block of a parameter as it is drawn (the whole parameter when it has no gates or
    its scheme draws it whole).

    Attributes:
        param: the parameter's name. gate: the gate's name, "" for a whole parameter.
        shape: the block's shape: (H, fan_in) of a gated weight, (H,) of a gated bias; the
            parameter's own shape when it is drawn whole. Fans are the block's.
        scheme: a key of ``SCHEMES`` or ``GATE_BIASES``. gain: its gain (1.0 for a gate bias).
        arg: a gate-bias scheme's parameter (T_max resolved from seq_len), else None.
        gates: all the parameter's gate names (a gate-bias scheme reads them); with gate ""
            a gated parameter drawn whole.
    """

    param: str
    gate: str
    shape: tuple[int, ...]
    scheme: str
    gain: float
    arg: float | None
    gates: tuple[str, ...]


def _resolved_arg(spec: InitSpec, name: str, scheme: str, seq_len) -> float:
    """A gate-bias argument; chrono's T_max from ``seq_len`` where the spec leaves it None."""
    arg = spec.args.get(name, GATE_BIASES[scheme].default)
    if arg is not None:
        return arg
    if seq_len is None:
        raise RnnInitError(f"init.{name}: {scheme} needs T_max: write {name}={scheme}:T_MAX, or "
                           "pass seq_len (a run passes its task's sequence length)")  # fmt: skip
    return parse_gate_arg(seq_len, f"init.{name}: T_max from the sequence length", scheme)


def block_plan(
    I: int, H: int, O: int, init="xavier", cell: str | Cell = "rnn", seq_len: int | None = None
) -> list[Block]:
    """The blocks ``init_params`` draws, in draw order: the cell's parameters in order and,
    within a gated parameter, its gate blocks in gate order (LSTM i, f, g, o; GRU r, z, n).

    A block takes its gate's override (``Whh.f``) if the spec has one, else its parameter's
    scheme; a gate-bias scheme covers the blocks it sets (keep and write gates) and leaves the
    others zero unless overridden; a ``_whole`` scheme is one block, the whole parameter.

    Raises:
        RnnInitError: a bad spec or cell, or chrono without T_max and without ``seq_len``.
    """
    cell = get_cell(cell)
    spec = parse_init(init, cell=cell)
    missing = [name for name in cell.param_names if name not in spec.per_param]
    if missing:
        raise RnnInitError(f"init_params: the init names no scheme for {', '.join(missing)} "
                           f"of cell {cell.name!r}")  # fmt: skip
    plan = []
    for p in cell.param_specs(I, H, O):  # fixed order: reproducible
        scheme, gain = spec.per_param[p.name]
        if not p.gates or scheme in SCHEMES and SCHEMES[scheme].whole_of:
            plan.append(Block(p.name, "", tuple(p.shape), scheme, gain, None, p.gates))
            continue
        shape = (p.shape[0] // len(p.gates), *p.shape[1:])  # one block: (H, fan_in) or (H,)
        arg, sets = None, ()
        if scheme in GATE_BIASES:
            arg = _resolved_arg(spec, p.name, scheme, seq_len)
            sets = tuple(GATE_BIASES[scheme].moments(p.gates, arg))
        for g in p.gates:
            if g in sets:
                plan.append(Block(p.name, g, shape, scheme, 1.0, arg, p.gates))
            else:  # a gate bias leaves the blocks it does not set at zero
                rest = ("zeros", 1.0) if scheme in GATE_BIASES else (scheme, gain)
                s, k = spec.per_gate.get(f"{p.name}.{g}", rest)
                plan.append(Block(p.name, g, shape, s, k, None, p.gates))
    return plan


def block_moments(block: Block, H: int) -> tuple[float, float]:
    """(mean, var) of one entry of a block, exact, from its scheme's formula (H: hidden size)."""
    if block.scheme in GATE_BIASES:
        return GATE_BIASES[block.scheme].moments(block.gates, block.arg)[block.gate]
    return SCHEMES[block.scheme].moments(block.shape, block.gain, H)


def init_params(
    I: int,
    H: int,
    O: int,
    init="xavier",
    seed: int | None = 0,
    *,
    rng: np.random.Generator | None = None,
    dtype=np.float64,
    cell: str | Cell = "rnn",
    seq_len: int | None = None,
) -> dict[str, np.ndarray]:
    """Draw the parameters of a cell (by default the vanilla RNN).

    Names, shapes and roles come from ``cell.param_specs(I, H, O)``; for ``rnn``: Wxh (H, I),
    Whh (H, H), Why (O, H), bh (H,), by (O,). All draws come from one generator in a fixed
    order (``block_plan``): the cell's parameters in order (rnn: Wxh, Whh, Why, bh, by) and,
    within a gated parameter, block by block in gate order, each block drawn with its own fans
    (an LSTM's Whh orthogonal is four orthogonal H x H blocks), or in one piece with the fans
    of the whole for a ``_whole`` scheme (keras_default, as Keras draws it: whole kernels, so
    an LSTM's Whh has Whh.T @ Whh = I_H); a gate-bias scheme draws once, at the first block it
    sets (chrono: H uniforms). A seed fixes every number. If the spec
    sets ``spectral_radius`` R, the recurrent weight Whh is then multiplied by
    R / max|eig(Whh)|. The draws are float64, cast to ``dtype`` at the end.

    Args:
        I: input size. H: hidden size. O: output size (positive integers).
        init: anything ``parse_init`` accepts, or an ``InitSpec``.
        seed: seed of ``np.random.default_rng``; ignored when ``rng`` is given.
        rng: a generator to draw from (it is advanced by the draws).
        dtype: the dtype of the returned arrays.
        cell: a key of ``cells.CELLS`` or a Cell.
        seq_len: the task's sequence length: chrono's T_max where the spec leaves it out.

    Returns:
        One array per parameter, in draw order: ``{"Wxh": ..., "Whh": ..., "Why": ..., "bh": ...,
        "by": ...}`` for ``rnn``.

    Raises:
        RnnInitError: a bad spec, size or cell, chrono with no T_max and no seq_len, or a Whh
            with spectral radius 0 when R is set.
    """
    for label, n in (("I", I), ("H", H), ("O", O)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise RnnInitError(f"init_params: {label}: expected a positive integer, got {n!r}")
    cell = get_cell(cell)
    spec = parse_init(init, cell=cell)
    for name, (scheme, _) in spec.per_param.items():
        if scheme in SOLVED:  # its gain depends on the run's drive: resolve_critical first
            raise RnnInitError(f"init.{name}: {scheme!r} is solved for a run's nonlinearity, bias "
                               "and inputs: resolve it first (core.critical.resolve_critical, "
                               "as rnninit train does)")  # fmt: skip
    plan = block_plan(I, H, O, spec, cell, seq_len)
    if rng is None:
        rng = np.random.default_rng(seed)
    blocks: dict[str, list[np.ndarray]] = {}
    gate_bias: dict[str, dict[str, np.ndarray]] = {}  # param -> the blocks its scheme set
    for b in plan:
        if b.scheme in GATE_BIASES:
            if b.param not in gate_bias:  # one draw, at the first block the scheme sets
                gate_bias[b.param] = GATE_BIASES[b.scheme].blocks(rng, b.gates, b.shape[0], b.arg)
            W = gate_bias[b.param][b.gate]
        else:
            W = SCHEMES[b.scheme].draw(rng, b.shape, b.gain, H)
        blocks.setdefault(b.param, []).append(np.asarray(W, np.float64))
    params = {name: bs[0] if len(bs) == 1 else np.concatenate(bs) for name, bs in blocks.items()}
    if spec.spectral_radius is not None:
        W = cell.recurrent_weight
        rho = spectral_radius(params[W])
        if not rho > 0:
            raise RnnInitError(f"init.spectral_radius: {W} ({spec.per_param[W][0]}) has "
                               "spectral radius 0 and cannot be rescaled")  # fmt: skip
        params[W] = params[W] * (spec.spectral_radius / rho)
    return {name: p.astype(dtype) for name, p in params.items()}
