"""Mean-field theory of a vanilla RNN at initialisation (DESIGN sections 2-3).

The network is ``a_t = x_t Wxh^T + h_{t-1} Whh^T + bh``, ``h_t = phi(a_t)``, ``h_0 = 0``, with
zero-mean i.i.d. (or orthogonal) weights. At large width the pre-activations of one sequence
are Gaussian across units with a variance q_t[b] of their own, and q_t[b] obeys a scalar
recursion driven by that sequence's inputs. With z ~ N(0, 1),

    s_w2       = (1/H) ||Whh||_F^2                  (nominally H Var(Whh entry))
    drive[t,b] = (1/H) ||Wxh x_t[b] + bh||^2         (nominally I Var(Wxh) ||x_t[b]||^2 / I + Var(bh))

    q_1[b] = drive[1, b]                                                     (h_0 = 0)
    q_t[b] = s_w2 E[phi(sqrt(q_{t-1}[b]) z)^2] + drive[t, b]

and the measured statistics, which pool the batch and the units, are predicted by pooling the
per-sequence Gaussians the same way:

    preact_var_t = mean_b q_t[b]
    act_var_t    = mean_b E[phi^2](q_t[b]) - (mean_b E[phi](q_t[b]))^2
    chi_t        = mean_b s_w2 E[phi'(sqrt(q_t[b]) z)^2]

Backprop through step t multiplies the gradient variance by chi_t,
Var(dL/dh_{t-1}) ~= chi_t * Var(dL/dh_t), so chi < 1 is the ordered regime (gradients vanish
geometrically in time), chi > 1 the chaotic one (they explode) and chi = 1 the critical line.
Averaging the inputs over the batch before the recursion would be biased wherever sequences
differ in input norm (Jensen's gap: 19% at t = 1 on adding), hence the recursion per sequence.

What it assumes: large H, pre-activations Gaussian across units, and weights independent of
the states they multiply (as if Whh were drawn afresh at every step). At finite H one draw
scatters about the prediction by O(1/sqrt(H)), and the batch does not average this out when
its sequences share input directions (copy's blanks, adding's value channel, relu's shared
positive mean); the prediction is of the average over draws. It says nothing after training.

The moments of each phi come from the nonlinearity registry (``nonlinearities.py``): relu and
linear in closed form, tanh by quadrature (``gauss_expect``, in ``quadrature.py`` and re-exported
here). NumPy only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .nonlinearities import NONLINEARITIES
from .quadrature import gauss_expect

# A slope (linear, relu) or s_w2 (tanh without input) within this relative distance of 1 counts
# as exactly 1, and chi within it as exactly critical (timescale inf): floating rounding alone
# makes 512 * (1/sqrt(512))^2 = 1.0000000000000002, which must not turn q* = 0 into inf.
ROUNDING_TOL = 1e-9
# regime() labels chi critical within this band: gradients keep their size within a factor e
# over at least ~1000 steps.
REGIME_TOL = 1e-3

__all__ = [
    "NONLINEARITIES",
    "fixed_point",
    "fixed_points",
    "gauss_expect",
    "grad_var_profile",
    "mean_field",
    "mean_field_per_sequence",
    "realised_drive",
    "recurrence_regime",
    "regime",
    "theory_for_run",
    "timescale",
    "theory_from_weights",
]


def _moments(nonlinearity: str) -> Callable[[float], tuple[float, float, float]]:
    """q -> (E[phi^2], Var[phi], E[phi'^2]) of phi(sqrt(q) z), from the nonlinearity registry."""
    try:
        return NONLINEARITIES[nonlinearity].moments
    except KeyError:
        raise ValueError(
            f"unknown nonlinearity {nonlinearity!r}; expected one of {', '.join(NONLINEARITIES)}"
        ) from None


def _check_var(**values: float) -> None:
    for name, v in values.items():
        if not (math.isfinite(v) and v >= 0.0):
            raise ValueError(f"{name} must be a finite variance >= 0, got {v!r}")


def mean_field(
    nonlinearity: str, s_w2: float, s_u2: float, s_b2: float, x_sq: np.ndarray
) -> dict[str, np.ndarray]:
    """Mean-field prediction of the per-timestep statistics at init, t = 1..T, from nominal
    variances and one input norm per step (every sequence alike):

        q_1 = s_u2 x_sq[1] + s_b2,   q_t = s_w2 E[phi(sqrt(q_{t-1}) z)^2] + s_u2 x_sq[t] + s_b2

    This is ``mean_field_per_sequence`` with a single sequence whose drive is s_u2 x_sq + s_b2.
    When sequences differ in input norm, averaging x_sq over the batch first is biased (Jensen's
    gap): run the recursion per sequence instead.

    Args:
        nonlinearity: one of NONLINEARITIES.
        s_w2: H * Var(Whh entry). s_u2: I * Var(Wxh entry). s_b2: Var(bh entry).
        x_sq: (T,) mean of ||x_t||^2 / I.

    Returns:
        {"preact_var": q_t, "act_var": E[phi^2] - E[phi]^2, "chi": s_w2 E[phi'^2]}, each (T,).
        For linear or relu in the chaotic regime q_t grows geometrically and may reach inf.

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite variance or x_sq entry.
    """
    _check_var(s_w2=s_w2, s_u2=s_u2, s_b2=s_b2)
    x_sq = np.asarray(x_sq, dtype=np.float64).reshape(-1)  # (T,)
    if not np.all(np.isfinite(x_sq)) or np.any(x_sq < 0):
        raise ValueError("x_sq must be finite and >= 0")
    with np.errstate(over="ignore"):
        drive = s_u2 * x_sq + s_b2  # (T,)
    return mean_field_per_sequence(nonlinearity, s_w2, drive[:, None])


def mean_field_per_sequence(
    nonlinearity: str, s_w2: float, drive: np.ndarray
) -> dict[str, np.ndarray]:
    """Mean-field recursion run for each sequence of a batch, its moments pooled over the batch.

    Each sequence b has its own pre-activation variance q_t[b], driven by its own inputs:

        q_t[b] = s_w2 E[phi(sqrt(q_{t-1}[b]) z)^2] + drive[t, b],      q_0[b] E[phi^2] = 0 (h_0 = 0)

    The measured statistics pool the batch and the units, so the prediction pools the
    per-sequence Gaussians the same way (population variances over b and units):

        preact_var_t = mean_b q_t[b]                (zero-mean Gaussians: the mean of variances)
        act_var_t    = mean_b Var[phi](q_t[b]) + Var_b(E[phi](q_t[b]))
                     = mean_b E[phi^2](q_t[b]) - (mean_b E[phi](q_t[b]))^2
        chi_t        = mean_b s_w2 E[phi'(sqrt(q_t[b]) z)^2]

    The second term of act_var is the spread of the sequences' means: 0 for odd phi (tanh,
    linear), not for relu. |E[phi]| is read from the registry as sqrt(E[phi^2] - Var[phi]).

    Args:
        nonlinearity: one of NONLINEARITIES.
        s_w2: the recurrent gain, (1/H) ||Whh||_F^2 for a drawn matrix (H Var(Whh entry) nominally).
        drive: (T, B) the non-recurrent part of each sequence's pre-activation variance, e.g.
            (1/H) ||Wxh x_t[b] + bh||^2 (``realised_drive``) or s_u2 ||x_t[b]||^2 / I + s_b2.

    Returns:
        {"preact_var", "act_var", "chi"}, each (T,); may reach inf where q grows without bound.

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite s_w2 or drive entry.
    """
    moments = _moments(nonlinearity)
    _check_var(s_w2=s_w2)
    drive = np.asarray(drive, dtype=np.float64)
    if drive.ndim != 2:
        raise ValueError(f"drive must be (T, B), got shape {drive.shape}")
    if not np.all(np.isfinite(drive)) or np.any(drive < 0):
        raise ValueError("drive must be finite and >= 0")
    T, B = drive.shape
    preact_var, act_var, chi = np.empty(T), np.empty(T), np.empty(T)
    e_phi2_prev = np.zeros(B)  # h_0 = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            q = s_w2 * e_phi2_prev + drive[t]  # (B,)
            e_phi2, var_phi, e_dphi2 = (np.broadcast_to(m, (B,)) for m in moments(q))
            mean_var = float(np.mean(var_phi))
            if math.isfinite(mean_var):  # + the spread of the sequences' means E[phi]
                mean_var += float(np.var(np.sqrt(np.maximum(e_phi2 - var_phi, 0.0))))
            preact_var[t], act_var[t] = float(np.mean(q)), mean_var
            chi[t] = s_w2 * float(np.mean(e_dphi2))
            e_phi2_prev = e_phi2
    return {"preact_var": preact_var, "act_var": act_var, "chi": chi}


def realised_drive(Wxh: np.ndarray, bh: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each sequence's non-recurrent share of the pre-activation variance, from the drawn weights:

        drive[t, b] = (1/H) ||Wxh x_t[b] + bh||^2

    (for one-hot inputs, the mean square of the used column plus the bias). Taken from the drawn
    Wxh rather than I Var(Wxh entry) ||x||^2 / I, whose single-draw error is several percent
    when I is small. Computed through the Gram matrix Wxh^T Wxh, so no (T, B, H) array is made.

    Args:
        Wxh: (H, I). bh: (H,).
        x: (T, B) int token ids (one-hot inputs) or (T, B, I) float.

    Returns:
        (T, B) float64.
    """
    Wxh, bh = np.asarray(Wxh, np.float64), np.asarray(bh, np.float64)
    H = Wxh.shape[0]
    G, g, b2 = Wxh.T @ Wxh, Wxh.T @ bh, float(bh @ bh)  # (I, I), (I,), scalar
    x = np.asarray(x)
    if x.ndim == 2:  # token ids: ||Wxh[:, k] + bh||^2
        sq = np.diagonal(G)[x] + 2.0 * g[x] + b2
    else:
        x = x.astype(np.float64, copy=False)
        sq = np.einsum("tbi,tbi->tb", x @ G, x) + 2.0 * (x @ g) + b2
    return np.maximum(sq, 0.0) / H


def theory_from_weights(
    nonlinearity: str, Wxh: np.ndarray, Whh: np.ndarray, bh: np.ndarray, x: np.ndarray
) -> dict[str, np.ndarray]:
    """The per-sequence mean-field prediction for drawn weights and a batch of inputs.

        s_w2 = (1/H) ||Whh||_F^2,     drive[t, b] = (1/H) ||Wxh x_t[b] + bh||^2

    s_w2 is the mean squared entry times H, not H times the entries' variance: the recursion
    needs mean_i (Whh h)_i^2 = (1/H) sum_j ||Whh[:, j]||^2 h_j^2 + (cross terms that vanish for
    zero-mean weights independent of h), i.e. (1/H) ||Whh||_F^2 mean_j h_j^2, the second moment
    of the entries about 0. For zero-mean draws the two differ by H mean(Whh)^2 = O(1/H^2); for
    orthogonal Whh (gain g) s_w2 = g^2 exactly; after a spectral-radius rescale it is the drawn
    matrix's, not rho^2.

    Args:
        nonlinearity: one of NONLINEARITIES.
        Wxh: (H, I). Whh: (H, H). bh: (H,).
        x: (T, B) int token ids or (T, B, I) float.

    Returns:
        ``mean_field_per_sequence``'s {"preact_var", "act_var", "chi"}, each (T,).
    """
    Whh = np.asarray(Whh, np.float64)
    s_w2 = float(np.vdot(Whh, Whh)) / Whh.shape[0]
    return mean_field_per_sequence(nonlinearity, s_w2, realised_drive(Wxh, bh, x))


def _saturating_root(moments, s_w2: np.ndarray, c: np.ndarray, tol: float, max_iter: int):
    """Positive root of G(q) = s_w2 E[phi(sqrt(q) z)^2] + c - q, by bisection, for a saturating
    phi, elementwise over the (same-shape, 1-D) arrays s_w2 and c.

    For phi odd, |phi| < 1 and phi'(0) = 1 (tanh), E[phi^2](q) is increasing and concave with
    slope 1 at 0 and bounded by 1, so G has a single positive root, in (0, s_w2 + c], when c > 0
    or s_w2 > 1. G(q) > 0 below it, < 0 above. moments: the registry's q -> (E[phi^2], ...).
    Without input or bias the lower bracket starts from tanh's E[phi^2] = q - 2 q^2 + O(q^3).
    Each element stops once its own bracket is within tol, so an element's root does not depend
    on the others it is solved with.
    """

    def G(q, i):
        return s_w2[i] * moments(q)[0] + c[i] - q

    lo, hi = np.zeros_like(s_w2), s_w2 + c
    low = np.flatnonzero(c == 0.0)  # G(0) = 0 is the unstable root: move lo up to where G > 0
    lo[low] = 0.5 * (s_w2[low] - 1.0) / s_w2[low]  # G ~ (s_w2 - 1) q - 2 s_w2 q^2 near 0
    while (bad := low[G(lo[low], low) <= 0.0]).size:
        lo[bad] *= 0.5
        unresolved = bad[lo[bad] < 1e-300]  # s_w2 - 1 below what float can resolve: q* = 0
        lo[unresolved] = hi[unresolved] = 0.0
        low = np.setdiff1d(low, unresolved)
    active = np.arange(s_w2.size)
    for _ in range(max_iter):
        active = active[hi[active] - lo[active] > tol * np.maximum(1.0, hi[active])]
        if not active.size:
            break
        mid = 0.5 * (lo[active] + hi[active])
        up = G(mid, active) > 0.0
        lo[active[up]], hi[active[~up]] = mid[up], mid[~up]
    return 0.5 * (lo + hi)


def fixed_points(
    nonlinearity: str,
    s_w2,
    s_u2_in=0.0,
    s_b2=0.0,
    tol: float = 1e-12,
    max_iter: int = 10000,
) -> tuple[np.ndarray, np.ndarray]:
    """``fixed_point`` elementwise over arrays: (q*, chi*) of the broadcast shape of s_w2,
    s_u2_in and s_b2 (the phase diagram's grid solves every point in one pass).

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite variance.
    """
    moments = _moments(nonlinearity)
    s_w2, s_u2_in, s_b2 = np.broadcast_arrays(
        *(np.asarray(v, np.float64) for v in (s_w2, s_u2_in, s_b2))
    )
    for name, v in (("s_w2", s_w2), ("s_u2_in", s_u2_in), ("s_b2", s_b2)):
        if not (np.all(np.isfinite(v)) and np.all(v >= 0.0)):
            raise ValueError(f"{name} must be a finite variance >= 0, got {v!r}")
    shape, s, c = s_w2.shape, s_w2.ravel(), (s_u2_in + s_b2).ravel()  # (N,)
    kind = NONLINEARITIES[nonlinearity].theory_kind
    if kind == "saturating":
        q_star = np.zeros_like(s)
        grows = (c > 0.0) | (s > 1.0 + ROUNDING_TOL)  # else no input, bias or growth: q* = 0
        q_star[grows] = _saturating_root(moments, s[grows], c[grows], tol, max_iter)
        chi_star = s * moments(q_star)[2]
    elif kind == "homogeneous":
        k = s * moments(1.0)[0]  # E[phi^2] is proportional to q: slope of the map
        chi_star = s * moments(1.0)[2]
        k[np.abs(k - 1.0) <= ROUNDING_TOL] = 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            q_star = np.where(
                k < 1.0, c / (1.0 - k), np.where((k == 1.0) & (c == 0.0), 0.0, math.inf)
            )
    else:
        raise ValueError(f"fixed_point: no fixed-point rule for theory_kind {kind!r}")
    return q_star.reshape(shape), np.broadcast_to(chi_star, s.shape).reshape(shape)


def fixed_point(
    nonlinearity: str,
    s_w2: float,
    s_u2_in: float = 0.0,
    s_b2: float = 0.0,
    tol: float = 1e-12,
    max_iter: int = 10000,
) -> tuple[float, float]:
    """Fixed point q* of q -> s_w2 E[phi(sqrt(q) z)^2] + s_u2_in + s_b2, and chi* there.

    s_u2_in is the constant input term s_u2 * x_sq; chi* = s_w2 E[phi'(sqrt(q*) z)^2]. q* is the
    limit of the recursion started from h_0 = 0:

    - linear (slope k = s_w2) and relu (k = s_w2 / 2): E[phi^2] = k q / s_w2, so
      q* = (s_u2_in + s_b2) / (1 - k) for k < 1. For k > 1, or k = 1 with any input or bias, the
      recursion diverges and q* = inf; for k = 1 with none, q stays 0. chi* = k for every q.
    - tanh: with no input or bias and s_w2 <= 1, q* = 0 and chi* = s_w2; otherwise the unique
      positive root of q = s_w2 E[tanh(sqrt(q) z)^2] + s_u2_in + s_b2 (always finite, since
      E[tanh^2] < 1), found by bisection to |dq| <= tol * max(1, q*) in at most max_iter halvings.

    Which case applies is the registry's ``theory_kind``: "homogeneous" (linear, relu) or
    "saturating" (tanh). A slope k (or, for tanh without input or bias, s_w2) within
    ROUNDING_TOL (1e-9, relative) of 1 counts as exactly 1, so that xavier's
    512 * (1/sqrt(512))^2 = 1 + 2e-16 gives orthogonal's q* = 0, not inf or 4.5e-13.
    ``fixed_points`` solves arrays of them at once.

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite variance.
    """
    _check_var(s_w2=s_w2, s_u2_in=s_u2_in, s_b2=s_b2)
    q_star, chi_star = fixed_points(nonlinearity, s_w2, s_u2_in, s_b2, tol, max_iter)
    return float(q_star), float(chi_star)


def regime(chi: float, tol: float = REGIME_TOL) -> str:
    """Label a per-step gradient factor chi.

    "ordered" for chi < 1 - tol (gradients vanish geometrically), "chaotic" for chi > 1 + tol
    (they explode), "critical" otherwise (default tol REGIME_TOL = 1e-3).

    Raises:
        ValueError: chi is NaN.
    """
    if math.isnan(chi):
        raise ValueError("regime: chi is NaN")
    if chi < 1.0 - tol:
        return "ordered"
    if chi > 1.0 + tol:
        return "chaotic"
    return "critical"


def timescale(chi: float) -> float:
    """xi = -1 / ln chi: the number of steps back in time over which the gradient's variance
    shrinks by a factor e (negative when chi > 1: it grows by e over |xi| steps).

    inf where |ln chi| <= ROUNDING_TOL (critical up to rounding), 0 for chi = 0.

    Raises:
        ValueError: chi negative or NaN.
    """
    if not chi >= 0.0:
        raise ValueError(f"timescale: chi must be >= 0, got {chi!r}")
    if chi == 0.0 or math.isinf(chi):
        return 0.0
    log_chi = math.log(chi)
    return math.inf if abs(log_chi) <= ROUNDING_TOL else -1.0 / log_chi


def grad_var_profile(chi: np.ndarray) -> np.ndarray:
    """Predicted Var(dL/dh_t) / Var(dL/dh_T), t = 1..T, for a loss at the last step only.

        profile_t = prod_{s = t+1}^{T} chi_s        (profile_T = 1)

    from Var(dL/dh_{t-1}) = chi_t Var(dL/dh_t). chi: (T,), as from ``mean_field``. Returns (T,);
    products may overflow to inf or underflow to 0, which is the prediction.
    """
    chi = np.asarray(chi, dtype=np.float64).reshape(-1)  # (T,)
    profile = np.ones_like(chi)
    with np.errstate(over="ignore", under="ignore"):
        suffix = np.cumprod(chi[::-1])[::-1]  # suffix[i] = prod(chi[i:])
    profile[:-1] = suffix[1:]
    return profile


def theory_for_run(
    nonlinearity: str,
    var_Wxh: float | None,
    var_Whh: float | None,
    var_bh: float,
    I: int,
    H: int,
    x_sq: np.ndarray,
) -> dict[str, np.ndarray] | None:
    """``mean_field`` for one run's init, from per-entry variances; None where it does not apply.

    The caller passes None for var_Wxh or var_Whh when that matrix's scheme is not zero-mean
    i.i.d. or orthogonal (uniform, identity, ...). Otherwise s_w2 = H var_Whh,
    s_u2 = I var_Wxh, s_b2 = var_bh. x_sq: (T,) batch mean of ||x_t||^2 / I.
    Returns {"preact_var", "act_var", "chi"}, each (T,), or None.
    """
    if var_Wxh is None or var_Whh is None:
        return None
    return mean_field(nonlinearity, H * var_Whh, I * var_Wxh, var_bh, x_sq)


def recurrence_regime(
    nonlinearity: str, s_w2: float, input_var: float = 0.0, bias_var: float = 0.0
) -> dict:
    """Fixed point, gradient factor, timescale and regime of the recurrence
    q -> s_w2 E[phi(sqrt(q) z)^2] + input_var + bias_var, s_w2 = fan_in Var(Whh entry).

    input_var is the input's share of each pre-activation's variance per step (s_u2 times the
    mean ||x_t||^2 / I), bias_var the bias's: both 0 is the input-free recurrence. An input or a
    bias moves the fixed point, and with it chi* (tanh saturates: driven xavier is ordered).

    Returns {"q_star", "chi", "xi", "regime"}: the pre-activation variance the hidden state
    settles at (0: the signal dies out; inf: it grows without bound), chi* there, the timescale
    xi = -1 / ln chi* (``timescale``) and whether gradients through time shrink (ordered), grow
    (chaotic) or keep their size (critical, |chi* - 1| <= REGIME_TOL).
    """
    q_star, chi = fixed_point(nonlinearity, s_w2, s_u2_in=input_var, s_b2=bias_var)
    return {"q_star": q_star, "chi": chi, "xi": timescale(chi), "regime": regime(chi)}
