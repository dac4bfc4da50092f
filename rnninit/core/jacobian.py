"""The singular values of J(t, 0) = dh_t/dh_0 at log-spaced t (DESIGN section 3, "Jacobian
spectrum").

``jac_sq`` (``stats.py``) gives the mean squared singular value of the Jacobian through time;
the mean cannot tell an isometry (every singular value 1, an orthogonal linear recurrence) from a
Gaussian matrix power (mean 1, largest ~ sqrt(e t), most of the rest vanishing). This module
gives the whole spectrum, for a few sequences::

    J(t, 0) = J_t J_{t-1} ... J_1,      J_s = dh_s/dh_{s-1}   (S x S per sequence)

of the cell's full state (S = H, or 2H for the LSTM's [h, c]), by forward products through the
cell's one-step operator (``StepJacobian.apply``) from M = I, every t in order, with an SVD at
the chosen t. M is divided by a scalar whenever its mean squared singular value leaves
``stats.RESCALE_BAND`` and the scale is carried as a log, so that large T stays finite: the
result is log singular values. NumPy only, no I/O.

Round-off floor: a product formed in float64 carries an error of about 1e-16 x sv_max in every
direction, so singular values below about ``ROUNDOFF_FLOOR`` (1e-15) x sv_max are at float64's
round-off floor: a direct product cannot resolve them (measured: above 1e-15 x sv_max two
roundings of the same product agree to 1%, below 3e-16 x sv_max they differ by 10% and more, and
against an 80-digit product they are off by orders of magnitude). ``spectrum_columns`` clips
the log spectrum there (see its docstring); the full spectra (``Spectrum.log_sv``) are kept as
computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cellbase import Cell, StepJacobian
from .engine import forward
from .stats import RESCALE_BAND

ROUNDOFF_FLOOR = 1e-15  # singular values below this x sv_max are float64 round-off, not signal
N_TIMES = 10  # log-spaced t per spectrum (1 and T always among them)
WITHIN = 0.1  # frac_within_10pct_of_1: the share of singular values with |sv - 1| <= WITHIN
SPECTRUM_COLUMNS = ("sv_max", "sv_median", "sv_min", "mean_log_sv", "frac_within_10pct_of_1")


@dataclass
class Spectrum:
    """The singular values of J(t, start) for a few sequences at some t.

    Attributes:
        t: (n_t,) the timesteps, increasing, each > start.
        log_sv: (n_t, K, S) natural logs of the singular values of J(t, start) per sequence k,
            in descending order along the last axis, as computed (values below ROUNDOFF_FLOOR x
            sv_max are round-off); -inf for an exact 0, NaN where the forward pass or the
            product went non-finite.
        start: the step the product starts from (0: J(t, 0) = dh_t/dh_0).
    """

    t: np.ndarray
    log_sv: np.ndarray
    start: int = 0

    def columns(self) -> dict[str, np.ndarray]:
        """``spectrum_columns`` of this spectrum: each (n_t, K)."""
        return spectrum_columns(self.log_sv)


def log_times(T: int, n: int = N_TIMES) -> list[int]:
    """About n timesteps from 1 to T, log-spaced (every t when T <= n); 1 and T always."""
    if T < 1:
        raise ValueError(f"log_times: T must be >= 1, got {T}")
    picked = np.round(np.geomspace(1, T, max(n, 2))).astype(int)
    return sorted(set(picked.tolist()) | {1, T})


def product_log_sv(jac: StepJacobian, K: int, S: int, times, start: int = 0) -> np.ndarray:
    """log singular values (n_t, K, S), descending, of J(t, start) for each t of ``times``.

    jac: a cell's StepJacobian over K sequences, of float64 arrays; S the size of its state.
    M starts as I with one row per basis vector (K, S, S); ``M <- J_t M`` row by row
    (``jac.apply``), so that M's rows are the columns of J(t, start), whose singular values
    they share. M is divided by a scalar per sequence whenever its mean square per row leaves
    RESCALE_BAND, and the logs of those scalars are carried.
    """
    times = [int(t) for t in times]
    if not times or min(times) <= start or sorted(set(times)) != times:
        raise ValueError(f"times must increase and exceed start = {start}, got {times}")
    M = np.broadcast_to(np.eye(S), (K, S, S)).copy()  # (K, S, S): row i = J(t, start) e_i
    log_scale = np.zeros(K)
    out = np.full((len(times), K, S), np.nan)
    at = {t: i for i, t in enumerate(times)}
    lo, hi = RESCALE_BAND
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for t in range(start + 1, times[-1] + 1):
            M = jac.apply(t, M)  # J(t, start) = J_t J(t-1, start)
            ms = np.einsum("kij,kij->k", M, M) / S  # mean squared singular value
            far = np.isfinite(ms) & (ms > 0) & ~((lo < ms) & (ms < hi))
            if far.any():  # a scalar per sequence: the singular values keep their ratios
                scale = np.sqrt(ms[far])
                M[far] /= scale[:, None, None]
                log_scale[far] += np.log(scale)
            if t in at:
                out[at[t]] = _log_svd(M) + log_scale[:, None]
    return out


def _log_svd(M: np.ndarray) -> np.ndarray:
    """log of the singular values (K, S) of each finite (S, S) block of M; NaN for the others."""
    out = np.full(M.shape[:2], np.nan)
    ok = np.isfinite(M).all(axis=(1, 2))
    if ok.any():
        with np.errstate(divide="ignore"):  # an exact 0 (every unit saturated) is log 0 = -inf
            out[ok] = np.log(np.linalg.svd(M[ok], compute_uv=False))
    return out


def jacobian_spectrum(
    params: dict,
    x: np.ndarray,
    nonlinearity: str = "tanh",
    cell: str | Cell = "rnn",
    times=None,
    start: int = 0,
) -> Spectrum:
    """The singular values of J(t, start) = dh_t/dh_start for every sequence of x, at ``times``.

    Args:
        params: the cell's parameters, of any float dtype: the computation casts them to
            float64 (a float32 run is measured at its weights, in float64).
        x: (T, K) token ids or (T, K, I) floats: one sequence per spectrum (K small: the work
            is K products of (S x S) matrices per step and K SVDs per t).
        nonlinearity, cell: as for ``engine.forward``; h_0 (and an LSTM's c_0) are zeros.
        times: the t to report, increasing, in (start, T]; None: ``log_times(T)``.
        start: 0 for J(t, 0) = dh_t/dh_0 (DESIGN's spectrum); s > 0 gives J(t, s) = dh_t/dh_s.

    Returns:
        A ``Spectrum``: t (n_t,) and log_sv (n_t, K, S), S the size of the cell's state (H, or
        2H for the LSTM, whose J maps [h, c] to [h, c]). Singular values below about
        ROUNDOFF_FLOOR x sv_max are at float64's round-off floor (module docstring).
    """
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    with np.errstate(all="ignore"):  # a non-finite forward pass gives a NaN spectrum
        cache = forward(p64, x, nonlinearity=nonlinearity, cell=cell)
    T, K, H = cache.A.shape[0], cache.hs.shape[1], cache.hs.shape[2]
    times = log_times(T) if times is None else [int(t) for t in times]
    if times and times[-1] > T:
        raise ValueError(f"times: at most T = {T}, got {times[-1]}")
    S = cache.cell.state_size(H)
    log_sv = product_log_sv(cache.cell.jacobian(p64, cache), K, S, times, start)
    return Spectrum(t=np.array(times), log_sv=log_sv, start=start)


def spectrum_columns(log_sv: np.ndarray) -> dict[str, np.ndarray]:
    """The summary columns of jacobian.csv from log singular values (..., S), descending.

    Each column is (...,), e.g. (n_t, K):
    - ``sv_max``: the largest singular value (inf past float64's range: ``mean_log_sv`` stays
      finite);
    - ``sv_median``, ``sv_min``, ``mean_log_sv`` (mean of the natural log) and
      ``frac_within_10pct_of_1`` (share of the S values with |sv - 1| <= 0.1) are read on the
      spectrum clipped from below at ROUNDOFF_FLOOR x sv_max: a value under the floor is not
      resolved, so it counts as the floor, and where any are clipped ``sv_min`` equals
      ROUNDOFF_FLOOR x sv_max (``at_floor`` says so) and ``sv_median`` and ``mean_log_sv`` are
      upper bounds. Where every singular value is exactly 0 (every unit saturated) the columns
      are 0 and mean_log_sv is -inf; NaN where the spectrum is (a non-finite forward pass).
    """
    top = log_sv[..., 0]
    floor = top + math.log(ROUNDOFF_FLOOR)
    clipped = np.maximum(log_sv, floor[..., None])  # NaN stays NaN; -inf stays where top is
    with np.errstate(over="ignore", invalid="ignore"):  # exp past float64's range is inf
        within = (np.abs(np.exp(clipped) - 1.0) <= WITHIN).mean(axis=-1)
        return {
            "sv_max": np.exp(top),
            "sv_median": np.exp(np.median(clipped, axis=-1)),
            "sv_min": np.exp(clipped[..., -1]),
            "mean_log_sv": clipped.mean(axis=-1),
            "frac_within_10pct_of_1": np.where(np.isnan(top), np.nan, within),
        }


def at_floor(sv_min, sv_max):
    """True where sv_min is the round-off floor (ROUNDOFF_FLOOR x sv_max, to rounding) rather
    than a resolved value: the smallest singular values were clipped there."""
    sv_min, sv_max = np.asarray(sv_min, dtype=float), np.asarray(sv_max, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        return (sv_max > 0) & (sv_min <= sv_max * ROUNDOFF_FLOOR * (1 + 1e-9))
