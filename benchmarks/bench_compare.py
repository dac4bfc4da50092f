"""Wall time of `rnninit compare xavier uniform --seeds 4` at defaults: --jobs 2 against --jobs 1.

    python benchmarks/bench_compare.py [--rounds N] [--steps S] [--json FILE]

The same compare (2 arms x 4 seeds = 8 runs of the default config: the char task on the
built-in corpus, T=25, B=32, H=128, 300 steps) runs twice in this process, through the library
call the CLI makes (rnninit.experiment.compare.compare), each time into a fresh folder:

    jobs 1   one worker process
    jobs 2   two worker processes

Every worker has one BLAS thread (what compare gives its workers, whatever --jobs is), so the
two variants compute the same numbers, which the script checks (compare.csv but its timing
columns). The wall time counts everything a user waits for: starting the workers, the runs,
their plots, and compare.csv, compare.json and the overlay plots. The ratio is jobs 1's wall
time over jobs 2's (target: at least 1.8x on 2 idle cores). `others` is the number of CPUs
that other processes kept busy, on average, while a variant ran (from /proc/stat, this process
and its workers left out): above 0.2 the machine was not idle and the ratio says less about
the code than about the load. With --rounds N the variants run in turn N times; the times are
medians and the ratio is the median of the ratios within a round.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    import rnninit
except ImportError:  # run from a checkout without installing: the repo root holds the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import rnninit
from bench_bptt import BUSY, _cpu_seconds

from rnninit.experiment.compare import compare
from rnninit.experiment.config import load_config
from rnninit.experiment.threads import blas_info

ARMS, SEEDS, VARIANTS = ["xavier", "uniform"], 4, (1, 2)
TIMING = ("seconds_mean", "seconds_std")


def run_variant(runs_dir: Path, jobs: int, steps: int | None) -> dict:
    """One compare at `jobs` workers: wall seconds, the other processes' CPUs, its numbers."""
    overrides = [f"log.runs_dir={runs_dir}"] + ([f"train.steps={steps}"] if steps else [])
    cfg = load_config(None, overrides)
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    report = compare(cfg, ARMS, SEEDS, jobs=jobs)
    wall = time.perf_counter() - t0
    cpu1 = _cpu_seconds()  # the workers have ended: their CPU time counts as this process's
    others = None
    if cpu0 is not None and cpu1 is not None:
        others = max(0.0, ((cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1])) / wall)
    statuses = [s for e in report["inits"].values() for s in e["status"]]
    if statuses != ["completed"] * len(ARMS) * SEEDS:
        raise SystemExit(f"bench_compare: not every run completed: {statuses}")
    with open(Path(report["dir"]) / "compare.csv", newline="") as f:
        rows = [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]
    per_run = statistics.mean(r["summary"]["seconds"] for e in report["inits"].values()
                              for r in e["runs"])  # fmt: skip
    return {"wall": wall, "others": others, "per_run": per_run, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="times each variant runs (median)")
    ap.add_argument("--steps", type=int, default=None, help="train.steps (default: the config's)")
    ap.add_argument("--json", type=Path, help="also write every number here")
    args = ap.parse_args()

    from rnninit.experiment.corpus import task_text

    task_text(None)  # build the corpus cache once, outside the timings
    blas = blas_info()
    print(f"rnninit {rnninit.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} "
          f"cores; compare {' '.join(ARMS)} --seeds {SEEDS} at defaults"
          f"{f' (train.steps={args.steps})' if args.steps else ''}: {len(ARMS) * SEEDS} runs, "
          f"{args.rounds} round(s)")  # fmt: skip
    print(f"BLAS: {blas['library']} {blas['version']} ({blas['kernel']}), {blas['threads']} "
          "thread(s) in this process; 1 in each worker")  # fmt: skip
    times: dict[int, list[dict]] = {jobs: [] for jobs in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench_compare_") as tmp:
        for rnd in range(args.rounds):
            for jobs in VARIANTS:
                t = run_variant(Path(tmp) / f"r{rnd}-jobs{jobs}", jobs, args.steps)
                times[jobs].append(t)
                busy = "-" if t["others"] is None else f"{t['others']:.2f}"
                print(f"  round {rnd + 1}: jobs {jobs}: {t['wall']:.1f} s, others {busy}",
                      flush=True)  # fmt: skip
    same = all(x["rows"] == y["rows"] for x, y in zip(times[1], times[2]))
    print(f"\n{'variant':<8} {'wall s':>8} {'runs/min':>9} {'per run s':>10} {'others':>7}")
    for jobs, ts in times.items():
        wall = statistics.median(t["wall"] for t in ts)
        per = statistics.median(t["per_run"] for t in ts)
        known = [t["others"] for t in ts if t["others"] is not None]
        busy = f"{max(known):.2f}" + ("!" if max(known) > BUSY else " ") if known else "-"
        print(f"jobs {jobs:<3} {wall:>8.1f} {len(ARMS) * SEEDS * 60 / wall:>9.1f} {per:>10.2f} "
              f"{busy:>7}")  # fmt: skip
    ratio = statistics.median(x["wall"] / y["wall"] for x, y in zip(times[1], times[2]))
    print(f"\njobs 2 / jobs 1 throughput: {ratio:.2f}x (target >= 1.8x on 2 idle cores)"
          f"{'' if ratio >= 1.8 else '  *'}")  # fmt: skip
    print(f"same numbers at jobs 1 and jobs 2 (compare.csv but its timing columns): "
          f"{'yes' if same else 'NO'}")  # fmt: skip
    if any(t["others"] is not None and t["others"] > BUSY for ts in times.values() for t in ts):
        print(f"! other processes kept > {BUSY} CPUs busy: the ratio reflects the load")
    if args.json:
        args.json.write_text(json.dumps({"rounds": {str(k): [{**t, "rows": None} for t in v]
                                                    for k, v in times.items()},
                                         "ratio": ratio, "same_numbers": same}, indent=2))  # fmt: skip
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
