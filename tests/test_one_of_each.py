"""Issue 8, "one of each": the helpers that had been copied between files exist once, and every
caller goes through the one copy (one atomic writer, one CSV writer, one status rule, ...)."""

import os
from pathlib import Path

import pytest

from rnninit import fileio


def test_runs_corpus_and_plots_write_through_the_one_atomic_writer(tmp_path, monkeypatch):
    from rnninit.experiment import corpus, runs
    from rnninit.report import plots

    made = []
    real = fileio._create_temp

    def spy(path):
        made.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(fileio, "_create_temp", spy)
    runs.write_json(tmp_path / "summary.json", {"status": "running"})
    monkeypatch.setenv("RNNINIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpus, "_build_stdlib_docstrings", lambda: "tiny corpus")
    assert corpus.builtin_corpus() == "tiny corpus"
    plots.loss_curve([{"step": 0, "loss": 2.0}, {"step": 1, "loss": 1.0}], tmp_path / "loss.png")
    assert made == ["summary.json", corpus.cache_path().name, "loss.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "loss.png", "summary.json"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_files_get_the_permissions_of_the_umask_in_force_when_written(tmp_path, umask):
    """As open() would give: the umask of the moment, not one read when the module was loaded."""
    from rnninit.experiment.runs import write_json

    old = os.umask(umask)
    try:
        write_json(tmp_path / "summary.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "a.txt"
    fileio.atomic_write_text(path, "old\n")

    def boom(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        fileio.atomic_write_bytes(path, boom)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_one_csv_writer_quotes_cells_and_keeps_plain_numbers_byte_for_byte(tmp_path):
    import csv

    import numpy as np

    from rnninit.experiment.runs import CsvLog, read_csv, truncate_csv

    path = tmp_path / "log.csv"
    log = CsvLog(path, ("step", "loss", "val_loss", "note"))
    log.write({"step": 0, "loss": 0.1, "val_loss": None, "note": "plain"})
    log.write_many([{"step": 1, "loss": float("nan"), "note": 'a, "b"'},
                    {"step": 2, "loss": np.float64(1 / 3), "note": "x"}])  # fmt: skip
    log.close()
    text = path.read_text()
    assert text.splitlines()[:2] == ["step,loss,val_loss,note", "0,0.1,,plain"]  # as ever
    assert text.splitlines()[2:] == ['1,nan,,"a, ""b"""', "2,0.3333333333333333,,x"]
    with open(path, newline="") as f:
        assert [r["note"] for r in csv.DictReader(f)] == ["plain", 'a, "b"', "x"]
    truncate_csv(path, lambda row: row["step"] < 2)  # parses with csv: the quoted row survives
    assert [r["note"] for r in read_csv(path)] == ["plain", 'a, "b"']
    assert path.read_text() == "\n".join(text.splitlines()[:3]) + "\n"


def test_whole_csvs_have_the_cells_of_the_run_logs_and_their_folder_is_made(tmp_path):
    """One cell format everywhere: floats as repr, None empty, mappings as JSON, quoted if needed."""
    from rnninit.experiment.runs import csv_text, write_csv

    rows = [{"init": "Whh=orthogonal,Wxh=he", "x": 0.1, "n": 3, "none": None, "ok": False,
             "values": {"b": 1, "a": [1, 2]}}]  # fmt: skip
    assert csv_text(rows) == (
        'init,x,n,none,ok,values\n"Whh=orthogonal,Wxh=he",0.1,3,,False,"{""a"": [1, 2], ""b"": 1}"\n'
    )
    write_csv(tmp_path / "deep" / "t.csv", rows)
    assert (tmp_path / "deep" / "t.csv").read_text() == csv_text(rows)
    assert csv_text([]) == ""


# ---------------------------------------------------------------------------------------------
# One status rule
# ---------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running(**changes) -> dict:
    import socket
    import time

    return {"status": "running", "pid": os.getpid(), "host": socket.gethostname(),
            "updated": time.time(), **changes}  # fmt: skip


def test_the_status_rule_case_by_case():
    import time

    from rnninit.experiment.runs import STALE_AFTER, effective_status, process_start

    old = time.time() - STALE_AFTER - 60
    assert effective_status(_running(pid=_dead_pid())) == "stale"  # this host: pid gone
    assert effective_status(_running()) == "running"  # this host: pid alive
    assert effective_status(_running(updated=old)) == "running"  # alive, however old the beat
    assert effective_status(_running(host="elsewhere.invalid", pid=1)) == "running"  # fresh beat
    assert effective_status(_running(host="elsewhere.invalid", updated=old)) == "stale"  # old beat
    assert effective_status(_running(pid=None, updated=old)) == "stale"  # no pid: the heartbeat
    assert effective_status(_running(pid=_dead_pid(), status="completed")) == "completed"
    mine = process_start(os.getpid())
    if mine is None:
        pytest.skip("no /proc: a process's start cannot be read here")
    assert effective_status(_running(pid_start=mine, updated=old)) == "running"
    assert effective_status(_running(pid_start="another-boot:1")) == "stale"  # the pid reused


def test_sweep_resume_summarize_and_continue_read_a_run_the_same_way(tmp_path):
    """A live run on this host whose heartbeat is old: summarize used to call it stale and
    `sweep --resume` to start it again from scratch beside the live process."""
    import json
    import time

    import yaml

    from rnninit.experiment.summarize import summarize
    from rnninit.experiment.sweep import load_sweep, plan_work
    from rnninit.experiment.workers import can_continue

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": {"log": {"runs_dir": str(tmp_path)}},
                                    "grid": {"init": ["xavier", "uniform"]}}))  # fmt: skip
    sw = load_sweep(path)
    live, dead = sw.runs
    for run, summary in ((live, _running(updated=time.time() - 3600)),
                         (dead, _running(pid=_dead_pid()))):  # fmt: skip
        folder = sw.run_dir(run)
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text("{}\n")
        (folder / "checkpoint.npz").write_bytes(b"")
        (folder / "summary.json").write_text(json.dumps(summary))
    work = plan_work(sw, sw.runs, resume=True)
    assert work.skipped == {live.id: "running elsewhere"} and [r.id for r in work.todo] == [dead.id]
    shown = {Path(r["dir"]).name: r["status"] for r in summarize([sw.root])["records"]}
    assert shown == {live.id: "running", dead.id: "stale"}
    assert not can_continue(sw.run_dir(live)) and can_continue(sw.run_dir(dead))


def test_one_number_formatter_for_tables():
    """terminal.fmt formats every number in a table; fmt_cell adds the cells that are not floats
    (config values: ints and names), as the sweep and summarize tables show them."""
    from rnninit.report.terminal import fmt, fmt_cell

    cells = [fmt_cell(v) for v in (0.000123456, 12345.0, 0.5, 3, "xavier", None, float("nan"))]
    assert cells == ["1.23e-04", "1.23e+04", "0.5", "3", "xavier", "—", "nan"]
    assert fmt_cell(2 / 3, 3) == fmt(2 / 3, 3) == "0.667"


def test_one_did_you_mean():
    from rnninit.core.names import closest, suggest
    from rnninit.errors import RnnInitError
    from rnninit.experiment.summarize import check_keys

    assert suggest("xavir", ["xavier", "uniform"]) == " (did you mean 'xavier'?)"
    assert suggest("zzz", ["xavier", "uniform"]) == ""
    assert closest("hiden_size", ["hidden_size"]) == "hidden_size"
    assert closest("hidden", ["model.hidden_size"], cutoff=0.7) is None
    with pytest.raises(RnnInitError) as e:  # summarize says it as config and inits do
        check_keys([{"values": {"model.hidden_size": 8}}], ["model.hiden_size"], "--by")
    assert str(e.value) == (
        "--by: model.hiden_size: not a config key of these runs (did you mean 'model.hidden_size'?)"
    )
