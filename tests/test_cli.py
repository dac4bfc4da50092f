"""End to end through the command line, in temporary folders."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.experiment.runs import read_csv

runner = CliRunner()
TEXT = (
    "The quick brown fox jumps over the lazy dog. " * 40
) + "Pack my box with five dozen liquor jugs. " * 10


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def tiny(runs, corpus, *extra):
    return [
        f"log.runs_dir={runs}", f"task.path={corpus}", "task.seq_len=6", "model.hidden_size=8",
        "train.steps=6", "train.batch_size=4", "log.stats_every=3", "log.eval_every=3",
        "task.val_batches=2", *extra,
    ]  # fmt: skip


def only_run(runs: Path) -> Path:
    dirs = [d for d in runs.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_train_writes_complete_run_folder(tmp_path, corpus):
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["train", *tiny(runs, corpus, "init.Whh=orthogonal")])
    assert result.exit_code == 0, result.output
    run = only_run(runs)
    for name in ["config.yaml", "overrides.yaml", "metrics.csv", "timesteps.csv", "params.csv",
                 "summary.json", "checkpoint.npz", "plots/variance_by_timestep.png", "plots/loss.png"]:  # fmt: skip
        assert (run / name).is_file(), name
    metrics = read_csv(run / "metrics.csv")
    assert [r["step"] for r in metrics] == list(range(7))
    assert [r["val_loss"] is not None for r in metrics] == [
        True,
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    ts = read_csv(run / "timesteps.csv")
    assert sorted({r["step"] for r in ts}) == [0, 3, 6]
    assert [r["t"] for r in ts if r["step"] == 0] == list(range(1, 7))
    assert all(r["theory_act_var"] is not None for r in ts if r["step"] == 0)  # xavier/orthogonal
    assert all(r["theory_act_var"] is None for r in ts if r["step"] > 0)
    for step in (0, 3, 6):  # jac_sq at every statistics step, 1 at t = T
        jac = [r["jac_sq"] for r in ts if r["step"] == step]
        assert jac[-1] == 1.0 and all(0 < j < float("inf") for j in jac), jac
    chi = [r["theory_chi"] for r in ts if r["step"] == 0]  # theory_jac_sq_t = chi_{t+1}...chi_T
    assert [r["theory_jac_sq"] for r in ts if r["step"] == 0] == pytest.approx(
        [float(np.prod(chi[t:])) for t in range(1, 7)], rel=1e-12
    )
    assert all(r["theory_jac_sq"] is None for r in ts if r["step"] > 0)
    params = read_csv(run / "params.csv")
    assert {r["param"] for r in params} == {"Wxh", "Whh", "Why", "bh", "by"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["steps_done"] == 6
    assert summary["final_loss"] == pytest.approx(metrics[-1]["loss"])
    assert summary["best_loss"] == pytest.approx(min(r["loss"] for r in metrics))
    assert summary["init"]["Whh"]["scheme"] == "orthogonal"
    assert summary["spectral_radius"] == pytest.approx(1.0, abs=1e-9)
    assert set(summary["versions"]) == {"python", "numpy", "rnninit"}
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["hidden_size"] == 8
    assert "init.Whh=orthogonal" in yaml.safe_load((run / "overrides.yaml").read_text())
    assert "per-timestep statistics at step 0" in result.output
    assert "completed" in result.output


def _strip_seconds(path):
    rows = read_csv(path)
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_rerun_from_config_is_bit_identical(tmp_path, corpus, threads):
    """Same config, same BLAS thread count (the policy's, or train.threads as recorded)."""
    runs = tmp_path / "runs"
    given = [] if threads is None else [f"train.threads={threads}"]
    result = runner.invoke(app, ["train", *tiny(runs, corpus, "seed=3", *given)])
    assert result.exit_code == 0, result.output
    assert ("(train.threads)" in result.output) == (threads is not None)  # the header's blas line
    first = only_run(runs)
    assert yaml.safe_load((first / "config.yaml").read_text())["train"]["threads"] == threads
    again = tmp_path / "again"
    result = runner.invoke(
        app, ["train", "--config", str(first / "config.yaml"), f"log.runs_dir={again}"]
    )
    assert result.exit_code == 0, result.output
    second = only_run(again)
    assert _strip_seconds(first / "metrics.csv") == _strip_seconds(second / "metrics.csv")
    assert (first / "timesteps.csv").read_bytes() == (second / "timesteps.csv").read_bytes()
    assert (first / "params.csv").read_bytes() == (second / "params.csv").read_bytes()
    a, b = np.load(first / "checkpoint.npz"), np.load(second / "checkpoint.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("param/"))
    blas = [json.loads((d / "summary.json").read_text())["blas"] for d in (first, second)]
    assert blas[0] == blas[1]
    if threads is None:
        assert blas[0]["chosen_by"].startswith("policy: ")
    else:
        assert blas[0]["threads"] == threads and blas[0]["chosen_by"] == "train.threads"


def test_relative_paths_are_recorded_absolute_so_a_rerun_works_from_anywhere(
    tmp_path, corpus, monkeypatch
):
    """Run with relative task.path and log.runs_dir from one folder, rerun from another."""
    monkeypatch.chdir(tmp_path)
    args = tiny("runs", corpus.name)
    assert runner.invoke(app, ["train", *args]).exit_code == 0
    first = only_run(tmp_path / "runs")
    recorded = yaml.safe_load((first / "config.yaml").read_text())
    assert recorded["task"]["path"] == str(corpus) and recorded["log"]["runs_dir"] == str(
        tmp_path / "runs"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["train", "--config", str(first / "config.yaml")])
    assert result.exit_code == 0, result.output
    second = [d for d in (tmp_path / "runs").iterdir() if d != first]
    assert len(second) == 1 and not (elsewhere / "runs").exists()  # landed beside the first
    assert (first / "timesteps.csv").read_bytes() == (second[0] / "timesteps.csv").read_bytes()


def test_bad_config_exits_2_with_one_line_and_no_run_folder(tmp_path, corpus):
    runs = tmp_path / "runs"
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  hidden_size: -3\n")
    result = runner.invoke(app, ["train", "--config", str(bad), f"log.runs_dir={runs}"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad.yaml" in lines[0] and "model.hidden_size" in lines[0] and "-3" in lines[0]
    assert not runs.exists() or not any(runs.iterdir())


def test_bad_override_and_missing_corpus_exit_2(tmp_path, corpus):
    runs = tmp_path / "runs"
    r = runner.invoke(app, ["train", *tiny(runs, corpus), "model.hiden_size=3"])
    assert r.exit_code == 2 and "hidden_size" in r.stderr
    r = runner.invoke(app, ["train", *tiny(runs, corpus), f"task.path={tmp_path / 'nope.txt'}"])
    assert r.exit_code == 2 and "nope.txt" in r.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_divergence_is_an_outcome_not_an_error(tmp_path, corpus):
    runs = tmp_path / "runs"
    args = tiny(runs, corpus, "init=uniform", "model.nonlinearity=relu", "model.hidden_size=256",
                "task.seq_len=40", "train.dtype=float32")  # fmt: skip
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    summary = json.loads((only_run(runs) / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["diverged_at"] == 0
    assert "diverged at step 0" in result.output


def test_adding_task_irnn(tmp_path):
    runs = tmp_path / "runs"
    args = [f"log.runs_dir={runs}", "task.name=adding", "task.seq_len=10", "model.hidden_size=8",
            "model.nonlinearity=relu", "init.Whh=identity", "train.steps=4", "log.stats_every=2"]  # fmt: skip
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    summary = json.loads((only_run(runs) / "summary.json").read_text())
    assert summary["chance"] == pytest.approx(1 / 6)
    assert summary["loss_kind"] == "mse"


def test_show_rerenders_from_folder(tmp_path, corpus):
    runs = tmp_path / "runs"
    assert runner.invoke(app, ["train", *tiny(runs, corpus)]).exit_code == 0
    result = runner.invoke(app, ["show", str(only_run(runs))])
    assert result.exit_code == 0, result.output
    assert "per-timestep statistics at step 0" in result.output
    assert "per-timestep statistics at step 6" in result.output
    assert "jac_sq, log" in result.output  # the log-bar column of the gradient through time
    assert "completed" in result.output
    assert runner.invoke(app, ["show", str(tmp_path)]).exit_code == 2


def test_the_timestep_table_has_a_jac_sq_log_bar_column_and_omits_it_for_older_folders():
    from rich.console import Console

    from rnninit.report.terminal import timestep_table

    def render(ts):
        console = Console(record=True, width=250)
        console.print(timestep_table(ts, 0))
        return console.export_text()

    ts = {c: np.full(3, 0.1) for c in ("act_var", "grad_var", "grad_norm", "saturation")}
    ts["jac_sq"] = np.array([1e-6, 1e-3, 1.0])
    ts["theory"] = {"act_var": np.full(3, 0.1), "jac_sq": np.array([2e-6, 2e-3, 1.0])}
    text = render(ts)
    assert "jac_sq, log" in text and "2.00e-06" in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    bars = [line.rsplit("│", 2)[1].strip() for line in rows]  # the last column: jac_sq's bars
    assert bars[2] == "█" * 14 and 0 < len(bars[0]) < len(bars[1]) < 14, bars
    ts["jac_sq"] = np.full(3, np.nan)  # a folder written before jac_sq
    assert "jac_sq" not in render(ts)


def test_inits_lists_every_scheme():
    from rnninit.core.inits import SCHEMES

    result = runner.invoke(app, ["inits", "--shape", "64", "64"])
    assert result.exit_code == 0, result.output
    for name in SCHEMES:
        assert name in result.output


def test_help_teaches():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "model.hidden_size" in result.output and "KEY=VALUE" in result.output


def test_console_script_runs_as_module(tmp_path, corpus):
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "rnninit", "train", *tiny(runs, corpus)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "step" in proc.stdout  # plain progress lines when stdout is not a terminal
    proc = subprocess.run(
        [sys.executable, "-m", "rnninit", "train", "model.hidden_size=0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def flat(text: str) -> str:
    """Text with every run of whitespace made one space (rich wraps titles and captions)."""
    return " ".join(text.split())


def theory_rows(output: str) -> dict[str, list[str]]:
    """scheme -> the cells of its row in the theory table of `rnninit inits` (scheme, σw², in,
    q*, χ*, ξ, regime)."""
    rows = {}
    for line in output.split("mean-field theory of the recurrence")[1].splitlines():
        if line.startswith("│ "):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def test_inits_theory_columns():
    tanh = theory_rows(runner.invoke(app, ["inits", "--shape", "32", "32"]).output)
    assert tanh["xavier"][-1] == "critical"  # s_w2 = 1: chi = 1 at q* = 0
    assert tanh["small"][-1] == "ordered"
    assert tanh["uniform"][-1] == "—"  # non-zero mean: no prediction
    relu = theory_rows(runner.invoke(app, ["inits", "--shape", "32", "32", "-n", "relu"]).output)
    assert relu["he"][-1] == "critical"  # s_w2 = 2: chi = s_w2 / 2 = 1
    assert relu["xavier"][-1] == "ordered"
    bad = runner.invoke(app, ["inits", "-n", "sigmoid"])
    assert bad.exit_code == 2 and "tanh, relu, linear" in bad.stderr


@pytest.mark.parametrize("nonlinearity", ["linear", "tanh", "relu"])
def test_inits_one_ulp_gives_xavier_and_orthogonal_the_same_theory(nonlinearity):
    """512 * (1/sqrt(512))^2 = 1.0000000000000002 for xavier, 1 for orthogonal."""
    result = runner.invoke(app, ["inits", "--shape", "512", "512", "-n", nonlinearity])
    assert result.exit_code == 0, result.output
    rows = theory_rows(result.output)
    assert rows["xavier"][1:] == rows["orthogonal"][1:]  # σw², in, q*, χ*, ξ, regime
    assert rows["xavier"][3] == "0"  # q*: not inf (linear) or 4.5e-13 (tanh)
    assert "|χ* - 1| <= 0.001" in flat(result.output) and "1e-09 of 1" in flat(result.output)


def test_inits_driven_by_a_task_or_by_stated_variances():
    plain = runner.invoke(app, ["inits", "--shape", "64", "64"]).output
    assert "without input or bias" in flat(plain)
    result = runner.invoke(app, ["inits", "--shape", "64", "64", "--task", "adding"])
    assert result.exit_code == 0, result.output
    assert "driven by the adding task's inputs" in flat(result.output)
    rows = theory_rows(result.output)
    # E[v^2 + m] / I = (1/3 + 2/25) / 2 = 0.207 for xavier's Wxh (I Var = 1); chi* about 0.6
    assert abs(float(rows["xavier"][2]) - 0.207) < 0.01
    assert rows["xavier"][-1] == "ordered" and abs(float(rows["xavier"][4]) - 0.60) < 0.02
    copy = theory_rows(
        runner.invoke(app, ["inits", "--shape", "64", "64", "--task", "copy"]).output
    )
    assert copy["xavier"][2] == "0.1"  # one-hot over I = 10: Var(Wxh) = 1/10
    stated = runner.invoke(
        app, ["inits", "--shape", "64", "64", "--input-var", "0.3", "--bias-var", "0.1"]
    )
    assert "driven by input variance 0.3 per step and bias variance 0.1" in flat(stated.output)
    rows = theory_rows(stated.output)
    assert rows["xavier"][2] == "0.3" and rows["xavier"][-1] == "ordered"
    for args, message in [(["--task", "adding", "--input-var", "0.1"], "not both"),
                          (["--task", "mnist"], "char, adding, copy"),
                          (["--input-var", "-1"], "--input-var"),
                          (["--bias-var", "nan"], "--bias-var")]:  # fmt: skip
        bad = runner.invoke(app, ["inits", "--shape", "16", "16", *args])
        assert bad.exit_code == 2 and message in bad.stderr, (args, bad.output)


def test_show_and_summarize_on_what_is_not_a_run_folder_say_so_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    half = tmp_path / "half"
    half.mkdir()
    (half / "summary.json").write_text("{}")
    cases = [
        (["show", str(empty)], "not a run folder (no summary.json)"),
        (["show", str(tmp_path / "nonexistent")], "no such folder"),
        (["show", str(text)], "not a folder"),
        (["show", str(half)], "not a run folder (no config.yaml)"),
        (["summarize", str(empty)], "no run folders below"),
        (["summarize", str(text)], "not a folder"),
    ]
    for args, said in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and said in result.stderr, (args, result.stderr)
        assert "cannot write" not in result.stderr


def test_an_os_error_is_reported_as_what_happened(capsys):
    import errno

    import typer

    from rnninit.cli.common import handled

    for err, said in [
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "a/b.csv"),
         "rnninit: cannot access 'a/b.csv': No such file or directory"),
        (PermissionError(errno.EACCES, "Permission denied", "a/c.csv"),
         "rnninit: cannot access 'a/c.csv': Permission denied"),
        (OSError(errno.ENOSPC, "No space left on device", "a/d.csv"),
         "rnninit: cannot write 'a/d.csv': No space left on device"),
    ]:  # fmt: skip
        with pytest.raises(typer.Exit) as exit_info, handled():
            raise err
        assert exit_info.value.exit_code == 1
        assert capsys.readouterr().err.strip() == said


def _closed_pipe(args, timeout=300):
    """Run rnninit with its stdout a pipe whose reader is already gone (`... | head -0`)."""
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "rnninit", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return proc.wait(timeout=timeout), err


def test_a_closed_pipe_ends_quietly_with_exit_0(tmp_path, corpus):
    runs = tmp_path / "runs"
    assert runner.invoke(app, ["train", *tiny(runs, corpus)]).exit_code == 0
    run = only_run(runs)
    for args in (["inits", "--shape", "16", "16"], ["show", str(run)], ["summarize", str(runs)],
                 ["summarize", "--json", str(runs)],
                 ["compare", "xavier", "he", *tiny(tmp_path / "cmp", corpus)]):  # fmt: skip
        code, err = _closed_pipe(args)
        assert (code, err) == (0, ""), args


def test_head_1_of_inits_in_a_shell_pipeline_exits_0_quietly():
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    line = f"{sys.executable} -m rnninit inits --shape 16 16 | head -1 >/dev/null"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")
