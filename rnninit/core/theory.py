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

relu and linear use closed forms; tanh uses quadrature (``gauss_expect``). NumPy only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

NONLINEARITIES = ("tanh", "relu", "linear")

_GH_MAX_Q = 0.5  # Gauss-Hermite for q <= this; the trapezoid rule in z above it
_Z_MAX = 10.0  # trapezoid range z in [-10, 10]: the N(0, 1) mass outside is ~1.5e-23
_TRAP_MAX_POINTS = 2**21 + 1  # memory cap, reached only for q beyond ~4e8
_GH_RULES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gh_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights, weights divided by sqrt(2 pi) (cached)."""
    if n not in _GH_RULES:
        z, w = np.polynomial.hermite_e.hermegauss(n)
        _GH_RULES[n] = (z, w / math.sqrt(2.0 * math.pi))
    return _GH_RULES[n]


def _trapezoid_z(f: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """E[f(sqrt(q) z)] by the trapezoid rule in z, step h = min(0.1, 0.2 / sqrt(q))."""
    s = math.sqrt(q)
    h = min(0.1, 0.2 / s)
    n_half = min(math.ceil(_Z_MAX / h), _TRAP_MAX_POINTS // 2)
    z = np.linspace(-_Z_MAX, _Z_MAX, 2 * n_half + 1)
    w = np.exp(-0.5 * z * z) * ((z[1] - z[0]) / math.sqrt(2.0 * math.pi))
    w[0] *= 0.5
    w[-1] *= 0.5
    return float(np.dot(f(s * z), w))


def gauss_expect(
    f: Callable[[np.ndarray], np.ndarray], q: float | np.ndarray, n: int = 101
) -> np.ndarray:
    """E_z[f(sqrt(q) z)] for z ~ N(0, 1), elementwise over q (scalar or array; same shape out).

    f must be vectorised (array in, same-shape array out). For q <= 1/2 the rule is n-node
    Gauss-Hermite for the weight exp(-z^2 / 2) (``numpy.polynomial.hermite_e.hermegauss``, weights
    normalised by sqrt(2 pi)), exact for polynomials of degree <= 2n - 1:

        E[f(sqrt(q) z)] ~= sum_k w_k f(sqrt(q) z_k) / sqrt(2 pi)

    For larger q an activation that bends on the unit scale (tanh) bends between the nodes, whose
    spacing near 0 is ~0.3 sqrt(q) in a for n = 101, and Gauss-Hermite loses accuracy (for
    tanh'^2 with n = 101: 1e-14 at q = 1/2, 3e-10 at q = 1, 1e-5 at q = 3, 4e-3 at q = 10,
    7e-2 at q = 100), so n only matters for q <= 1/2. Above that the trapezoid rule in z on
    [-10, 10] with step h = min(0.1, 0.2 / sqrt(q)) is used (measured within 1e-12 of a fine
    reference for tanh^2 and tanh'^2 up to q = 1e6): for f analytic in the strip |Im a| < d
    (tanh: pi / 2) its error decays like exp(-2 pi d / (h sqrt(q))) <= exp(-49), plus the 1e-23
    Gaussian tail beyond |z| = 10.
    Functions with a kink (relu) converge only algebraically under either rule: use closed forms.

    Raises:
        ValueError: q negative or not finite.
    """
    q_arr = np.asarray(q, dtype=np.float64)
    if not np.all(np.isfinite(q_arr)) or np.any(q_arr < 0):
        raise ValueError(f"gauss_expect: q must be finite and >= 0, got {q!r}")
    z, w = _gh_rule(n)
    out = np.empty(q_arr.shape)
    for idx, qk in np.ndenumerate(q_arr):
        qk = float(qk)
        out[idx] = np.dot(f(math.sqrt(qk) * z), w) if qk <= _GH_MAX_Q else _trapezoid_z(f, qk)
    return out


# Per nonlinearity, q -> (E[phi^2], Var[phi], E[phi'^2]) for phi(sqrt(q) z). Var[phi] is written
# in closed form where possible so that q = inf gives inf rather than inf - inf.


def _tanh_moments(q: float) -> tuple[float, float, float]:
    """Quadrature; E[tanh] = 0 by symmetry, so Var[tanh] = E[tanh^2]."""
    e_phi2 = float(gauss_expect(lambda a: np.tanh(a) ** 2, q))
    e_dphi2 = float(gauss_expect(lambda a: (1.0 - np.tanh(a) ** 2) ** 2, q))  # sech^4, no overflow
    return e_phi2, e_phi2, e_dphi2


def _relu_moments(q: float) -> tuple[float, float, float]:
    """E[relu^2] = q/2, E[relu] = sqrt(q/(2 pi)), Var = q (1/2 - 1/(2 pi)), E[relu'^2] = 1/2."""
    return 0.5 * q, q * (0.5 - 0.5 / math.pi), 0.5


def _linear_moments(q: float) -> tuple[float, float, float]:
    """E[a^2] = Var[a] = q, phi' = 1."""
    return q, q, 1.0


_MOMENTS: dict[str, Callable[[float], tuple[float, float, float]]] = {
    "tanh": _tanh_moments,
    "relu": _relu_moments,
    "linear": _linear_moments,
}


def _moments(nonlinearity: str) -> Callable[[float], tuple[float, float, float]]:
    try:
        return _MOMENTS[nonlinearity]
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


def _tanh_root(s_w2: float, c: float, tol: float, max_iter: int) -> float:
    """Positive root of G(q) = s_w2 E[tanh(sqrt(q) z)^2] + c - q, by bisection.

    E[tanh^2](q) is increasing and concave with slope 1 at 0 and bounded by 1, so G has a single
    positive root, in (0, s_w2 + c], when c > 0 or s_w2 > 1. G(q) > 0 below it, < 0 above.
    """

    def G(q: float) -> float:
        return s_w2 * _tanh_moments(q)[0] + c - q

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

    Raises:
        ValueError: unknown nonlinearity, a negative or non-finite variance.
    """
    moments = _moments(nonlinearity)
    _check_var(s_w2=s_w2, s_u2_in=s_u2_in, s_b2=s_b2)
    c = s_u2_in + s_b2
    if nonlinearity == "tanh":
        q_star = 0.0 if (c == 0.0 and s_w2 <= 1.0) else _tanh_root(s_w2, c, tol, max_iter)
        return q_star, s_w2 * moments(q_star)[2]
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
