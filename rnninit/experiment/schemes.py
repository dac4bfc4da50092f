"""`rnninit inits` as a library call: every scheme measured on one draw, with the mean-field
theory of the recurrence it would draw, driven by a stated input and bias variance or by the
inputs of a task."""

from __future__ import annotations

import math

from ..core.critical import INPUT_BATCHES, critical_gain, input_share, mean_input_sq
from ..core.draws import SCHEMES, SOLVED
from ..core.measure import measure_schemes
from ..core.theory import recurrence_regime
from ..errors import RnnInitError
from .config import load_config
from .training import prepare

TASK_BATCHES = INPUT_BATCHES  # batches of the task's default config whose inputs are averaged


def task_input_norm(task: str) -> dict:
    """The mean input norm of a task, for the input's share of the pre-activation variance.

    x_sq = mean of ||x_t[b]||^2 / I over every step t and sequence b of the first TASK_BATCHES
    training batches a run of the default config with ``task.name = task`` sees (seed 0; char:
    the built-in corpus), by ``core.critical.mean_input_sq``, as a run with ``init.Whh=critical``
    estimates it from its own first batches. One-hot inputs give 1 / I exactly.

    Returns:
        {"task", "input_size" (I), "x_sq", "seq_len" (T), "batches", "batch_size"}.

    Raises:
        RnnInitError: an unknown task.
    """
    cfg = load_config(None, [f"task.name={task}"])
    setup = prepare(cfg)
    B, I = cfg.train.batch_size, setup.task.input_size
    x_sq = mean_input_sq(setup.task, setup.rng_data, B, TASK_BATCHES)
    return {"task": task, "input_size": I, "x_sq": x_sq, "seq_len": setup.task.seq_len,
            "batches": TASK_BATCHES, "batch_size": B}  # fmt: skip


def task_input_var(norm: dict, scheme: str, gain: float, hidden_size: int) -> float:
    """The input's share of the pre-activation variance per step, I Var(Wxh entry) x_sq, for a
    task's input norm (``task_input_norm``) and Wxh (hidden_size, I) drawn with ``scheme``."""
    return input_share(scheme, gain, (hidden_size, norm["input_size"]), norm["x_sq"])


def check_var(value: float, flag: str) -> float:
    """A variance given on the command line: finite and >= 0, else RnnInitError naming flag."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0.0):
        raise RnnInitError(f"{flag}: expected a variance >= 0, got {value}")
    return float(value)


def schemes_with_theory(
    shape: tuple[int, int],
    seed: int = 0,
    gain: float = 1.0,
    nonlinearity: str = "tanh",
    input_var: float = 0.0,
    bias_var: float = 0.0,
    task: str | None = None,
) -> dict:
    """Every scheme measured on one draw (``measure_schemes``), and for the zero-mean ones the
    fixed point q*, chi*, timescale xi and regime of the recurrence (``recurrence_regime``) with
    s_w2 = fan_in Var(w) from the formula.

    The input's share of the pre-activation variance per step is ``input_var`` for every
    scheme, or with ``task`` I Var(Wxh entry) x_sq: each scheme also draws Wxh (H, I) at gain 1,
    as ``init=SCHEME`` would (``gain`` scales the measured recurrent matrix only), and x_sq is
    the task's mean input norm (``task_input_norm``): the fixed point is that of the recursion
    driven by the mean input share.

    A solved scheme (``critical``) has no fixed variance: its row measures nothing (None) and
    its theory is the solve for the same drive (Wxh drawn with its base scheme, xavier).

    Returns:
        {"rows": the rows of measure_schemes, each with "input_var", "q_star", "chi", "xi",
        "regime" where the theory applies, then one row per solved scheme ("solved": True,
        "s_w2" the solved variance or None); "nonlinearity"; "bias_var"; "input_var" (the stated
        one, None with a task); "task": task_input_norm's dict or None}.

    Raises:
        RnnInitError: a bad shape or gain, a negative variance, both a task and input_var, or
            an unknown task.
    """
    input_var = check_var(input_var, "--input-var")
    bias_var = check_var(bias_var, "--bias-var")
    if task is not None and input_var > 0:
        raise RnnInitError("--task: takes the input variance from the task; give --input-var or "
                           "--task, not both")  # fmt: skip
    rows = measure_schemes(tuple(shape), seed=seed, gain=gain)
    drive = task_input_norm(task) if task is not None else None
    for row in rows:
        scheme = SCHEMES[row["name"]]
        if not (scheme.zero_mean and row["expected_var"] > 0):
            continue
        u = input_var if drive is None else task_input_var(drive, row["name"], 1.0, shape[0])
        row["input_var"] = u
        row.update(recurrence_regime(nonlinearity, shape[1] * row["expected_var"], u, bias_var))
    for solved in SOLVED.values():
        u = input_var if drive is None else task_input_var(drive, solved.base, 1.0, shape[0])
        rows.append(_solved_row(solved, nonlinearity, u, bias_var))
    return {"rows": rows, "nonlinearity": nonlinearity, "bias_var": bias_var,
            "input_var": None if drive else input_var, "task": drive}  # fmt: skip


def _solved_row(solved, nonlinearity: str, input_var: float, bias_var: float) -> dict:
    """A solved scheme's row (``critical``): no fixed variance, so nothing drawn or measured
    (None); its theory is that of the gain it solves for this drive (s_w2 None, and no regime,
    where no critical gain exists)."""
    row = {"name": solved.name, "formula": solved.formula, "note": solved.note, "solved": True,
           "expected_mean": 0.0, "expected_var": None, "mean": None, "var": None,
           "spectral_radius": None, "max_singular": None, "input_var": input_var,
           "s_w2": critical_gain(nonlinearity, bias_var, input_var, factors=()).s_w2}  # fmt: skip
    if row["s_w2"] is not None:
        row.update(recurrence_regime(nonlinearity, row["s_w2"], input_var, bias_var))
    return row


def gate_block_listing(
    cell, hidden_size: int, input_size: int, seed: int = 0, t_max: float = 100.0
) -> dict:
    """`rnninit inits --cell C` for a gated cell: what each scheme, gate-bias scheme and preset
    does to each gate block, one draw measured per block (``measure_blocks``).

    Each scheme is drawn as ``init=SCHEME`` and listed on the gated weights' blocks (Wxh, Whh);
    each gate-bias scheme as ``BIAS=SCHEME:ARG`` on every bias with a keep gate (chrono with
    ``t_max``); each preset on every block of every parameter. A ``_whole`` scheme (and
    keras_default, as Keras draws it: whole kernels) lists Wxh and Whh as one block each, with
    the fans of the whole matrix. The output size is H.

    Args:
        cell: a Cell (or a key of CELLS). hidden_size, input_size: H and I. seed: of each draw.
        t_max: chrono's T_max for the listing.

    Returns:
        {"cell": name, "H", "I", "sections": [{"init": the spec drawn, "kind": "scheme",
        "gate_bias" or "preset", "formula": the scheme's or gate-bias scheme's formula (None for
        a preset), "rows": measure_blocks' rows for the blocks listed}]}.

    Raises:
        RnnInitError: a bad cell or size.
    """
    from ..core.cells import get_cell
    from ..core.gate_bias import GATE_BIASES, keep_gates
    from ..core.measure import measure_blocks
    from ..core.presets import PRESET_ROLES

    cell = get_cell(cell, where="--cell")
    H, I = int(hidden_size), int(input_size)
    specs = cell.param_specs(I, H, H)
    weights = {p.name for p in specs if p.gates and p.role != "bias"}
    biases = [p.name for p in specs if p.role == "bias" and keep_gates(p.gates)]
    sections = []
    for name in SCHEMES:
        rows = measure_blocks(I, H, H, name, cell, seed)
        sections.append({"init": name, "kind": "scheme", "formula": SCHEMES[name].formula,
                         "rows": [r for r in rows if r["param"] in weights]})  # fmt: skip
    for name, gb in GATE_BIASES.items():
        for bias in biases:
            arg = t_max if gb.default is None else gb.default
            init = f"{bias}={name}:{arg:g}"
            rows = measure_blocks(I, H, H, init, cell, seed)
            sections.append({"init": init, "kind": "gate_bias", "formula": gb.formula,
                             "rows": [r for r in rows if r["param"] == bias]})  # fmt: skip
    for name in PRESET_ROLES:
        sections.append({"init": name, "kind": "preset", "formula": None,
                         "rows": measure_blocks(I, H, H, name, cell, seed)})  # fmt: skip
    return {"cell": cell.name, "H": H, "I": I, "sections": sections}
