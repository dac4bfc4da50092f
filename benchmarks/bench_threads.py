"""Time one BPTT step at 1 BLAS thread and at N threads, interleaved, over a grid of sizes.

    python benchmarks/bench_threads.py [--quick] [--H 64,128] [--B 1,32] [--T 25] [--json FILE]

The numbers behind rnninit's thread policy (rnninit/experiment/threads.py): for each size
(T, B, H) of the char task (V = 96 token ids in and classes out, tanh, cross-entropy), one step
is ``rnninit.bptt(params, x, y, stats=False)`` on the parameters and data of bench_bptt.py's
make_problem. The thread count is switched with threadpoolctl inside this one process; each
round times both counts, starting with a different one each round, and the ratio t(1)/t(N) is
the median over the rounds of the ratio within a round (above 1: N threads are faster). The
policy column is what ``rnninit.experiment.threads.policy_threads`` picks for that size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

try:
    import rnninit
except ImportError:  # run from a checkout without installing: the repo root holds the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import rnninit
from bench_bptt import BUSY, _cpu_seconds, _spin, make_problem, paired_median

from rnninit.core.engine import bptt
from rnninit.experiment.threads import MIN_HIDDEN, MIN_WORK, blas_info, policy_threads

V = 96  # the built-in corpus's alphabet: the default config's input and output size


def time_cell(fn, counts, controller, budget_s, min_repeats, max_repeats, sample_s, settle_s):
    """Samples (s per step) of fn at each thread count, interleaved round by round."""
    once = {}
    for n in counts:  # warm up at each count and size the samples
        with controller.limit(limits=n, user_api="blas"):
            fn()
            t0 = time.perf_counter()
            fn()
            once[n] = time.perf_counter() - t0
    inner = {n: max(1, round(sample_s / once[n])) for n in counts}
    per_round = sum(inner[n] * once[n] + settle_s for n in counts)
    repeats = int(min(max_repeats, max(min_repeats, budget_s / per_round)))
    samples = {n: [] for n in counts}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for n in counts[r % 2 :] + counts[: r % 2]:
                with controller.limit(limits=n, user_api="blas"):
                    _spin(settle_s)  # let the other count's idle workers stop spinning
                    t0 = time.perf_counter()
                    for _ in range(inner[n]):
                        fn()
                    samples[n].append((time.perf_counter() - t0) / inner[n])
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def bench_cell(T, B, H, dtype, n_threads, controller, args):
    params, x, y, loss = make_problem((T, B, V, H, V, "tokens", "xent"), dtype)

    def step():
        return bptt(params, x, y, loss=loss, stats=False)

    budget, lo, hi, sample = (1.0, 3, 15, 0.005) if args.quick else (args.budget, 7, 201, 0.02)
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    samples = time_cell(step, [1, n_threads], controller, budget, lo, hi, sample, args.settle)
    cpu1, wall = _cpu_seconds(), time.perf_counter() - wall0
    others = None  # CPUs that other processes kept busy on average while this cell was timed
    if cpu0 is not None and cpu1 is not None:
        others = max(0.0, ((cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / wall)
    one, many = samples[1], samples[n_threads]
    ratios = np.asarray(one) / np.asarray(many)
    return {
        "T": T, "B": B, "H": H, "dtype": np.dtype(dtype).name,
        "BHH": B * H * H,
        "ms_1": 1e3 * statistics.median(one),
        "ms_n": 1e3 * statistics.median(many),
        "ratio": paired_median(one, many),
        "ratio_q25": float(np.percentile(ratios, 25)),
        "ratio_q75": float(np.percentile(ratios, 75)),
        "repeats": len(one),
        "other_processes_cpus": others,
        "policy": policy_threads(B, H, n_threads).threads,
    }  # fmt: skip


COLUMNS = [("T", 4), ("B", 4), ("H", 5), ("B*H*H", 11), ("ms 1", 9), ("ms N", 9),
           ("t1/tN", 6), ("q25-q75", 10), ("reps", 5), ("others", 6), ("policy", 6)]  # fmt: skip


def row_cells(r):
    busy = r["other_processes_cpus"]
    return [
        str(r["T"]), str(r["B"]), str(r["H"]), f"{r['BHH']:,}",
        f"{r['ms_1']:.3f}", f"{r['ms_n']:.3f}", f"{r['ratio']:.2f}",
        f"{r['ratio_q25']:.2f}-{r['ratio_q75']:.2f}", str(r["repeats"]),
        "-" if busy is None else f"{busy:.2f}" + ("!" if busy > BUSY else " "),
        str(r["policy"]),
    ]  # fmt: skip


def print_matrix(rows, Bs, Hs, T):
    """t1/tN with H down and B across, for one T: where the threshold falls, at a glance."""
    by = {(r["B"], r["H"]): r["ratio"] for r in rows if r["T"] == T}
    print(f"t1/tN at T={T} (H down, B across; > 1: N threads faster)")
    print("H \\ B".rjust(6) + "".join(str(b).rjust(7) for b in Bs))
    for H in Hs:
        print(str(H).rjust(6) + "".join(f"{by[b, H]:7.2f}" if (b, H) in by else "      -"
                                        for b in Bs))  # fmt: skip
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    p.add_argument("--H", type=ints, default=[64, 128, 256, 512, 1024], help="hidden sizes")
    p.add_argument("--B", type=ints, default=[1, 8, 32, 128, 256], help="batch sizes")
    p.add_argument("--T", type=ints, default=[25], help="sequence lengths")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--threads", type=int, default=0,
                   help="N, the count compared with 1 (default: the BLAS's threads now)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke run")
    p.add_argument("--budget", type=float, default=4.0, help="seconds per cell (default 4)")
    p.add_argument("--settle", type=float, default=0.15,
                   help="spin this long after switching the count (default 0.15 s)")  # fmt: skip
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    args = p.parse_args(argv)

    controller = ThreadpoolController()
    blas = blas_info(controller)
    n = args.threads or blas["threads"]
    if n < 2:
        p.error(f"N must be at least 2; the BLAS has {blas['threads']} thread(s): pass --threads")
    print(f"python {platform.python_version()}, numpy {np.__version__}, rnninit "
          f"{rnninit.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"affinity {len(os.sched_getaffinity(0))}")  # fmt: skip
    print(f"numpy BLAS: {blas['library']} {blas['version']}, kernel {blas['kernel']}, "
          f"{blas['threads']} threads now (threadpoolctl); N = {n}")  # fmt: skip
    print(
        f"one step = rnninit.bptt(stats=False), char task (V={V}), tanh, {args.dtype}; "
        "t1/tN = median over interleaved rounds of t(1 thread) / t(N threads)"
    )
    print("others = CPUs kept busy by other processes while a cell was timed (from /proc/stat); "
          f"policy = threads the policy picks (N when H >= {MIN_HIDDEN} and B*H*H >= {MIN_WORK:,})\n")  # fmt: skip
    print("  ".join(h.rjust(w) for h, w in COLUMNS))
    rows, t_start = [], time.perf_counter()
    for T in args.T:
        for H in args.H:
            for B in args.B:
                r = bench_cell(T, B, H, np.dtype(args.dtype).type, n, controller, args)
                print("  ".join(c.rjust(w) for c, (_, w) in zip(row_cells(r), COLUMNS)),
                      flush=True)  # fmt: skip
                rows.append(r)
    print()
    for T in args.T:
        print_matrix(rows, args.B, args.H, T)
    if any((r["other_processes_cpus"] or 0) > BUSY for r in rows):
        print(f"! other processes kept > {BUSY} CPUs busy while some cells were timed")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        env = {"blas": blas, "N": n, "cpu_count": os.cpu_count(), "dtype": args.dtype}
        Path(args.json).write_text(json.dumps({"environment": env, "results": rows}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
