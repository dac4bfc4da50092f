"""The Jacobian spectrum's files in a run folder (DESIGN section 3, "Jacobian spectrum").

A run with ``log.jacobian: true`` computes, at every statistics step, the singular values of
J(t, 0) = dh_t/dh_0 (``core.jacobian``) for the first ``log.jacobian_sequences`` sequences of
that step's batch (a forward pass of its own, h_0 = 0, at the weights of that step, before its
update) and writes:

- ``jacobian.csv``: step, t, sequence, sv_max, sv_median, sv_min, mean_log_sv,
  frac_within_10pct_of_1; one row per (statistics step, t, sequence), ``sequence`` the 0-based
  index in the batch. sv_median, sv_min and mean_log_sv are read on the spectrum clipped at
  float64's round-off floor, ROUNDOFF_FLOOR x sv_max (``core.jacobian.spectrum_columns``).
- ``jacobian.npz``: per statistics step k, ``step_<k>/t`` (n_t,) the timesteps and
  ``step_<k>/log_sv`` (n_t, sequences, S) float64, the natural logs of the singular values of
  each sequence's J(t, 0) in descending order, as computed (not clipped; -inf for an exact 0);
  ``roundoff_floor`` the floor relative to sv_max. Rewritten whole (atomically) at each
  statistics step.

``experiment/jacobian.py`` measures the same on its own (``rnninit jacobian``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.jacobian import ROUNDOFF_FLOOR, SPECTRUM_COLUMNS, Spectrum, jacobian_spectrum
from ..fileio import atomic_write_bytes

JACOBIAN_COLUMNS = ("step", "t", "sequence", *SPECTRUM_COLUMNS)


def batch_spectrum(params: dict, x: np.ndarray, nonlinearity: str, cell, sequences: int):
    """The spectrum of the first ``sequences`` sequences of a batch's x ((T, B) or (T, B, I))."""
    return jacobian_spectrum(params, x[:, :sequences], nonlinearity=nonlinearity, cell=cell)


def spectrum_rows(step: int, spectrum: Spectrum) -> list[dict]:
    """jacobian.csv's rows of one statistics step: one per (t, sequence), t increasing."""
    cols = spectrum.columns()  # each (n_t, K)
    n_t, K = cols["sv_max"].shape
    return [{"step": step, "t": int(spectrum.t[i]), "sequence": k,
             **{c: float(cols[c][i, k]) for c in SPECTRUM_COLUMNS}}
            for i in range(n_t) for k in range(K)]  # fmt: skip


def save_spectra(path: str | os.PathLike, spectra: dict[int, Spectrum]) -> None:
    """jacobian.npz (module docstring), written atomically."""
    arrays = {"roundoff_floor": np.array(ROUNDOFF_FLOOR)}
    for step, spec in sorted(spectra.items()):
        arrays[f"step_{step}/t"] = np.asarray(spec.t, dtype=np.int64)
        arrays[f"step_{step}/log_sv"] = spec.log_sv
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def load_spectra(path: str | os.PathLike, before: int | None = None) -> dict[int, Spectrum]:
    """The spectra of jacobian.npz by statistics step (only steps < ``before`` when given);
    an empty dict when there is no file."""
    path = Path(path)
    if not path.is_file():
        return {}
    out = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            if key.startswith("step_") and key.endswith("/t"):
                step = int(key.removeprefix("step_").removesuffix("/t"))
                if before is None or step < before:
                    out[step] = Spectrum(t=npz[key], log_sv=npz[f"step_{step}/log_sv"])
    return dict(sorted(out.items()))


def truncate_spectra(path: str | os.PathLike, step: int) -> None:
    """Keep only the statistics steps before ``step`` in jacobian.npz (a resume recomputes the
    others, as it does the CSV rows)."""
    if Path(path).is_file():
        save_spectra(path, load_spectra(path, before=step))


def plot_data(spectra: dict[int, Spectrum]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The spectra as the report layer takes them: step -> (t, log_sv)."""
    return {step: (spec.t, spec.log_sv) for step, spec in spectra.items()}
