"""`rnninit jacobian`: the spectrum of J(t, 0) = dh_t/dh_0 at a run's checkpoint or at init.

The measurement and its files are a run's (``experiment/spectra.py``, DESIGN section 3): the
singular values of J(t, 0) at log-spaced t for the first ``log.jacobian_sequences`` sequences
of a batch, h_0 = 0; here the batch is the config's first (step 0's), the weights a run's last
checkpoint or those drawn at init, and nothing is written unless asked (``write_report``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.jacobian import ROUNDOFF_FLOOR
from ..errors import RnnInitError
from .config import apply_overrides, load_config
from .runs import is_run_dir, json_dumps, write_csv
from .spectra import JACOBIAN_COLUMNS, batch_spectrum, plot_data, save_spectra, spectrum_rows
from .threads import blas_threads
from .training import load_checkpoint, prepare

RUN_FIXED = ("model.", "init", "train.dtype")  # keys a run's checkpoint fixes: not overridable


def jacobian_report(source=None, overrides=(), sequences: int | None = None) -> dict:
    """The Jacobian spectrum of a run's checkpoint, or of a config's network at init.

    Args:
        source: a run folder (the weights of its checkpoint.npz, its config.yaml), a YAML
            config file, or None (the built-in defaults); the last two at init.
        overrides: KEY=VALUE overrides of that config. For a run folder, keys the checkpoint
            fixes (model.*, init, train.dtype) are refused; others (task.seq_len, seed,
            train.batch_size, ...) change the batch the spectrum is measured on.
        sequences: how many sequences (log.jacobian_sequences when None).

    The batch is the first batch of the config's data stream (the batch of step 0 of a run of
    that config), and the spectrum that of its first ``sequences`` sequences, h_0 = 0: at init
    the numbers are those a run with log.jacobian logs at step 0.

    Returns:
        A dict: ``rows`` (jacobian.csv's), ``spectrum`` (the Spectrum), ``step`` (the
        checkpoint's, 0 at init), ``weights`` and ``batch`` (what was measured, in words),
        ``source``, ``config`` (the resolved Config), ``cell``, ``hidden_size``,
        ``state_size``, ``seq_len``, ``nonlinearity``, ``sequences``.
    """
    if sequences is not None:  # checked as log.jacobian_sequences is
        overrides = [*overrides, f"log.jacobian_sequences={sequences}"]
    run = Path(source) if source is not None and is_run_dir(source) else None
    if run is not None:
        _refuse_fixed(overrides)
        cfg = apply_overrides(load_config(run / "config.yaml"), overrides)
    else:
        if source is not None and Path(source).is_dir():
            raise RnnInitError(f"{source}: not a run folder (no summary.json and config.yaml)")
        cfg = load_config(source, overrides)
    setup = prepare(cfg)
    batch = setup.task.sample(setup.rng_data, cfg.train.batch_size)  # before the checkpoint's RNG
    step, weights = 0, "at init"
    if run is not None:
        step = _load_weights(run, setup)
        weights = f"{run / 'checkpoint.npz'} (step {step})"
    K = min(cfg.log.jacobian_sequences, cfg.train.batch_size)
    with blas_threads(cfg):
        spec = batch_spectrum(setup.params, batch.x, cfg.model.nonlinearity, setup.cell, K)
    H = cfg.model.hidden_size
    return {
        "source": str(source) if source is not None else "built-in defaults",
        "weights": weights,
        "batch": f"the first {K} sequences of the config's first batch (step 0's)",
        "step": step,
        "config": setup.config,
        "cell": setup.cell.name,
        "hidden_size": H,
        "state_size": setup.cell.state_size(H),
        "seq_len": setup.task.seq_len,
        "nonlinearity": cfg.model.nonlinearity,
        "sequences": K,
        "spectrum": spec,
        "rows": spectrum_rows(step, spec),
    }


def _refuse_fixed(overrides) -> None:
    for token in overrides:
        key = token.partition("=")[0].strip()
        if key.startswith(RUN_FIXED):
            raise RnnInitError(f"override '{token}': a run folder's checkpoint fixes model.*, "
                               "init and train.dtype; give a config file to measure another network")  # fmt: skip


def _load_weights(run: Path, setup) -> int:
    """Put the checkpoint's parameters into setup (refusing a shape the config does not make);
    return its step."""
    path = run / "checkpoint.npz"
    if not path.is_file():
        raise RnnInitError(f"{run}: no checkpoint.npz to read the weights from")
    with np.load(path, allow_pickle=False) as ckpt:
        for name, value in setup.params.items():
            stored = ckpt[f"param/{name}"].shape
            if stored != value.shape:
                raise RnnInitError(f"{path}: {name} has shape {stored}, the config makes "
                                   f"{value.shape} (an override changed the task's sizes?)")  # fmt: skip
    return int(load_checkpoint(path, setup)["step"])


def write_report(out_dir: str | os.PathLike, report: dict) -> list[Path]:
    """jacobian.csv, jacobian.npz and plots/jacobian.png of a ``jacobian_report`` in out_dir
    (created if missing); refuses to replace a jacobian.csv or jacobian.npz already there (a
    run's own). Returns the paths written."""
    from ..report import plots  # matplotlib loads only when a plot is drawn

    out = Path(out_dir)
    for name in ("jacobian.csv", "jacobian.npz"):
        if (out / name).exists():
            raise RnnInitError(f"--out: {out / name} exists; choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "jacobian.csv", report["rows"], JACOBIAN_COLUMNS)
    save_spectra(out / "jacobian.npz", {report["step"]: report["spectrum"]})
    png = out / "plots" / "jacobian.png"
    plots.jacobian_spectrum(report["rows"], plot_data({report["step"]: report["spectrum"]}), png,
                            title=f"{report['cell']}, H={report['hidden_size']}, {report['weights']}")  # fmt: skip
    return [out / "jacobian.csv", out / "jacobian.npz", png]


def json_text(report: dict) -> str:
    """A ``jacobian_report`` as JSON: what was measured, the t, the rows of jacobian.csv and the
    full log spectra (t, sequence, S; natural logs, descending). A number JSON cannot hold
    (NaN, +-inf: sv_max past float64's range, mean_log_sv of an all-zero spectrum) is null."""
    keep = ("source", "weights", "batch", "step", "cell", "hidden_size", "state_size", "seq_len",
            "nonlinearity", "sequences")  # fmt: skip
    spec = report["spectrum"]
    data = {k: report[k] for k in keep}
    data.update(roundoff_floor=ROUNDOFF_FLOOR, t=[int(t) for t in spec.t], rows=report["rows"],
                log_sv=spec.log_sv.tolist())  # fmt: skip
    return json_dumps(data)
