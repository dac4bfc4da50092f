"""Wall time of one sweep of 16 short runs: --jobs 1 against --jobs 2 and a Dask LocalCluster.

    python benchmarks/bench_sweep.py [--rounds N] [--steps S] [--hidden H] [--json FILE]

The same 16 runs (4 inits x 4 seeds of the char task on the built-in corpus) are run by:

    jobs 1   rnninit.experiment.sweep.run_sweep(executor="local", jobs=1): one worker process
    jobs 2   the same with two worker processes
    dask 2   executor="dask" with no scheduler: a LocalCluster of 2 worker processes

Each variant writes its own run folders (plots included: the real work of a run). The wall
time counts everything a user waits for, starting the workers included; the startup column is
the part spent before the executor accepts work (the LocalCluster's start; local workers start
with their first run). Targets (issue 4): jobs 2 at least 1.8x the throughput of jobs 1 on 2
cores, Dask within 15% of jobs 2. With --rounds N the variants run in turn N times; times are
medians over the rounds, and the two target ratios are medians over the rounds of the ratio
within a round (steadier when the machine's speed drifts). The per-run column is the mean time
a run spent training inside its worker: when it grows with more workers, the runs compete for
the cores (memory bandwidth, BLAS threads, other work on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

try:
    import rnninit
except ImportError:  # run from a checkout without installing: the repo root holds the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import rnninit
from rnninit.experiment.sweep import load_sweep, run_sweep

VARIANTS = [("jobs 1", "local", 1), ("jobs 2", "local", 2), ("dask 2", "dask", 2)]


def sweep_file(folder: Path, steps: int, hidden: int) -> Path:
    body = {
        "name": "bench",
        "base": {
            "task": {"name": "char", "seq_len": 25, "val_batches": 2},
            "model": {"hidden_size": hidden},
            "train": {"steps": steps, "batch_size": 16},
            "log": {"stats_every": 50, "eval_every": 50},
        },
        "grid": {"init": ["xavier", "uniform", "he", "orthogonal"]},
        "seeds": 4,
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def run_variant(path: Path, runs_dir: Path, executor: str, jobs: int) -> dict:
    sw = load_sweep(path, [f"log.runs_dir={runs_dir}"])
    t0 = time.perf_counter()
    out = run_sweep(sw, sw.runs, jobs=jobs, executor=executor)
    wall = time.perf_counter() - t0
    results = list(out["results"].values())
    bad = [r for r in results if r["status"] != "completed"]
    if bad:
        raise SystemExit(f"bench_sweep: {len(bad)} runs did not complete: {bad[0]}")
    return {"wall": wall, "startup": out["startup"], "runs": len(results),
            "per_run": statistics.mean(r["seconds"] for r in results)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="times each variant runs (median)")
    ap.add_argument("--steps", type=int, default=150, help="train.steps of each run")
    ap.add_argument("--hidden", type=int, default=64, help="model.hidden_size of each run")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask variant")
    ap.add_argument("--json", type=Path, help="also write every number here")
    args = ap.parse_args()
    variants = [v for v in VARIANTS if not (args.no_dask and v[1] == "dask")]
    if not args.no_dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("dask.distributed not installed: the dask variant is skipped")
            variants = [v for v in variants if v[1] != "dask"]

    from rnninit.experiment.corpus import task_text

    task_text(None)  # build the corpus cache once, outside the timings
    print(f"rnninit {rnninit.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores; 16 runs of char (T=25, B=16, H={args.hidden}, "
          f"{args.steps} steps), {args.rounds} round(s)")  # fmt: skip
    times: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        path = sweep_file(Path(tmp), args.steps, args.hidden)
        for rnd in range(args.rounds):
            for name, executor, jobs in variants:
                runs_dir = Path(tmp) / f"r{rnd}-{name.replace(' ', '')}"
                times[name].append(run_variant(path, runs_dir, executor, jobs))
                t = times[name][-1]
                print(f"  round {rnd + 1}: {name}: {t['wall']:.1f} s", flush=True)
    med = {n: statistics.median(t["wall"] for t in ts) for n, ts in times.items()}
    up = {n: statistics.median(t["startup"] for t in ts) for n, ts in times.items()}
    per = {n: statistics.median(t["per_run"] for t in ts) for n, ts in times.items()}
    ref = med["jobs 1"]
    print(f"\n{'variant':<8} {'wall s':>8} {'runs/min':>9} {'vs jobs 1':>10} {'startup s':>10}"
          f" {'per run s':>10}")  # fmt: skip
    for name in times:
        print(f"{name:<8} {med[name]:>8.1f} {16 * 60 / med[name]:>9.1f} {ref / med[name]:>9.2f}x"
              f" {up[name]:>10.1f} {per[name]:>10.2f}")  # fmt: skip

    # ratios within a round (the variants ran minutes apart at most), then the median over rounds
    def ratio(a: str, b: str) -> float:
        return statistics.median(x["wall"] / y["wall"] for x, y in zip(times[a], times[b]))

    speedup = ratio("jobs 1", "jobs 2")
    print(f"\njobs 2 / jobs 1 throughput: {speedup:.2f}x (target >= 1.8x)"
          f"{'' if speedup >= 1.8 else '  *'}")  # fmt: skip
    if "dask 2" in med:
        gap = ratio("dask 2", "jobs 2") - 1
        print(f"dask 2 wall time vs jobs 2: {gap:+.0%} (target within 15%)"
              f"{'' if abs(gap) <= 0.15 else '  *'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rounds": times, "median_wall": med, "median_startup": up,
                                         "median_per_run": per}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
