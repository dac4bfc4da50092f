"""What log.jacobian adds to a statistics step, measured against that step in the same process.

    python benchmarks/bench_jacobian.py [--quick] [--threads N] [--sequences K] [--json FILE]

For each shape, on the same random weights (xavier) and inputs:

    stats step   rnninit.bptt(..., stats=True): the forward and backward pass of a training
                 step with the per-timestep statistics, jac_sq's probe pass included
    spectrum     rnninit.core.jacobian.jacobian_spectrum on the first K sequences: its own
                 forward pass, the products J_t M (K blocks of S x S) for t = 1..T and K SVDs
                 at each of the ~10 log-spaced t, in float64

Interleaved rounds; each time is the median over the rounds, and `extra %` the median over the
rounds of 100 x spectrum / stats step: how much more a statistics step costs with log.jacobian.
A run pays it at step 0, every log.stats_every steps and at the end only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import rnninit
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import rnninit
from threadpoolctl import threadpool_limits

from rnninit.core.engine import bptt
from rnninit.core.jacobian import jacobian_spectrum

# (cell, T, B, I, H, O): the default run's shape (char: 96 symbols), and longer or wider ones
SHAPES = [
    ("rnn", 25, 32, 96, 128, 96),
    ("lstm", 25, 32, 96, 128, 96),
    ("gru", 25, 32, 96, 128, 96),
    ("rnn", 100, 32, 96, 128, 96),
    ("rnn", 100, 32, 96, 256, 96),
    ("lstm", 100, 32, 96, 128, 96),
]


def problem(cell, T, B, I, H, O, seed=0):
    rng = np.random.default_rng(seed)
    params = rnninit.init_params(I, H, O, init="xavier", seed=seed, cell=cell)
    x = rng.integers(0, I, size=(T, B))
    y = rng.integers(0, O, size=(T, B))
    return params, x, y


def measure(shape, K, rounds, budget):
    cell = shape[0]
    params, x, y = problem(*shape)
    jobs = {
        "stats step": lambda: bptt(params, x, y, cell=cell, stats=True),
        "spectrum": lambda: jacobian_spectrum(params, x[:, :K], cell=cell),
    }
    times = {k: [] for k in jobs}
    start = time.perf_counter()
    for r in range(rounds):
        for name in list(jobs)[r % 2 :] + list(jobs)[: r % 2]:  # alternate which goes first
            t0 = time.perf_counter()
            jobs[name]()
            times[name].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget:
            break
    extra = [100 * s / b for s, b in zip(times["spectrum"], times["stats step"])]
    return {
        "stats_step_ms": 1e3 * statistics.median(times["stats step"]),
        "spectrum_ms": 1e3 * statistics.median(times["spectrum"]),
        "extra_pct": statistics.median(extra),
        "rounds": len(extra),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds per shape (noisy)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    ap.add_argument("--sequences", type=int, default=4, help="K, log.jacobian_sequences")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per shape at most")
    ap.add_argument("--json", type=Path, help="also write every number here")
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else 15
    out = []
    print(f"numpy {np.__version__}, {args.threads} BLAS thread(s), K = {args.sequences}")
    print(f"{'cell':>5} {'T':>4} {'B':>4} {'H':>5}  {'stats step ms':>13}  {'spectrum ms':>11}"
          f"  {'extra %':>8}")  # fmt: skip
    with threadpool_limits(args.threads, user_api="blas"):
        for shape in SHAPES:
            res = measure(shape, args.sequences, rounds, args.budget)
            cell, T, B, _, H, _ = shape
            print(f"{cell:>5} {T:>4} {B:>4} {H:>5}  {res['stats_step_ms']:>13.1f}  "
                  f"{res['spectrum_ms']:>11.1f}  {res['extra_pct']:>8.0f}", flush=True)  # fmt: skip
            out.append({"shape": dict(zip(("cell", "T", "B", "I", "H", "O"), shape)), **res})
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
