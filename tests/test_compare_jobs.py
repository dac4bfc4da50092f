"""`rnninit compare --jobs N` and `--resume`: the same numbers for any N, interrupts that say
which runs finished, and a resume that ends where an uninterrupted compare would have."""

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.experiment.compare import compare, resume_compare
from rnninit.experiment.config import load_config
from rnninit.experiment.lock import hold
from rnninit.experiment.runs import read_csv
from rnninit.experiment.training import train

runner = CliRunner()
TEXT = "the cat sat on the mat and the dog sat on the log; " * 60
TIMING = {"seconds_mean", "seconds_std"}  # compare.csv's wall-clock columns


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    return path


def tiny(runs: Path, corpus: Path, steps=4, *extra) -> list[str]:
    return [
        f"log.runs_dir={runs}", f"task.path={corpus}", "task.seq_len=5", "model.hidden_size=8",
        f"train.steps={steps}", "train.batch_size=4", "log.stats_every=2", "log.eval_every=2",
        "task.val_batches=1", "log.checkpoint_every=2", *extra,
    ]  # fmt: skip


def runs_by_seed(root: Path) -> dict[tuple[str, int], Path]:
    """(label, seed) -> run folder, from compare.json's plan."""
    meta = json.loads((root / "compare.json").read_text())
    return {(e["label"], e["seed"]): root / e["run"] for e in meta["plan"]}


def without_seconds(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_csv(path)]


def compare_csv(root: Path) -> list[dict]:
    with open(root / "compare.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def assert_same_numbers(a: Path, b: Path) -> None:
    """Two compare folders of one setup: every run's files byte for byte (the wall-clock column
    of metrics.csv aside), the same data digests, and compare.csv but for its timing columns."""
    runs_a, runs_b = runs_by_seed(a), runs_by_seed(b)
    assert list(runs_a) == list(runs_b)
    for key, ra in runs_a.items():
        rb = runs_b[key]
        assert without_seconds(ra / "metrics.csv") == without_seconds(rb / "metrics.csv"), key
        assert (ra / "timesteps.csv").read_bytes() == (rb / "timesteps.csv").read_bytes(), key
        assert (ra / "params.csv").read_bytes() == (rb / "params.csv").read_bytes(), key
        sa, sb = (json.loads((r / "summary.json").read_text()) for r in (ra, rb))
        assert sa["status"] == sb["status"] == "completed"
        assert (
            sa["data_sha256"] == sb["data_sha256"]
            and sa["blas"]["threads"] == sb["blas"]["threads"]
        )
    assert compare_csv(a) == compare_csv(b)
    assert [r["init"] for r in compare_csv(a)] == list(dict.fromkeys(k[0] for k in runs_a))


def progress_lines(output: str) -> list[str]:
    """The '[n/N] label seed s: status, val loss x' lines, without n and the seconds."""
    lines = [ln for ln in output.splitlines() if ln.startswith("[")]
    return sorted(ln.split("] ", 1)[1].rsplit(", ", 1)[0] for ln in lines)


# ---------------------------------------------------------------------------------------------
# --jobs: the same numbers, the same progress lines
# ---------------------------------------------------------------------------------------------
def test_jobs_2_gives_the_numbers_of_jobs_1_bit_for_bit(tmp_path, corpus):
    outputs = {}
    for jobs in (1, 2):
        runs = tmp_path / f"jobs{jobs}"
        result = runner.invoke(app, ["compare", "xavier", "uniform", "--seeds", "2", "--jobs",
                                     str(jobs), *tiny(runs, corpus)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"4 of 4 runs to run on {jobs} worker process" in result.stdout
        outputs[jobs] = result.stdout
    one, two = (next((tmp_path / f"jobs{j}").glob("compare-*")) for j in (1, 2))
    assert_same_numbers(one, two)
    assert progress_lines(outputs[1]) == progress_lines(outputs[2])
    assert len(progress_lines(outputs[1])) == 4
    # the arms and seeds differ from each other, so a mix-up of folders would show
    firsts = {k: read_csv(r / "metrics.csv")[-1]["loss"] for k, r in runs_by_seed(two).items()}
    assert len(set(firsts.values())) == 4
    for root in (one, two):  # in the arms' and seeds' order, whatever order they ended in
        meta = json.loads((root / "compare.json").read_text())
        assert list(meta["runs"]) == ["xavier", "uniform"]
        for label, names in meta["runs"].items():
            assert [n.split("-")[:2] for n in names] == [[label, "s0"], [label, "s1"]], names
        assert meta["status"] == "completed" and {e["status"] for e in meta["plan"]} == {
            "completed"
        }
        pids = {
            json.loads((r / "summary.json").read_text())["pid"] for r in runs_by_seed(root).values()
        }
        assert os.getpid() not in pids  # every run ran in a worker process


def test_every_run_has_one_blas_thread_whatever_jobs_unless_train_threads_says(tmp_path, corpus):
    """At sizes where a lone run's policy takes every core (H = 512, B*H*H >= 2**20), a run in a
    compare still takes one BLAS thread (its worker has one), so that the count, and with it the
    numbers, never depend on --jobs; an arm that sets train.threads gets what it asks for."""
    cfg = load_config(None, [*tiny(tmp_path / "runs", corpus, 1), "model.hidden_size=512",
                             "train.batch_size=8", "log.eval_every=1"])  # fmt: skip
    report = compare(cfg, ["xavier", "two: train.threads=2"], jobs=2)
    blas = {label: agg["runs"][0]["summary"]["blas"] for label, agg in report["inits"].items()}
    assert blas["xavier"]["threads"] == 1 and "1 available" in blas["xavier"]["chosen_by"]
    assert blas["two"]["threads"] == 2 and blas["two"]["chosen_by"] == "train.threads"


# ---------------------------------------------------------------------------------------------
# Stopping: every worker stops with a checkpoint; the folder says which runs finished (Ctrl-C
# through the command line: tests/test_resume.py)
# ---------------------------------------------------------------------------------------------
def test_a_stopped_compare_says_which_runs_finished_and_resume_ends_where_it_would_have(
    tmp_path, corpus
):
    # long enough runs that a stop asked for after the first run ends catches the others
    args = tiny(tmp_path / "runs", corpus, 2000, "log.stats_every=500", "log.eval_every=500",
                "log.checkpoint_every=500")  # fmt: skip
    cfg = load_config(None, args)
    ended = []
    stopped = compare(cfg, ["xavier", "uniform"], seeds=2, jobs=2,
                      on_run_done=lambda label, seed, result: ended.append(result),
                      should_stop=lambda: bool(ended))  # fmt: skip
    root = Path(stopped["dir"])
    meta = json.loads((root / "compare.json").read_text())
    assert meta["status"] == "interrupted"
    states = {(e["label"], e["seed"]): e["status"] for e in meta["plan"]}
    assert "completed" in states.values() and set(states.values()) <= {
        "completed", "interrupted", "not started"}  # fmt: skip
    assert set(states.values()) != {"completed"}
    for key, run in runs_by_seed(root).items():  # the plan says what each folder holds
        if states[key] == "not started":
            assert not run.exists()
            continue
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == states[key]
        assert (run / "checkpoint.npz").is_file()
        if states[key] == "interrupted":
            assert summary["steps_done"] < 2000
    shown = [(e["label"], e["run"]) for e in meta["plan"] if e["status"] != "not started"]
    assert [(label, n) for label, names in meta["runs"].items() for n in names] == shown
    kept = {k: (r / "summary.json").stat().st_mtime_ns for k, r in runs_by_seed(root).items()
            if states[k] == "completed"}  # fmt: skip

    infos = []
    finished = resume_compare(root, jobs=2, on_start=infos.append)
    assert infos[0]["todo"] == 4 - len(kept) and infos[0]["states"]["completed"] == len(kept)
    meta = json.loads((root / "compare.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumed"]) == 1
    assert {e["status"] for e in meta["plan"]} == {"completed"}
    assert list(finished["inits"]) == ["xavier", "uniform"]
    for key, stamp in kept.items():  # finished runs are left alone
        assert (runs_by_seed(root)[key] / "summary.json").stat().st_mtime_ns == stamp
    for key, state in states.items():  # interrupted ones went on from their checkpoints
        summary = json.loads((runs_by_seed(root)[key] / "summary.json").read_text())
        assert ("resumed_from" in summary) == (state == "interrupted")
    reference = compare(load_config(None, [*args, f"log.runs_dir={tmp_path / 'ref'}"]),
                        ["xavier", "uniform"], seeds=2, jobs=1)  # fmt: skip
    assert_same_numbers(Path(reference["dir"]), root)


# ---------------------------------------------------------------------------------------------
# --resume: what it keeps, continues, starts; what it refuses
# ---------------------------------------------------------------------------------------------
def test_resume_continues_the_interrupted_starts_the_missing_and_reruns_the_failed(
    tmp_path, corpus
):
    args = tiny(tmp_path / "runs", corpus, 6)
    reference = compare(load_config(None, [*args, f"log.runs_dir={tmp_path / 'ref'}"]),
                        ["xavier", "uniform"], seeds=2, jobs=1)  # fmt: skip
    report = compare(load_config(None, args), ["xavier", "uniform"], seeds=2, jobs=2)
    root = Path(report["dir"])
    runs = list(runs_by_seed(root).values())
    # the first run finished; the second was interrupted at step 3 (with its checkpoint); the
    # third failed; the fourth never started
    stamp = (runs[0] / "summary.json").stat().st_mtime_ns
    cfg = load_config(runs[1] / "config.yaml")
    typed = yaml.safe_load((runs[1] / "overrides.yaml").read_text())
    shutil.rmtree(runs[1])
    calls = []
    train(
        cfg, run_dir=runs[1], overrides=typed, should_stop=lambda: calls.append(1) or len(calls) > 3
    )
    summary = json.loads((runs[2] / "summary.json").read_text())
    (runs[2] / "summary.json").write_text(json.dumps({**summary, "status": "failed"}))
    shutil.rmtree(runs[3])
    (root / "compare.csv").unlink()
    result = runner.invoke(app, ["compare", "--resume", str(root), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "3 of 4 runs to run on 2 worker processes; 1 finished before, kept" in result.stdout
    assert len(progress_lines(result.stdout)) == 3
    assert (runs[0] / "summary.json").stat().st_mtime_ns == stamp
    assert json.loads((runs[1] / "summary.json").read_text())["resumed_from"] == 3
    assert "resumed_from" not in json.loads((runs[2] / "summary.json").read_text())
    assert_same_numbers(Path(reference["dir"]), root)  # compare.csv written again too
    meta = json.loads((root / "compare.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumed"]) == 1
    assert meta["argv"] == report["meta"]["argv"]  # what the compare was, kept
    again = runner.invoke(app, ["compare", "--resume", str(root)])  # nothing left: outputs only
    assert again.exit_code == 0, again.output
    assert "0 of 4 runs to run" in again.stdout
    assert len(json.loads((root / "compare.json").read_text())["resumed"]) == 2


def test_a_run_that_fails_exits_1_with_its_error_and_resume_runs_it_again(tmp_path, corpus):
    report = compare(load_config(None, tiny(tmp_path / "runs", corpus, 4)), ["xavier"], seeds=2)
    root = Path(report["dir"])
    first, second = runs_by_seed(root).values()
    kept = without_seconds(first / "metrics.csv"), (first / "timesteps.csv").read_bytes()
    summary = json.loads((first / "summary.json").read_text())  # interrupted, its checkpoint torn
    (first / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    (first / "checkpoint.npz").write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["compare", "--resume", str(root)])
    assert result.exit_code == 1, result.output
    assert "1 of 2 runs failed (first: xavier seed 0: " in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    meta = json.loads((root / "compare.json").read_text())
    assert meta["status"] == "failed" and [e["status"] for e in meta["plan"]] == [
        "failed", "completed"]  # fmt: skip
    assert meta["runs"] == {"xavier": [second.name]}  # the report shows the run with numbers
    assert [r["seeds"] for r in compare_csv(root)] == ["1"]
    again = runner.invoke(app, ["compare", "--resume", str(root)])  # a failed run starts afresh
    assert again.exit_code == 0, again.output
    assert [e["status"] for e in json.loads((root / "compare.json").read_text())["plan"]] == [
        "completed", "completed"]  # fmt: skip
    assert (without_seconds(first / "metrics.csv"), (first / "timesteps.csv").read_bytes()) == kept


def test_an_lr_grid_chooses_only_once_every_candidate_has_run(tmp_path, corpus):
    cfg = load_config(None, tiny(tmp_path / "runs", corpus, 6))
    report = compare(cfg, ["xavier", "uniform"], lr_grid=[0.01, 0.03], jobs=2)
    root = Path(report["dir"])
    before = json.loads((root / "compare.json").read_text())
    assert set(before["lr_chosen"]) == {"xavier", "uniform"}
    missing = next(e for e in before["plan"] if e["label"] == "uniform" and e["lr"] == 0.03)
    shutil.rmtree(root / missing["run"])
    seen = []

    def on_start(info):  # compare.json as the resume found it, before any run
        seen.append(json.loads((root / "compare.json").read_text()))

    resume_compare(root, jobs=2, on_start=on_start)
    assert set(seen[0]["lr_chosen"]) == {"xavier"}  # uniform has a candidate still to run
    assert [c["lr"] for c in seen[0]["lr_candidates"]["uniform"]] == [0.01]
    after = json.loads((root / "compare.json").read_text())
    for key in ("lr_chosen", "lr_candidates", "runs"):
        assert after[key] == before[key], key


def test_resume_refusals_are_one_line_and_exit_2(tmp_path, corpus):
    report = compare(load_config(None, tiny(tmp_path / "runs", corpus, 2)), ["xavier"], jobs=1)
    root = Path(report["dir"])
    run = next(p for p in root.iterdir() if (p / "summary.json").is_file())
    old = tmp_path / "old"
    shutil.copytree(root, old)
    meta = json.loads((old / "compare.json").read_text())
    del meta["plan"]
    (old / "compare.json").write_text(json.dumps(meta))
    cases = [
        (["--resume", str(tmp_path / "nothing")], "no such folder"),
        (["--resume", str(run)], "not a compare folder (no compare.json)"),
        (["--resume", str(old)], "written before compare --resume existed"),
        (["--resume", str(root), "xavier"], "--resume: takes the compare's own arms"),
        (["--resume", str(root), "--seeds", "2"], "--resume: takes the compare's own arms"),
    ]
    for argv, message in cases:
        result = runner.invoke(app, ["compare", *argv])
        assert result.exit_code == 2, (argv, result.output)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, argv
    with hold(root):  # a live process (this one) writes the folder now
        result = runner.invoke(app, ["compare", "--resume", str(root)])
    assert result.exit_code == 2 and f"in use by pid {os.getpid()}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    shutil.rmtree(run)  # a run to start, and its corpus gone: refused before any run starts
    corpus.unlink()
    result = runner.invoke(app, ["compare", "--resume", str(root)])
    assert result.exit_code == 2 and str(corpus) in result.stderr, result.output
    assert not run.exists()
    result = runner.invoke(app, ["compare", "xavier", "--jobs", "0"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["compare"])
    assert result.exit_code == 2 and "name at least one init" in result.stderr


def test_the_help_teaches_jobs_and_resume():
    result = runner.invoke(app, ["compare", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--jobs" in result.output and "--resume" in result.output
    assert "bit for bit" in result.output and "COMPARE_DIR" in result.output
