"""Interrupts, kills and resume: nothing lost, nothing that lies about its state."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnninit.experiment.config import load_config
from rnninit.experiment.runs import read_csv
from rnninit.experiment.training import resume, train

TEXT = "a quick brown fox jumps over the lazy dog while five boxing wizards jump quickly. " * 30


def tiny_cfg(tmp_path, steps=12, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    return load_config(None, [
        f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=6",
        "model.hidden_size=8", f"train.steps={steps}", "train.batch_size=4", "log.stats_every=3",
        "log.eval_every=2", "task.val_batches=2", "log.checkpoint_every=4", *extra,
    ])  # fmt: skip


def without_seconds(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_csv(path)]


def assert_same_run(a: Path, b: Path):
    assert without_seconds(a / "metrics.csv") == without_seconds(b / "metrics.csv")
    assert (a / "timesteps.csv").read_bytes() == (b / "timesteps.csv").read_bytes()
    assert (a / "params.csv").read_bytes() == (b / "params.csv").read_bytes()
    assert (a / "jacobian.csv").exists() == (b / "jacobian.csv").exists()
    if (a / "jacobian.csv").exists():  # log.jacobian: its rows and spectra too, once each
        assert (a / "jacobian.csv").read_bytes() == (b / "jacobian.csv").read_bytes()
        with np.load(a / "jacobian.npz") as za, np.load(b / "jacobian.npz") as zb:
            assert sorted(za.files) == sorted(zb.files)
            for key in za.files:
                np.testing.assert_array_equal(za[key], zb[key])
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in ("status", "steps_done", "final_loss", "best_loss", "final_val_loss",
                "steps_to_target", "data_sha256"):  # fmt: skip
        assert sa[key] == sb[key], key


@pytest.mark.parametrize("stop_before", [1, 5, 9, 12])
def test_stop_then_resume_is_bit_identical(tmp_path, stop_before):
    reference = train(tiny_cfg(tmp_path / "ref"))
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > stop_before  # stop before step `stop_before`

    stopped = train(tiny_cfg(tmp_path / "int"), should_stop=should_stop)
    assert stopped["status"] == "interrupted"
    assert stopped["steps_done"] == stop_before
    run = Path(stopped["run_dir"])
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    assert max(r["step"] for r in read_csv(run / "metrics.csv")) == stop_before - 1
    finished = resume(run)
    assert finished["status"] == "completed"
    assert_same_run(Path(reference["run_dir"]), run)


def test_rmsprop_stop_then_resume_is_bit_identical(tmp_path):
    import numpy as np

    extra = ("train.optimizer=rmsprop", "train.rho=0.9")
    reference = train(tiny_cfg(tmp_path / "ref", 12, *extra))
    calls = []
    stopped = train(tiny_cfg(tmp_path / "int", 12, *extra),
                    should_stop=lambda: calls.append(1) or len(calls) > 7)  # fmt: skip
    assert stopped["status"] == "interrupted" and stopped["steps_done"] == 7
    run = Path(stopped["run_dir"])
    with np.load(run / "checkpoint.npz") as ckpt:  # the squared-gradient averages travel
        assert not any(k.startswith("opt/m/") for k in ckpt.files)
        assert np.all(ckpt["opt/v/Whh"] > 0)
    assert resume(run)["status"] == "completed"
    assert_same_run(Path(reference["run_dir"]), run)


def test_resume_refuses_finished_runs(tmp_path):
    from rnninit.errors import RnnInitError

    done = train(tiny_cfg(tmp_path, 3))
    with pytest.raises(RnnInitError, match="already completed"):
        resume(done["run_dir"])


def _spawn(tmp_path, steps, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    args = [sys.executable, "-m", "rnninit", "train", f"log.runs_dir={tmp_path / 'runs'}",
            f"task.path={path}", "task.seq_len=6", "model.hidden_size=8", f"train.steps={steps}",
            "train.batch_size=4", "log.stats_every=50", "log.eval_every=20", "task.val_batches=1",
            "log.checkpoint_every=25", "log.print_every=1000", *extra]  # fmt: skip
    # stdout is not read: send it nowhere, or a full pipe would block the child
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_rows(runs: Path, n: int, proc, timeout=60.0) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        dirs = [d for d in runs.glob("*") if d.is_dir()] if runs.exists() else []
        if dirs and (dirs[0] / "metrics.csv").exists():
            if len((dirs[0] / "metrics.csv").read_text().splitlines()) > n:
                return dirs[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the run did not get going")


def _reference(tmp_path, steps) -> Path:
    proc = _spawn(tmp_path / "ref", steps)
    assert proc.wait(timeout=300) == 0, proc.communicate()
    return next((tmp_path / "ref" / "runs").glob("*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_real_signal_stops_cleanly_and_resumes(tmp_path, sig):
    steps = 600
    proc = _spawn(tmp_path, steps)
    run = _wait_rows(tmp_path / "runs", 30, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert not (run / ".lock").exists()  # released on the way out
    assert 30 <= summary["steps_done"] < steps
    rows = read_csv(run / "metrics.csv")
    assert [r["step"] for r in rows] == list(range(summary["steps_done"]))
    again = subprocess.run([sys.executable, "-m", "rnninit", "train", "--no-tables", "--resume",
                            str(run)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert_same_run(_reference(tmp_path, steps), run)


def test_second_ctrl_c_exits_at_once_without_corrupting_files(tmp_path):
    proc = _spawn(tmp_path, 100000)
    run = _wait_rows(tmp_path / "runs", 10, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    _assert_parseable(run)


def _assert_parseable(run: Path):
    json.loads((run / "summary.json").read_text())
    for name in ("metrics.csv", "timesteps.csv", "params.csv"):
        lines = (run / name).read_text().splitlines()
        width = len(lines[0].split(","))
        assert all(len(line.split(",")) == width for line in lines[:-1]), name
    steps = [r["step"] for r in read_csv(run / "metrics.csv")]
    assert steps == list(range(len(steps)))


@pytest.mark.parametrize("rows", [3, 40, 90])
def test_kill_9_leaves_parseable_files_and_resumes(tmp_path, rows):
    steps = 400
    proc = _spawn(tmp_path, steps)
    run = _wait_rows(tmp_path / "runs", rows, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    _assert_parseable(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "running"  # it says what it knew; pid tells it is dead
    assert summary["pid"] == proc.pid and "updated" in summary
    again = subprocess.run([sys.executable, "-m", "rnninit", "train", "--no-tables", "--resume",
                            str(run)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert_same_run(_reference(tmp_path, steps), run)


def test_disk_full_stops_with_status_failed_and_keeps_what_was_written(tmp_path, monkeypatch):
    import errno

    from typer.testing import CliRunner

    from rnninit.cli.app import app
    from rnninit.experiment import runs

    real = runs.CsvLog.write_many
    calls = []

    def flaky(self, rows):
        calls.append(1)
        if len(calls) > 12:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real(self, rows)

    monkeypatch.setattr(runs.CsvLog, "write_many", flaky)
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    result = CliRunner().invoke(app, ["train", f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}",
                                      "task.seq_len=6", "model.hidden_size=8", "train.steps=50"])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "No space left on device" in result.stderr
    run = next((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["error"]
    rows = read_csv(run / "metrics.csv")
    assert rows and [r["step"] for r in rows] == list(range(len(rows)))


def test_show_tells_a_dead_run_from_a_live_one(tmp_path):
    from typer.testing import CliRunner

    from rnninit.cli.app import app
    from rnninit.experiment.runs import effective_status

    proc = _spawn(tmp_path, 100000)
    run = _wait_rows(tmp_path / "runs", 3, proc)
    summary = json.loads((run / "summary.json").read_text())
    assert effective_status(summary) == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert effective_status(summary) == "stale"
    result = CliRunner().invoke(app, ["show", str(run)])
    assert result.exit_code == 0
    assert "stale" in result.output and "--resume" in result.output
    other_host = {**summary, "host": "elsewhere", "updated": time.time() - 3600}
    assert effective_status(other_host) == "stale"
    assert effective_status({**other_host, "updated": time.time()}) == "running"


def test_ctrl_c_during_compare_stops_every_worker_with_a_checkpoint_and_says_so(tmp_path):
    """Ctrl-C on a terminal reaches the whole process group: the compare and its workers."""
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    args = [sys.executable, "-m", "rnninit", "compare", "xavier", "he", "orthogonal", "--jobs",
            "2", f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=6",
            "model.hidden_size=8", "train.steps=100000", "train.batch_size=4",
            "log.checkpoint_every=50", "task.val_batches=1"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((tmp_path / "runs").glob("compare-*/xavier-*/metrics.csv"))
        if found and len(found[0].read_text().splitlines()) > 20:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: 0 of 3 runs finished; finish with: rnninit compare --resume" in err
    assert "Traceback" not in err
    root = next((tmp_path / "runs").glob("compare-*"))
    meta = json.loads((root / "compare.json").read_text())
    states = {e["label"]: e["status"] for e in meta["plan"]}
    assert meta["status"] == "interrupted" and states["xavier"] == "interrupted"
    # two workers: he ran beside xavier (unless its worker was still starting); orthogonal waited
    assert states["he"] in ("interrupted", "not started") and states["orthogonal"] == "not started"
    assert list(meta["runs"]) == [k for k, v in states.items() if v == "interrupted"]
    for e in meta["plan"]:
        if e["status"] == "interrupted":
            run = root / e["run"]
            summary = json.loads((run / "summary.json").read_text())
            assert summary["status"] == "interrupted" and (run / "checkpoint.npz").is_file()
            assert summary["steps_done"] < 100000  # he may have stopped before its step 0
            assert summary["steps_done"] > 0 or e["label"] != "xavier"
            _assert_parseable(run)
        else:
            assert not (root / e["run"]).exists()
    assert not (root / ".lock").exists()


def test_sweep_resume_continues_an_interrupted_run_from_its_checkpoint(tmp_path):
    from rnninit.experiment.workers import can_continue, execute_run

    reference = train(tiny_cfg(tmp_path / "ref"))
    cfg = tiny_cfg(tmp_path / "sweep")
    run_dir = tmp_path / "sweep" / "runs" / "sweeps" / "s" / "one"
    calls = []
    stopped = train(cfg, run_dir=run_dir, should_stop=lambda: calls.append(1) or len(calls) > 7)
    assert stopped["status"] == "interrupted" and can_continue(run_dir)
    result = execute_run("one", cfg, str(run_dir))
    assert result["status"] == "completed"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == 7  # continued, not started over
    assert_same_run(Path(reference["run_dir"]), run_dir)
    assert not can_continue(run_dir)


def test_resuming_a_run_written_before_jac_sq_keeps_its_columns_and_every_row(tmp_path):
    """A folder from before a column was added is continued in its own columns, so no row is
    longer than its header (read_csv would drop such rows as torn)."""
    import csv

    reference = train(tiny_cfg(tmp_path / "ref"))
    calls = []
    run = Path(train(tiny_cfg(tmp_path / "old"),
                     should_stop=lambda: calls.append(1) or len(calls) > 7)["run_dir"])  # fmt: skip
    path = run / "timesteps.csv"
    rows = list(csv.reader(path.open(newline="")))
    keep = [i for i, c in enumerate(rows[0]) if c not in ("jac_sq", "theory_jac_sq")]
    with path.open("w", newline="") as f:  # as an older rnninit wrote it
        csv.writer(f, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    assert resume(run)["status"] == "completed"
    got, want = read_csv(path), read_csv(Path(reference["run_dir"]) / "timesteps.csv")
    assert "jac_sq" not in got[0] and len(got) == len(want)
    assert got == [{k: v for k, v in r.items() if k in got[0]} for r in want]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_gated_run_stopped_then_resumed_is_bit_identical(tmp_path, cell):
    """The checkpoint carries every parameter the cell declares (the GRU's bhn too) and their
    optimizer state; a chrono bias checks that the drawn gate biases come back as drawn."""
    extra = [f"model.cell={cell}", "init.bh=chrono", "init.bh.t_max=6"]
    reference = train(tiny_cfg(tmp_path / "ref", 12, *extra))
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 5

    stopped = train(tiny_cfg(tmp_path / "int", 12, *extra), should_stop=should_stop)
    assert stopped["status"] == "interrupted"
    run = Path(stopped["run_dir"])
    finished = resume(run)
    assert finished["status"] == "completed"
    assert_same_run(Path(reference["run_dir"]), run)
    params = {r["param"] for r in read_csv(run / "params.csv")}
    assert ("bhn" in params) == (cell == "gru")


@pytest.mark.parametrize("how", ["graceful", "hard"])
def test_a_run_with_the_jacobian_spectrum_resumes_without_duplicate_rows(tmp_path, how):
    """A graceful stop checkpoints where it stops; a hard interrupt (KeyboardInterrupt mid-run)
    leaves spectra of steps past the last checkpoint (step 8: rows of step 9 written), which the
    resume drops and computes again."""
    extra = ("log.jacobian=true", "log.jacobian_sequences=2")
    reference = train(tiny_cfg(tmp_path / "ref", 12, *extra))
    calls = []

    def should_stop():
        calls.append(1)
        if len(calls) > 10:  # before step 10
            if how == "hard":
                raise KeyboardInterrupt
            return True
        return False

    cfg = tiny_cfg(tmp_path / "int", 12, *extra)
    if how == "hard":
        with pytest.raises(KeyboardInterrupt):
            train(cfg, should_stop=should_stop)
        run = next((tmp_path / "int" / "runs").iterdir())
        assert 9 in {r["step"] for r in read_csv(run / "jacobian.csv")}  # past the checkpoint
    else:
        run = Path(train(cfg, should_stop=should_stop)["run_dir"])
    assert resume(run)["status"] == "completed"
    assert_same_run(Path(reference["run_dir"]), run)
    keys = [(r["step"], r["t"], r["sequence"]) for r in read_csv(run / "jacobian.csv")]
    assert len(keys) == len(set(keys)) == 5 * 6 * 2  # steps 0, 3, ..., 12; t = 1..6; 2 sequences
    assert sorted({k[0] for k in keys}) == [0, 3, 6, 9, 12]
