"""`rnninit phase`: the grid and the CSV, the inits where they sit, the plot's data against the
CSV, and the measured per-step factor against the theory."""

import math
from pathlib import Path

import numpy as np
import pytest
from test_theory_cli import assert_help_mentions, assert_refused, invoke
from threadpoolctl import threadpool_limits

from rnninit.core.critical import critical_gain
from rnninit.core.theory import fixed_point
from rnninit.experiment.critical import input_share
from rnninit.experiment.phase import measure_chi, phase_diagram
from rnninit.experiment.runs import read_csv
from rnninit.report import plots

H = 128


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """One phase diagram with --measure, the figure's artists captured just before saving."""
    folder = tmp_path_factory.mktemp("phase")
    captured, real = {}, plots._save

    def spy(fig, path):
        ax, ax_line = (
            next(a for a in fig.axes if a.get_title().startswith(t)) for t in ("χ*", "along")
        )
        captured.update(mesh=ax.collections[0].get_array(), lines=ax.lines,
                        scatter=[c for c in ax.collections if c.get_offsets().shape[0] > 1],
                        right=ax_line.lines)  # fmt: skip
        captured["data"] = {
            "mesh": np.array(captured["mesh"]),
            "lines": [(np.array(ln.get_xdata()), np.array(ln.get_ydata())) for ln in ax.lines],
            "offsets": [np.array(c.get_offsets()) for c in captured["scatter"]],
            "colours": [np.array(c.get_array()) for c in captured["scatter"]],
            "right": [(np.array(ln.get_xdata()), np.array(ln.get_ydata())) for ln in ax_line.lines],
        }
        real(fig, path)

    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "_save", spy)
    try:
        result = phase_diagram("tanh", input_var=0.1, grid=9, measure=True, measure_hidden=64,
                               seeds=2, plot=folder / "phase.png", csv=folder / "phase.csv")  # fmt: skip
    finally:
        mp.undo()
    return result, read_csv(folder / "phase.csv"), captured["data"], folder


def test_csv_is_the_grid_of_fixed_points(drawn):
    result, rows, _, _ = drawn
    theory = [r for r in rows if r["kind"] == "theory"]
    assert len(theory) == 81
    for r in theory[::7]:
        q, chi = fixed_point("tanh", r["s_w2"], 0.1, r["s_b2"])
        assert (r["q_star"], r["chi_star"]) == pytest.approx((q, chi), rel=1e-12)
        assert r["xi"] == (pytest.approx(-1 / math.log(chi), rel=1e-9) if chi > 0 else 0.0)
    critical = [r for r in rows if r["kind"] == "critical"]
    assert len(critical) == 9
    for r in critical:
        assert r["s_w2"] == pytest.approx(critical_gain("tanh", r["s_b2"], 0.1).s_w2, rel=1e-12)
        assert r["chi_star"] == pytest.approx(1.0, abs=1e-9) and r["xi"] == math.inf
    assert all(a["s_w2"] < b["s_w2"] for a, b in zip(critical, critical[1:]))  # bias: more s_w2
    measured = [r for r in rows if r["kind"] == "measured"]
    assert [m["s_w2"] for m in measured] == pytest.approx([m["s_w2"] for m in result["measured"]])


def test_the_inits_sit_where_their_formulas_put_them(drawn):
    result = drawn[0]
    where = {name: (m["s_w2"], m["s_b2"]) for m in result["schemes"]
             for name in m["schemes"] + m["presets"]}  # fmt: skip
    for name in ("xavier", "lecun", "orthogonal", "glorot_normal", "glorot_uniform",
                 "keras_default", "flax_default"):  # fmt: skip
        assert where[name] == pytest.approx((1.0, 0.0), abs=1e-12), name
    assert where["he"] == pytest.approx((2.0, 0.0)) and where["he_uniform"] == pytest.approx(
        (2.0, 0.0)
    )
    # U(+-1/sqrt(H)): variance 1/(3H) per entry, for Whh and for the preset's bias
    assert where["torch_default"] == pytest.approx((1 / 3, 1 / (3 * H)), rel=1e-12)
    assert where["small"] == pytest.approx((H * 0.01**2, 0.0), rel=1e-12)
    assert result["outside"] == ["uniform", "identity", "irnn"]  # irnn: identity Whh
    (unit,) = [m for m in result["schemes"] if m["s_w2"] == pytest.approx(1.0)]
    assert unit["label"] == ("xavier, glorot_normal, glorot_uniform, orthogonal, lecun; "
                             "presets keras_default, flax_default")  # fmt: skip
    for m in result["schemes"]:
        q, chi = fixed_point("tanh", m["s_w2"], 0.1, m["s_b2"])
        assert m["chi_star"] == pytest.approx(chi, rel=1e-12)


def test_the_plot_draws_the_csv(drawn):
    result, rows, data, folder = drawn
    assert (folder / "phase.png").read_bytes()[:4] == b"\x89PNG"
    theory = [r for r in rows if r["kind"] == "theory"]
    np.testing.assert_allclose(data["mesh"].ravel(), [r["chi_star"] for r in theory], rtol=1e-15)
    critical = [r for r in rows if r["kind"] == "critical"]
    line = data["lines"][0]  # the critical line, drawn first
    np.testing.assert_allclose(line[0], [r["s_w2"] for r in critical], rtol=1e-15)
    np.testing.assert_allclose(line[1], [r["s_b2"] for r in critical], rtol=1e-15)
    measured = [r for r in rows if r["kind"] == "measured"]
    assert len(data["offsets"]) == 1  # the measured points, filled with the measured chi
    np.testing.assert_allclose(data["offsets"][0][:, 0], [m["s_w2"] for m in measured])
    np.testing.assert_allclose(data["colours"][0], [m["measured_chi"] for m in measured])
    zero_bias = [r for r in theory if r["s_b2"] == 0.0]
    np.testing.assert_allclose(data["right"][0][1], [r["chi_star"] for r in zero_bias], rtol=1e-15)
    marks = {round(x, 6) for x, _ in ((ln[0][0], ln[1][0]) for ln in data["lines"][1:])}
    assert marks == {round(m["s_w2"], 6) for m in result["schemes"]}


@pytest.mark.slow
def test_measured_factor_at_the_solved_gain_is_one_within_five_percent():
    """The check of issue 11: at H = 1024 and the solved gain, the per-step factor of jac_sq,
    averaged over 3 seeds, is within 5% of 1 over 20 steps (tanh, input variance 0.2)."""
    drive = input_share(input_var=0.2)
    s_c = critical_gain("tanh", 0.0, 0.2).s_w2
    with threadpool_limits(1):  # two threads were 4x slower on a shared machine
        info, (row,) = measure_chi("tanh", [s_c], drive, hidden_size=1024, seeds=3)
    assert (info["steps"], info["seeds"], info["hidden_size"]) == (20, 3, 1024)
    assert row["chi_star"] == pytest.approx(1.0, abs=1e-9)
    assert row["measured_chi"] == pytest.approx(1.0, abs=0.05)


def test_measured_factor_is_that_of_the_jacobian_written_out():
    """A linear cell has J(T, t) = Whh^(T - t): the measured factor is the probes' estimate of
    ((1/H) ||Whh^20||_F^2)^(1/20), computed here without the engine."""
    from rnninit.experiment.phase import _inputs

    drive = input_share()
    info, rows = measure_chi("linear", [0.5], drive, hidden_size=128, seeds=2)
    direct = []
    for seed in range(2):
        W = math.sqrt(0.5) * _inputs(drive, None, 128, 32, 50, seed)["W"]
        direct.append((np.linalg.norm(np.linalg.matrix_power(W, 20)) ** 2 / 128) ** (1 / 20))
    assert rows[0]["measured_chi"] == pytest.approx(np.mean(direct), rel=0.02)


def test_phase_cli_writes_plot_and_csv_and_refuses_bad_usage(tmp_path):
    png, csv = tmp_path / "p.png", tmp_path / "p.csv"
    result = invoke("phase", "--grid", 5, "--plot", png, "--csv", csv, "-n", "relu")
    assert result.exit_code == 0, result.output
    assert png.is_file() and len(read_csv(csv)) == 25 + 1  # the grid, and s_w2 = 2 at s_b2 = 0
    assert "outside the theory" in result.stdout and "he, he_uniform" in result.stdout
    for args, why in [([], "--plot, --csv"),
                      (["--csv", csv, "--grid", 2], "--grid"),
                      (["--csv", csv, "--task", "adding", "--input-var", 0.1], "not both"),
                      (["--csv", csv, "--max-bias-var", 0], "--max-bias-var")]:  # fmt: skip
        assert_refused(["phase", *args], why)


def test_phase_help_teaches():
    assert_help_mentions(
        "phase", ("ordered", "chaotic", "--measure", "rnninit phase --task adding")
    )


def test_no_plot_file_left_behind_by_a_refusal(tmp_path):
    assert invoke("phase", "--plot", tmp_path / "x.png", "--grid", 1).exit_code == 2
    assert not Path(tmp_path / "x.png").exists()
