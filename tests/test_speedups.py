"""Steps to a loss level when some seeds never arrive (issue 9): censored medians, the ladder,
speed-ups only between medians. Expected values are worked out by hand in each test."""

import math

import numpy as np
import pytest
from test_compare import _render  # a rich table as plain text

from rnninit.core.stats import ema_update, first_steps_at_or_below, km_median


# ---------------------------------------------------------------------------------------------
# km_median: Kaplan-Meier median with right-censoring, on hand-made step lists
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "times, reached, expected",
    [
        # S(80) = 2/3, S(100) = 2/3 * 1/2 = 1/3 <= 1/2
        ([80, 100, 300], [True, True, False], 100),
        # one of three: S(80) = 2/3 and no later event
        ([80, 300, 300], [True, False, False], None),
        ([300, 300, 300], [False, False, False], None),
        ([120, 40, 90], [True, True, True], 90),  # no censoring: the ordinary median
        # S(10) = 4/5; the seed censored at 20 leaves 3 at risk; S(30) = 4/5 * 2/3 = 8/15 > 1/2;
        # S(40) = 8/15 * 1/2 = 4/15: the median is the second event after the censoring (the
        # median of the raw steps, 30, would treat the censored seed as if it had arrived at 20)
        ([10, 20, 30, 40, 50], [True, False, True, True, True], 40),
        # exactly half: S(80) = 1/2 is the median
        ([80, 300], [True, False], 80),
        # 4 seeds: S(20) = 3/4, S(30) = 3/4 * 2/3 = 1/2 exactly
        ([20, 30, 300, 300], [True, True, False, False], 30),
        # ties: a seed reaching at 50 and two censored at 50 -> all three at risk at 50,
        # S(50) = 2/3 (censoring first would leave 1 at risk and S = 0)
        ([50, 50, 50], [True, False, False], None),
        # two events tied at 60 among 4: S(60) = 2/4
        ([60, 60, 200, 200], [True, True, False, False], 60),
        ([], [], None),
    ],
)
def test_km_median_against_hand_computed_values(times, reached, expected):
    assert km_median(times, reached) == expected


def test_km_median_refuses_mismatched_lengths():
    with pytest.raises(ValueError):
        km_median([1, 2], [True])


# ---------------------------------------------------------------------------------------------
# The smoothing rule, shared by training (steps_to_target) and the ladder
# ---------------------------------------------------------------------------------------------
def test_first_steps_at_or_below_follow_the_ema_by_hand():
    losses = [4.0, 2.0, 1.0, float("nan")]
    # EMA: 4.0; 0.9*4 + 0.1*2 = 3.8; 0.9*3.8 + 0.1*1 = 3.52; nan leaves it
    assert ema_update(None, 4.0) == 4.0
    assert ema_update(4.0, 2.0) == pytest.approx(3.8)
    steps = first_steps_at_or_below([0, 1, 2, 3], losses, [4.0, 3.9, 3.6, 3.5])
    assert steps == [0, 1, 2, None]
    assert first_steps_at_or_below([], [], [1.0]) == [None]
    assert math.isnan(losses[-1])  # the diverged row counts for nothing


# ---------------------------------------------------------------------------------------------
# The ladder of one compare, from hand-made loss curves
# ---------------------------------------------------------------------------------------------
CHANCE, TARGET = 4.0, 2.0  # levels: 3.6 (90%), 3.0 (75%), 2.4 (60%), 2.0 (the target)


def _curve(drop: int | None, last: int = 20, diverge: int | None = None) -> list[dict]:
    """metrics.csv rows: loss 3.9 until `drop`, then 0; nan at `diverge` (the run's last row).
    The EMA after the drop is 3.9 * 0.9^j: 3.51, 3.159, 2.8431, 2.5588, 2.3029, 2.0726, 1.8654,
    so it reaches 3.6 at the drop, 3.0 two steps on, 2.4 four on and 2.0 six on."""
    end = diverge if diverge is not None else last
    rows = [{"step": k, "loss": 0.0 if drop is not None and k >= drop else 3.9,
             "val_loss": None} for k in range(end + 1)]  # fmt: skip
    if diverge is not None:
        rows[-1]["loss"] = float("nan")
    return rows


def _record(drop, last=20, diverge=None) -> dict:
    status = "diverged" if diverge is not None else "completed"
    t = np.arange(1, 3)
    table = {c: np.ones(2) for c in ("act_var", "grad_var", "saturation", "theory_act_var")}
    summary = {"status": status, "diverged_at": diverge, "steps": last, "chance": CHANCE,
               "target_loss": TARGET}  # fmt: skip
    return {"summary": summary, "step0": {"t": t, **table}, "last": None, "last_step": None,
            "metrics": _curve(drop, last, diverge)}  # fmt: skip


def _plain_ema_steps(rows, level):
    """An independent reading of the rule: EMA 0.9 over the finite losses, first step <= level."""
    ema = None
    for r in rows:
        if math.isfinite(r["loss"]):
            ema = r["loss"] if ema is None else 0.9 * ema + 0.1 * r["loss"]
            if ema <= level:
                return r["step"]
    return None


def _ladder_report():
    from rnninit.experiment.compare_folder import _speedups, aggregate, ladder_rungs

    arms = {
        "A": [_record(3), _record(5), _record(None)],
        "B": [_record(3, diverge=6), _record(None), _record(None)],
        "C": [_record(1), _record(1), _record(1)],
    }
    rungs = ladder_rungs(CHANCE, TARGET)
    report = {"inits": {k: aggregate(k, recs, rungs) for k, recs in arms.items()}, "rungs": rungs}
    _speedups(report)
    return report


def test_ladder_rungs_keep_the_levels_above_the_target():
    from rnninit.experiment.compare_folder import ladder_rungs

    assert [r["rung"] for r in ladder_rungs(CHANCE, TARGET)] == [
        "chance90", "chance75", "chance60", "target"]  # fmt: skip
    # char's default: target 2.804 = 61% of chance 4.564, so 60% of chance (2.738) is below it
    assert [r["rung"] for r in ladder_rungs(4.564, 2.804)] == ["chance90", "chance75", "target"]


def test_ladder_censored_medians_and_speedups_by_hand():
    report = _ladder_report()
    got = {label: {r["rung"]: (r["steps"], r["arrived"], r["median"], r["reached"])
                   for r in agg["ladder"]} for label, agg in report["inits"].items()}  # fmt: skip
    yes, no = True, False
    expect = {  # (steps, arrived, Kaplan-Meier median, seeds that got there)
        "A": {  # drops at 3 and 5, one never (censored at its last step, 20): S = 2/3, 1/3
            "chance90": ([3, 5, 20], [yes, yes, no], 5, 2),
            "chance75": ([5, 7, 20], [yes, yes, no], 7, 2),
            "chance60": ([7, 9, 20], [yes, yes, no], 9, 2),
            "target": ([9, 11, 20], [yes, yes, no], 11, 2),
        },
        "B": {  # one drops at 3 and diverges at 6 (censored there), two never: S never <= 1/2
            "chance90": ([3, 20, 20], [yes, no, no], None, 1),
            "chance75": ([5, 20, 20], [yes, no, no], None, 1),
            "chance60": ([6, 20, 20], [no, no, no], None, 0),
            "target": ([6, 20, 20], [no, no, no], None, 0),
        },
        "C": {  # all three drop at 1
            "chance90": ([1, 1, 1], [yes] * 3, 1, 3),
            "chance75": ([3, 3, 3], [yes] * 3, 3, 3),
            "chance60": ([5, 5, 5], [yes] * 3, 5, 3),
            "target": ([7, 7, 7], [yes] * 3, 7, 3),
        },
    }
    assert got == expect
    # the hand-written steps agree with an independent reading of the EMA rule
    for agg in report["inits"].values():
        for rung in agg["ladder"]:
            level = TARGET if rung["rung"] == "target" else rung["fraction"] * CHANCE
            for rec, step, arrived in zip(agg["runs"], rung["steps"], rung["arrived"]):
                assert _plain_ema_steps(rec["metrics"], level) == (step if arrived else None)
    # speed-up: the slowest median over one's own, only between inits that have a median
    speed = {label: {r["rung"]: r["speedup"] for r in agg["ladder"]}
             for label, agg in report["inits"].items()}  # fmt: skip
    assert speed["A"] == {"chance90": 1.0, "chance75": 1.0, "chance60": 1.0, "target": 1.0}
    assert speed["B"] == dict.fromkeys(speed["B"])  # no median: no speed-up
    assert speed["C"] == pytest.approx({"chance90": 5 / 1, "chance75": 7 / 3, "chance60": 9 / 5,
                                        "target": 11 / 7})  # fmt: skip


def test_speedup_needs_two_medians():
    from rnninit.experiment.compare_folder import _speedups, aggregate, ladder_rungs

    rungs = ladder_rungs(CHANCE, TARGET)
    report = {"rungs": rungs, "inits": {
        "fast": aggregate("fast", [_record(1)], rungs),
        "never": aggregate("never", [_record(None, last=300)], rungs)}}  # fmt: skip
    _speedups(report)
    for agg in report["inits"].values():
        assert all(r["speedup"] is None for r in agg["ladder"])  # no bound from the run length


def test_sentences_and_tables_come_from_the_ladder():
    from rnninit.experiment.compare_folder import compare_rows
    from rnninit.report.compare_view import ladder, parting, summary, verdict

    report = _ladder_report()
    report["task"] = {"chance": CHANCE, "target_loss": TARGET, "loss_kind": "xent"}
    said = parting(report)
    assert said[0] == ("90% of chance (3.6): A reached it in 2/3 seeds, median 5 steps; B reached "
                       "it in 1/3 seeds within 20 steps (no median); C reached it in 3/3 seeds, "
                       "median 1 step: C 5.0x faster than A; none against B (no median).")  # fmt: skip
    assert said[-1] == ("the target (2): A reached it in 2/3 seeds, median 11 steps; B did not "
                        "reach it within 20 steps (0/3 seeds; 1 diverged first); C reached it in "
                        "3/3 seeds, median 7 steps: C 1.6x faster than A; none against B (no "
                        "median).")  # fmt: skip
    b = report["inits"]["B"]
    assert "did not reach loss 2.000 within 20 steps (0/3 seeds; 1 diverged first)" in verdict(
        "B", b, "tanh", TARGET, CHANCE
    )
    text = _render(summary(report)) + _render(ladder(report))
    assert "11 (2/3)" in text and "not reached (0/3)" in text and "1.6x" in text
    assert "≥" not in text and "population std (ddof 0) over 3 seeds" in text
    rows = {r["init"]: r for r in compare_rows(report)}
    assert rows["A"]["steps_to_target_median"] == 11 and rows["A"]["reached_target"] == 2
    assert rows["B"]["steps_to_chance90_median"] is None and rows["B"]["reached_chance90"] == 1
    assert rows["C"]["speedup_target"] == pytest.approx(11 / 7)
    assert rows["C"]["level_chance60"] == pytest.approx(2.4)


# ---------------------------------------------------------------------------------------------
# A real compare folder: compare.csv and compare.json against each run's own files
# ---------------------------------------------------------------------------------------------
def _tiny(tmp_path):
    from rnninit.experiment.config import load_config

    path = tmp_path / "t.txt"
    path.write_text("the cat sat on the mat and the dog sat on the log; " * 60)
    return load_config(None, [
        f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=8",
        "model.hidden_size=16", "train.steps=30", "train.batch_size=4", "log.stats_every=10",
        "log.eval_every=10", "task.val_batches=1", "train.lr=0.01",
    ])  # fmt: skip


def test_compare_folder_ladder_matches_the_runs(tmp_path):
    import csv
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from rnninit.cli.app import app
    from rnninit.experiment.compare import compare
    from rnninit.experiment.compare_folder import load_compare
    from rnninit.experiment.runs import read_csv

    report = compare(_tiny(tmp_path), ["xavier", "uniform"], seeds=3)
    root = Path(report["dir"])
    meta = json.loads((root / "compare.json").read_text())
    rows = {r["init"]: r for r in csv.DictReader(open(root / "compare.csv"))}
    all_arrived = 0
    for label, names in meta["runs"].items():
        ladder = meta["results"]["inits"][label]
        for rung in ladder:
            steps = []
            for name in names:
                summary = json.loads((root / name / "summary.json").read_text())
                metrics = read_csv(root / name / "metrics.csv")
                level = summary["target_loss"]
                if rung["rung"] != "target":
                    level = int(rung["rung"][len("chance") :]) / 100 * summary["chance"]
                assert rung["loss"] == pytest.approx(level)
                step = _plain_ema_steps(metrics, level)
                if rung["rung"] == "target":  # training's own steps_to_target says the same
                    assert step == summary["steps_to_target"]
                steps.append(step)
            arrived = [s is not None for s in steps]
            assert rung["arrived"] == arrived and rung["reached"] == sum(arrived)
            assert [s for s, a in zip(rung["steps"], arrived) if a] == [
                s for s in steps if s is not None
            ]
            assert all(s == 30 for s, a in zip(rung["steps"], arrived) if not a)  # censored
            if all(arrived):  # uncensored: the KM median is the ceil(n/2)-th smallest step
                all_arrived += 1
                assert rung["median"] == sorted(steps)[1]
            elif sum(arrived) < 2:  # fewer than half of 3: no median
                assert rung["median"] is None
            row = rows[label]
            assert row[f"reached_{rung['rung']}"] == str(rung["reached"])
            median = row[f"steps_to_{rung['rung']}_median"]
            assert median == ("" if rung["median"] is None else str(rung["median"]))
    assert all_arrived  # not vacuous: some level was reached by every seed of some init
    # an older compare folder (no results in compare.json) shows the same ladder
    del meta["results"]
    (root / "compare.json").write_text(json.dumps(meta))
    again = load_compare(root)
    for label, agg in report["inits"].items():
        assert again["inits"][label]["ladder"] == agg["ladder"]
    shown = CliRunner().invoke(app, ["show", str(root)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert (
        "steps until the smoothed training loss (EMA 0.9) first reaches each level" in shown.output
    )
    assert "90% of chance" in shown.output and "≥" not in shown.output
