"""Mean-field theory of a vanilla RNN at initialisation (DESIGN sections 2-3).

The network is ``a_t = x_t Wxh^T + h_{t-1} Whh^T + bh``, ``h_t = phi(a_t)``, ``h_0 = 0``, with
zero-mean i.i.d. (or orthogonal) weights. At large width each pre-activation is Gaussian with a
variance q_t that obeys a scalar recursion. With

    s_w2 = H * Var(Whh entry),   s_u2 = I * Var(Wxh entry),   s_b2 = Var(bh),
    x_sq_t = ||x_t||^2 / I averaged over the batch    (one-hot inputs: 1 / I),

and z ~ N(0, 1):

    q_1 = s_u2 * x_sq_1 + s_b2                                              (h_0 = 0)
    q_t = s_w2 * E[phi(sqrt(q_{t-1}) z)^2] + s_u2 * x_sq_t + s_b2
    preact_var_t = q_t
    act_var_t    = E[phi(sqrt(q_t) z)^2] - E[phi(sqrt(q_t) z)]^2
    chi_t        = s_w2 * E[phi'(sqrt(q_t) z)^2]

chi_t is the factor by which backprop through step t scales the gradient variance,
Var(dL/dh_{t-1}) ~= chi_t * Var(dL/dh_t), so chi < 1 is the ordered regime (gradients vanish
geometrically in time) and chi > 1 the chaotic one (they explode).

relu and linear use closed forms; tanh uses quadrature (``gauss_expect``). NumPy only: no I/O.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

NONLINEARITIES = ("tanh", "relu", "linear")

_GH_MAX_Q = 0.5  # Gauss-Hermite up to this q; the trapezoid rule above (see gauss_expect)
_TRAP_HALF_WIDTH = 12.0  # z-range [-12, 12] of the trapezoid rule: N(0,1) mass outside ~ 4e-33
_TRAP_MAX_POINTS = 2**20 + 1  # caps memory; reached only for q > ~3e7
_GH_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights normalised to sum to 1 (cached per n)."""
    if n not in _GH_CACHE:
        z, w = np.polynomial.hermite_e.hermegauss(n)
        _GH_CACHE[n] = (z, w / w.sum())
    return _GH_CACHE[n]


def _trapezoid_expect(f: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """E_z[f(sqrt(q) z)] by the trapezoid rule in z with step min(1/4, 1/(8 sqrt(q)))."""
    step = min(0.25, 0.125 / math.sqrt(q))
    n_half = min(math.ceil(_TRAP_HALF_WIDTH / step), _TRAP_MAX_POINTS // 2)
    z = np.linspace(-_TRAP_HALF_WIDTH, _TRAP_HALF_WIDTH, 2 * n_half + 1)
    weights = np.exp(-0.5 * z * z) * ((z[1] - z[0]) / math.sqrt(2.0 * math.pi))
    return float(np.dot(f(math.sqrt(q) * z), weights))


def gauss_expect(
    f: Callable[[np.ndarray], np.ndarray], q: float | np.ndarray, n: int = 101
) -> np.ndarray:
    """E_z[f(sqrt(q) z)], z ~ N(0, 1), for each variance in q (any shape; result has its shape).

    f must be vectorised (array in, array of the same shape out) and smooth.

    For q <= 1/2: Gauss-Hermite with n nodes for the weight exp(-z^2/2) (``hermegauss``), exact
    for polynomials of degree <= 2n - 1 and within 1e-14 for tanh-like f with n = 101.
    For larger q the Gaussian is wide compared with the unit scale on which an activation bends,
    and the Gauss-Hermite nodes (about 0.3 apart near z = 0 for n = 101; ``hermegauss`` gives NaN
    weights beyond n ~ 280) step over the bend: with 101 nodes E[tanh'(sqrt(q) z)^2] is off by
    3e-10 at q = 1, 1e-5 at q = 3, 4e-3 at q = 10 and 7e-2 at q = 100. There the trapezoid rule
    on z in [-12, 12] with step h = min(1/4, 1/(8 sqrt(q))) is used instead: for f analytic in the
    strip |Im a| < d (tanh: d = pi/2) its error falls like exp(-2 pi d / (h sqrt(q))) <= 1e-30,
    so rounding dominates. The number of points is capped at 2^20 + 1, so beyond q ~ 3e7 the
    accuracy degrades gracefully (E[tanh^2] at q = 1e9 is still right to ~2e-9).
    A kink (relu at 0) limits either rule to algebraic accuracy: prefer closed forms there.
    """
    q_arr = np.asarray(q, dtype=np.float64)
    if np.any(~np.isfinite(q_arr)) or np.any(q_arr < 0):
        raise ValueError(f"gauss_expect: q must be finite and >= 0, got {q!r}")
    z, w = _gh_rule(n)
    out = np.empty(q_arr.shape)
    flat_q, flat_out = q_arr.reshape(-1), out.reshape(-1)
    for k, qk in enumerate(flat_q):
        if qk <= _GH_MAX_Q:
            flat_out[k] = np.dot(f(math.sqrt(qk) * z), w)
        else:
            flat_out[k] = _trapezoid_expect(f, float(qk))
    return out


def _sech2(a: np.ndarray) -> np.ndarray:
    """tanh'(a) = 1 - tanh(a)^2 (no overflow for large |a|, unlike 1 / cosh(a)^2)."""
    return 1.0 - np.tanh(a) ** 2


def _moments_tanh(q: float) -> tuple[float, float, float]:
    """Quadrature; Var[tanh] = E[tanh^2] since E[tanh] = 0 by symmetry."""
    e_phi2 = float(gauss_expect(lambda a: np.tanh(a) ** 2, q))
    e_dphi2 = float(gauss_expect(lambda a: _sech2(a) ** 2, q))
    return e_phi2, e_phi2, e_dphi2


def _moments_relu(q: float) -> tuple[float, float, float]:
    """Closed forms (q > 0): E[relu^2] = q/2, E[relu] = sqrt(q/(2 pi)), E[relu'^2] = 1/2."""
    return q / 2.0, q * (0.5 - 0.5 / math.pi), 0.5


def _moments_linear(q: float) -> tuple[float, float, float]:
    """Exact: E[a^2] = Var[a] = q, phi' = 1."""
    return q, q, 1.0


# nonlinearity -> q -> (E[phi^2], Var[phi] = E[phi^2] - E[phi]^2, E[phi'^2]) at phi(sqrt(q) z);
# the variance is returned in closed form so that q = inf gives inf, not inf - inf
_MOMENTS: dict[str, Callable[[float], tuple[float, float, float]]] = {
    "tanh": _moments_tanh,
    "relu": _moments_relu,
    "linear": _moments_linear,
}


def _moments_of(nonlinearity: str) -> Callable[[float], tuple[float, float, float]]:
    if nonlinearity not in _MOMENTS:
        raise ValueError(
            f"unknown nonlinearity {nonlinearity!r}; expected one of {', '.join(NONLINEARITIES)}"
        )
    return _MOMENTS[nonlinearity]


def _check_variances(**values: float) -> None:
    for name, v in values.items():
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite variance >= 0, got {v!r}")


def mean_field(
    nonlinearity: str, s_w2: float, s_u2: float, s_b2: float, x_sq: np.ndarray
) -> dict[str, np.ndarray]:
    """Predicted per-timestep statistics at init, t = 1..T.

    Args:
        nonlinearity: "tanh", "relu" or "linear".
        s_w2: H * Var(Whh entry); s_u2: I * Var(Wxh entry); s_b2: Var(bh).
        x_sq: (T,) per-timestep batch mean of ||x_t||^2 / I (one-hot inputs: 1 / I).

    Returns:
        {"preact_var": q_t, "act_var": E[phi^2] - E[phi]^2, "chi": s_w2 E[phi'^2]}, each (T,),
        from the recursion q_t = s_w2 E[phi(sqrt(q_{t-1}) z)^2] + s_u2 x_sq_t + s_b2 with h_0 = 0.
        A linear or relu network with chi > 1 may overflow q to inf; that is the prediction.
    """
    moments = _moments_of(nonlinearity)
    _check_variances(s_w2=s_w2, s_u2=s_u2, s_b2=s_b2)
    x_sq = np.asarray(x_sq, dtype=np.float64).reshape(-1)  # (T,)
    if np.any(~np.isfinite(x_sq)) or np.any(x_sq < 0):
        raise ValueError("x_sq must be finite and >= 0")
    T = x_sq.shape[0]
    preact_var, act_var, chi = np.empty(T), np.empty(T), np.empty(T)
    e_phi2_prev = 0.0  # h_0 = 0
    for t in range(T):
        q = s_w2 * e_phi2_prev + s_u2 * float(x_sq[t]) + s_b2
        e_phi2, var_phi, e_dphi2 = moments(q)
        preact_var[t], act_var[t], chi[t] = q, var_phi, s_w2 * e_dphi2
        e_phi2_prev = e_phi2
    return {"preact_var": preact_var, "act_var": act_var, "chi": chi}


def _tanh_fixed_point(s_w2: float, c: float, tol: float, max_iter: int) -> float:
    """Root of G(q) = s_w2 E[tanh(sqrt(q) z)^2] + c - q on q > 0, by bisection.

    E[tanh^2] is increasing and concave in q with slope 1 at q = 0 and bounded by 1, so G has one
    root in (0, s_w2 + c] when c > 0 or s_w2 > 1 (and G(s_w2 + c) < 0).
    """
    if s_w2 == 0.0:
        return c

    def G(q: float) -> float:
        return s_w2 * _moments_tanh(q)[0] + c - q

    lo, hi = 0.0, s_w2 + c
    if c == 0.0:  # G(0) = 0: find a lo > 0 below the root, where G > 0 (slope s_w2 - 1 > 0)
        lo = hi
        while G(lo) <= 0.0:
            lo /= 2.0
            if lo < 1e-300:
                return 0.0  # s_w2 so close to 1 that the root is not representable
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        if hi - lo <= tol * max(1.0, hi) or mid in (lo, hi):
            break
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
    """The attracting fixed point q* of q -> s_w2 E[phi(sqrt(q) z)^2] + s_u2_in + s_b2, and chi*.

    s_u2_in is the constant input term s_u2 * ||x||^2 / I. chi* = s_w2 E[phi'(sqrt(q*) z)^2].
    q* is the limit of the recursion from any q > 0 (every map here is increasing and concave):

    - linear (slope k = s_w2) and relu (k = s_w2 / 2): q* = (s_u2_in + s_b2) / (1 - k) for k < 1;
      inf for k > 1, or k = 1 with input; with no input and k = 1 every q is fixed and 0 is
      returned. chi* = k does not depend on q.
    - tanh: with no input, q* = 0 and chi* = s_w2 for s_w2 <= 1; otherwise the unique positive
      root of q = s_w2 E[tanh^2] + s_u2_in + s_b2, found by bisection to |dq| <= tol * max(1, q*)
      (at most max_iter halvings).
    """
    moments = _moments_of(nonlinearity)
    _check_variances(s_w2=s_w2, s_u2_in=s_u2_in, s_b2=s_b2)
    c = s_u2_in + s_b2
    if nonlinearity == "tanh":
        q_star = 0.0 if (c == 0.0 and s_w2 <= 1.0) else _tanh_fixed_point(s_w2, c, tol, max_iter)
        return q_star, s_w2 * moments(q_star)[2]
    k = s_w2 * moments(1.0)[0]  # E[phi^2] is linear in q: the map's slope is s_w2 E[phi^2](q=1)
    chi_star = s_w2 * moments(1.0)[2]
    if k < 1.0:
        q_star = c / (1.0 - k)
    elif k == 1.0 and c == 0.0:
        q_star = 0.0
    else:
        q_star = math.inf
    return q_star, chi_star


def regime(chi: float, tol: float = 1e-3) -> str:
    """Name the regime of a per-step gradient factor chi (absolute tolerance tol around 1).

    "ordered": chi < 1, gradients vanish geometrically in time; "chaotic": chi > 1, they explode;
    "critical": |chi - 1| <= tol.
    """
    if math.isnan(chi):
        raise ValueError("regime: chi is NaN")
    if abs(chi - 1.0) <= tol:
        return "critical"
    return "ordered" if chi < 1.0 else "chaotic"


def grad_var_profile(chi: np.ndarray) -> np.ndarray:
    """Predicted Var(dL/dh_t) / Var(dL/dh_T) for a loss at the last step only, t = 1..T.

    profile_t = prod_{s=t+1}^{T} chi_s (1 at t = T), from Var(dL/dh_{t-1}) = chi_t Var(dL/dh_t).
    chi: (T,). Products may overflow to inf or underflow to 0; that is the prediction.
    """
    chi = np.asarray(chi, dtype=np.float64).reshape(-1)  # (T,)
    profile = np.ones_like(chi)
    with np.errstate(over="ignore", under="ignore"):
        tail = np.cumprod(chi[::-1])[::-1]  # tail[i] = prod(chi[i:])
    profile[:-1] = tail[1:]
    return profile


def theory_for_run(
    nonlinearity: str,
    var_Wxh: float | None,
    var_Whh: float | None,
    var_bh: float | None,
    I: int,
    H: int,
    x_sq: np.ndarray,
) -> dict[str, np.ndarray] | None:
    """mean_field for a run's init, from per-entry weight variances; None where it does not apply.

    The caller passes None for a variance whose scheme is not zero-mean i.i.d. or orthogonal
    (uniform, identity, ...). s_w2 = H var_Whh, s_u2 = I var_Wxh, s_b2 = var_bh.
    x_sq: (T,) batch mean of ||x_t||^2 / I. Returns {"preact_var", "act_var", "chi"}, each (T,).
    """
    if var_Wxh is None or var_Whh is None or var_bh is None:
        return None
    return mean_field(nonlinearity, H * var_Whh, I * var_Wxh, var_bh, x_sq)
