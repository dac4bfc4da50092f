"""The critical recurrent gain: the weight variance at which chi* = 1 at the driven fixed point.

With s_w2 = H Var(Whh entry) (= g^2 for a scheme of variance 1/fan_in at gain g: xavier, lecun,
orthogonal), u the input's share and b the bias's share of each pre-activation's variance per
step (``theory.recurrence_regime``), the mean-field recursion settles at

    q*   = s_w2 E[phi(sqrt(q*) z)^2] + u + b
    chi* = s_w2 E[phi'(sqrt(q*) z)^2]

and chi* is the factor by which the gradient's variance changes per step back in time there.
``critical_gain`` finds the s_w2 with chi* = 1: the edge of chaos (Poole et al. 2016,
Schoenholz et al. 2017), where gradients neither vanish nor explode geometrically in time.

Saturating phi (tanh), c = u + b > 0. Write d = s_w2 E[phi^2](q*) = q* - c, the recurrent share
of q*. Every d > 0 is the fixed point of exactly one s_w2, and along it, with g(q) = E[phi^2](q)
and f(q) = E[phi'^2](q),

    s_w2(d) = d / g(c + d),        chi*(d) = d f(c + d) / g(c + d).

g is increasing and concave with g(0) = 0, so g'(q) <= g(q) / q and d ln s_w2 / dd =
1/d - g'/g >= 1/d - 1/(c + d) > 0: s_w2(d) is increasing, from 0 (d -> 0) to inf (g < 1), so
solving in d is solving in s_w2. And d ln chi*/dd = 1/d + (f'/f - g'/g)(c + d) > 0 as long as
chi_0(q) = q f(q) / g(q), the undriven chi* at q, is non-decreasing in q (then f'/f - g'/g >=
-1/q > -1/d). chi_0 = 1 + 4 q^2 / 3 + O(q^3) near 0 and grows like (4/3) sqrt(q / (2 pi)) at
large q; tests/test_critical.py checks that it increases on q in [1e-3, 1e7] for every
saturating entry of the registry. So chi*(s_w2) rises monotonically from 0 to inf, the root is
unique, and bisection on d in a doubling bracket finds it; the result is checked against
``theory.fixed_point`` at the solved s_w2 (chi* = 1 to 1e-9, or RuntimeError).

Saturating phi without drive (c = 0): q* = 0 for s_w2 <= 1, where chi* = s_w2 phi'(0)^2 = s_w2,
so s_w2 = 1 exactly, with q* = 0: the state decays (slowly, like 1/t) and the gradient keeps its
size. Above it q* > 0 and chi* > 1.

Homogeneous phi (relu, linear): phi(a) = a phi'(a), so E[phi^2](q) = q E[phi'^2] and
chi* = s_w2 E[phi'^2] whatever q: chi* = 1 at s_w2 = 1 / E[phi'^2] (relu 2, linear 1), where
the variance map q -> s_w2 E[phi^2](q) + c has slope 1. Without drive every q is then a fixed
point and h_0 = 0 stays at q* = 0: critical. With any input or bias the map adds c every step
and q* is infinite: there is no critical gain, only the ordered side below it.

``resolve_critical`` turns the init scheme ``critical`` (``init.Whh=critical``) into the draw
it stands for: xavier at the gain solved here for a run's nonlinearity, bias and inputs.

NumPy only, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import RnnInitError
from .cells import Cell
from .draws import SCHEMES, SOLVED
from .initspec import InitSpec
from .nonlinearities import NONLINEARITIES
from .tasks import Task
from .theory import fixed_point, fixed_points, regime, timescale

NEARBY_FACTORS = (0.9, 0.95, 1.0, 1.05, 1.1)  # gains around the critical one, as factors on it
CHECK_TOL = 1e-9  # |chi* - 1| the solved gain must reach at theory.fixed_point's q*
_MAX_DOUBLINGS = 200


@dataclass(frozen=True)
class CriticalGain:
    """The critical recurrent gain of one nonlinearity and drive, and how it was found.

    Attributes:
        nonlinearity, input_var, bias_var: what it was solved for (u and b above).
        s_w2: H Var(Whh entry) at chi* = 1; None where no critical gain exists.
        gain: sqrt(s_w2), the gain of a scheme of variance 1/fan_in (xavier, lecun, orthogonal);
            None where none exists.
        q_star, chi_star: the fixed point and chi* there (``theory.fixed_point``); None with
            no critical gain.
        status: ``"exact"`` (a closed form or limit case), ``"solved"`` (bisection) or ``"none"``.
        reason: why, in one or two plain sentences.
        reference_gain: the gain ``nearby`` is taken around: ``gain``, or where chi* = 1 would
            be when no critical gain exists (relu or linear with drive), or None.
        nearby: one row per factor of NEARBY_FACTORS on reference_gain: {"factor", "gain",
            "s_w2", "q_star", "chi", "xi", "regime"} (xi = -1/ln chi, ``theory.timescale``).
    """

    nonlinearity: str
    input_var: float
    bias_var: float
    s_w2: float | None
    gain: float | None
    q_star: float | None
    chi_star: float | None
    status: str
    reason: str
    reference_gain: float | None
    nearby: tuple[dict, ...]


def critical_gain(
    nonlinearity: str, bias_var: float = 0.0, input_var: float = 0.0, factors=NEARBY_FACTORS
) -> CriticalGain:
    """The recurrent weight variance s_w2 (and gain g = sqrt(s_w2) of a 1/fan_in scheme) at
    which chi* = 1 at the driven fixed point (see the module docstring for the argument).

    Args:
        nonlinearity: a key of NONLINEARITIES.
        bias_var: Var(bh entry), the bias's share of the pre-activation variance.
        input_var: the input's share per step, I Var(Wxh entry) mean ||x_t||^2 / I.
        factors: the gains of ``nearby``, as factors on the critical (or reference) gain.

    Returns:
        A CriticalGain; ``gain`` is None, and ``reason`` says why, where none exists.

    Raises:
        ValueError: an unknown nonlinearity or a negative or non-finite variance.
        RuntimeError: the solved gain misses chi* = 1 by more than CHECK_TOL (a bug).
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of "
                         f"{', '.join(NONLINEARITIES)}")  # fmt: skip
    for name, v in (("bias_var", bias_var), ("input_var", input_var)):
        if not (math.isfinite(v) and v >= 0.0):
            raise ValueError(f"{name} must be a finite variance >= 0, got {v!r}")
    entry = NONLINEARITIES[nonlinearity]
    c = float(input_var) + float(bias_var)
    if entry.theory_kind == "saturating":
        s_w2, status, reason = _saturating(entry, c)
        ref = math.sqrt(s_w2)
    elif entry.theory_kind == "homogeneous":
        s_w2, status, reason, ref = _homogeneous(entry, c)
    else:
        raise ValueError(f"critical_gain: no rule for theory_kind {entry.theory_kind!r}")
    q_star = chi_star = None
    if s_w2 is not None:
        q_star, chi_star = fixed_point(nonlinearity, s_w2, input_var, bias_var)
        if not abs(chi_star - 1.0) <= CHECK_TOL:
            raise RuntimeError(f"critical_gain: s_w2 = {s_w2!r} gives chi* = {chi_star!r}")
    nearby = tuple(_nearby(nonlinearity, ref, input_var, bias_var, factors)) if ref else ()
    return CriticalGain(nonlinearity, float(input_var), float(bias_var), s_w2,
                        None if s_w2 is None else math.sqrt(s_w2), q_star, chi_star, status,
                        reason, ref, nearby)  # fmt: skip


def _saturating(entry, c: float) -> tuple[float, str, str]:
    """(s_w2, status, reason) for a saturating phi (odd, bounded, phi'(0) = 1)."""
    if c == 0.0:
        return 1.0, "exact", (
            "Without input or bias the state decays to q* = 0 for s_w2 <= 1, where "
            f"{entry.name}'(0) = 1 makes chi* = s_w2: chi* = 1 exactly at s_w2 = 1, gain 1 (a "
            "limit case: the state dies out slowly, like 1/t, while the gradient keeps its "
            "size). Above it q* > 0 and chi* > 1 (chaotic).")  # fmt: skip
    d = _root_in_recurrent_share(entry.moments, c)
    s_w2 = d / float(entry.moments(c + d)[0])
    return s_w2, "solved", (
        f"The input and bias keep q* above {_num(c)}, where {entry.name}' < 1 on average, so "
        f"chi* = 1 needs s_w2 > 1. chi* rises monotonically with s_w2, so the root is unique "
        "(solved by bisection, checked at the fixed point).")  # fmt: skip


def _root_in_recurrent_share(moments, c: float) -> float:
    """The d > 0 with chi*(d) = d E[phi'^2](c + d) / E[phi^2](c + d) = 1, by bisection."""

    def chi(d: float) -> float:
        e_phi2, _, e_dphi2 = moments(c + d)
        return d * e_dphi2 / e_phi2

    lo, hi = 0.0, max(1.0, c)  # chi(0) = 0 < 1
    for _ in range(_MAX_DOUBLINGS):
        if chi(hi) >= 1.0:
            break
        lo, hi = hi, 2.0 * hi
    else:
        raise RuntimeError(f"critical_gain: no bracket for chi* = 1 with drive {c!r}")
    while hi - lo > 4.0 * np.finfo(float).eps * hi:
        mid = 0.5 * (lo + hi)
        if chi(mid) < 1.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _homogeneous(entry, c: float) -> tuple[float | None, str, str, float]:
    """(s_w2 or None, status, reason, reference gain) for phi(a) = a phi'(a) (relu, linear).

    E[phi^2](q) = q E[phi'^2], so at s_w2 = 1 / E[phi'^2] the variance map has slope 1."""
    e_dphi2 = entry.moments(1.0)[2]
    s_c = 1.0 / e_dphi2
    chi_text = (f"For {entry.name} chi* = s_w2 E[phi'^2] = s_w2 x {_num(e_dphi2)} at every q, "
                f"so chi* = 1 needs s_w2 = {_num(s_c)} (gain {_num(math.sqrt(s_c))})")  # fmt: skip
    if c == 0.0:
        reason = (f"{chi_text}. Without input or bias the variance map there is q -> q: every "
                  "q is a fixed point, and h_0 = 0 stays at q* = 0: exactly critical.")  # fmt: skip
        return s_c, "exact", reason, math.sqrt(s_c)
    reason = (f"No critical gain. {chi_text}; there the variance map is q -> q + {_num(c)} "
              "(input and bias): it grows without bound, q* is infinite. Below that gain the "
              "network is ordered (chi* < 1), above it chaotic with q* infinite.")  # fmt: skip
    return None, "none", reason, math.sqrt(s_c)


def _nearby(nonlinearity, gain: float, input_var: float, bias_var: float, factors) -> list[dict]:
    """q*, chi*, xi and regime at gain * factor for each factor."""
    s = np.array([(gain * f) ** 2 for f in factors])
    q, chi = fixed_points(nonlinearity, s, input_var, bias_var)
    return [{"factor": float(f), "gain": gain * f, "s_w2": float(s_k), "q_star": float(q_k),
             "chi": float(c_k), "xi": timescale(float(c_k)), "regime": regime(float(c_k))}
            for f, s_k, q_k, c_k in zip(factors, s, q, chi)]  # fmt: skip


def _num(x: float) -> str:
    return f"{x:.4g}"


def phase_grid(nonlinearity: str, s_w2, s_b2, input_var: float = 0.0) -> dict:
    """chi* over a grid of recurrent weight variance and bias variance, at one input share.

    Args:
        nonlinearity: a key of NONLINEARITIES.
        s_w2: (N,) recurrent weight variances H Var(Whh entry), the x axis.
        s_b2: (M,) bias variances Var(bh entry), the y axis.
        input_var: the input's share of the pre-activation variance per step.

    Returns:
        {"s_w2": (N,), "s_b2": (M,), "q_star", "chi_star", "xi": (M, N) float arrays,
        "regime": (M, N) str array}: point [i, j] is bias s_b2[i], weight s_w2[j].

    Raises:
        ValueError: an unknown nonlinearity or a negative or non-finite variance.
    """
    s_w2 = np.asarray(s_w2, np.float64).reshape(-1)
    s_b2 = np.asarray(s_b2, np.float64).reshape(-1)
    q_star, chi_star = fixed_points(nonlinearity, s_w2[None, :], input_var, s_b2[:, None])
    xi = np.vectorize(timescale, otypes=[float])(chi_star)
    reg = np.vectorize(regime, otypes=[object])(chi_star).astype(str)
    return {"s_w2": s_w2, "s_b2": s_b2, "q_star": q_star, "chi_star": chi_star, "xi": xi,
            "regime": reg}  # fmt: skip


def critical_line(nonlinearity: str, s_b2, input_var: float = 0.0) -> np.ndarray:
    """The critical s_w2 at each bias variance s_b2 (M,), NaN where none exists: (M,)."""
    out = [
        critical_gain(nonlinearity, float(b), input_var, factors=()).s_w2 for b in np.ravel(s_b2)
    ]
    return np.array([math.nan if s is None else s for s in out])


# --- the init scheme `critical`: the gain solved for one run ------------------------------------

INPUT_BATCHES = 4  # first training batches whose inputs estimate the input share


def mean_input_sq(task: Task, rng: np.random.Generator, batch_size: int,
                  batches: int = INPUT_BATCHES) -> float:  # fmt: skip
    """x_sq = mean of ||x_t[b]||^2 / I over every step t and sequence b of ``batches`` batches
    drawn from ``rng`` (one-hot token inputs: 1 / I exactly, nothing drawn)."""
    I = task.input_size
    if task.token_inputs:
        return 1.0 / I  # one-hot: ||x_t||^2 = 1
    xs = [task.sample(rng, batch_size).x for _ in range(batches)]  # each (T, B, I)
    return float(np.mean([np.einsum("tbi,tbi->tb", x, x).mean() for x in xs])) / I


def input_share(scheme: str, gain: float, shape: tuple[int, int], x_sq: float) -> float:
    """u = I Var(Wxh entry) x_sq, the input's share of each pre-activation's variance per step,
    for Wxh of ``shape`` (H, I) drawn with ``scheme`` at ``gain`` (its exact moments)."""
    H, I = shape
    return I * SCHEMES[scheme].moments(shape, gain, H)[1] * x_sq


def scheme_gain(scheme: str, s_w2: float, hidden_size: int) -> float:
    """The gain at which ``scheme`` draws an H x H Whh with H Var(entry) = s_w2."""
    H = hidden_size
    return math.sqrt(s_w2 / (H * SCHEMES[scheme].moments((H, H), 1.0, H)[1]))


def resolve_critical(spec: InitSpec, cell: Cell, nonlinearity: str, input_size: int,
                     hidden_size: int, x_sq: float, where: str = "init") -> tuple[InitSpec, dict | None]:  # fmt: skip
    """The spec with a ``critical`` recurrent weight replaced by the draw it stands for.

    ``critical`` is N(0, g*^2 / fan_in) (xavier at gain g*), g* = ``critical_gain(nonlinearity,
    bias_var, input_var).gain`` with bias_var = Var(bh entry) and input_var = I Var(Wxh entry)
    x_sq, both the exact moments of the spec's own bh and Wxh schemes (``SCHEMES[...].moments``),
    and x_sq the run's mean input norm (``mean_input_sq`` over its first INPUT_BATCHES batches,
    the estimate ``rnninit critical --task`` makes on the task's default config).

    Returns:
        (spec, None) when the recurrent weight is not solved; else (the spec with
        ``(base scheme, g*)`` for it, the solve: {"param", "scheme", "draw", "gain", "s_w2",
        "q_star", "chi_star", "input_var", "bias_var", "x_sq", "nonlinearity", "status"}).

    Raises:
        RnnInitError: one line naming ``where``.PARAM: the cell has no mean-field theory, Wxh or
            bh is not zero-mean, or no critical gain exists (relu or linear with any drive).
    """
    roles = cell.mean_field_params
    W = cell.recurrent_weight
    name = spec.per_param[W][0]
    if name not in SOLVED:
        return spec, None
    if roles is None:
        raise RnnInitError(f"{where}.{W}: {name!r} needs the mean-field theory of the vanilla "
                           f"cell, and cell {cell.name!r} has none")  # fmt: skip
    shapes = {p.name: p.shape for p in cell.param_specs(input_size, hidden_size, 1)}
    (wxh, g_x), (bh, g_b) = spec.per_param[roles["input"]], spec.per_param[roles["bias"]]
    for param, scheme in ((roles["input"], wxh), (roles["bias"], bh)):
        if not SCHEMES[scheme].zero_mean:
            raise RnnInitError(f"{where}.{W}: {name!r} needs zero-mean {roles['input']} and "
                               f"{roles['bias']} (the theory's assumption), and {param} draws "
                               f"{scheme} ({SCHEMES[scheme].formula})")  # fmt: skip
    H = hidden_size
    bias_var = float(SCHEMES[bh].moments(shapes[roles["bias"]], g_b, H)[1])
    input_var = float(input_share(wxh, g_x, shapes[roles["input"]], x_sq))
    solved = critical_gain(nonlinearity, bias_var, input_var, factors=())
    if solved.gain is None:
        raise RnnInitError(f"{where}.{W}: {name!r} has no gain to solve for {nonlinearity} with "
                           f"input share {_num(input_var)} and bias variance {_num(bias_var)}: "
                           f"{' '.join(solved.reason.split())}")  # fmt: skip
    base = SOLVED[name].base
    gain = scheme_gain(base, solved.s_w2, H)
    record = {"param": W, "scheme": name, "draw": base, "gain": gain, "s_w2": solved.s_w2,
              "q_star": solved.q_star, "chi_star": solved.chi_star, "input_var": input_var,
              "bias_var": bias_var, "x_sq": float(x_sq), "nonlinearity": nonlinearity,
              "status": solved.status}  # fmt: skip
    return replace(spec, per_param={**spec.per_param, W: (base, gain)}), record
