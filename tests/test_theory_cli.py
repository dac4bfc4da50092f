"""`rnninit critical` and `rnninit phase` through the command line and their library calls."""

import json
import math

import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.core.critical import critical_gain
from rnninit.core.inits import SCHEMES, parse_init
from rnninit.experiment.config import load_config

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(args, why: str) -> None:
    """Exit 2 with one line on stderr that says why."""
    result = invoke(*args)
    assert result.exit_code == 2, (args, result.output)
    assert why in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def assert_help_mentions(verb: str, texts) -> None:
    result = invoke(verb, "--help")
    assert result.exit_code == 0
    for text in texts:
        assert text in result.stdout, text


def critical_json(*args) -> dict:
    result = invoke("critical", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_critical_tanh_without_drive_prints_gain_one():
    result = invoke("critical")
    assert result.exit_code == 0, result.output
    assert "gain 1 " in result.stdout and "init.Whh=xavier:1" in result.stdout
    assert "exactly at s_w2 = 1" in result.stdout
    data = critical_json()
    assert (data["gain"], data["s_w2"], data["q_star"], data["status"]) == (1.0, 1.0, 0.0, "exact")
    assert [r["factor"] for r in data["nearby"]] == [0.9, 0.95, 1.0, 1.05, 1.1]
    assert data["nearby"][2]["xi"] is None  # inf: critical, written as null


def test_critical_spec_pastes_into_a_config_and_draws_the_solved_variances():
    data = critical_json("--bias-var", 0.05)
    assert data["gain"] == pytest.approx(critical_gain("tanh", 0.05).gain, rel=1e-15)
    assert data["chi_star"] == pytest.approx(1.0, abs=1e-9)
    H = data["hidden_size"]
    cfg = load_config(None, data["specs"]["overrides"].split())
    compact = parse_init(data["specs"]["compact"])
    for init in (parse_init(cfg.init), compact):
        whh, g_w = init.per_param["Whh"]
        bh, g_b = init.per_param["bh"]
        assert H * SCHEMES[whh].moments((H, H), g_w, H)[1] == pytest.approx(data["s_w2"], rel=2e-6)
        assert SCHEMES[bh].moments((H,), g_b, H)[1] == pytest.approx(0.05, rel=2e-6)
    arms = data["specs"]["compare"].split()  # 0.9x, 1x, 1.1x the gain, the bias alike
    assert arms[1] == data["specs"]["compact"] and data["specs"]["context"] == ""
    for arm, factor in zip(arms, (0.9, 1.0, 1.1)):
        whh, g_w = parse_init(arm).per_param["Whh"]
        assert g_w == pytest.approx(factor * data["gain"], rel=2e-6)
        assert parse_init(arm).per_param["bh"] == compact.per_param["bh"]
    for scheme, spec in data["specs"]["also"].items():
        s, g = parse_init(spec).per_param["Whh"]
        assert s == scheme
        assert H * SCHEMES[s].moments((H, H), g, H)[1] == pytest.approx(data["s_w2"], rel=2e-6)


def test_critical_with_a_task_uses_its_input_share_through_xavier():
    data = critical_json("--task", "adding")
    T = 25  # the default config's adding: (value U[0, 1), marker) with two markers in T steps
    assert data["drive"]["input_var"] == pytest.approx((1 / 3 + 2 / T) / 2, rel=0.03)
    assert data["drive"]["wxh"] == "xavier" and data["drive"]["s_u2"] == pytest.approx(1.0)
    assert data["gain"] == critical_gain("tanh", 0.0, data["drive"]["input_var"]).gain
    he = critical_json("--task", "adding", "--wxh", "he:0.5")  # I Var(Wxh) = 2 x 0.25
    assert he["drive"]["input_var"] == pytest.approx(0.5 * data["drive"]["input_var"], rel=1e-12)
    assert "Wxh=he:0.5" in he["specs"]["compact"]
    assert he["specs"]["context"] == "task.name=adding"  # the pasted commands train on adding
    assert critical_json("-n", "relu")["specs"]["context"] == "model.nonlinearity=relu"


def test_relu_with_bias_has_no_critical_gain_and_says_why():
    result = invoke("critical", "-n", "relu", "--bias-var", 0.05)
    assert result.exit_code == 0, result.output
    assert "no critical gain" in result.stdout and "infinite" in result.stdout
    data = critical_json("-n", "relu", "--bias-var", 0.05)
    assert data["gain"] is None and data["specs"] is None and data["status"] == "none"
    assert data["reference_gain"] == pytest.approx(math.sqrt(2))
    assert data["nearby"][3]["q_star"] is None  # inf above the edge


@pytest.mark.parametrize(("args", "why"), [
    (["--task", "adding", "--input-var", "0"], "give one, not both"),
    (["--wxh", "he"], "give it with --task"),
    (["--task", "adding", "--wxh", "uniform"], "zero-mean"),
    (["--task", "adding", "--wxh", "xavir"], "--wxh: unknown scheme 'xavir' (did you mean"),
    (["--task", "addng"], "did you mean 'adding'"),
    (["-n", "gelu"], "--nonlinearity: unknown nonlinearity"),
    (["--bias-var", "-0.1"], "--bias-var"),
    (["--hidden-size", "0"], "--hidden-size"),
])  # fmt: skip
def test_critical_refuses_bad_usage_in_one_line(args, why):
    assert_refused(["critical", *args], why)


def test_critical_help_teaches():
    assert_help_mentions(
        "critical", ("edge of chaos", "rnninit critical --bias-var 0.05", "--task", "null")
    )
