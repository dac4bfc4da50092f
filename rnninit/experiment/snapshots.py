"""What the weights do at init and at the end of a run, kept in its folder for the plots.

Two files, each with an ``init`` part (written when the run starts) and an ``end`` part (written
when it stops: completed, diverged or interrupted; a resumed run keeps the init part and
rewrites the end), each part with ``<part>/step``, the training step its weights are from:

- ``eigenvalues.npz``: per block (``Whh``, or each gate's H x H block of a gated cell's Whh)
  ``<part>/<block>/eigenvalues`` complex (H,) and ``<part>/<block>/circle``, the circular law's
  radius sqrt(H Var(w)) of that block (``core.stats.recurrent_eigenvalues``).
- ``units.npz``: one sequence followed unit by unit: ``<part>/h`` (T, H), the hidden state h_t,
  and ``<part>/dh`` (T, H), the total dL/dh_t of that sequence's own loss (its masked mean loss
  alone, so that the numbers do not depend on the batch size). The sequence is the first of the
  first validation batch: the same one at init and at the end, and in every run of a compare.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.engine import backward, forward
from ..core.losses import loss_and_dout
from ..core.stats import recurrent_eigenvalues
from ..fileio import atomic_write_bytes

EIGEN_NPZ, UNITS_NPZ = "eigenvalues.npz", "units.npz"


def save_snapshot(run_dir: Path, which: str, step: int, params: dict, cell, batch,
                  nonlinearity: str, loss: str) -> None:  # fmt: skip
    """Write the `which` part (init or end) of both files from the weights at `step`."""
    (whh,) = cell.names_with_role("recurrent")
    eig = {"step": np.array(step)}
    for block, e in recurrent_eigenvalues(params[whh], cell.gates).items():
        eig[f"{block}/eigenvalues"], eig[f"{block}/circle"] = (
            e["eigenvalues"],
            np.array(e["circle"]),
        )
    save_part(run_dir / EIGEN_NPZ, which, eig)
    h, dh = unit_traces(params, batch, nonlinearity, cell, loss)
    save_part(run_dir / UNITS_NPZ, which, {"step": np.array(step), "h": h, "dh": dh})


def unit_traces(params: dict, batch, nonlinearity: str, cell, loss: str):
    """(h, dh): h_t and the total dL/dh_t, each (T, H) float64, of the batch's first sequence
    under its own masked mean loss (a batch of one)."""
    one = slice(0, 1)
    mask = None if batch.mask is None else batch.mask[:, one]
    with np.errstate(all="ignore"):  # a diverged run's weights give what they give
        cache = forward(params, batch.x[:, one], nonlinearity=nonlinearity, cell=cell)
        _, dout = loss_and_dout(cache.out, batch.y[:, one], mask, loss)
        _, dH, _ = backward(params, cache, dout, keep_slopes=False)
    return cache.hs[1:, 0].astype(np.float64), dH[:, 0].astype(np.float64)


def save_part(path: str | os.PathLike, which: str, arrays: dict[str, np.ndarray]) -> None:
    """Write (or replace) the `which` part of an npz of parts, keeping the other parts."""
    path = Path(path)
    keep = {}
    if path.is_file():
        with np.load(path) as old:
            keep = {k: old[k] for k in old.files if not k.startswith(f"{which}/")}
    new = {f"{which}/{k}": v for k, v in arrays.items()}
    atomic_write_bytes(path, lambda f: np.savez(f, **keep, **new))


def load_parts(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """An npz of parts as {part: {key: array}}, in the order written; {} without the file."""
    path = Path(path)
    if not path.is_file():
        return {}
    out: dict[str, dict] = {}
    with np.load(path) as z:
        for key in z.files:
            which, rest = key.split("/", 1)
            out.setdefault(which, {})[rest] = z[key]
    return out


def load_eigenvalues(path: str | os.PathLike) -> dict[str, dict]:
    """eigenvalues.npz as {part: {"step": int, "blocks": {block: (eigenvalues, circle)}}}."""
    out = {}
    for which, arrays in load_parts(path).items():
        names = [k.rsplit("/", 1)[0] for k in arrays if k.endswith("/eigenvalues")]
        blocks = {b: (arrays[f"{b}/eigenvalues"], float(arrays[f"{b}/circle"])) for b in names}
        out[which] = {"step": int(arrays["step"]), "blocks": blocks}
    return out


def load_units(path: str | os.PathLike) -> dict[str, dict]:
    """units.npz as {part: {"step": int, "h": (T, H), "dh": (T, H)}}."""
    return {which: {"step": int(a["step"]), "h": a["h"], "dh": a["dh"]}
            for which, a in load_parts(path).items()}  # fmt: skip
