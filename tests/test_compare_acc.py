"""Accuracy beside loss in a compare (issue 12): the accuracy rung of the ladder (train.target_acc),
its compare.csv columns, the tables and the sentences. Expected values are read in the test from
each run's own metrics.csv and summary.json, or worked out by hand."""

import csv
import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from test_compare import _render  # a rich table as plain text
from test_speedups import CHANCE, TARGET, _record

from rnninit.core.tasks import Mnist1dTask, make_task
from rnninit.experiment.compare import compare
from rnninit.experiment.compare_folder import (
    _speedups,
    aggregate,
    compare_rows,
    ladder_rungs,
    load_compare,
)
from rnninit.experiment.config import load_config
from rnninit.experiment.runs import read_csv
from rnninit.report.compare_view import ladder, parting, print_report, summary, verdict

TEXT = "the cat sat on the mat and the dog sat on the log; " * 60
ACC_COLUMNS = ("level_target_acc", "reached_target_acc", "steps_to_target_acc_median",
               "speedup_target_acc")  # fmt: skip


def _first_at_or_above(rows: list[dict], level: float) -> int | None:
    """The rule written out: the first metrics.csv row whose val_acc is at or above the level."""
    for r in rows:
        if r["val_acc"] is not None and r["val_acc"] >= level:
            return r["step"]
    return None


def _pct_pm(values: list[float]) -> str:
    """Mean ± population std of accuracies as the verdict writes them, computed here."""
    return f"{statistics.fmean(values):.1%} ± {statistics.pstdev(values):.1%}"


# ---------------------------------------------------------------------------------------------
# Hand-made runs: val_acc every 5 steps, 0.5 until a seed's step, then exactly the target 0.9
# ---------------------------------------------------------------------------------------------
GOAL = 0.9


def _acc_record(reach: int | None, last: int = 30, diverge: int | None = None) -> dict:
    """test_speedups' record whose loss never drops, with val_acc at every fifth step (none on
    a diverged row) and the summary of a run with train.target_acc = GOAL."""
    rec = _record(None, last=last, diverge=diverge)
    for r in rec["metrics"]:
        arrived = reach is not None and r["step"] >= reach
        evaluated = r["step"] % 5 == 0 and r["step"] != diverge
        r["val_acc"] = (GOAL if arrived else 0.5) if evaluated else None
    accs = [r["val_acc"] for r in rec["metrics"] if r["val_acc"] is not None]
    rec["summary"].update(target_acc=GOAL, final_val_acc=accs[-1], best_val_acc=max(accs))
    return rec


ARMS = {  # (reach, last, diverge) per seed; B's first seed diverges before it gets there
    "A": [(10, 30, None), (20, 30, None), (None, 30, None)],
    "B": [(5, 30, 3), (None, 30, None), (None, 30, None)],
    "C": [(5, 30, None)] * 3,
}


def _hand_report(with_goal: bool = True) -> dict:
    arms = {label: [_acc_record(*seed) for seed in seeds] for label, seeds in ARMS.items()}
    if not with_goal:  # an older run: no train.target_acc in its summary
        for recs in arms.values():
            for rec in recs:
                del rec["summary"]["target_acc"]
    first = arms["A"][0]["summary"]
    rungs = ladder_rungs(CHANCE, TARGET, first.get("target_acc"))
    report = {"inits": {k: aggregate(k, recs, rungs) for k, recs in arms.items()}, "rungs": rungs}
    _speedups(report)
    report["task"] = {"chance": CHANCE, "target_loss": TARGET, "loss_kind": "xent",
                      "target_acc": first.get("target_acc"), "chance_acc": 0.1}  # fmt: skip
    report["meta"] = {}
    return report


def test_accuracy_rung_censored_median_and_speedup_by_hand():
    report = _hand_report()
    assert [r["rung"] for r in report["rungs"]][-2:] == ["target", "target_acc"]
    got = {label: agg["ladder"][-1] for label, agg in report["inits"].items()}
    assert all(r["kind"] == "acc" and r["level"] == GOAL for r in got.values())
    yes, no = True, False
    expect = {  # (steps, arrived, Kaplan-Meier median, seeds that got there, speed-up)
        "A": ([10, 20, 30], [yes, yes, no], 20, 2, 1.0),  # S(10) = 2/3, S(20) = 1/3
        "B": ([3, 30, 30], [no, no, no], None, 0, None),  # censored at its divergence step, 3
        "C": ([5, 5, 5], [yes] * 3, 5, 3, 20 / 5),
    }
    for label, want in expect.items():
        r = got[label]
        assert (r["steps"], r["arrived"], r["median"], r["reached"], r["speedup"]) == want
        for rec, step, came in zip(report["inits"][label]["runs"], r["steps"], r["arrived"]):
            assert _first_at_or_above(rec["metrics"], GOAL) == (step if came else None)
    # the loss rungs are untouched by the accuracy rung: the same as without a target_acc
    older = _hand_report(with_goal=False)
    for label, agg in report["inits"].items():
        assert agg["ladder"][:-1] == older["inits"][label]["ladder"]


def test_accuracy_rung_columns_beside_unchanged_loss_columns():
    rows = {r["init"]: r for r in compare_rows(_hand_report())}
    older = {r["init"]: r for r in compare_rows(_hand_report(with_goal=False))}
    for label, row in rows.items():
        assert {k: v for k, v in row.items() if k not in ACC_COLUMNS} == older[label]
        assert not set(ACC_COLUMNS) & set(older[label])
        assert row["level_target_acc"] == GOAL
    assert [rows[k]["reached_target_acc"] for k in "ABC"] == [2, 0, 3]
    assert [rows[k]["steps_to_target_acc_median"] for k in "ABC"] == [20, None, 5]
    assert [rows[k]["speedup_target_acc"] for k in "ABC"] == [1.0, None, 4.0]


def test_accuracy_in_the_tables_and_sentences_by_hand():
    report = _hand_report()
    chance_acc = report["task"]["chance_acc"]
    said = {label: verdict(label, agg, "tanh", TARGET, CHANCE, chance_acc=chance_acc)
            for label, agg in report["inits"].items()}  # fmt: skip
    finals = {label: [rec["summary"]["final_val_acc"] for rec in agg["runs"]]
              for label, agg in report["inits"].items()}  # fmt: skip
    assert finals["A"] == [0.9, 0.9, 0.5]  # not vacuous: the seeds differ
    assert "reached accuracy 90.0% in 2/3 seeds, median 20 steps" in said["A"]
    assert f"final val acc {_pct_pm(finals['A'])} (chance 10%)" in said["A"]
    assert "76.7% ± 18.9%" in said["A"]  # (0.9 + 0.9 + 0.5) / 3; sqrt(0.32 / 9)
    assert "did not reach accuracy 90.0% within 30 steps (0/3 seeds; 1 diverged first)" in said["B"]
    assert "reached accuracy 90.0% in 3/3 seeds, median 5 steps" in said["C"]
    assert said["C"].endswith("final val acc 90.0% ± 0.0% (chance 10%).")
    assert parting(report)[-1] == (
        "the target accuracy (90.0%): A reached it in 2/3 seeds, median 20 steps; B did not reach "
        "it within 30 steps (0/3 seeds; 1 diverged first); C reached it in 3/3 seeds, median 5 "
        "steps: C 4.0x faster than A; none against B (no median)."
    )
    text = _render(ladder(report))
    assert "90.0% acc" in text and "loss / acc" in text
    assert "the loss levels on the smoothed training loss (EMA 0.9), the accuracy level on the " \
           "validation accuracy (top-1) at the evaluation steps" in " ".join(text.split())  # fmt: skip
    assert "with no EMA" in " ".join(text.split())
    table = _render(summary(report))
    assert "steps to acc" in " ".join(table.split()) and "20 (2/3)" in table and "4.0x" in table
    assert "target accuracy 90.0% (train.target_acc)" in " ".join(table.split())


def test_chance_acc_is_a_uniform_guess_over_the_classes_accuracy_counts():
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(20, 40)), "y": rng.integers(0, 10, 20),
            "x_test": rng.normal(size=(10, 40)), "y_test": rng.integers(0, 10, 10)}  # fmt: skip
    assert Mnist1dTask(data).chance_acc == 1 / 10  # 10 digits
    assert make_task("copy", seq_len=3).chance_acc == 1 / 8  # the 8 symbols, not 9 outputs
    assert make_task("char", seq_len=8, text=TEXT).chance_acc == 1 / len(set(TEXT))
    assert make_task("adding", seq_len=6).chance_acc is None


# ---------------------------------------------------------------------------------------------
# A real compare folder (char, 2 inits x 3 seeds, val_acc every 5 steps, target 60%)
# ---------------------------------------------------------------------------------------------
LEVEL = 0.6


@pytest.fixture(scope="module")
def acc_folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("acc-compare")
    path = tmp / "t.txt"
    path.write_text(TEXT)
    cfg = load_config(None, [
        f"log.runs_dir={tmp / 'runs'}", f"task.path={path}", "task.seq_len=8",
        "model.hidden_size=16", "train.steps=40", "train.batch_size=4", "log.stats_every=20",
        "log.eval_every=5", "task.val_batches=2", "train.lr=0.03", f"train.target_acc={LEVEL}",
    ])  # fmt: skip
    return Path(compare(cfg, ["xavier", "uniform"], seeds=3)["dir"])


def _runs(root: Path) -> dict[str, list[tuple[dict, list[dict]]]]:
    """label -> (summary.json, metrics.csv) of each seed, read from the folder."""
    runs = json.loads((root / "compare.json").read_text())["runs"]
    return {label: [(json.loads((root / n / "summary.json").read_text()),
                     read_csv(root / n / "metrics.csv")) for n in names]
            for label, names in runs.items()}  # fmt: skip


def test_compare_folder_accuracy_rung_matches_the_runs(acc_folder):
    meta = json.loads((acc_folder / "compare.json").read_text())
    rows = {r["init"]: r for r in csv.DictReader(open(acc_folder / "compare.csv"))}
    assert "accuracy" in meta["results"]["rule"] and "target_acc" in meta["results"]["rule"]
    medians, censored = {}, 0
    for label, seeds in _runs(acc_folder).items():
        rung = meta["results"]["inits"][label][-1]
        assert (rung["rung"], rung["kind"], rung["acc"]) == ("target_acc", "acc", LEVEL)
        assert [r["rung"] for r in meta["results"]["inits"][label][:-1]][-1] == "target"
        steps, arrived = [], []
        for summ, metrics in seeds:
            assert summ["status"] == "completed" and summ["target_acc"] == LEVEL
            step = _first_at_or_above(metrics, LEVEL)
            assert step == summ["steps_to_target_acc"]  # training's own count says the same
            arrived.append(step is not None)
            steps.append(step if step is not None else metrics[-1]["step"])  # censored: the end
        censored += arrived.count(False)
        assert rung["steps"] == steps and rung["arrived"] == arrived
        # every censoring is at the last step, after every arrival: the Kaplan-Meier median of
        # 3 seeds is then the 2nd arrival, and there is none with fewer than 2
        got = sorted(s for s, a in zip(steps, arrived) if a)
        medians[label] = got[1] if len(got) >= 2 else None
        assert rung["median"] == medians[label]
        row = rows[label]
        assert float(row["level_target_acc"]) == LEVEL
        assert row["reached_target_acc"] == str(sum(arrived))
        median = "" if medians[label] is None else str(medians[label])
        assert row["steps_to_target_acc_median"] == median
        assert {"level_target", "steps_to_target_median", "speedup_target"} <= set(row)
    known = [m for m in medians.values() if m is not None]
    for label, row in rows.items():
        want = max(known) / medians[label] if len(known) >= 2 and medians[label] else None
        assert row["speedup_target_acc"] == ("" if want is None else str(want))
    assert censored and len(known) == 2 and max(known) > min(known)  # not vacuous


def test_compare_report_says_the_accuracy(acc_folder):
    report = load_compare(acc_folder)
    console = Console(record=True, width=4000)  # one line per sentence
    print_report(console, report)
    text = console.export_text()
    V = len(set(TEXT))
    for label, seeds in _runs(acc_folder).items():
        assert all(summ["chance_acc"] == 1 / V for summ, _ in seeds)
        finals = [summ["final_val_acc"] for summ, _ in seeds]
        (line,) = [ln for ln in text.splitlines() if ln.startswith(f"{label}: ")]
        assert f"; final val acc {_pct_pm(finals)} (chance {100 / V:.3g}%)." in line, line
        rung = report["inits"][label]["ladder"][-1]
        if rung["median"] is not None:
            k, median = rung["reached"], rung["median"]
            assert f"reached accuracy 60.0% in {k}/3 seeds, median {median} " in line, line
    assert "the target accuracy (60.0%): xavier reached it in 3/3 seeds" in text
    assert "60.0% acc" in text and "steps to acc" in text


NEWER_KEYS = ("target_acc", "steps_to_target_acc", "chance_acc", "final_val_acc", "best_val_acc")


def test_older_compare_folder_has_no_accuracy_rung(acc_folder, tmp_path):
    new = load_compare(acc_folder)
    old_root = tmp_path / acc_folder.name
    shutil.copytree(acc_folder, old_root)
    for summ_path in old_root.glob("*/summary.json"):  # written before target_acc and val_acc
        summ = json.loads(summ_path.read_text())
        for key in NEWER_KEYS:
            del summ[key]
        summ_path.write_text(json.dumps(summ))
    for metrics in old_root.glob("*/metrics.csv"):
        rows = list(csv.DictReader(open(metrics)))
        with open(metrics, "w", newline="") as f:
            kept = [k for k in rows[0] if k != "val_acc"]
            writer = csv.DictWriter(f, kept, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    old = load_compare(old_root)
    assert [r["kind"] for r in old["rungs"]] == ["loss"] * len(old["rungs"])
    assert old["rungs"] == new["rungs"][:-1]
    for label, row in ((r["init"], r) for r in compare_rows(old)):
        (was,) = [r for r in compare_rows(new) if r["init"] == label]
        assert list(row) == [k for k in was if k not in ACC_COLUMNS]
    console = Console(record=True, width=4000)
    print_report(console, old)
    lines = console.export_text().splitlines()
    text = "\n".join(ln for ln in lines if not ln.startswith("folder:"))  # tmp path aside
    assert "acc" not in text  # no accuracy anywhere: not measured then
    assert "steps until the smoothed training loss (EMA 0.9) first reaches each level" in text
