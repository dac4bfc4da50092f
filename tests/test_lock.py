"""A run folder is locked while a process writes it: refused, taken over when stale, released."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.errors import RnnInitError
from rnninit.experiment import runs
from rnninit.experiment.config import load_config
from rnninit.experiment.lock import LOCK_NAME, RunLocked, hold, live_holder
from rnninit.experiment.training import resume, train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TEXT = "a quick brown fox jumps over the lazy dog while five boxing wizards jump quickly. " * 30
runner = CliRunner()


def tiny_cfg(tmp_path, steps=8, *extra):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    return load_config(None, [
        f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=6",
        "model.hidden_size=8", f"train.steps={steps}", "train.batch_size=4", "log.stats_every=4",
        "log.eval_every=2", "task.val_batches=1", "log.checkpoint_every=2", *extra,
    ])  # fmt: skip


def stop_after(n):
    calls = []
    return lambda: calls.append(1) or len(calls) > n


def interrupted_run(tmp_path) -> Path:
    run = Path(train(tiny_cfg(tmp_path), should_stop=stop_after(3))["run_dir"])
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    return run


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def files_of(run: Path) -> dict:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_NAME}


def test_a_resume_while_another_process_holds_the_run_is_refused_exit_2(tmp_path):
    run = interrupted_run(tmp_path)
    before = files_of(run)
    with hold(run):
        cmd = [sys.executable, "-m", "rnninit", "train", "--resume", str(run)]
        proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert f"in use by pid {os.getpid()} on host {socket.gethostname()}" in proc.stderr
        result = runner.invoke(app, ["train", "--resume", str(run)])
        assert result.exit_code == 2 and f"pid {os.getpid()}" in result.stderr
        with pytest.raises(RunLocked):
            train(tiny_cfg(tmp_path), run_dir=run)  # a sweep's run_dir= folder too
        assert files_of(run) == before  # nothing truncated, appended or rewritten
    assert not (run / LOCK_NAME).exists()
    assert resume(run)["status"] == "completed"


def _spawn_long(tmp_path) -> subprocess.Popen:
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    cmd = [sys.executable, "-m", "rnninit", "train", f"log.runs_dir={tmp_path / 'runs'}",
           f"task.path={path}", "task.seq_len=6", "model.hidden_size=8", "train.steps=100000",
           "train.batch_size=4", "log.eval_every=5", "task.val_batches=1",
           "log.checkpoint_every=10", "log.print_every=100000"]  # fmt: skip
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_rows(runs_dir: Path, n: int, proc) -> Path:
    deadline = time.time() + 60
    while time.time() < deadline:
        found = list(runs_dir.glob("*/metrics.csv"))
        if found and len(found[0].read_text().splitlines()) > n:
            return found[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the run did not get going")


def test_two_processes_never_write_one_folder_and_a_killed_holders_lock_is_taken_over(tmp_path):
    first = _spawn_long(tmp_path)
    try:
        run = _wait_rows(tmp_path / "runs", 12, first)
        second = subprocess.run([sys.executable, "-m", "rnninit", "train", "--resume", str(run)],
                                env=ENV, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert f"in use by pid {first.pid} on host {socket.gethostname()}" in second.stderr
        shown = runner.invoke(app, ["show", str(run)])
        assert shown.exit_code == 0 and f"running (pid {first.pid}" in shown.output
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=60)
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == first.pid  # left behind
    assert live_holder(run) is None
    shown = runner.invoke(app, ["show", str(run)])
    assert shown.exit_code == 0 and "stale" in shown.output
    steps = [r["step"] for r in runs.read_csv(run / "metrics.csv")]
    assert steps == list(range(len(steps)))  # one writer: no interleaved rows


def test_a_stale_lock_of_a_finished_process_is_taken_over(tmp_path):
    run = interrupted_run(tmp_path)
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "time": time.time()}
    (run / LOCK_NAME).write_text(json.dumps(stale))
    assert live_holder(run) is None
    result = runner.invoke(app, ["train", "--no-tables", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert not (run / LOCK_NAME).exists()


def test_a_live_lock_on_another_host_is_respected_until_its_heartbeat_stops(tmp_path):
    run = interrupted_run(tmp_path)
    far = {"pid": 1, "host": "elsewhere.invalid", "time": time.time()}
    (run / LOCK_NAME).write_text(json.dumps(far))
    with pytest.raises(RunLocked, match="pid 1 on host elsewhere.invalid"):
        resume(run)
    (run / LOCK_NAME).write_text(json.dumps({**far, "time": time.time() - 3600}))
    assert resume(run)["status"] == "completed"


@pytest.mark.parametrize("how", ["completed", "diverged", "stopped", "hard interrupt", "failed"])
def test_the_lock_is_held_while_running_and_gone_after_every_ending(tmp_path, monkeypatch, how):
    run = tmp_path / "runs" / "one"
    extra = ("init=uniform", "model.nonlinearity=relu", "model.hidden_size=256",
             "task.seq_len=40", "train.dtype=float32") if how == "diverged" else ()  # fmt: skip
    seen = []

    def should_stop():
        holder = json.loads((run / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        seen.append(1)
        if how == "hard interrupt" and len(seen) > 3:
            raise KeyboardInterrupt
        return how == "stopped" and len(seen) > 3

    if how == "failed":
        real = runs.CsvLog.write_many

        def flaky(self, rows):
            if len(seen) > 3:
                raise OSError(28, "No space left on device", str(self.path))
            real(self, rows)

        monkeypatch.setattr(runs.CsvLog, "write_many", flaky)
    expect = {"completed": None, "diverged": None, "stopped": None,
              "hard interrupt": KeyboardInterrupt, "failed": OSError}[how]  # fmt: skip
    if expect is None:
        summary = train(tiny_cfg(tmp_path, 8, *extra), run_dir=run, should_stop=should_stop)
        assert summary["status"] == {"stopped": "interrupted"}.get(how, how)
    else:
        with pytest.raises(expect):
            train(tiny_cfg(tmp_path, 8), run_dir=run, should_stop=should_stop)
    assert seen
    assert not (run / LOCK_NAME).exists()
    assert not list(run.glob(f"{LOCK_NAME}*"))


def test_a_sweep_skips_a_run_another_process_holds_and_never_marks_it_failed(tmp_path):
    from rnninit.experiment.sweep import plan_work
    from rnninit.experiment.workers import execute_run, run_state

    cfg = tiny_cfg(tmp_path)
    run = tmp_path / "runs" / "sweeps" / "s" / "one"
    train(cfg, run_dir=run, should_stop=stop_after(3))
    before = files_of(run)
    with hold(run):
        assert run_state(run) == "running"
        result = execute_run("one", cfg, str(run))
        assert result["status"] == "running elsewhere"
        assert f"pid {os.getpid()}" in result["error"]
        assert files_of(run) == before

        class Sweep:  # the two attributes plan_work reads
            root = run.parent

            @staticmethod
            def run_dir(r):
                return run

        one = type("Run", (), {"id": "one"})()
        work = plan_work(Sweep, [one], resume=True)
        assert work.todo == [] and work.skipped == {"one": "running elsewhere"}
    assert run_state(run) == "interrupted"


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(RnnInitError, match="no such folder"):
        resume(tmp_path / "nope")
