"""The init scheme `critical` (init.Whh=critical): the gain a run solves, checked against
critical_gain on variances computed here by hand; the run's record and an exact rerun; the
gradient factor per step it delivers in a wide network; its refusals, one line each."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.core.critical import critical_gain
from rnninit.core.engine import bptt
from rnninit.core.tasks import make_task
from rnninit.experiment.compare import compare
from rnninit.experiment.config import load_config
from rnninit.experiment.training import prepare, train

runner = CliRunner()


def first_batches_x_sq(task_name: str, seq_len: int, seed: int, batch_size: int, n: int = 4):
    """mean ||x_t||^2 / I over the first n training batches of a run with this seed, drawn here
    from the run's data stream (the second child of SeedSequence(seed).spawn(3))."""
    task = make_task(task_name, seq_len=seq_len, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[1])
    xs = [task.sample(rng, batch_size).x for _ in range(n)]  # each (T, B, I)
    sq = [float((x**2).sum(axis=2).mean()) for x in xs]  # mean over t and b of ||x_t[b]||^2
    return sum(sq) / n / task.input_size


def test_a_run_solves_the_gain_critical_gain_gives_for_its_own_drive():
    H, seed, B = 24, 3, 16
    cfg = load_config(None, ["task.name=adding", "task.seq_len=30", f"seed={seed}",
                             f"train.batch_size={B}", f"model.hidden_size={H}",
                             "init.Whh=critical", "init.Wxh=xavier:0.8", "init.bh=small:20"])  # fmt: skip
    setup = prepare(cfg)
    bias_var = (0.01 * 20) ** 2  # small at gain G: N(0, (0.01 G)^2)
    I = 2  # adding: (value, marker)
    input_var = I * (0.8**2 / I) * first_batches_x_sq("adding", 30, seed, B)  # I Var(Wxh) x_sq
    expected = critical_gain("tanh", bias_var, input_var)
    solve = setup.critical
    assert solve["bias_var"] == pytest.approx(bias_var, rel=1e-12)
    assert solve["input_var"] == pytest.approx(input_var, rel=1e-12)
    assert solve["gain"] == pytest.approx(expected.gain, rel=1e-12)
    assert solve["chi_star"] == pytest.approx(1.0, abs=1e-9)
    assert setup.spec.per_param["Whh"] == ("xavier", solve["gain"])
    assert setup.config.init["Whh"] == {"scheme": "xavier", "gain": solve["gain"]}
    # the drawn Whh has the solved variance g^2 / H (one draw: within sampling error)
    assert H * setup.params["Whh"].var() == pytest.approx(expected.s_w2, rel=0.15)


def test_a_task_run_at_the_default_config_agrees_with_rnninit_critical_task():
    solve = prepare(load_config(None, ["task.name=adding", "init.Whh=critical"])).critical
    result = runner.invoke(app, ["critical", "--task", "adding", "--json"])
    assert result.exit_code == 0, result.output
    assert solve["gain"] == pytest.approx(json.loads(result.stdout)["gain"], rel=1e-14)


def metrics_without_time(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_a_critical_run_records_the_solved_draw_and_reruns_bit_for_bit(tmp_path):
    runs = tmp_path / "runs"
    typed = ["task.name=adding", "task.seq_len=12", "model.hidden_size=16", "train.steps=4",
             "train.batch_size=8", "log.stats_every=2", f"log.runs_dir={runs}", "init.Whh=critical"]  # fmt: skip
    first = train(load_config(None, typed), overrides=typed)
    run = Path(first["run_dir"])
    recorded = yaml.safe_load((run / "config.yaml").read_text())["init"]
    assert recorded["Whh"] == {"scheme": "xavier", "gain": first["critical"]["gain"]}
    assert "init.Whh=critical" in yaml.safe_load((run / "overrides.yaml").read_text())
    solve = json.loads((run / "summary.json").read_text())["critical"]
    assert solve["scheme"] == "critical" and solve["draw"] == "xavier"
    for key in ("gain", "s_w2", "q_star", "chi_star", "input_var", "bias_var"):
        assert math.isfinite(solve[key]), key
    again = train(load_config(run / "config.yaml"))
    assert metrics_without_time(run) == metrics_without_time(Path(again["run_dir"]))
    assert "critical" not in again  # the rerun draws xavier at the recorded gain


@pytest.mark.parametrize("overrides, fragments", [
    (["model.nonlinearity=relu", "init.bh=small:10"], ["init.Whh", "relu", "No critical gain"]),
    (["model.cell=lstm"], ["init.Whh", "critical", "lstm", "mean-field"]),
    (["init.Wxh=critical"], ["init.Wxh", "critical", "write Whh=critical"]),
])  # fmt: skip
def test_refusals_are_one_line_and_exit_2_before_any_file(tmp_path, overrides, fragments):
    runs = tmp_path / "runs"
    args = ["train", "task.name=adding", "train.steps=1", "model.hidden_size=8",
            f"log.runs_dir={runs}", "init.Whh=critical", *overrides]  # fmt: skip
    if "init.Wxh=critical" in overrides:
        args.remove("init.Whh=critical")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not runs.exists()


def late_factor(overrides: list[str], T: int = 40, H: int = 1024, t0: int = 15) -> float:
    """The geometric mean of jac_sq_t / jac_sq_(t+1) over t = t0+1..T-1 (1-based), after one
    forward and backward at init of a tanh network on adding (the state settled at q* by t0)."""
    cfg = load_config(None, ["task.name=adding", f"task.seq_len={T}", f"model.hidden_size={H}",
                             "train.batch_size=16", "init.bh=small:10", *overrides])  # fmt: skip
    setup = prepare(cfg)
    batch = setup.task.sample(np.random.default_rng(5), 16)
    res = bptt(setup.params, batch.x, batch.y, batch.mask, None, "tanh", setup.task.loss,
               stats=True, probe_rng=np.random.default_rng(6))  # fmt: skip
    jac = res.timesteps["jac_sq"]  # (T,): jac_sq at t = 1..T, 1 at t = T
    return float((jac[t0] / jac[T - 1]) ** (1 / (T - 1 - t0)))


def test_the_measured_gradient_factor_per_step_is_one_at_the_solved_gain():
    """At H = 1024, with a small bias (variance 0.01) and adding's inputs, the measured factor
    per step is within 5% of 1 at the solved gain, and clearly below at xavier's gain 1 (so the
    check is not vacuous)."""
    critical = late_factor(["init.Whh=critical"])
    assert critical == pytest.approx(1.0, abs=0.05), critical
    assert late_factor(["init.Whh=xavier"]) < 0.9


def test_compare_critical_against_xavier_end_to_end(tmp_path):
    cfg = load_config(None, ["task.name=adding", "task.seq_len=10", "model.hidden_size=8",
                             "train.steps=2", "train.batch_size=4", f"log.runs_dir={tmp_path}"])  # fmt: skip
    report = compare(cfg, ["Whh=critical", "Whh=xavier"])
    summaries = {label: agg["runs"][0]["summary"] for label, agg in report["inits"].items()}
    assert set(summaries) == {"Whh-critical", "Whh-xavier"}  # labels: = becomes -
    crit, xav = summaries["Whh-critical"], summaries["Whh-xavier"]
    assert crit["status"] == xav["status"] == "completed"
    assert crit["critical"]["gain"] > 1.2
    assert crit["init"]["Whh"]["gain"] == crit["critical"]["gain"]
    assert "critical" not in xav and xav["init"]["Whh"] == {"scheme": "xavier", "gain": 1.0,
                                                            "role": "recurrent"}  # fmt: skip


def test_a_sweep_may_name_critical_as_a_value(tmp_path):
    from rnninit.experiment.sweep import load_sweep

    path = tmp_path / "s.yaml"
    path.write_text("base: {task: {name: adding}}\ngrid:\n  init.Whh: [critical, xavier:1.2]\n")
    sweep = load_sweep(path)
    assert [r.params["init.Whh"] for r in sweep.runs] == ["critical", "xavier:1.2"]


@pytest.mark.parametrize("init", ["init:\n  Whh: critical\n", "init: Whh=critical,bh=small:5\n"])
def test_critical_in_a_yaml_file_and_the_header_line(tmp_path, init):
    path = tmp_path / "c.yaml"
    path.write_text(f"task: {{name: adding, seq_len: 8}}\nmodel: {{hidden_size: 8}}\n"
                    f"train: {{steps: 1, batch_size: 4}}\nlog: {{runs_dir: {tmp_path}/runs}}\n{init}")  # fmt: skip
    result = runner.invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    gain = json.loads((run / "summary.json").read_text())["critical"]["gain"]
    assert f"Whh critical -> xavier:{gain:.4g}" in result.output
    recorded = yaml.safe_load((run / "config.yaml").read_text())["init"]
    assert recorded["Whh"] == {"scheme": "xavier", "gain": gain}


def test_inits_lists_critical_without_a_measured_variance():
    result = runner.invoke(app, ["inits", "--shape", "32", "32", "--task", "adding"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ critical"))
    assert "g* solved: chi* = 1" in row and "—" in row
    theory = [line for line in result.output.splitlines() if line.startswith("│ critical")][1]
    assert theory.rstrip("│ ").endswith("critical")  # its regime: the solve for this drive
