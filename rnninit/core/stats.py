"""Per-timestep and per-parameter statistics (DESIGN section 3), vectorised over T.

Variances are population variances (ddof = 0) over the batch and the hidden units together.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import groupby

import numpy as np

from .nonlinearities import NONLINEARITIES

TIMESTEP_COLUMNS = (
    "preact_var", "act_mean", "act_var", "grad_var", "grad_norm", "saturation", "jac_sq"
)  # fmt: skip
THEORY_COLUMNS = ("theory_preact_var", "theory_act_var", "theory_chi", "theory_jac_sq")
GATE_SAT_BAND = (0.05, 0.95)  # a sigmoid gate is saturated outside it (tanh: |v| > 0.9, the same)
PARAM_COLUMNS = ("weight_mean", "weight_var", "grad_var", "grad_norm")
RESCALE_BAND = (1e-12, 1e12)  # jac_sq's probes are rescaled when their mean square leaves it


STAT_BLOCK = 2**17  # entries per block of rows in which the statistics walk a (T, ...) array


class _Rows:
    """Walks (T, ...) arrays with n entries per step a block of rows (steps) at a time.

    Each statistic is the NumPy reduction it always was, applied per row, so the numbers do not
    depend on the blocks; but a block is read from memory once and is still in cache for the
    passes after the first, and no temporary is as large as a whole array. No block has a single
    row unless T = 1: einsum adds the entries of a lone row of more than 8192 in another order
    than the same row among others.
    """

    def __init__(self, T: int, n: int, dtype) -> None:
        k = max(2, STAT_BLOCK // max(n, 1))
        starts = list(range(0, T, k))
        if len(starts) > 1 and T - starts[-1] == 1:
            starts.pop()  # the last block takes the lone row
        self.blocks = [slice(lo, hi) for lo, hi in zip(starts, [*starts[1:], T])]
        rows = max(b.stop - b.start for b in self.blocks) if self.blocks else 0
        self.n = n
        self._copy = np.empty((rows, n), dtype)  # a strided block, made contiguous
        self._dev = np.empty((rows, n), dtype)  # deviations from the mean

    def rows(self, block: np.ndarray) -> np.ndarray:
        """The block (k, ...) as (k, n): a view of a contiguous block, else a copy."""
        k = block.shape[0]
        if block.flags.c_contiguous:
            return block.reshape(k, self.n)
        out = self._copy[:k]
        np.copyto(out.reshape(block.shape), block)
        return out

    def mean(self, x: np.ndarray) -> np.ndarray:
        """Per row of x (k, n): the mean, accumulated in float64 (``x.mean(axis=1,
        dtype=np.float64)``: the same sum and division, without its Python wrapper)."""
        mean = np.add.reduce(x, axis=1, dtype=np.float64)
        mean /= self.n
        return mean

    def mean_ssd(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of x (k, n): the mean, accumulated in float64, and the sum of the squared
        deviations from it in x's own dtype (a float64 copy of a float32 activation tensor
        would cost more than the step): the two passes of a population variance."""
        mean = self.mean(x)
        dev = self._dev[: x.shape[0]]
        np.subtract(x, mean.astype(x.dtype)[:, None], out=dev)
        return mean, np.einsum("ij,ij->i", dev, dev)


def _count_rows(mask: np.ndarray):
    """The True entries of each row of a (k, n) bool array: one ``count_nonzero`` per row where
    rows are long (its whole-array path; at n >= 2048 several times faster than a count over
    the axis), one count over the axis where they are short. Counts are exact either way."""
    if mask.shape[1] >= 2048:
        return [np.count_nonzero(row) for row in mask]
    return np.count_nonzero(mask, axis=1)


def var_over_steps(X: np.ndarray) -> np.ndarray:
    """Var over all axes but the first of a (T, ...) array, ddof = 0 (``_Rows.mean_ssd``)."""
    T = X.shape[0]
    walk, var = _Rows(T, X[0].size, X.dtype), np.empty(T)
    for ts in walk.blocks:
        var[ts] = walk.mean_ssd(walk.rows(X[ts]))[1]
    return var / walk.n


def timestep_stats(A, Hs, dH, nonlinearity: str) -> dict[str, np.ndarray]:
    """Statistics of each timestep t = 1..T.

    A: (T, B, H) pre-activations a_t; Hs: (T, B, H) activations h_t (the engine takes both from
    the cell's ``stat_arrays``); dH: (T, B, H) the total gradient dL/dh_t (from o_t and from
    a_{t+1}). ``saturation`` is the share of units the nonlinearity's saturation rule marks
    (tanh: |h| > 0.99; relu: h = 0), 0 where it has none (linear).
    Returns a dict of (T,) float64 arrays; one pass over the three arrays, block by block.
    """
    T = A.shape[0]
    walk = _Rows(T, A[0].size, A.dtype)
    rule = NONLINEARITIES[nonlinearity].saturation
    names = ("preact_var", "act_mean", "act_var", "grad_var", "grad_norm", "saturation")
    out = {c: np.zeros(T) for c in names}
    for ts in walk.blocks:
        out["preact_var"][ts] = walk.mean_ssd(walk.rows(A[ts]))[1]
        h = walk.rows(Hs[ts])
        out["act_mean"][ts], out["act_var"][ts] = walk.mean_ssd(h)
        if rule is not None:
            out["saturation"][ts] = _count_rows(rule.mask(h))
        d = walk.rows(dH[ts])
        out["grad_var"][ts] = walk.mean_ssd(d)[1]
        out["grad_norm"][ts] = np.einsum("ij,ij->i", d, d)  # sum of squares
    for c in ("preact_var", "act_var", "grad_var", "saturation"):
        out[c] /= walk.n
    out["grad_norm"] = np.sqrt(out["grad_norm"])
    return out


def gate_stats(Z: np.ndarray, gates: tuple[str, ...], tanh_gates: tuple[str, ...] = ()) -> dict:
    """Each gate's mean activation and saturation per timestep, t = 1..T.

    Z: (T, B, G*H) gate values, blocks in the order of ``gates``; the gates in ``tanh_gates``
    (a candidate: LSTM g, GRU n) take values in (-1, 1), the others are sigmoids in (0, 1).
    ``gate_<g>_sat`` is the share of the B*H values outside GATE_SAT_BAND, read on (1 + v) / 2
    for a tanh gate (|v| > 0.9), so that both kinds are judged on the same [0, 1] scale: a
    sigmoid gate past 0.95 passes its input almost whole, below 0.05 almost nothing.
    Returns ``gate_<g>_mean`` and ``gate_<g>_sat`` for each gate, (T,) float64 arrays.
    """
    T, G = Z.shape[0], len(gates)
    Zb = Z.reshape(T, Z.shape[1], G, -1)  # (T, B, G, H)
    walk = _Rows(T, Zb.shape[1] * Zb.shape[3], Z.dtype)
    lo, hi = GATE_SAT_BAND
    out = {f"gate_{g}_{s}": np.empty(T) for g in gates for s in ("mean", "sat")}
    for ts in walk.blocks:
        for k, g in enumerate(gates):
            v = walk.rows(Zb[ts, :, k, :])  # (rows, B*H)
            lo_k, hi_k = (2 * lo - 1, 2 * hi - 1) if g in tanh_gates else (lo, hi)
            out[f"gate_{g}_mean"][ts] = walk.mean(v)
            out[f"gate_{g}_sat"][ts] = _count_rows((v < lo_k) | (v > hi_k))
    for g in gates:
        out[f"gate_{g}_sat"] /= walk.n
    return out


def unit_probe(rng: np.random.Generator, B: int, H: int, dtype=np.float64) -> np.ndarray:
    """B probe vectors (B, H), each uniform on the unit sphere of R^H (a normalised Gaussian);
    H is the size of the cell's full state (2H for the LSTM's [h, c])."""
    u = rng.standard_normal((B, H))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u.astype(dtype, copy=False)


def jac_sq(jac, u: np.ndarray, T: int) -> np.ndarray:
    """Mean squared singular value of J(T, t) = dh_T/dh_t = J_T J_{T-1} ... J_{t+1}, t = 1..T.

    jac_sq_t = mean over sequences b of ||J(T, t)^T u_b||^2, one backward pass from the unit
    probes u (B, S) at t = T with nothing injected on the way; S is the size of the cell's full
    state (H; 2H for the LSTM, whose J maps [h, c] to [h, c]). For u uniform on the unit sphere
    E[u u^T] = I/S, so each term is an unbiased estimate of (1/S) tr(J(T, t) J(T, t)^T);
    jac_sq_T = 1 (J(T, T) = I). jac: the cell's StepJacobian (``apply_T(t, u)`` = J_t^T u).
    Returns (T,) float64: 0 only where the probes became exactly 0 (phi' = 0 somewhere, e.g.
    every unit saturated) or the value is below float64's range.
    """
    B = u.shape[0]
    n2s, logs = [], []  # per t = T-1..1: mean ||v_b||^2 and log_scale, J(T, t)^T u = e^log_scale v
    v, log_scale = u, 0.0
    with np.errstate(over="ignore", under="ignore"):
        for t in range(T, 1, -1):
            v = jac.apply_T(t, v)  # J(T, t-1)^T u = J_t^T J(T, t)^T u
            n2 = float(np.vdot(v, v)) / B
            n2s.append(n2)
            logs.append(log_scale)
            if 0.0 < n2 < math.inf and not RESCALE_BAND[0] < n2 < RESCALE_BAND[1]:
                # rescale the probes, never the result: float32 keeps its range (and stays off
                # subnormal numbers, which are slow) however far J(T, t) shrinks or grows
                scale = math.sqrt(n2)
                v = v * v.dtype.type(1.0 / scale)
                log_scale += math.log(scale)
    sq = np.ones(T)  # J(T, T) = I and ||u_b|| = 1: jac_sq_T = 1
    sq[-2::-1] = np.array(n2s) * np.exp(2.0 * np.array(logs))  # t = T-1..1, after the loop
    return sq


def mean_std(values) -> tuple[float | None, float | None, int]:
    """Mean and population standard deviation (ddof = 0) of the finite values, and their count.

    ``values``: any iterable of numbers; None, NaN and +-inf are left out. Returns
    ``(mean, std, n)`` with n the number of finite values, or ``(None, None, 0)`` when there are
    none. This is the one mean/std helper of the package (across seeds, across runs).
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None, None, 0
    return float(np.mean(vals)), float(np.std(vals)), len(vals)


def ema_update(ema: float | None, loss: float) -> float:
    """The smoothed training loss after one more step: an EMA with decay 0.9 that starts at the
    first loss. The one smoothing rule of steps-to-target and of the loss ladder: smoothing keeps
    one lucky batch from deciding a comparison."""
    return loss if ema is None else 0.9 * ema + 0.1 * loss


def first_steps_at_or_below(steps, losses, levels) -> list[int | None]:
    """For each level, the first step at which the smoothed loss is at or below it.

    ``steps``, ``losses``: one run's training loss per step, in order (metrics.csv); a
    non-finite loss leaves the EMA as it was (a run stops at its first one: it diverged).
    Returns, per level, that step, or None where the smoothed loss never got there.
    """
    found: list[int | None] = [None] * len(levels)
    ema = None
    for step, loss in zip(steps, losses):
        if loss is None or not math.isfinite(loss):
            continue
        ema = ema_update(ema, float(loss))
        for i, level in enumerate(levels):
            if found[i] is None and ema <= level:
                found[i] = step
    return found


def first_step_at_or_above(steps, values, level: float) -> int | None:
    """The first step whose value is at or above ``level``, unsmoothed (an accuracy measured at
    the evaluation steps on the same fixed batches each time: training's steps_to_target_acc).

    ``steps``, ``values``: one run's rows in order (metrics.csv's step and val_acc); None or
    NaN where nothing was measured at that step. Returns None where no value got there.
    """
    for step, value in zip(steps, values):
        if value is not None and value >= level:  # NaN >= level is False
            return step
    return None


def km_median(times, reached) -> float | None:
    """Kaplan-Meier median of right-censored times (steps to a loss level across seeds).

    ``times[i]``: the step seed i reached the level at, or, where ``reached[i]`` is False, the
    last step it was observed (censored: it might have got there later). The survival S(t) is
    the product over event times u <= t of (1 - d_u / n_u), d_u the seeds that reached the
    level at u and n_u those still on the way at u; a seed censored at u counts as at risk at u
    (events before censorings at the same step). Returns the first event time (as given) at
    which S(t) <= 1/2, or None ("not reached") when S never falls that far, i.e. when too few
    seeds got there to place a median. S is kept as an exact fraction: S = 1/2 is the median.
    """
    times, reached = list(times), [bool(r) for r in reached]
    if len(times) != len(reached):
        raise ValueError("km_median: times and reached differ in length")
    at_risk, survival = len(times), Fraction(1)
    for t, tied in groupby(sorted(zip(times, reached)), key=lambda obs: obs[0]):
        arrived = [r for _, r in tied]  # every seed observed at step t, reached or censored
        events = sum(arrived)
        if events:
            survival *= Fraction(at_risk - events, at_risk)
            if survival <= Fraction(1, 2):
                return t
        at_risk -= len(arrived)
    return None


def param_stats(params: dict, grads: dict | None) -> dict[str, dict[str, float]]:
    """Per parameter: weight mean and variance, gradient variance and norm (NaN without grads)."""
    rows = {}
    for name, W in params.items():
        g = None if grads is None else grads[name]
        rows[name] = {
            "weight_mean": float(W.mean(dtype=np.float64)),
            "weight_var": float(W.var(dtype=np.float64)),
            "grad_var": float("nan") if g is None else float(g.var(dtype=np.float64)),
            "grad_norm": float("nan") if g is None else float(np.linalg.norm(g.astype(np.float64))),
        }
    return rows


def spectral(Whh: np.ndarray) -> dict[str, float | None]:
    """Spectral radius (largest |eigenvalue|) and largest singular value of the recurrent matrix.

    A gated cell's stacked (G*H, H) matrix has no eigenvalues: its spectral radius is None (not
    a NaN, which a table would print as if a number had been measured)."""
    W = Whh.astype(np.float64)
    if W.shape[0] != W.shape[1] and np.all(np.isfinite(W)):
        return {"spectral_radius": None, "max_singular": float(np.linalg.norm(W, 2))}
    if not np.all(np.isfinite(W)):
        return {"spectral_radius": float("nan"), "max_singular": float("nan")}
    return {
        "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(W)))),
        "max_singular": float(np.linalg.norm(W, 2)),
    }


def recurrent_eigenvalues(Whh: np.ndarray, gates: tuple[str, ...] = ()) -> dict[str, dict]:
    """The eigenvalues of the recurrent matrix, or of each gate's H x H block of a gated cell's
    stacked (G*H, H) Whh, each with the circular law's radius sqrt(H Var(w)): the disc that the
    eigenvalues of an H x H matrix of i.i.d. entries of that variance fill, uniformly, as H
    grows (a mean away from 0 adds one outlier near H Mean(w)).

    Returns: block name ("Whh", or the gate's name) -> {"eigenvalues": complex (H,), "circle":
    float}; NaN eigenvalues for a block that is not finite.
    """
    W = Whh.astype(np.float64)  # (G*H, H)
    H = W.shape[1]
    blocks = {g: W[k * H : (k + 1) * H] for k, g in enumerate(gates)} if gates else {"Whh": W}
    out = {}
    for name, B in blocks.items():
        finite = bool(np.all(np.isfinite(B)))
        eig = np.linalg.eigvals(B) if finite else np.full(H, np.nan, dtype=complex)
        out[name] = {
            "eigenvalues": eig,
            "circle": float(np.sqrt(H * B.var())) if finite else math.nan,
        }
    return out


def timesteps_at(rows: list[dict], step: int) -> dict:
    """One statistics step of timesteps.csv rows as column -> array over t (NaN where empty):
    the columns every cell has, its theory, and whatever other columns the rows hold (a gated
    cell's: all NaN for the others)."""
    mine = sorted((r for r in rows if r["step"] == step), key=lambda r: r["t"])
    others = [c for c in (mine[0] if mine else {}) if c not in ("step", "t")]
    cols = dict.fromkeys((*TIMESTEP_COLUMNS, *THEORY_COLUMNS, *others))
    out = {c: np.array([np.nan if r.get(c) is None else float(r[c]) for r in mine]) for c in cols}
    out["t"] = np.array([r["t"] for r in mine])
    return out
