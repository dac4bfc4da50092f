"""`rnninit summarize`: any run folders, the varied keys, groups, CSV, JSON, plot, stale runs."""

import csv
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.experiment.config import load_config
from rnninit.experiment.summarize import summarize
from rnninit.experiment.training import train

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
TEXT = "the cat sat on the mat and the dog sat on the log; " * 40
INITS, SIZES, SEEDS = ("xavier", "uniform"), (8, 16), (0, 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Eight runs made as a shell loop would make them, in folders at two depths."""
    root = tmp_path_factory.mktemp("summ")
    corpus = root / "t.txt"
    corpus.write_text(TEXT)
    for init in INITS:
        for h in SIZES:
            for seed in SEEDS:
                where = root / "runs" / ("a" if init == "xavier" else "b/c")
                cfg = load_config(None, [
                    f"log.runs_dir={where}", f"task.path={corpus}", "task.seq_len=6",
                    "train.steps=4", "train.batch_size=4", "log.stats_every=2",
                    "log.eval_every=2", "task.val_batches=1", f"init={init}",
                    f"model.hidden_size={h}", f"seed={seed}",
                ])  # fmt: skip
                train(cfg)
    return root / "runs"


def folders(runs: Path) -> list[Path]:
    return sorted(p.parent for p in runs.rglob("summary.json"))


def facts(run: Path) -> dict:
    """What the test reads itself: the summary, the config values and step-0 rows."""
    import yaml

    s = json.loads((run / "summary.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    with open(run / "timesteps.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["step"] == "0"]
    rows.sort(key=lambda r: int(r["t"]))
    return {"init": cfg["init"], "h": cfg["model"]["hidden_size"], "seed": cfg["seed"],
            "loss": s["final_val_loss"], "act1": float(rows[0]["act_var"]),
            "gradT": float(rows[-1]["grad_var"]), "T": int(rows[-1]["t"])}  # fmt: skip


def test_finds_every_run_below_and_the_keys_that_vary(runs):
    report = summarize([runs])
    assert len(report["records"]) == len(INITS) * len(SIZES) * len(SEEDS) == len(folders(runs))
    assert report["varied"] == ["init", "model.hidden_size", "seed"]  # not name, not runs_dir
    by_dir = {Path(r["dir"]): r for r in report["records"]}
    for run in folders(runs):
        f, r = facts(run), by_dir[run]
        assert r["status"] == "completed"
        assert r["values"]["init"] == f["init"] and r["values"]["seed"] == f["seed"]
        assert r["act_var_t1"] == f["act1"] and r["grad_var_tT"] == f["gradT"] and r["T"] == 6
    # one folder alone is a run folder too
    one = summarize([folders(runs)[0]])
    assert len(one["records"]) == 1 and one["varied"] == []


def test_by_groups_with_mean_and_std_across_seeds(runs):
    result = runner.invoke(
        app, ["summarize", str(runs), "--by", "init,model.hidden_size", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    groups = {(g["init"], g["model.hidden_size"]): g for g in out["groups"]}
    assert set(groups) == {(i, h) for i in INITS for h in SIZES}
    assert out["pooled"] == []  # only seeds are averaged over
    all_facts = [facts(r) for r in folders(runs)]
    for (init, h), g in groups.items():
        mine = [f for f in all_facts if f["init"] == init and f["h"] == h]
        assert g["n"] == len(SEEDS) == g["completed"]
        for key, col in (
            ("loss", "final_val_loss"),
            ("act1", "act_var_t1"),
            ("gradT", "grad_var_tT"),
        ):
            vals = [f[key] for f in mine]
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
            assert g[f"{col}_mean"] == pytest.approx(mean, rel=1e-12)
            assert g[f"{col}_std"] == pytest.approx(std, rel=1e-9, abs=1e-300)
    table = runner.invoke(app, ["summarize", str(runs), "--by", "init"])
    assert (
        table.exit_code == 0
        and "note: groups also pool runs that differ in model.hidden_size" in table.stdout
    )


def test_csv_has_one_row_per_run_with_the_varied_keys(runs, tmp_path):
    out = tmp_path / "deep" / "t.csv"
    result = runner.invoke(app, ["summarize", str(runs), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    assert {
        "run",
        "status",
        "final_val_loss",
        "act_var_t1",
        "init",
        "model.hidden_size",
        "seed",
    } <= set(rows[0])
    for row in rows:
        f = facts(runs / row["run"])
        assert float(row["final_val_loss"]) == f["loss"] and row["init"] == f["init"]
        assert int(row["model.hidden_size"]) == f["h"]


def test_plot_of_final_loss_against_a_varied_key(runs, tmp_path):
    png = tmp_path / "p.png"
    result = runner.invoke(
        app, ["summarize", str(runs), "--plot", "model.hidden_size", "--plot-file", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temp file left
    for key, message in (("init", "a line per init"), ("train.lr", "takes one value"),
                         ("model.hiden_size", "did you mean 'model.hidden_size'")):  # fmt: skip
        bad = runner.invoke(app, ["summarize", str(runs), "--plot", key, "--plot-file", str(png)])
        assert bad.exit_code == 2 and message in bad.stderr, bad.stderr


def test_the_plot_title_says_which_std(runs, tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from rnninit.experiment.summarize import plot_final_loss

    titles, real = [], Axes.set_title

    def spy(self, label, *args, **kwargs):
        titles.append(label)
        return real(self, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_title", spy)
    plot_final_loss(summarize([runs]), "model.hidden_size", tmp_path / "p.png")
    assert titles == ["final val loss vs model.hidden_size (mean ± population std over runs)"]


def test_unknown_group_key_and_empty_folders_are_refused(runs, tmp_path):
    bad = runner.invoke(app, ["summarize", str(runs), "--by", "model.hiden_size"])
    assert bad.exit_code == 2 and "did you mean 'model.hidden_size'" in bad.stderr
    empty = runner.invoke(app, ["summarize", str(tmp_path)])
    assert empty.exit_code == 2 and "no run folders below" in empty.stderr
    gone = runner.invoke(app, ["summarize", str(tmp_path / "nope")])
    assert gone.exit_code == 2 and "no such folder" in gone.stderr


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_running_runs_whose_process_is_gone_are_stale(runs, tmp_path):
    src = folders(runs)[0]
    now = time.time()
    cases = {  # name -> (summary changes, status summarize must show)
        "dead": ({"pid": _dead_pid(), "host": socket.gethostname(), "updated": now}, "stale"),
        "alive": ({"pid": os.getpid(), "host": socket.gethostname(), "updated": now}, "running"),
        "alive_silent": (  # a live pid on this host is asked directly: an old heartbeat is no sign
            {"pid": os.getpid(), "host": socket.gethostname(), "updated": now - 3600},
            "running",
        ),  # fmt: skip
        "pid_reused": (  # the pid lives, but it is another process than the run's
            {
                "pid": os.getpid(),
                "pid_start": "another-boot:1",
                "host": socket.gethostname(),
                "updated": now,
            },
            "stale",
        ),  # fmt: skip
        "far_silent": ({"pid": 1, "host": "elsewhere.invalid", "updated": now - 3600}, "stale"),
        "far_fresh": ({"pid": 1, "host": "elsewhere.invalid", "updated": now}, "running"),
    }
    for name, (changes, _) in cases.items():
        dst = tmp_path / "live" / name
        shutil.copytree(src, dst)
        s = json.loads((dst / "summary.json").read_text())
        s.update(status="running", **changes)
        (dst / "summary.json").write_text(json.dumps(s))
    report = summarize([tmp_path / "live"])
    got = {Path(r["dir"]).name: r["status"] for r in report["records"]}
    assert got == {name: want for name, (_, want) in cases.items()}
    shown = runner.invoke(app, ["summarize", str(tmp_path / "live")])
    assert shown.exit_code == 0 and shown.stdout.count("stale") == 3


def test_shell_sweep_example_runs_on_tiny_sizes(tmp_path):
    corpus = tmp_path / "t.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "shell"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RNNINIT": f"{sys.executable} -m rnninit",
           "OUT": str(out), "INITS": "xavier uniform", "SIZES": "8 16", "SEEDS": "0",
           "STEPS": "3", "EXTRA": f"task.path={corpus} task.seq_len=6 train.batch_size=4 "
           "task.val_batches=1 log.stats_every=3 log.eval_every=3"}  # fmt: skip
    proc = subprocess.run(["bash", str(ROOT / "examples" / "shell_sweep.sh")], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(folders(out)) == 4
    assert "4 runs in" in proc.stdout and "by init, model.hidden_size" in proc.stdout
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["init"], r["model.hidden_size"]) for r in rows} == {
        (i, h) for i in ("xavier", "uniform") for h in ("8", "16")
    }


def test_group_steps_to_target_is_a_censored_median_not_a_survivor_mean():
    """Three seeds: two reach the target at 80 and 100, one never does in 300 steps. The mean of
    the arrivals (90) would flatter the group; the Kaplan-Meier median, written out here, is 100
    (S drops to 2/3 at 80 and to 1/3 at 100). With one arrival of three there is no median."""
    from rnninit.experiment.summarize import group

    def record(seed, reached, steps_done=300, status="completed"):
        rec = {"values": {"init": "xavier", "seed": seed}, "status": status,
               "steps_to_target": reached, "steps_done": steps_done, "diverged_at": None}  # fmt: skip
        rec.update({k: 1.0 for k in ("final_loss", "final_val_loss", "act_var_t1", "act_var_tT",
                                     "grad_var_t1", "grad_var_tT")})  # fmt: skip
        return rec

    rows, _ = group([record(0, 80), record(1, 100), record(2, None)], ["init"], ["init", "seed"])
    assert rows[0]["reached_target"] == 2 and rows[0]["steps_to_target_median"] == 100
    assert "steps_to_target_mean" not in rows[0]
    rows, _ = group([record(0, 80), record(1, None), record(2, None)], ["init"], ["init", "seed"])
    assert rows[0]["reached_target"] == 1 and rows[0]["steps_to_target_median"] is None
    # a diverged run is censored at its divergence (step 40): then 2 runs are at risk at step 80,
    # one arrives, S = 1/2 and the median is 80
    diverged = record(2, None, 40, "diverged") | {"diverged_at": 40}
    rows, _ = group([record(0, 80), record(1, None), diverged], ["init"], ["init", "seed"])
    assert rows[0]["reached_target"] == 1 and rows[0]["steps_to_target_median"] == 80
