"""BPTT steps one after another, as a training loop runs them: time, page faults, system time.

    python benchmarks/bench_loop.py [--rows 1,2] [--dtype float32|float64|both] [--steps N]

bench_bptt.py interleaves the engine with torch, the naive loop and the floor, whose own
allocations keep the heap warm between the engine's calls; a training loop calls bptt and an
optimizer update and little else, so the engine's freed (T, B, ...) arrays go back to the
kernel and are faulted in again at the next step. This script runs that loop alone on the
shapes of bench_bptt.py: --steps calls of rnninit.bptt(stats=False), each followed by an SGD
update of the parameters in place, then the same number of the engine's matrix products alone
(bench_bptt's floor) as the reference, in a phase of its own after the loop. Per step: the
median ms, the minor page faults and the system CPU ms (getrusage; counts of faults do not
depend on the machine's load), and the median ratio step / floor. To compare two versions of
the package, run the script once with each (PYTHONPATH), each in its own process.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bptt import SHAPES, cell_of, environment, make_floor, make_problem, model  # noqa: E402

LR = 1e-3  # small enough that the weights stay in range over the steps timed


def loop(shape, dtype, steps: int) -> dict:
    """Time `steps` bptt calls + SGD updates in a row, then as many floors."""
    params, x, y, loss = make_problem(shape, dtype)
    cell = cell_of(shape)
    floor = make_floor({k: v.copy() for k, v in params.items()}, x, y, loss, cell)
    model.bptt(params, x, y, loss=loss, stats=False, cell=cell)  # warm up
    times, faults, system = [], 0, 0.0
    for _ in range(steps):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        res = model.bptt(params, x, y, loss=loss, stats=False, cell=cell)
        for name, g in res.grads.items():  # in place: no temporaries of the loop's own
            g *= g.dtype.type(LR)
            params[name] -= g
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        faults += r1.ru_minflt - r0.ru_minflt
        system += r1.ru_stime - r0.ru_stime
    floor()
    floors = []
    for _ in range(steps):
        t0 = time.perf_counter()
        floor()
        floors.append(time.perf_counter() - t0)
    T, B, I, H, O = shape[:5]
    return {
        "dtype": np.dtype(dtype).name,
        "shape": {"T": T, "B": B, "I": I, "H": H, "O": O, "cell": cell},
        "step_ms": 1e3 * statistics.median(times),
        "floor_ms": 1e3 * statistics.median(floors),
        "step/floor": statistics.median(times) / statistics.median(floors),
        "faults_per_step": faults / steps,
        "system_ms_per_step": 1e3 * system / steps,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default=",".join(str(i + 1) for i in range(len(SHAPES))),
                   help="rows of bench_bptt.py's table, 1-based, comma-separated")  # fmt: skip
    p.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    p.add_argument("--steps", type=int, default=30, help="steps per shape (default 30)")
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    args = p.parse_args(argv)
    rows = [int(r) for r in args.rows.split(",")]
    env = environment(use_torch=False)
    b = env["numpy_blas"]
    print(f"rnninit {env['rnninit']} from {Path(model.__file__).parents[2]}, numpy {env['numpy']}, "
          f"{b['library']} {b['version']} ({b['kernel']}), {b['threads']} BLAS threads, "
          f"{env['cpu_count']} CPUs; {args.steps} steps per shape")  # fmt: skip
    print(f"{'dtype':>7}  {'cell':>4}  {'T,B,I,H,O':>17}  {'step ms':>8}  {'floor ms':>8}  "
          f"{'step/floor':>10}  {'faults':>7}  {'sys ms':>6}")  # fmt: skip
    results = []
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    for dt in dtypes:
        for r in rows:
            res = loop(SHAPES[r - 1], np.dtype(dt).type, args.steps)
            s = res["shape"]
            print(f"{dt:>7}  {s['cell']:>4}  {s['T']},{s['B']},{s['I']},{s['H']},{s['O']:<3}".ljust(34)
                  + f"{res['step_ms']:8.3f}  {res['floor_ms']:8.3f}  {res['step/floor']:10.2f}  "
                  f"{res['faults_per_step']:7.0f}  {res['system_ms_per_step']:6.2f}", flush=True)  # fmt: skip
            results.append(res)
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
