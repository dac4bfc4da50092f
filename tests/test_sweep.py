"""`rnninit sweep`: expansion, stable ids, validation, shards, failures, resume, Ctrl-C, Dask."""

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.errors import RnnInitError
from rnninit.experiment.sweep import load_sweep, parse_shard, select_shard, shard_from_env
from rnninit.experiment.workers import LocalExecutor

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
TEXT = "the cat sat on the mat and the dog sat on the log; " * 40


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def base(tmp_path, corpus, steps=4):
    return {
        "task": {"path": str(corpus), "seq_len": 6, "val_batches": 1},
        "model": {"hidden_size": 8},
        "train": {"steps": steps, "batch_size": 4},
        "log": {"stats_every": 2, "eval_every": 2, "runs_dir": str(tmp_path / "runs")},
    }


def write_sweep(tmp_path, body: dict, name="s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


# ---------------------------------------------------------------------------------------------
# The sweep file
# ---------------------------------------------------------------------------------------------
def test_grid_is_the_cross_product_zip_pairs_and_seeds_count(tmp_path, corpus):
    inits, sizes, lrs, steps = ["xavier", "uniform", "he"], [8, 16], [0.01, 0.02], [3, 4]
    path = write_sweep(tmp_path, {
        "base": {**base(tmp_path, corpus), "seed": 5},
        "grid": {"init": inits, "model.hidden_size": sizes},
        "zip": {"train.lr": lrs, "train.steps": steps},
        "seeds": 2,
    })  # fmt: skip
    sw = load_sweep(path)
    assert len(sw.runs) == 3 * 2 * 2 * 2
    got = {(r.config.init, r.config.model.hidden_size, r.config.train.lr,
            r.config.train.steps, r.config.seed) for r in sw.runs}  # fmt: skip
    want = {(i, h, lr, st, s) for i, h, (lr, st), s
            in itertools.product(inits, sizes, zip(lrs, steps), [5, 6])}  # fmt: skip
    assert got == want  # zip pairs stay paired; seeds count from the base's seed
    assert sw.keys == ["init", "model.hidden_size", "train.lr", "train.steps", "seed"]
    assert sw.name == "s" and sw.root == tmp_path / "runs" / "sweeps" / "s"
    # the base's other values reach every run
    assert {r.config.task.seq_len for r in sw.runs} == {6}


def test_base_file_relative_to_the_sweep_file_and_seed_list(tmp_path, corpus):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "b.yaml").write_text(yaml.safe_dump(base(tmp_path, corpus)))
    (tmp_path / "configs" / "sweeps").mkdir()
    path = write_sweep(tmp_path / "configs" / "sweeps", {
        "name": "x", "base": "../b.yaml", "grid": {"init.Whh": ["orthogonal", "identity"]},
        "seeds": [3, 11]})  # fmt: skip
    sw = load_sweep(path)
    assert sorted(r.config.seed for r in sw.runs) == [3, 3, 11, 11]
    assert {r.config.model.hidden_size for r in sw.runs} == {8}
    assert {r.config.init["Whh"] for r in sw.runs} == {"orthogonal", "identity"}


def test_the_example_sweep_is_init_vs_width():
    sw = load_sweep(ROOT / "configs" / "sweeps" / "init_vs_width.yaml")
    assert len(sw.runs) == 4 * 5 * 3
    assert {r.config.init for r in sw.runs} == {"xavier", "uniform", "he", "orthogonal"}
    assert {r.config.model.hidden_size for r in sw.runs} == {32, 64, 128, 256, 512}
    assert {r.config.seed for r in sw.runs} == {0, 1, 2}
    quick = load_sweep(ROOT / "examples" / "quick_sweep.yaml")
    assert len(quick.runs) == 2 * 2 * 2 and quick.root == Path("runs/sweeps/quick")


def test_run_ids_are_stable_readable_and_ignore_runs_dir(tmp_path, corpus):
    body = {"base": base(tmp_path, corpus), "grid": {"init": ["xavier", "he"],
            "model.hidden_size": [8, 16]}, "seeds": 2}  # fmt: skip
    path = write_sweep(tmp_path, body)
    ids = [r.id for r in load_sweep(path).runs]
    assert ids == [r.id for r in load_sweep(path).runs]  # same sweep, same folders
    assert len(set(ids)) == len(ids) == 8
    assert "init=he,hidden_size=16,seed=1-" in ids[-1]
    # in a fresh interpreter with another hash seed: the same ids
    code = ("import json,sys; from rnninit.experiment.sweep import load_sweep; "
            "print(json.dumps([r.id for r in load_sweep(sys.argv[1]).runs]))")  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert json.loads(out) == ids
    # where runs go is not part of the id; what they compute is
    moved = load_sweep(path, [f"log.runs_dir={tmp_path / 'elsewhere'}"])
    assert [r.id for r in moved.runs] == ids and moved.root.parent.parent.name == "elsewhere"
    longer = [r.id for r in load_sweep(path, ["train.steps=5"]).runs]
    assert not set(longer) & set(ids)
    assert [i.rsplit("-", 1)[0] for i in longer] == [i.rsplit("-", 1)[0] for i in ids]


BAD = [
    ({"grid": {}}, "grid: expected a mapping of dotted keys to non-empty lists, got an empty mapping"),
    ({}, "grid: missing"),
    ({"grid": {"model.hidden_sise": [8]}}, "did you mean 'hidden_size'"),
    ({"grid": {"modle.hidden_size": [8]}}, "modle.hidden_size: unknown key"),
    ({"grid": {"model.hidden_size": 8}}, "model.hidden_size: expected a non-empty list of values, got 8"),
    ({"grid": {"model.hidden_size": []}}, "expected a non-empty list of values, got an empty list"),
    ({"grid": {"model.hidden_size": [8, -3]}}, "model.hidden_size: expected a positive integer, got -3"),
    ({"grid": {"model.hidden_size": [8, 8]}}, "8 is listed twice"),
    ({"grid": {"init": ["xavier", "xavir"]}}, "xavir"),
    ({"grid": {"init": ["xavier"], "init.Whh": ["orthogonal"]}}, "init.Whh: also varied as init"),
    ({"grid": {"log.runs_dir": ["a", "b"]}}, "set log.runs_dir in base"),
    ({"zip": {"train.lr": [0.1, 0.2], "train.steps": [1]}}, "zip: expected lists of one length, got train.lr has 2, train.steps has 1"),
    ({"grid": {"train.lr": [0.1]}, "zip": {"train.lr": [0.2]}}, "train.lr: also varied as train.lr"),
    ({"grid": {"seed": [1, 2]}, "seeds": 2}, "the grid already varies seed"),
    ({"grid": {"train.lr": [0.1]}, "seeds": 0}, "seeds: expected a positive count"),
    ({"grid": {"train.lr": [0.1]}, "seeds": [1, -1]}, "seeds: expected a positive count"),
    ({"gird": {"train.lr": [0.1]}}, "gird: unknown key, did you mean 'grid'?"),
    ({"grid": {"train.lr": [0.1]}, "name": "a b"}, "name: expected a run name"),
    ({"grid": {"train.lr": [0.1]}, "base": "missing.yaml"}, "missing.yaml: no such file"),
    ({"grid": {"train.lr": [0.1]}, "base": {"model": {"hidden_size": 0}}}, "base: model.hidden_size: expected a positive integer, got 0"),
]  # fmt: skip


@pytest.mark.parametrize("body, message", BAD)
def test_bad_sweep_files_are_refused_with_one_line_and_exit_2(tmp_path, body, message):
    path = write_sweep(tmp_path, body)
    with pytest.raises(RnnInitError) as err:
        load_sweep(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "runs").exists()


def test_duplicate_keys_and_overrides_of_varied_keys_are_refused(tmp_path, corpus):
    path = tmp_path / "d.yaml"
    path.write_text("grid:\n  train.lr: [0.1]\n  train.lr: [0.2]\n")
    with pytest.raises(RnnInitError, match=r"train.lr: duplicate key \(line 3, first at line 2\)"):
        load_sweep(path)
    ok = write_sweep(tmp_path, {"base": base(tmp_path, corpus), "grid": {"init": ["xavier"]}})
    with pytest.raises(RnnInitError, match="init is varied by the sweep"):
        load_sweep(ok, ["init.Whh=orthogonal"])


# ---------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------
def test_shards_cover_the_sweep_once_balanced_and_deterministic(tmp_path, corpus):
    path = write_sweep(tmp_path, {"base": base(tmp_path, corpus), "grid": {
        "init": ["xavier", "uniform", "he"], "model.hidden_size": [8, 64, 512]}, "seeds": 3})  # fmt: skip
    runs = load_sweep(path).runs
    every = [r.id for r in runs]
    for count in (1, 2, 4, 5, 7, 27, 30):
        shards = [[r.id for r in select_shard(runs, k, count)] for k in range(count)]
        flat = [i for s in shards for i in s]
        assert sorted(flat) == sorted(every)  # union = the sweep, and no run twice
        assert len(flat) == len(set(flat))
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1  # balanced in count
        for s in shards:  # each shard keeps sweep order
            assert s == [i for i in every if i in s]
        again = [
            [r.id for r in select_shard(load_sweep(path).runs, k, count)] for k in range(count)
        ]
        assert again == shards
    # balanced in work too: with 3 shards each gets three of the nine H = 512 runs
    for k in range(3):
        assert sum(r.config.model.hidden_size == 512 for r in select_shard(runs, k, 3)) == 3


def test_shard_arguments_and_slurm_variables():
    assert parse_shard("3/16") == (2, 16) and parse_shard("16/16") == (15, 16)
    for bad in ("0/16", "17/16", "3", "a/b", "-1/4"):
        with pytest.raises(RnnInitError, match="--shard: expected K/N with 1 <= K <= N"):
            parse_shard(bad)
    assert shard_from_env({}) is None
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8"}
    assert shard_from_env(env) == (5, 8)
    assert shard_from_env({**env, "SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_MIN": "1"}) == (
        7,
        8,
    )
    stepped = {"SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_COUNT": "4",
               "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"}  # fmt: skip
    assert shard_from_env(stepped) == (3, 4)
    with pytest.raises(RnnInitError, match="SLURM array variables"):
        shard_from_env({**env, "SLURM_ARRAY_TASK_ID": "8"})


def test_dry_run_lists_the_shard_slurm_gives_and_writes_nothing(tmp_path, corpus, monkeypatch):
    path = write_sweep(tmp_path, {"base": base(tmp_path, corpus),
                                  "grid": {"model.hidden_size": [8, 16, 32]}, "seeds": 2})  # fmt: skip
    runs = load_sweep(path).runs
    whole = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert whole.exit_code == 0 and all(r.id in whole.stdout for r in runs)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    part = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert part.exit_code == 0, part.output
    mine = {r.id for r in select_shard(runs, 1, 4)}
    assert {r.id for r in runs if r.id in part.stdout} == mine and "shard 2/4 of 6" in part.stdout
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------
# Running: failures, resume, workers
# ---------------------------------------------------------------------------------------------
def test_a_failed_run_stops_nothing_exit_1_then_resume_reruns_only_the_rest(tmp_path, corpus):
    missing = tmp_path / "later.txt"
    path = write_sweep(tmp_path, {"name": "f", "base": base(tmp_path, corpus),
                                  "grid": {"task.path": [str(corpus), str(missing)]}, "seeds": 2})  # fmt: skip
    sw = load_sweep(path)
    result = runner.invoke(app, ["sweep", str(path), "--jobs", "2"])
    assert result.exit_code == 1, result.output
    assert "2 of 4 runs failed" in result.stderr
    good = [r for r in sw.runs if r.config.task.path == str(corpus)]
    bad = [r for r in sw.runs if r.config.task.path == str(missing)]
    for r in good:
        assert summary(sw.run_dir(r))["status"] == "completed"
    for r in bad:
        s = summary(sw.run_dir(r))
        assert s["status"] == "failed" and "no such file" in s["error"]
        assert f"failed {r.id}: task.path" in result.stdout  # the failures, one line each
        assert (sw.run_dir(r) / "config.yaml").is_file()
    assert (sw.root / "sweep.csv").is_file() and (sw.root / "sweep.json").is_file()
    # without --resume the existing folders are refused
    again = runner.invoke(app, ["sweep", str(path)])
    assert again.exit_code == 2 and "--resume" in again.stderr
    before = {r.id: ((sw.run_dir(r) / "summary.json").stat().st_mtime_ns,
                     (sw.run_dir(r) / "summary.json").read_text()) for r in good}  # fmt: skip
    missing.write_text(TEXT)
    resumed = runner.invoke(app, ["sweep", str(path), "--resume", "--jobs", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert "skipping 2 runs: 2 completed" in resumed.stdout
    for r in good:  # untouched: not a byte rewritten
        p = sw.run_dir(r) / "summary.json"
        assert (p.stat().st_mtime_ns, p.read_text()) == before[r.id]
    assert all(summary(sw.run_dir(r))["status"] == "completed" for r in bad)
    nothing = runner.invoke(app, ["sweep", str(path), "--resume"])
    assert nothing.exit_code == 0 and "nothing to run" in nothing.stdout


def test_a_diverged_run_is_an_outcome_and_the_sweep_exits_0(tmp_path, corpus):
    body = base(tmp_path, corpus)
    body["train"]["dtype"] = "float32"
    path = write_sweep(tmp_path, {"name": "dv", "base": body, "zip": {  # relu on U[0,1): inf at once
        "init": ["xavier", "uniform"], "model.nonlinearity": ["tanh", "relu"],
        "model.hidden_size": [8, 64], "task.seq_len": [6, 30]}})  # fmt: skip
    sw = load_sweep(path)
    result = runner.invoke(app, ["sweep", str(path), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert [summary(sw.run_dir(r))["status"] for r in sw.runs] == ["completed", "diverged"]
    assert f"diverged {sw.runs[1].id} at step 0" in result.stdout
    assert "1 completed, 1 diverged, 0 failed" in result.stdout


def test_workers_get_one_blas_thread_and_the_parent_keeps_its_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    with LocalExecutor(2, blas_threads=1) as ex:
        got = [ex.pool.submit(os.getenv, n).result(timeout=60) for n in names]
        pids = {ex.pool.submit(os.getpid).result(timeout=60) for _ in range(4)}
    assert got == ["1", "1", "1"]
    assert os.getpid() not in pids
    assert os.environ["OPENBLAS_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


def _fail(text):
    raise ValueError(text)


def test_call_all_runs_plain_calls_in_the_workers_in_order_and_raises_their_errors():
    with LocalExecutor(2, blas_threads=1) as ex:
        got = ex.call_all([(divmod, (7, 2), {}), (os.getpid, (), {}), (int, ("ff",), {"base": 16})])
        with pytest.raises(ValueError, match="drawn wrong"):
            ex.call_all([(os.getpid, (), {}), (_fail, ("drawn wrong",), {})])
    assert got[0] == (3, 1) and got[2] == 255 and got[1] != os.getpid()


def _wait_for(cond, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("timed out")


def _status(run_dir: Path):
    try:
        return summary(run_dir)["status"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_ctrl_c_stops_the_sweep_and_resume_finishes_without_redoing(tmp_path, corpus):
    # one short run, one long one, one short: Ctrl-C while the long one runs
    body = base(tmp_path, corpus)
    body["log"].update(stats_every=1000, eval_every=500)
    path = write_sweep(tmp_path, {"name": "c", "base": body,
                                  "zip": {"train.steps": [3, 4000, 4]}})  # fmt: skip
    first, long, last = (load_sweep(path).run_dir(r) for r in load_sweep(path).runs)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rnninit", "sweep", str(path), "--jobs", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    _wait_for(lambda: _status(first) == "completed" and (long / "metrics.csv").is_file()
              and len((long / "metrics.csv").read_text().splitlines()) > 20, proc)  # fmt: skip
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert _status(long) == "interrupted" and summary(long)["steps_done"] < 4000
    assert _status(last) is None  # never started
    stamp = (first / "summary.json").stat().st_mtime_ns
    again = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (first / "summary.json").stat().st_mtime_ns == stamp
    assert [_status(d) for d in (first, long, last)] == ["completed"] * 3
    assert summary(long)["steps_done"] == 4000


def test_dask_local_cluster_end_to_end(tmp_path, corpus):
    distributed = pytest.importorskip("distributed")
    from rnninit.experiment.training import train

    path = write_sweep(tmp_path, {"name": "d", "base": base(tmp_path, corpus),
                                  "grid": {"init": ["xavier", "uniform"]}, "seeds": 2})  # fmt: skip
    sw = load_sweep(path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        with distributed.Client(cluster) as client:
            worker_pids = set(client.run(os.getpid).values())
        result = runner.invoke(app, ["sweep", str(path), "--executor", "dask",
                                     "--scheduler", cluster.scheduler_address])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Dask at tcp://" in result.stdout
    pids = set()
    for r in sw.runs:
        s = summary(sw.run_dir(r))
        assert s["status"] == "completed"
        pids.add(s["pid"])
    assert pids <= worker_pids and os.getpid() not in pids  # ran in the cluster's processes
    # and the numbers are those of the same config trained here
    here = train(sw.runs[0].config, write=False)
    assert summary(sw.run_dir(sw.runs[0]))["final_loss"] == here["final_loss"]


def test_dask_without_a_scheduler_address_is_refused_off_dask(tmp_path, corpus):
    path = write_sweep(tmp_path, {"base": base(tmp_path, corpus), "grid": {"init": ["he"]}})
    bad = runner.invoke(app, ["sweep", str(path), "--scheduler", "tcp://x:1"])
    assert bad.exit_code == 2 and "only with --executor dask" in bad.stderr


# ---------------------------------------------------------------------------------------------
# The SLURM example, as two array tasks at once
# ---------------------------------------------------------------------------------------------
def test_slurm_example_two_array_tasks_share_the_sweep(tmp_path, corpus):
    path = write_sweep(tmp_path, {"name": "sl", "base": base(tmp_path, corpus),
                                  "grid": {"init": ["xavier", "he", "uniform"]}, "seeds": 2})  # fmt: skip
    sw = load_sweep(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RNNINIT": f"{sys.executable} -m rnninit",
           "SWEEP": str(path), "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0",
           "SLURM_CPUS_PER_TASK": "1"}  # fmt: skip
    procs = [subprocess.Popen(["bash", str(ROOT / "examples" / "slurm_array.sh")],
                              env={**env, "SLURM_ARRAY_TASK_ID": str(k)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ran = [{r.id for r in sw.runs if f"completed {r.id}" in out} for out, _ in outs]
    assert ran[0] and ran[1] and not ran[0] & ran[1]
    assert ran[0] | ran[1] == {r.id for r in sw.runs}
    assert all(_status(sw.run_dir(r)) == "completed" for r in sw.runs)


def test_the_resume_hint_repeats_overrides_and_options_quoted_for_the_shell(tmp_path, corpus):
    import shlex

    from rnninit.cli import sweep_cmds

    spaced = tmp_path / "my corpus's text.txt"  # a space and a quote: both need quoting
    spaced.write_text(TEXT)
    path = write_sweep(tmp_path, {"name": "h", "base": base(tmp_path, corpus),
                                  "grid": {"init": ["xavier", "he"]}})  # fmt: skip
    overrides = [f"task.path={spaced}", "train.lr=0.02"]
    ids = {r.id for r in load_sweep(path, overrides).runs}
    assert ids.isdisjoint(r.id for r in load_sweep(path).runs)  # overrides change the run ids

    @contextlib.contextmanager
    def stop_at_once():
        yield lambda: True

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep_cmds, "graceful_stop", stop_at_once)
        first = runner.invoke(app, ["sweep", str(path), *overrides, "--jobs", "1",
                                    "--blas-threads", "2"])  # fmt: skip
    assert first.exit_code == 130, first.output
    hint = first.stderr.strip().split("finish with: ", 1)[1]
    words = shlex.split(hint)
    assert words[:2] == ["rnninit", "sweep"] and "--resume" in words
    assert words[2:5] == [str(path), *overrides]
    assert words[5:] == ["--resume", "--jobs", "1", "--blas-threads", "2"]
    again = runner.invoke(app, words[1:])  # pasted into a shell: the same sweep, finished
    assert again.exit_code == 0, again.output
    root = tmp_path / "runs" / "sweeps" / "h"
    assert {d.name for d in root.iterdir() if d.is_dir() and d.name != "plots"} == ids
    assert all(summary(root / i)["status"] == "completed" for i in ids)


def test_resume_command_quotes_and_leaves_out_defaults():
    import shlex

    from rnninit.cli.sweep_cmds import resume_command

    plain = resume_command(Path("s.yaml"), [], jobs=None, shard=None, executor="local",
                           scheduler=None, blas_threads=1)  # fmt: skip
    assert plain == "rnninit sweep s.yaml --resume"
    full = resume_command(Path("my sweeps/s.yaml"), ["name=a b", "init.Whh=orthogonal:1.1"],
                          jobs=4, shard="3/16", executor="dask", scheduler="tcp://h:8786",
                          blas_threads=2)  # fmt: skip
    assert shlex.split(full) == ["rnninit", "sweep", "my sweeps/s.yaml", "name=a b",
                                 "init.Whh=orthogonal:1.1", "--resume", "--jobs", "4", "--shard",
                                 "3/16", "--executor", "dask", "--scheduler", "tcp://h:8786",
                                 "--blas-threads", "2"]  # fmt: skip
