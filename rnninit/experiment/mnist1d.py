"""Data for the ``mnist1d`` task: generated once by the optional ``mnist1d`` package, cached.

``mnist1d.data.make_dataset(get_dataset_args())`` builds MNIST-1D procedurally (about two
seconds here, in a child process); nothing is downloaded. The arrays are cached as an .npz (no pickle) in the same folder
as the char corpus (``corpus.cache_dir()``: $RNNINIT_CACHE, $XDG_CACHE_HOME/rnninit or
~/.cache/rnninit), written atomically. Experiment layer: reads and writes files, never prints.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import RnnInitError
from ..fileio import atomic_write_bytes
from .corpus import cache_dir

# Bump when the arrays stored below change, so stale caches are not reused.
_CACHE_VERSION = 1
KEYS = ("x", "y", "x_test", "y_test")
INSTALL_HINT = (
    "task.name: mnist1d needs the optional package mnist1d; install it with "
    "pip install 'rnninit[mnist1d]' (or pip install mnist1d)"
)


def _package_version() -> str:
    try:
        return importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        raise RnnInitError(INSTALL_HINT) from None


def cache_path(version: str) -> Path:
    """The cache file of the arrays the package of ``version`` makes with its default args."""
    return cache_dir() / f"mnist1d-v{_CACHE_VERSION}-pkg{version}.npz"


# Run in a child process: importing mnist1d loads scipy (with a second OpenBLAS), matplotlib
# and requests, and make_dataset seeds the global random states; none of that may reach the
# process that trains (its BLAS threads are set, recorded and pinned by the golden tests).
_CHILD = """
import json, sys
import numpy as np
from mnist1d.data import get_dataset_args, make_dataset
args = get_dataset_args()
data = make_dataset(args)
np.savez(sys.argv[1], **{k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")})
print(json.dumps({k: v for k, v in vars(args).items() if k != "url"}))
"""


def _generate() -> tuple[dict, dict]:
    """(arrays, the package's args) from make_dataset(get_dataset_args()), run in a child
    Python (the url of its args, never used, is left out)."""
    if importlib.util.find_spec("mnist1d") is None:
        raise RnnInitError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="rnninit-mnist1d-") as tmp:
        out = Path(tmp) / "data.npz"
        env = {**os.environ, "MPLBACKEND": "Agg"}
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(out)], capture_output=True,
                              text=True, env=env, check=False)  # fmt: skip
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RnnInitError(f"task.name: mnist1d: make_dataset failed: {last}")
        with np.load(out, allow_pickle=False) as f:
            arrays = {k: f[k] for k in KEYS}
    return arrays, json.loads(proc.stdout.strip().splitlines()[-1])


def digest(arrays: dict) -> str:
    """The first 16 hex digits of the SHA-256 of x, y, x_test, y_test (dtype, shape, bytes)."""
    h = hashlib.sha256()
    for k in KEYS:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def load_mnist1d() -> tuple[dict, dict]:
    """MNIST-1D's arrays and a record of where they came from.

    Returns:
        ``(arrays, record)``: arrays ``x`` (4000, 40), ``y`` (4000,), ``x_test`` (1000, 40),
        ``y_test`` (1000,) as make_dataset returns them (the package's own split, here train and
        validation); record ``{"mnist1d": {"package", "args", "sha256", "cache"}}`` for the
        run's summary.

    Raises:
        RnnInitError: the package is not installed (one line saying how to install it).
    """
    version = _package_version()
    path = cache_path(version)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in KEYS}
            args = json.loads(str(f["args_json"]))
    except (OSError, KeyError, ValueError):
        arrays, args = _generate()
        _save(path, arrays, args)
    record = {"package": version, "args": args, "sha256": digest(arrays), "cache": str(path)}
    return arrays, {"mnist1d": record}


def _save(path: Path, arrays: dict, args: dict) -> None:
    """Write the cache atomically; a cache that cannot be written is skipped (data still used)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, args_json=np.array(json.dumps(args)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))
    except OSError:
        pass  # a read-only or missing home: the task still works, just uncached
