"""`rnninit phase` as a library call: chi* over a grid of (recurrent weight variance, bias
variance), the critical line, the named inits where they sit and, on request, the per-step
gradient factor measured at init on drawn networks beside the theory; written as CSV and PNG."""

from __future__ import annotations

import math

import numpy as np

from ..core.critical import critical_gain, critical_line, phase_grid
from ..core.engine import bptt
from ..core.inits import PRESETS, SCHEMES, parse_init
from ..core.nonlinearities import NONLINEARITIES
from ..core.theory import fixed_points, regime, timescale
from ..errors import RnnInitError
from ..report import plots
from .config import load_config
from .critical import DEFAULT_HIDDEN, check_hidden, check_nonlinearity, input_share
from .runs import write_csv
from .schemes import check_var
from .threads import policy_blas_threads
from .training import prepare

GRID = 41  # points per axis
MAX_BIAS_VAR = 0.5
MIN_MAX_WEIGHT_VAR = 4.0  # the x axis reaches He's 2 and beyond, or 1.6 x the critical s_w2
MEASURE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5)  # s_w2 as factors on the critical one at s_b2 = 0
MEASURE = {"hidden_size": 256, "batch_size": 32, "seeds": 3, "burn_in": 30, "steps": 20}
SYNTHETIC_INPUT_SIZE = 32
CSV_COLUMNS = ("kind", "s_w2", "s_b2", "q_star", "chi_star", "xi", "regime", "gain",
               "measured_chi", "measured_chi_std", "seeds", "hidden_size")  # fmt: skip


def phase_diagram(
    nonlinearity: str = "tanh",
    input_var: float | None = None,
    task: str | None = None,
    wxh: str = "xavier",
    hidden_size: int = DEFAULT_HIDDEN,
    grid: int = GRID,
    max_weight_var: float | None = None,
    max_bias_var: float = MAX_BIAS_VAR,
    measure: bool = False,
    measure_hidden: int = MEASURE["hidden_size"],
    seeds: int = MEASURE["seeds"],
    plot=None,
    csv=None,
) -> dict:
    """chi* of the driven fixed point over s_w2 in [0, max_weight_var] x s_b2 in
    [0, max_bias_var] (``core.critical.phase_grid``) at one input share (``input_share``), the
    critical s_w2 at each s_b2, the inits of the registry where they sit (``init_markers``)
    and, with ``measure``, the per-step gradient factor measured on drawn networks
    (``measure_chi``) at s_b2 = 0. Writes the CSV (``CSV_COLUMNS``: kind = theory, critical
    or measured) and the plot when their paths are given.

    Returns:
        {"nonlinearity", "drive", "grid" (phase_grid's dict), "line" (M,) critical s_w2, NaN
        where none, "schemes" and "outside" (``init_markers``), "measured" (rows), "measure"
        (what was measured: sizes, steps, inputs; None without), "files" {"csv", "plot"}}.

    Raises:
        RnnInitError: a bad nonlinearity, task, variance, grid size or range.
    """
    check_nonlinearity(nonlinearity)
    check_hidden(hidden_size)
    if not (isinstance(grid, int) and 3 <= grid <= 401):
        raise RnnInitError(
            f"--grid: expected a whole number of points per axis in 3..401, got {grid!r}"
        )
    drive = input_share(task, input_var, wxh, hidden_size)
    u = drive["input_var"]
    ref = critical_gain(nonlinearity, 0.0, u, factors=())
    s_ref = ref.s_w2 if ref.s_w2 is not None else ref.reference_gain**2
    if max_weight_var is None:
        max_weight_var = max(MIN_MAX_WEIGHT_VAR, 1.6 * s_ref)
    for flag, v in (("--max-weight-var", max_weight_var), ("--max-bias-var", max_bias_var)):
        if not check_var(v, flag) > 0:
            raise RnnInitError(f"{flag}: expected a positive variance, got {v}")
    s_w2 = np.linspace(0.0, max_weight_var, grid)
    s_b2 = np.linspace(0.0, max_bias_var, grid)
    result = {"nonlinearity": nonlinearity, "drive": drive,
              "grid": phase_grid(nonlinearity, s_w2, s_b2, u),
              "line": critical_line(nonlinearity, s_b2, u), "measured": [], "measure": None,
              "files": {}, **init_markers(nonlinearity, u, hidden_size)}  # fmt: skip
    if measure:
        points = [s_ref * f for f in MEASURE_FACTORS if s_ref * f <= max_weight_var]
        result["measure"], result["measured"] = measure_chi(
            nonlinearity, points, drive, task, hidden_size=measure_hidden, seeds=seeds
        )
    if csv is not None:
        write_csv(csv, csv_rows(result), CSV_COLUMNS)
        result["files"]["csv"] = str(csv)
    if plot is not None:
        plots.phase_diagram(plot_data(result), plot, title=plot_title(result))
        result["files"]["plot"] = str(plot)
    return result


def init_markers(nonlinearity: str, input_var: float, hidden_size: int) -> dict:
    """Where each init of the registry (``init=NAME``: a scheme, or a preset, which a name
    that is both means, as torch_default) puts an H x H Whh and bh: s_w2 = H Var(Whh entry),
    s_b2 = Var(bh entry), from the registry's moments; inits at the same point share a marker.

    Returns:
        {"schemes": [{"schemes": [scheme names], "presets": [preset names], "label", "s_w2",
        "s_b2", "q_star", "chi_star", "xi", "regime"}], "outside": names whose Whh or bh is
        not zero-mean (no theory)}.
    """
    H, points, outside = hidden_size, {}, []
    for name in dict.fromkeys([*SCHEMES, *PRESETS]):
        if name == "zeros" or name in SCHEMES and SCHEMES[name].whole_of:
            continue  # a _whole variant draws a vanilla Whh as its base does: one marker, not two
        spec = parse_init(name).per_param
        (whh, g_w), (bh, g_b) = spec["Whh"], spec["bh"]
        if not (SCHEMES[whh].zero_mean and SCHEMES[bh].zero_mean):
            outside.append(name)
            continue
        s_w2 = H * SCHEMES[whh].moments((H, H), g_w, H)[1]
        s_b2 = SCHEMES[bh].moments((H,), g_b, H)[1]
        at = points.setdefault(
            (round(s_w2, 9), round(s_b2, 12)), (s_w2, s_b2, {"schemes": [], "presets": []})
        )
        at[2]["presets" if name in PRESETS else "schemes"].append(name)
    s = np.array([p[0] for p in points.values()])
    b = np.array([p[1] for p in points.values()])
    q, chi = fixed_points(nonlinearity, s, input_var, b)
    marks = [{**names, "label": _label(names), "s_w2": float(s_k), "s_b2": float(b_k),
              "q_star": float(q_k), "chi_star": float(c_k), "xi": timescale(float(c_k)),
              "regime": regime(float(c_k))}
             for (s_k, b_k, names), q_k, c_k in zip(points.values(), q, chi)]  # fmt: skip
    return {"schemes": sorted(marks, key=lambda m: (m["s_w2"], m["s_b2"])), "outside": outside}


def _label(names: dict) -> str:
    """'xavier, lecun; presets keras_default, flax_default'."""
    presets = names["presets"]
    tail = f"preset{'s' if len(presets) > 1 else ''} {', '.join(presets)}" if presets else ""
    return "; ".join(part for part in (", ".join(names["schemes"]), tail) if part)


def measure_chi(
    nonlinearity: str,
    s_w2s,
    drive: dict,
    task: str | None = None,
    hidden_size: int = MEASURE["hidden_size"],
    seeds: int = MEASURE["seeds"],
    batch_size: int = MEASURE["batch_size"],
    burn_in: int = MEASURE["burn_in"],
    steps: int = MEASURE["steps"],
) -> tuple[dict, list[dict]]:
    """The per-step gradient factor measured at init, at each s_w2 of s_w2s with zero bias.

    For each seed: Whh ~ N(0, s_w2 / H) (xavier at gain sqrt(s_w2)), Wxh as the drive says (the
    task's through its Wxh scheme, else xavier at gain sqrt(input_var) on inputs of norm^2 = I,
    so that (1/H)||Wxh x||^2 ~ input_var), h_0 = phi(a_0), a_0 ~ N(0, 1) (so that an undriven
    tanh network leaves h = 0), one forward and backward pass (``core.engine.bptt``) over
    T >= burn_in + steps timesteps (a task's sequences of its default config end to end, whose
    input share is the one ``task_input_norm`` measured), and from its jac_sq (the mean squared
    singular value of dh_T/dh_t) the geometric mean per-step factor over the last ``steps``:

        measured = (jac_sq_(T - steps) / jac_sq_T)^(1 / steps),      jac_sq_T = 1

    after at least ``burn_in`` steps that let q_t settle near q*. The same draws (scaled) serve
    every s_w2 of a seed. Returns (what was measured, rows {"s_w2", "s_b2", "gain", "q_star",
    "chi_star", "xi", "regime" (theory), "measured_chi", "measured_chi_std" (mean and
    population std over seeds), "seeds", "hidden_size"}).
    """
    if not (isinstance(seeds, int) and seeds >= 1):
        raise RnnInitError(f"--seeds: expected a positive integer, got {seeds!r}")
    check_hidden(hidden_size, "--measure-hidden")
    batches = [
        _inputs(drive, task, hidden_size, batch_size, burn_in + steps, k) for k in range(seeds)
    ]
    T = batches[0]["x"].shape[0]
    rows = []
    q, chi = fixed_points(nonlinearity, np.array(s_w2s, float), drive["input_var"], 0.0)
    for s, q_k, c_k in zip(s_w2s, q, chi):
        with policy_blas_threads(batch_size, hidden_size):  # one thread below H = 512
            factors = [_factor(nonlinearity, s, b, steps) for b in batches]
        rows.append({"s_w2": float(s), "s_b2": 0.0, "gain": math.sqrt(s), "q_star": float(q_k),
                     "chi_star": float(c_k), "xi": timescale(float(c_k)),
                     "regime": regime(float(c_k)), "measured_chi": float(np.mean(factors)),
                     "measured_chi_std": float(np.std(factors)), "seeds": seeds,
                     "hidden_size": hidden_size})  # fmt: skip
    inputs = f"{task} batches" if task else "no input"
    if task is None and drive["input_var"]:
        inputs = f"random inputs, input variance {drive['input_var']:.4g}"
    info = {"hidden_size": hidden_size, "batch_size": batch_size, "seeds": seeds, "T": T,
            "first": T - steps + 1, "steps": steps, "inputs": inputs}  # fmt: skip
    return info, rows


def _inputs(drive: dict, task, H: int, B: int, T: int, seed: int) -> dict:
    """One seed's batch and its weights at unit recurrent scale: x (T, B[, I]), y, mask, loss,
    Wxh (H, I), a unit-variance Whh (H, H), a_0 (B, H)."""
    rng = np.random.default_rng(seed)
    if task is not None:  # the default config's sequences, end to end until T is reached
        setup = prepare(
            load_config(None, [f"task.name={task}", f"seed={seed}"]), memory_check=False
        )
        batches = [setup.task.sample(setup.rng_data, B) for _ in range(-(-T // setup.task.seq_len))]
        I = setup.task.input_size
        scheme, gain = parse_init(f"Wxh={drive['wxh']}").per_param["Wxh"]
        Wxh = SCHEMES[scheme].draw(rng, (H, I), gain, H)
        x, y = (np.concatenate([getattr(b, k) for b in batches]) for k in ("x", "y"))
        mask, loss, O = None, setup.task.loss, setup.task.output_size
    else:
        I, u = SYNTHETIC_INPUT_SIZE, drive["input_var"]
        x = rng.standard_normal((T, B, I))
        x *= math.sqrt(I) / np.linalg.norm(x, axis=2, keepdims=True)  # ||x_t||^2 / I = 1
        Wxh = math.sqrt(u) * SCHEMES["xavier"].draw(rng, (H, I), 1.0, H)
        y, mask, loss, O = np.zeros((T, B, 1)), None, "mse", 1
    W = SCHEMES["xavier"].draw(rng, (H, H), 1.0, H)  # N(0, 1/H): times sqrt(s_w2) per point
    return {"x": x, "y": y, "mask": mask, "loss": loss, "Wxh": Wxh, "W": W, "O": O,
            "a0": rng.standard_normal((B, H)), "probe": np.random.SeedSequence(seed)}  # fmt: skip


def _factor(nonlinearity: str, s_w2: float, b: dict, steps: int) -> float:
    """The geometric-mean per-step factor of jac_sq over the last ``steps`` steps."""
    H = b["W"].shape[0]
    h0 = np.empty_like(b["a0"])
    NONLINEARITIES[nonlinearity].phi(b["a0"], h0)
    params = {"Wxh": b["Wxh"], "Whh": math.sqrt(s_w2) * b["W"], "Why": np.zeros((b["O"], H)),
              "bh": np.zeros(H), "by": np.zeros(b["O"])}  # fmt: skip
    with np.errstate(over="ignore", invalid="ignore"):
        res = bptt(params, b["x"], b["y"], mask=b["mask"], h0=h0, nonlinearity=nonlinearity,
                   loss=b["loss"], probe_rng=np.random.default_rng(b["probe"]))  # fmt: skip
    jac = res.timesteps["jac_sq"]  # (T,), jac_sq_T = 1
    return float(jac[len(jac) - steps - 1]) ** (1.0 / steps)


def csv_rows(result: dict) -> list[dict]:
    """The CSV: one "theory" row per grid point, one "critical" row per s_b2 with a critical
    s_w2 (its q* and chi* = 1), one "measured" row per measured point."""
    g = result["grid"]
    rows = [{"kind": "theory", "s_w2": float(s), "s_b2": float(b), "q_star": float(g["q_star"][i, j]),
             "chi_star": float(g["chi_star"][i, j]), "xi": float(g["xi"][i, j]),
             "regime": str(g["regime"][i, j])}
            for i, b in enumerate(g["s_b2"]) for j, s in enumerate(g["s_w2"])]  # fmt: skip
    u = result["drive"]["input_var"]
    for b, s in zip(g["s_b2"], result["line"]):
        if np.isfinite(s):
            q, chi = fixed_points(result["nonlinearity"], s, u, b)
            rows.append({"kind": "critical", "s_w2": float(s), "s_b2": float(b),
                         "q_star": float(q), "chi_star": float(chi), "xi": math.inf,
                         "regime": "critical", "gain": math.sqrt(s)})  # fmt: skip
    rows += [{"kind": "measured", **m} for m in result["measured"]]
    return rows


def plot_data(result: dict) -> dict:
    """The plain data ``report.plots.phase_diagram`` draws."""
    g = result["grid"]
    return {"s_w2": g["s_w2"], "s_b2": g["s_b2"], "chi_star": g["chi_star"],
            "q_star": g["q_star"], "line": result["line"],
            "marks": [{"label": m["label"], "s_w2": m["s_w2"], "s_b2": m["s_b2"]}
                      for m in result["schemes"]],
            "measured": result["measured"]}  # fmt: skip


def plot_title(result: dict) -> str:
    d = result["drive"]
    if d["source"] == "task":
        what = f"{d['task']['task']} inputs through Wxh {d['wxh']} (input variance {d['input_var']:.3g})"
    else:
        what = f"input variance {d['input_var']:.3g}" if d["input_var"] else "no input"
    return f"{result['nonlinearity']}: χ* at the fixed point, {what}"
