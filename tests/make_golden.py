"""Write tests/golden/<name>/ for shipped configs, as tests/test_golden.py runs them.

    python tests/make_golden.py CONFIG_NAME [CONFIG_NAME ...]

Only for a config that has no golden files yet, or whose numbers changed on purpose (say why in
the commit and in meta.json's "added_later"): the golden files are the regression lock.
metrics.csv loses its wall-clock column; every other column the run writes is kept.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

import threadpoolctl

import rnninit
from rnninit.experiment.config import load_config

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"


def make(name: str, overrides: list[str], threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(ROOT / "configs" / f"{name}.yaml", [*overrides, f"log.runs_dir={tmp}"])
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            summary = rnninit.train(cfg.updated({"train.threads": threads}))
        run, out = Path(summary["run_dir"]), GOLDEN / name
        out.mkdir(parents=True, exist_ok=True)
        for file in ("metrics.csv", "timesteps.csv", "params.csv"):
            rows = list(csv.reader((run / file).open(newline="")))
            if file == "metrics.csv":
                keep = [i for i, c in enumerate(rows[0]) if c != "seconds"]
                rows = [[r[i] for i in keep] for r in rows]
            with (out / file).open("w", newline="") as fh:
                csv.writer(fh, lineterminator="\n").writerows(rows)


if __name__ == "__main__":
    import json

    meta = json.loads((GOLDEN / "meta.json").read_text())
    for config in sys.argv[1:]:
        make(config, meta["overrides"], meta["blas_threads"])
