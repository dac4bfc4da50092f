"""The eigenvalues of Whh at init and at the end of a run: ``eigenvalues.npz`` in its folder.

Keys, for ``which`` in (init, end) and each block (``Whh``, or a gated cell's gates):
``<which>/step`` the training step the weights are from (0, or the last step done);
``<which>/<block>/eigenvalues`` complex (H,); ``<which>/<block>/circle`` the circular law's
radius sqrt(H Var(w)) of that block (``core.stats.recurrent_eigenvalues``). The init part is
written when a run starts, the end part when it stops (completed, diverged or interrupted); a
resumed run keeps the init part and rewrites the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.stats import recurrent_eigenvalues
from ..fileio import atomic_write_bytes

EIGEN_NPZ = "eigenvalues.npz"


def save_eigenvalues(path: str | os.PathLike, which: str, step: int, Whh: np.ndarray,
                     gates: tuple[str, ...]) -> None:  # fmt: skip
    """Write (or replace) the `which` part of eigenvalues.npz, keeping the other part."""
    path = Path(path)
    arrays = {}
    if path.is_file():
        with np.load(path) as old:
            arrays = {k: old[k] for k in old.files if not k.startswith(f"{which}/")}
    arrays[f"{which}/step"] = np.array(step)
    for block, e in recurrent_eigenvalues(Whh, gates).items():
        arrays[f"{which}/{block}/eigenvalues"] = e["eigenvalues"]
        arrays[f"{which}/{block}/circle"] = np.array(e["circle"])
    atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def load_eigenvalues(path: str | os.PathLike) -> dict[str, dict]:
    """eigenvalues.npz as {which: {"step": int, "blocks": {block: (eigenvalues, circle)}}}, the
    blocks in the order they were written; {} without the file."""
    path = Path(path)
    if not path.is_file():
        return {}
    out: dict[str, dict] = {}
    with np.load(path) as z:
        for key in z.files:
            which, *rest = key.split("/")
            part = out.setdefault(which, {"step": None, "blocks": {}})
            if rest == ["step"]:
                part["step"] = int(z[key])
            elif rest[-1] == "eigenvalues":
                part["blocks"][rest[0]] = (z[key], float(z[f"{which}/{rest[0]}/circle"]))
    return out
