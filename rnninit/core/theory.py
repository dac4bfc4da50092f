"""Mean-field theory of a vanilla RNN at initialisation (DESIGN sections 2-3).

The network is ``a_t = x_t Wxh^T + h_{t-1} Whh^T + bh``, ``h_t = phi(a_t)``, ``h_0 = 0``, with
zero-mean i.i.d. (or orthogonal) weights. At large width every pre-activation a_t is Gaussian
with a variance q_t shared by all units, and q_t obeys a scalar recursion. With

    s_w2 = H * Var(Whh entry),   s_u2 = I * Var(Wxh entry),   s_b2 = Var(bh entry),
    x_sq[t] = batch mean of ||x_t||^2 / I           (one-hot inputs: 1 / I),

and z ~ N(0, 1):

    q_1 = s_u2 * x_sq[1] + s_b2                                             (h_0 = 0)
    q_t = s_w2 * E[phi(sqrt(q_{t-1}) z)^2] + s_u2 * x_sq[t] + s_b2
    preact_var_t = q_t
    act_var_t    = E[phi(sqrt(q_t) z)^2] - E[phi(sqrt(q_t) z)]^2
    chi_t        = s_w2 * E[phi'(sqrt(q_t) z)^2]

Backprop through step t multiplies the gradient variance by chi_t,
Var(dL/dh_{t-1}) ~= chi_t * Var(dL/dh_t), so chi < 1 is the ordered regime (gradients vanish
geometrically in time), chi > 1 the chaotic one (they explode) and chi = 1 the critical line.

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

__all__ = [
    "NONLINEARITIES",
    "fixed_point",
    "gauss_expect",
    "grad_var_profile",
    "mean_field",
    "recurrence_regime",
    "regime",
    "theory_for_run",
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
    """Mean-field prediction of the per-timestep statistics at init, t = 1..T.

        q_1 = s_u2 x_sq[1] + s_b2,   q_t = s_w2 E[phi(sqrt(q_{t-1}) z)^2] + s_u2 x_sq[t] + s_b2

    Args:
        nonlinearity: one of NONLINEARITIES.
        s_w2: H * Var(Whh entry). s_u2: I * Var(Wxh entry). s_b2: Var(bh entry).
        x_sq: (T,) batch mean of ||x_t||^2 / I.

    Returns:
        {"preact_var": q_t, "act_var": E[phi^2] - E[phi]^2, "chi": s_w2 E[phi'^2]}, each (T,).
        For linear or relu in the chaotic regime q_t grows geometrically and may reach inf.

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite variance or x_sq entry.
    """
    moments = _moments(nonlinearity)
    _check_var(s_w2=s_w2, s_u2=s_u2, s_b2=s_b2)
    x_sq = np.asarray(x_sq, dtype=np.float64).reshape(-1)  # (T,)
    if not np.all(np.isfinite(x_sq)) or np.any(x_sq < 0):
        raise ValueError("x_sq must be finite and >= 0")
    T = x_sq.shape[0]
    preact_var, act_var, chi = np.empty(T), np.empty(T), np.empty(T)
    e_phi2_prev = 0.0  # h_0 = 0
    with np.errstate(over="ignore"):
        for t in range(T):
            q = s_w2 * e_phi2_prev + s_u2 * float(x_sq[t]) + s_b2
            e_phi2, var_phi, e_dphi2 = moments(q)
            preact_var[t], act_var[t], chi[t] = q, var_phi, s_w2 * e_dphi2
            e_phi2_prev = e_phi2
    return {"preact_var": preact_var, "act_var": act_var, "chi": chi}


def _saturating_root(moments, s_w2: float, c: float, tol: float, max_iter: int) -> float:
    """Positive root of G(q) = s_w2 E[phi(sqrt(q) z)^2] + c - q, by bisection, for a saturating phi.

    For phi odd, |phi| < 1 and phi'(0) = 1 (tanh), E[phi^2](q) is increasing and concave with
    slope 1 at 0 and bounded by 1, so G has a single positive root, in (0, s_w2 + c], when c > 0
    or s_w2 > 1. G(q) > 0 below it, < 0 above. moments: the registry's q -> (E[phi^2], ...).
    Without input or bias the lower bracket starts from tanh's E[phi^2] = q - 2 q^2 + O(q^3).
    """

    def G(q: float) -> float:
        return s_w2 * moments(q)[0] + c - q

    lo, hi = 0.0, s_w2 + c
    if c == 0.0:  # G(0) = 0 is the unstable root: move lo up to where G > 0
        lo = 0.5 * (s_w2 - 1.0) / s_w2  # G ~ (s_w2 - 1) q - 2 s_w2 q^2 near 0
        while G(lo) <= 0.0:
            lo *= 0.5
            if lo < 1e-300:
                return 0.0  # s_w2 - 1 below what float can resolve
    for _ in range(max_iter):
        if hi - lo <= tol * max(1.0, hi):
            break
        mid = 0.5 * (lo + hi)
        if G(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


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
    "saturating" (tanh).

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite variance.
    """
    moments = _moments(nonlinearity)
    _check_var(s_w2=s_w2, s_u2_in=s_u2_in, s_b2=s_b2)
    c = s_u2_in + s_b2
    kind = NONLINEARITIES[nonlinearity].theory_kind
    if kind == "saturating":
        dies_out = c == 0.0 and s_w2 <= 1.0  # no input, no bias, no growth: q* = 0
        q_star = 0.0 if dies_out else _saturating_root(moments, s_w2, c, tol, max_iter)
        return q_star, s_w2 * moments(q_star)[2]
    if kind != "homogeneous":
        raise ValueError(f"fixed_point: no fixed-point rule for theory_kind {kind!r}")
    k = s_w2 * moments(1.0)[0]  # E[phi^2] is proportional to q: slope of the map
    chi_star = s_w2 * moments(1.0)[2]
    if k < 1.0:
        q_star = c / (1.0 - k)
    elif k == 1.0 and c == 0.0:
        q_star = 0.0
    else:
        q_star = math.inf
    return q_star, chi_star


def regime(chi: float, tol: float = 1e-3) -> str:
    """Label a per-step gradient factor chi.

    "ordered" for chi < 1 - tol (gradients vanish geometrically), "chaotic" for chi > 1 + tol
    (they explode), "critical" otherwise.

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


def recurrence_regime(nonlinearity: str, s_w2: float) -> dict:
    """Fixed point and gradient factor of the input-free recurrence with s_w2 = fan_in·Var(Whh).

    Returns {"q_star", "chi", "regime"}: the pre-activation variance the hidden state settles at
    (0: the signal dies out; inf: it grows without bound), chi* at that point, and whether
    gradients through time shrink (ordered), grow (chaotic) or keep their size (critical).
    """
    q_star, chi = fixed_point(nonlinearity, s_w2)
    return {"q_star": q_star, "chi": chi, "regime": regime(chi)}
