"""The vanilla RNN's numbers do not move: every shipped config gives the CSVs it gave before.

tests/golden/ holds metrics.csv (wall clock removed), timesteps.csv and params.csv of a 30-step
run of each config in configs/, written by the code as it was before the cell interface (see
tests/golden/meta.json); their theory_* columns were regenerated when the theory became
per-sequence (issue 9), every other column left as it was. With the same NumPy, BLAS, BLAS
kernel and one BLAS thread the files must be identical byte for byte in the golden files'
columns (the seconds column, and columns added since, such as jac_sq, are left out); on another
BLAS or NumPy build, rounding may differ in the last bits, so there the numbers must agree to
1e-9 relative and every non-number exactly.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

import rnninit
from rnninit.experiment.config import load_config

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
META = json.loads((GOLDEN / "meta.json").read_text())
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))


def _same_build() -> bool:
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    return (
        np.__version__ == META["numpy"]
        and len(blas) == 1
        and f"{blas[0]['internal_api']} {blas[0]['version']}" == META["blas"]
        and blas[0].get("architecture") == META["architecture"]
    )


def _rows(path: Path, columns: list[str] | None = None) -> list[list[str]]:
    """The CSV's rows (header first), cut to `columns` in their order when given."""
    rows = list(csv.reader(path.open(newline="")))
    if columns is not None:
        missing = [c for c in columns if c not in rows[0]]
        assert not missing, f"{path.name} lacks the golden columns {missing}"
        idx = [rows[0].index(c) for c in columns]
        rows = [[r[i] for i in idx] for r in rows]
    return rows


def _close(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0)


def test_every_shipped_config_has_golden_files():
    assert CONFIGS and sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_config_gives_the_golden_csvs(name, tmp_path):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml",
                      [*META["overrides"], f"log.runs_dir={tmp_path}"])  # fmt: skip
    with threadpoolctl.threadpool_limits(META["blas_threads"], user_api="blas"):
        summary = rnninit.train(cfg.updated({"train.threads": META["blas_threads"]}))
    run = Path(summary["run_dir"])
    exact = _same_build()
    for file in ("metrics.csv", "timesteps.csv", "params.csv"):
        want = _rows(GOLDEN / name / file)
        got = _rows(run / file, columns=want[0])  # columns added since (jac_sq, ...) aside
        assert len(got) == len(want), file
        if exact:
            assert got == want, f"{name}/{file} differs from the golden file"
        else:
            bad = [(i, a, b) for i, (ra, rb) in enumerate(zip(got, want))
                   for a, b in zip(ra, rb) if not _close(a, b)]  # fmt: skip
            assert not bad, f"{name}/{file}: first difference {bad[0]}"
