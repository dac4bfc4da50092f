"""`rnninit compare`: fair data, aggregation across seeds, the folder, divergence, the report."""

import csv
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.cli.run_cmds import split_compare_args
from rnninit.experiment.compare import compare, init_label
from rnninit.experiment.compare_folder import aggregate, load_compare, write_compare_outputs
from rnninit.experiment.config import load_config
from rnninit.experiment.runs import read_csv
from rnninit.report.compare_view import side_by_side, sparklines, verdict
from rnninit.report.terminal import fmt

runner = CliRunner()
TEXT = "the cat sat on the mat and the dog sat on the log; " * 60


@pytest.fixture()
def base(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    return load_config(None, [
        f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=8",
        "model.hidden_size=16", "train.steps=6", "train.batch_size=4", "log.stats_every=3",
        "log.eval_every=2", "task.val_batches=2",
    ])  # fmt: skip


def test_every_init_sees_the_same_batches(base):
    report = compare(base, ["xavier", "uniform", "Whh=orthogonal,Wxh=he"], seeds=2)
    digests = {}
    for agg in report["inits"].values():
        for k, rec in enumerate(agg["runs"]):
            digests.setdefault(k, set()).add(rec["summary"]["data_sha256"])
    assert all(len(d) == 1 for d in digests.values())  # same data for every init at one seed
    assert digests[0] != digests[1]  # and the seeds differ
    # and the inits really differ
    radii = {label: agg["spectral_radius"][0] for label, agg in report["inits"].items()}
    assert len(set(radii.values())) == 3


def test_seed_aggregation_matches_run_folders(base):
    report = compare(base, ["xavier", "he"], seeds=3)
    root = report["dir"]
    rows = {r["init"]: r for r in csv.DictReader(open(f"{root}/compare.csv"))}
    for label, agg in report["inits"].items():
        finals = []
        for name in json.load(open(f"{root}/compare.json"))["runs"][label]:
            summary = json.load(open(f"{root}/{name}/summary.json"))
            finals.append(summary["final_val_loss"])
        assert len(finals) == 3
        assert float(rows[label]["final_val_loss_mean"]) == pytest.approx(
            sum(finals) / 3, rel=1e-12
        )
        mean = sum(finals) / 3
        std = (sum((f - mean) ** 2 for f in finals) / 3) ** 0.5
        assert float(rows[label]["final_val_loss_std"]) == pytest.approx(std, rel=1e-9, abs=1e-15)
        # the step-0 table is the mean over seeds of each run's own timesteps.csv
        per_run = [
            [r["act_var"] for r in read_csv(f"{root}/{name}/timesteps.csv") if r["step"] == 0]
            for name in json.load(open(f"{root}/compare.json"))["runs"][label]
        ]
        np.testing.assert_allclose(agg["step0"]["act_var"], np.mean(per_run, axis=0), rtol=1e-12)


def test_compare_folder_layout_and_columns(base):
    report = compare(base, ["xavier", "uniform"], seeds=1)
    root = report["dir"]
    for name in ["compare.csv", "compare.json", "config.yaml", "plots/act_var_step0.png",
                 "plots/grad_var_step0.png", "plots/jac_sq_step0.png", "plots/loss.png"]:  # fmt: skip
        assert (Path(root) / name).is_file(), name
    header = open(f"{root}/compare.csv").readline().strip().split(",")
    for col in ["init", "seeds", "final_val_loss_mean", "final_val_loss_std", "reached_target",
                "steps_to_target_median", "speedup_target", "spectral_radius_mean",
                "saturation_T_mean"]:  # fmt: skip
        assert col in header
    # no survivor-biased mean of the seeds that arrived, no bound from the run length
    assert not {"steps_to_target_mean", "speedup_is_lower_bound"} & set(header)
    again = load_compare(root)  # rebuilt from the folder alone
    assert again["inits"].keys() == report["inits"].keys()


def test_one_diverging_init_does_not_stop_the_others(base):
    base = base.updated({"model.nonlinearity": "relu", "model.hidden_size": 256,
                         "task.seq_len": 40, "train.dtype": "float32"})  # fmt: skip
    report = compare(base, ["uniform", "xavier"], seeds=1)
    uni, xav = report["inits"]["uniform"], report["inits"]["xavier"]
    assert uni["status"] == ["diverged"] and uni["diverged_at"] == [0]
    assert xav["status"] == ["completed"]
    result = runner.invoke(app, ["show", report["dir"]])
    assert result.exit_code == 0, result.output
    assert "diverged at step 0" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│ uniform")]
    assert rows and all("nan" not in line for line in rows)  # never a NaN presented as a number
    # the table at the last step is that step's, and shows the diverged run as diverged, not
    # with its step-0 numbers (uniform comes first here, and has only step 0)
    last = _render(side_by_side(report, "last"))
    assert "per-timestep statistics at step 6" in last, last
    assert "diverged at step 0" in last
    assert not any(fmt(v, 3) in last for v in uni["step0"]["act_var"][1:3])
    assert "nan" not in last and "inf" not in last
    assert all(fmt(v, 3) in last for v in xav["last"]["act_var"][:3])  # xavier's step-6 numbers


def _render(table) -> str:
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_last_table_averages_the_seeds_that_reached_the_last_step():
    t = np.arange(1, 4)
    table = {"t": t, "act_var": np.full(3, 1.0)}

    def record(status, last_step, value, diverged_at=None):
        summary = {"status": status, "diverged_at": diverged_at, "steps": 6}
        last = {
            "t": t,
            "act_var": np.full(3, value),
            "grad_var": np.ones(3),
            "saturation": np.zeros(3),
        }
        return {"summary": summary, "step0": table, "last": last, "last_step": last_step,
                "metrics": []}  # fmt: skip

    seeds = [record("diverged", 0, 9.0, diverged_at=0), record("completed", 6, 2.0),
             record("completed", 6, 4.0)]  # fmt: skip
    agg = aggregate("uniform", seeds)
    assert agg["last_step"] == 6 and agg["last_n"] == 2  # not seed 0's step 0
    np.testing.assert_allclose(agg["last"]["act_var"], 3.0)
    last = _render(side_by_side({"inits": {"uniform": agg}}, "last"))
    assert "step 6" in last and "mean of the 2 of 3 seeds with statistics at step 6" in last


def test_cli_compare_report(tmp_path, base):
    args = ["compare", "xavier", "uniform", f"log.runs_dir={tmp_path / 'cli'}",
            f"task.path={base.task.path}", "task.seq_len=8", "model.hidden_size=16",
            "train.steps=4", "log.stats_every=2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "per-timestep statistics at step 0" in out
    assert "summary" in out and "xavier:" in out and "uniform:" in out
    assert "θ" in out  # theory beside measurement for xavier


def test_compare_argument_split_and_bad_init(tmp_path, base):
    inits, overrides = split_compare_args(
        ["xavier", "Whh=orthogonal,Wxh=he", "model.hidden_size=8", "seed=2"]
    )
    assert inits == ["xavier", "Whh=orthogonal,Wxh=he"]
    assert overrides == ["model.hidden_size=8", "seed=2"]
    assert init_label("Whh=orthogonal,Wxh=he") == "Whh-orthogonal_Wxh-he"
    result = runner.invoke(app, ["compare", "xavir", f"log.runs_dir={tmp_path / 'x'}"])
    assert result.exit_code == 2
    assert "did you mean 'xavier'" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_spec_with_a_comma_keeps_compare_csv_rectangular(base):
    """'Whh=orthogonal,Wxh=he' holds a comma: its cell is quoted, every row has every column."""
    report = compare(base.updated({"train.steps": 2}), ["xavier", "Whh=orthogonal,Wxh=he"])
    path = Path(report["dir"]) / "compare.csv"
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert len(lines) == 3 and {len(cells) for cells in lines} == {len(lines[0])}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["spec"] for r in rows] == ["xavier", "Whh=orthogonal,Wxh=he"]
    assert [r["init"] for r in rows] == ["xavier", "Whh-orthogonal_Wxh-he"]
    assert all(None not in r and None not in r.values() for r in rows)  # no cell too many or few
    assert [int(r["seeds"]) for r in rows] == [1, 1]
    try:
        import pandas
    except ImportError:
        return
    frame = pandas.read_csv(path)
    assert list(frame["spec"]) == ["xavier", "Whh=orthogonal,Wxh=he"]
    assert list(frame["seeds"]) == [1, 1]


def test_the_workers_draw_the_figures_that_this_process_would(base):
    """compare's overlay plots are drawn by its worker processes; drawn again here, one after
    another, every PNG comes out byte for byte the same, and report.html inlines them."""
    import base64

    report = compare(base.updated({"train.steps": 2}), ["xavier", "uniform"], seeds=2)
    root = Path(report["dir"])
    names = ["act_var_step0.png", "grad_var_step0.png", "jac_sq_step0.png", "loss.png",
             "units.png"]  # fmt: skip
    assert sorted(p.name for p in (root / "plots").glob("*.png")) == sorted(names)
    by_workers = {n: (root / "plots" / n).read_bytes() for n in names}
    page = (root / "report.html").read_text(encoding="utf-8")
    assert all(base64.b64encode(png).decode() in page for png in by_workers.values())
    for n in names:
        (root / "plots" / n).unlink()
    write_compare_outputs(root, report)
    assert {n: (root / "plots" / n).read_bytes() for n in names} == by_workers


def test_the_loss_plot_and_the_summary_say_which_std(base):
    from rnninit.core.stats import mean_std
    from rnninit.experiment.compare_folder import _plot_calls
    from rnninit.report import compare_view, plots

    report = compare(base.updated({"train.steps": 2}), ["xavier"], seeds=2)
    # the plots are drawn in the worker processes: ask for the calls they were given
    titles = [kw["title"] for fn, _, kw in _plot_calls(Path(report["dir"]), report)
              if fn is plots.compare_loss]  # fmt: skip
    assert titles == ["validation loss, mean ± population std across seeds"]
    assert "mean ± population std (ddof 0) over 2 seeds" in compare_view.summary(report).caption
    agg = report["inits"]["xavier"]
    assert agg["final_val_loss"] == mean_std(r["summary"]["final_val_loss"] for r in agg["runs"])


def _run_inits(root) -> dict:
    """label -> (init as each run's config.yaml records it, summary.json's init and radius)."""
    import yaml

    meta = json.load(open(f"{root}/compare.json"))
    out = {}
    for label, names in meta["runs"].items():
        run = Path(root) / names[0]
        recorded = yaml.safe_load((run / "config.yaml").read_text())["init"]
        summary = json.loads((run / "summary.json").read_text())
        drawn = {k: (v["scheme"], v["gain"]) for k, v in summary["init"].items()}
        out[label] = (recorded, drawn, summary["spectral_radius_target"])
    return out


def test_per_matrix_arms_merge_onto_the_config_init(base):
    base = base.updated({"train.steps": 1, "init": {
        "Wxh": {"scheme": "small", "gain": 0.1}, "Whh": "orthogonal", "Why": "he",
        "spectral_radius": 0.9}})  # fmt: skip
    arms = ["Whh=identity", "Whh=orthogonal:1.1,Wxh=he", {"Why": "xavier"}, "uniform"]
    report = compare(base, arms, seeds=1)
    runs = _run_inits(report["dir"])
    assert list(runs) == ["Whh-identity", "Whh-orthogonal_1.1_Wxh-he", "Why-xavier", "uniform"]
    zeros = {"bh": ("zeros", 1.0), "by": ("zeros", 1.0)}
    config = {"Wxh": ("small", 0.1), "Whh": ("orthogonal", 1.0), "Why": ("he", 1.0), **zeros}
    expect = {  # a per-matrix arm changes what it names; a scheme name replaces everything
        "Whh-identity": ({**config, "Whh": ("identity", 1.0)}, 0.9),
        "Whh-orthogonal_1.1_Wxh-he": ({**config, "Whh": ("orthogonal", 1.1), "Wxh": ("he", 1.0)}, 0.9),
        "Why-xavier": ({**config, "Why": ("xavier", 1.0)}, 0.9),
        "uniform": ({"Wxh": ("uniform", 1.0), "Whh": ("uniform", 1.0), "Why": ("uniform", 1.0),
                     **zeros}, None),
    }  # fmt: skip
    for label, (recorded, drawn, radius) in runs.items():
        assert (drawn, radius) == expect[label], label
        if label != "uniform":  # a merged arm is recorded as an explicit mapping of every matrix
            assert set(recorded) == {"Wxh", "Whh", "Why", "bh", "by", "spectral_radius"}, recorded
    assert runs["uniform"][0] == "uniform"
    # compare.json, compare.csv and the report say what each arm resolved to, per matrix
    meta = json.load(open(f"{report['dir']}/compare.json"))
    assert meta["resolved"]["Whh-identity"]["Whh"] == {"scheme": "identity", "gain": 1.0}
    assert meta["resolved"]["Whh-identity"]["spectral_radius"] == 0.9
    text = open(f"{report['dir']}/compare.csv").read()
    rows = {r["init"]: r for r in csv.DictReader(text.splitlines()) if r["init"] in runs}
    assert rows["Whh-identity"]["init_Whh"] == "identity"
    assert rows["Whh-identity"]["init_Wxh"] == "small:0.1"
    assert rows["Whh-identity"]["init_spectral_radius"] == "0.9"
    assert rows["uniform"]["init_Wxh"] == "uniform"
    assert rows["uniform"]["init_spectral_radius"] == ""
    shown = runner.invoke(app, ["show", report["dir"]], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("│ Whh-identity "))
    assert "small:0.1" in line and "identity" in line and "0.9" in line


def test_cli_init_overrides_edit_the_config_init_or_are_refused(tmp_path, base):
    tiny = [f"task.path={base.task.path}", "task.seq_len=8", "model.hidden_size=16",
            "train.steps=1", "log.stats_every=1"]  # fmt: skip
    refused = tmp_path / "refused"
    for args, why in [
        (["xavier", "uniform", "init.Whh=orthogonal"], "would be dropped by init 'xavier'"),
        (["Whh=identity", "he", "init=he"], "would be dropped by init 'he'"),
        (["Whh=identity", "Whh=xavier", "init.Whh=orthogonal"], "every init sets Whh itself"),
        (["Whh=xavier", "xavier"], "resolve to the same init"),
    ]:
        result = runner.invoke(app, ["compare", *args, f"log.runs_dir={refused}", *tiny])
        assert result.exit_code == 2, (args, result.output)
        assert why in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not refused.exists()
    # applied: overrides edit the config's init, then the per-matrix arms merge onto it
    runs = tmp_path / "applied"
    args = ["compare", "Whh=identity", "Whh=xavier", "init=he", "init.Wxh.gain=0.5"]
    result = runner.invoke(app, [*args, f"log.runs_dir={runs}", *tiny])
    assert result.exit_code == 0, result.output
    (root,) = runs.iterdir()
    drawn = {label: d for label, (_, d, _) in _run_inits(root).items()}
    assert drawn["Whh-identity"]["Whh"] == ("identity", 1.0)
    assert drawn["Whh-xavier"]["Whh"] == ("xavier", 1.0)
    for d in drawn.values():
        assert d["Wxh"] == ("he", 0.5) and d["Why"] == ("he", 1.0)


# ---------------------------------------------------------------------------------------------
# Labelled arms: "LABEL: KEY=VALUE ..." compare any two setups on the same batches (issue 9)
# ---------------------------------------------------------------------------------------------
IRNN = "irnn: init.Whh=identity model.nonlinearity=relu train.lr=0.01"


def test_labelled_arms_change_any_setting_on_the_same_batches(base):
    import yaml

    from rnninit.experiment.training import train

    typed = ["train.clip=2.0"]  # a base override: recorded before each arm's own
    base = base.updated({"train.clip": 2.0, "init": {"Wxh": {"scheme": "small", "gain": 0.1}}})
    arms = [IRNN, "tanh: init.Whh=orthogonal train.optimizer=sgd", "xavier"]
    report = compare(base, arms, seeds=2, overrides=typed)
    root = Path(report["dir"])
    assert list(report["inits"]) == ["irnn", "tanh", "xavier"]
    for k in range(2):  # every arm at one seed saw the same data, whatever it changed
        digests = {a["runs"][k]["summary"]["data_sha256"] for a in report["inits"].values()}
        assert len(digests) == 1, digests
    seed0 = {label: a["runs"][0]["summary"] for label, a in report["inits"].items()}
    assert (
        seed0["irnn"]["data_sha256"] != report["inits"]["irnn"]["runs"][1]["summary"]["data_sha256"]
    )
    assert [seed0[k]["nonlinearity"] for k in seed0] == ["relu", "tanh", "tanh"]
    expect = {  # (Wxh, Whh, nonlinearity, optimizer, lr): only what the arm names changes
        "irnn": (("small", 0.1), ("identity", 1.0), "relu", "adam", 0.01),
        "tanh": (("small", 0.1), ("orthogonal", 1.0), "tanh", "sgd", base.train.lr),
        "xavier": (("xavier", 1.0), ("xavier", 1.0), "tanh", "adam", base.train.lr),
    }
    for label, summary in seed0.items():
        run = Path(summary["run_dir"])
        cfg = load_config(run / "config.yaml")  # the fully resolved config
        drawn = tuple(
            (summary["init"][p]["scheme"], summary["init"][p]["gain"]) for p in ("Wxh", "Whh")
        )
        got = (*drawn, cfg.model.nonlinearity, cfg.train.optimizer, cfg.train.lr)
        assert got == expect[label], label
        assert cfg.train.clip == 2.0 and cfg.name == f"{label}-s0"
        arm = [] if label == "xavier" else arms[list(seed0).index(label)].split(":")[1].split()
        assert yaml.safe_load((run / "overrides.yaml").read_text()) == typed + arm
        if label != "xavier":  # a labelled arm's init is recorded with every matrix named
            recorded = yaml.safe_load((run / "config.yaml").read_text())["init"]
            assert set(recorded) == {"Wxh", "Whh", "Why", "bh", "by"}, recorded
    # a run can be rerun alone from its config.yaml, to the same numbers
    alone = train(load_config(Path(seed0["irnn"]["run_dir"]) / "config.yaml"), write=False)
    assert alone["final_val_loss"] == seed0["irnn"]["final_val_loss"]
    assert alone["data_sha256"] == seed0["irnn"]["data_sha256"]
    # compare.json, compare.csv and the report's first table record each arm and its overrides
    meta = json.loads((root / "compare.json").read_text())
    assert meta["labels"] == ["irnn", "tanh", "xavier"] and meta["inits"] == arms
    assert meta["arm_overrides"] == {"irnn": IRNN.split(":")[1].split(),
                                     "tanh": ["init.Whh=orthogonal", "train.optimizer=sgd"],
                                     "xavier": []}  # fmt: skip
    assert meta["resolved"]["irnn"]["Whh"] == {"scheme": "identity", "gain": 1.0}
    rows = {r["init"]: r for r in csv.DictReader(open(root / "compare.csv", newline=""))}
    assert rows["irnn"]["spec"] == IRNN and rows["xavier"]["overrides"] == ""
    assert rows["irnn"]["overrides"] == "init.Whh=identity model.nonlinearity=relu train.lr=0.01"
    assert rows["tanh"]["init_Whh"] == "orthogonal" and rows["tanh"]["init_Wxh"] == "small:0.1"
    shown = runner.invoke(app, ["show", str(root)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("│ irnn "))
    assert "identity" in line and "model.nonlinearity=relu train.lr=0.01" in line
    assert "init.Whh" not in line  # the init is shown resolved, per matrix
    line = next(x for x in shown.output.splitlines() if x.startswith("│ tanh "))
    assert "train.optimizer=sgd" in line and "orthogonal" in line


def test_a_labelled_init_override_merges_like_a_per_matrix_arm(base):
    from rnninit.experiment.compare import resolve_inits

    base = base.updated({"init": {"Wxh": {"scheme": "small", "gain": 0.1}, "Whh": "orthogonal",
                                  "Why": "he", "spectral_radius": 0.9}})  # fmt: skip
    for labelled, bare in [("a: init.Whh=identity", "Whh=identity"),
                           ("a: init.Whh=orthogonal init.Whh.gain=1.1 init.Wxh=he",
                            "Whh=orthogonal:1.1,Wxh=he"),
                           ("a: init.spectral_radius=1.2", "spectral_radius=1.2"),
                           ("a: init=uniform", "uniform"),  # shell-style quotes group a value:
                           ("a: 'init.Whh={scheme: he, gain: 2}'", "Whh=he:2")]:  # fmt: skip
        (arm,) = resolve_inits(base, [labelled]).values()
        (same,) = resolve_inits(base, [bare]).values()
        assert arm.init == same.init, (labelled, arm.init, same.init)
        assert arm.config == same.config, labelled  # and nothing else differs
        assert arm.overrides == shlex.split(labelled.split(":", 1)[1]) and same.overrides == []


def test_cli_labelled_arms_refuse_ambiguity(tmp_path, base):
    tiny = [f"task.path={base.task.path}", "task.seq_len=8", "model.hidden_size=16",
            "train.steps=1", "log.stats_every=1"]  # fmt: skip
    refused = tmp_path / "refused"
    batches = "every arm must see the same batches (task.*, seed and train.batch_size)"
    race = "every arm runs the same number of steps towards the same target loss"
    for args, why in [
        (["ir nn: train.lr=0.01", "xavier"], "label 'ir nn': expected 1-48 characters"),
        ([".a: train.lr=0.01", "xavier"], "label '.a': expected"),
        ([": train.lr=0.01", "xavier"], "label '': expected"),
        (["a: train.lr=0.01", "a: train.lr=0.02"], "two arms are labelled 'a'"),
        (["xavier", "xavier: train.lr=0.01"], "two arms are labelled 'xavier'"),
        (["a: task.seq_len=9", "xavier"], f"an arm may not set task.seq_len: {batches}"),
        (["a: seed=3", "xavier"], f"an arm may not set seed: {batches}"),
        (["a: task=3", "xavier"], f"an arm may not set task: {batches}"),
        (["a: train.batch_size=2", "xavier"], f"an arm may not set train.batch_size: {batches}"),
        (["a: train.steps=3", "xavier"], f"an arm may not set train.steps: {race}"),
        (["a: train.target_loss=1", "xavier"], f"an arm may not set train.target_loss: {race}"),
        (["a: train.target_acc=0.5", "xavier"], f"an arm may not set train.target_acc: {race}"),
        (["a: log.stats_every=2", "xavier"], "an arm may not set log.stats_every"),
        (["a: name=x", "xavier"], "an arm may not set name"),
        (["a: model.nonlinearity", "xavier"], "'model.nonlinearity' is not KEY=VALUE"),
        (["a: xavier train.lr=0.01", "he"], "'xavier' is not KEY=VALUE; inside a labelled arm "
                                             "write init=xavier"),
        (["a: Whh=identity train.lr=0.01", "he"], "'Whh=identity' is a bare init, not KEY=VALUE "
                                                  "of the config; inside a labelled arm write "
                                                  "init.Whh=identity"),
        (["a: Whh=orthogonal:1.1", "he"], "write init.Whh=orthogonal:1.1"),
        (["a: lr=0.01", "he"], "compare arm 'a': override 'lr=0.01': lr: unknown key"),
        (["a: model.nonlinearity=reluu", "xavier"],
         "compare arm 'a': override 'model.nonlinearity=reluu': model.nonlinearity: "),
        (["a: train.lr=-1", "xavier"], "compare arm 'a': override 'train.lr=-1': train.lr: "),
        (["a: 'train.lr=0.01", "xavier"], "No closing quotation"),
        (["a: train.lr=0.01", "b: train.lr=0.01"], "arms 'a' and 'b' resolve to the same config"),
        (["a:", "xavier"], "arms 'a' and 'xavier' resolve to the same config"),  # the default
        (["a: init=he", "b: train.lr=0.01", "init.Whh=orthogonal"],
         "would be dropped by arm 'a: init=he', which replaces the whole init"),
        (["a: init.Whh=identity", "Whh=he", "init.Whh=orthogonal"], "every init sets Whh itself"),
    ]:  # fmt: skip
        result = runner.invoke(app, ["compare", *args, f"log.runs_dir={refused}", *tiny])
        assert result.exit_code == 2, (args, result.output)
        assert why in result.stderr, (why, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not refused.exists()
    assert (
        "did you mean 'relu'"
        in runner.invoke(app, ["compare", "a: model.nonlinearity=reluu", "xavier", *tiny]).stderr
    )


def test_labelled_arms_split_from_overrides_and_reach_the_run(tmp_path, base):
    inits, overrides = split_compare_args(
        [IRNN, "tanh:init.Whh=orthogonal", "Whh=orthogonal:1.1", "model.hidden_size=8", "seed=2"]
    )
    assert inits == [IRNN, "tanh:init.Whh=orthogonal", "Whh=orthogonal:1.1"]
    assert overrides == ["model.hidden_size=8", "seed=2"]
    # a base override of init reaches a labelled arm that does not set that matrix
    runs = tmp_path / "runs"
    args = ["compare", "a: train.lr=0.01", "b: init.Whh=identity", "init.Wxh=he",
            f"log.runs_dir={runs}", f"task.path={base.task.path}", "task.seq_len=8",
            "model.hidden_size=16", "train.steps=1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (root,) = runs.iterdir()
    drawn = {label: d for label, (_, d, _) in _run_inits(root).items()}
    assert drawn["a"]["Wxh"] == drawn["b"]["Wxh"] == ("he", 1.0)
    assert drawn["a"]["Whh"] == ("xavier", 1.0) and drawn["b"]["Whh"] == ("identity", 1.0)


def test_each_arm_is_judged_with_its_own_nonlinearity(base):
    """A relu base and a tanh arm: uniform weights saturate the tanh units, and the verdict says
    so in tanh's words, not as dead relu units."""
    from rich.console import Console

    from rnninit.report.compare_view import print_report

    base = base.updated({"model.nonlinearity": "relu", "train.steps": 0})
    report = compare(base, ["xavier", "t: init=uniform model.nonlinearity=tanh"])
    console = Console(record=True, width=1000)
    print_report(console, load_compare(report["dir"]))
    lines = console.export_text().splitlines()
    (verdict,) = [x for x in lines if x.startswith("t: ")]
    assert "of tanh units saturated by t = " in verdict and "relu" not in verdict, verdict
    (verdict,) = [x for x in lines if x.startswith("xavier: ")]
    assert "of relu units dead by t = " in verdict, verdict  # the base's own


# ---------------------------------------------------------------------------------------------
# --lr-grid: each arm at its best learning rate on the same batches
# ---------------------------------------------------------------------------------------------
def test_lr_grid_reports_each_arm_at_its_best_rate(base):
    import yaml

    base = base.updated({"train.dtype": "float32", "model.nonlinearity": "relu"})
    grid = [0.001, 0.03, 1e30]  # 1e30 overflows float32: a candidate that does not complete
    report = compare(base, ["r: init.Whh=identity", "xavier"], seeds=2, lr_grid=grid,
                     overrides=["model.nonlinearity=relu"])  # fmt: skip
    root = Path(report["dir"])
    meta = json.loads((root / "compare.json").read_text())
    assert meta["lr_grid"] == grid
    runs = [p for p in root.iterdir() if (p / "summary.json").is_file()]
    assert len(runs) == 2 * 3 * 2  # every candidate stays in the folder
    summaries = {p.name: json.loads((p / "summary.json").read_text()) for p in runs}
    for k in range(2):  # every completed candidate of every arm at one seed saw the same data
        done = [s for s in summaries.values() if s["seed"] == k and s["status"] == "completed"]
        assert len(done) == 4 and len({s["data_sha256"] for s in done}) == 1
    for label in ("r", "xavier"):
        scores = {}
        for cand in meta["lr_candidates"][label]:
            assert len(cand["runs"]) == 2
            got = [summaries[name] for name in cand["runs"]]
            for name in cand["runs"]:
                assert load_config(root / name / "config.yaml").train.lr == cand["lr"]
                typed = yaml.safe_load((root / name / "overrides.yaml").read_text())
                assert (
                    typed[0] == "model.nonlinearity=relu"
                    and typed[-1] == f"train.lr={cand['lr']!r}"
                )
            if all(s["status"] == "completed" for s in got):
                scores[cand["lr"]] = sum(s["final_val_loss"] for s in got) / 2
                assert cand["final_val_loss"] == pytest.approx(scores[cand["lr"]], rel=1e-12)
            else:
                assert cand["final_val_loss"] is None and "diverged" in cand["statuses"]
        assert [c["lr"] for c in meta["lr_candidates"][label]] == grid
        assert 1e30 not in scores and len(scores) == 2  # the overflowing rate is ruled out
        best = min(scores, key=scores.get)
        assert meta["lr_chosen"][label] == best
        chosen = next(c for c in meta["lr_candidates"][label] if c["lr"] == best)
        assert meta["runs"][label] == chosen["runs"]  # the report shows the chosen runs
        assert report["inits"][label]["final_val_loss"][0] == pytest.approx(scores[best], rel=1e-12)
    rows = {r["init"]: r for r in csv.DictReader(open(root / "compare.csv", newline=""))}
    assert float(rows["r"]["lr_chosen"]) == meta["lr_chosen"]["r"]
    shown = runner.invoke(app, ["show", str(root)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.split("learning rate grid")[1].splitlines()
    cells = [c.strip() for c in next(x for x in lines if x.startswith("│ r ")).split("│")[1:-1]]
    assert cells[grid.index(meta["lr_chosen"]["r"]) + 1].endswith(" *"), cells
    assert cells[3] == "diverged"


def test_cli_lr_grid_refusals(tmp_path, base):
    tiny = [f"task.path={base.task.path}", "task.seq_len=8", "model.hidden_size=16",
            "train.steps=1", f"log.runs_dir={tmp_path / 'r'}"]  # fmt: skip
    for args, why in [
        (["--lr-grid", "0.01,x"], "--lr-grid: expected distinct positive learning rates"),
        (["--lr-grid", "0.01,0.01"], "--lr-grid: expected distinct"),
        (["--lr-grid", "0.01,-1"], "--lr-grid: expected distinct"),
        (["--lr-grid", "0.01,0.1", "train.lr=0.5"], "override 'train.lr=0.5' would be ignored"),
        (["--lr-grid", "0.01,0.1", "a: train.lr=0.5 model.nonlinearity=relu"],
         "arm 'a' sets train.lr, which the grid chooses"),
    ]:  # fmt: skip
        result = runner.invoke(app, ["compare", "xavier", *args, *tiny])
        assert result.exit_code == 2, (args, result.output)
        assert why in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not (tmp_path / "r").exists()


def test_the_jac_sq_plot_draws_the_csv_values_and_the_theory(base, monkeypatch):
    from rnninit.report import plots

    drawn, real = {}, plots._save

    def spy(fig, path):  # the lines of each figure, just before it is saved
        lines = [(ln.get_xdata(), ln.get_ydata(), ln.get_linestyle()) for ln in fig.axes[0].lines]
        drawn[Path(path).name] = lines
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    report = compare(base, ["xavier", "uniform"], seeds=1)
    write_compare_outputs(Path(report["dir"]), report)  # drawn here, where the spy sees them
    solid = [ln for ln in drawn["jac_sq_step0.png"] if ln[2] == "-"]
    dashed = [ln for ln in drawn["jac_sq_step0.png"] if ln[2] == "--"]
    assert len(solid) == 2 and len(dashed) == 1  # uniform has no theory
    runs = json.load(open(f"{report['dir']}/compare.json"))["runs"]
    rows = {label: [r for r in read_csv(f"{report['dir']}/{names[0]}/timesteps.csv")
                    if r["step"] == 0] for label, names in runs.items()}  # fmt: skip
    for line, label in zip(solid, ["xavier", "uniform"]):  # zeros cannot sit on a log axis
        shown = [r for r in rows[label] if r["jac_sq"] > 0]
        assert len(shown) > 1 and shown[-1]["jac_sq"] == 1.0
        np.testing.assert_array_equal(line[0], [r["t"] for r in shown])
        np.testing.assert_array_equal(line[1], [r["jac_sq"] for r in shown])
    np.testing.assert_array_equal(dashed[0][1], [r["theory_jac_sq"] for r in rows["xavier"]])
    assert "jac_sq" in _render(sparklines(report)) and "jac_sq" in _render(
        side_by_side(report, "step0")
    )


def _agg(jac, theory=None, saturation=None, grad=None):
    """A hand-made step-0 aggregate of a T = 3 run, for the verdict's sentences."""
    T = len(jac)
    step0 = {"t": np.arange(1, T + 1), "act_var": np.full(T, 0.1),
             "grad_var": np.full(T, 1e-7) if grad is None else np.array(grad),
             "saturation": np.zeros(T) if saturation is None else np.array(saturation),
             "jac_sq": np.array(jac, dtype=float),
             "theory_jac_sq": np.full(T, np.nan) if theory is None else np.array(theory)}  # fmt: skip
    return {"step0": step0, "n": 1, "diverged_at": [], "final_val_loss": (None, None, 0)}


@pytest.mark.parametrize("jac,theory,saturation,nl,says", [
    ([3e-6, 1e-3, 1.0], [2e-6, 1e-3, 1.0], None, "tanh",
     "the gradient from t = 3 reaching t = 1 is 3.0e-06 of its size in squared norm (jac_sq, the "
     "mean squared singular value of dh_3/dh_1; theory 2.0e-06)"),
    ([0.0, 0.0, 1.0], None, [0.0, 1.0, 1.0], "tanh",
     "the gradient from t = 3 reaching t = 1 is zero: every unit saturated at t = 2 (jac_sq, the "
     "mean squared singular value of dh_3/dh_1)"),
    ([0.0, 0.0, 1.0], None, [1.0, 0.5, 0.2], "relu",  # t = 1 is not on the way from T to 1
     "the gradient from t = 3 reaching t = 1 is zero (jac_sq"),
    ([0.0, 0.0, 1.0], None, [0.0, 0.0, 0.0], "linear", "is zero (jac_sq"),
    ([4200.0, 64.0, 1.0], None, None, "linear", "is 4.2e+03x its size in squared norm"),
    ([0.5, 0.7, 1.0], None, None, "tanh", "is 0.5 of its size in squared norm"),
    ([np.inf, 1e300, 1.0], None, None, "relu", "reaching t = 1 is non-finite (jac_sq"),
])  # fmt: skip
def test_the_verdict_speaks_of_the_gradient_through_time_from_jac_sq(
    jac, theory, saturation, nl, says
):
    text = verdict("x", _agg(jac, theory, saturation), nl, None, 1.0)
    assert says in text, text
    assert "grad_var" not in text  # the total dL/dh_t is not the gradient through time


def test_the_verdict_names_grad_var_only_as_what_it_is_and_skips_older_folders():
    text = verdict("x", _agg([1e-3, 0.1, 1.0], grad=[np.nan, 1.0, 1.0]), "tanh", None, 1.0)
    assert "the total dL/dh_t (with the loss of every later step) non-finite at init" in text
    older = verdict("x", _agg([np.nan] * 3), "tanh", None, 1.0)  # written before jac_sq
    assert "gradient from" not in older and "jac_sq" not in older, older


def test_the_step0_plots_shade_each_arms_spread_across_seeds(base, monkeypatch):
    """With 2 seeds, each arm's act_var curve is the mean of its runs' CSV columns and its band
    runs from their min to their max (the title says so); units.png has a row per arm."""
    from rnninit.report import plots

    drawn, real = {}, plots._save

    def spy(fig, path):
        ax = fig.axes[0]
        drawn[Path(path).name] = (ax.lines, ax.collections, fig._suptitle.get_text())
        drawn[Path(path).name + " images"] = [a.get_title() for a in fig.axes if a.images]
        drawn[Path(path).name + " legend"] = [t.get_text() for lg in fig.legends for t in lg.texts]
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    report = compare(base, ["xavier", "small"], seeds=2)
    write_compare_outputs(Path(report["dir"]), report)  # drawn here, where the spy sees them
    # and the unit-by-unit heatmaps: one row per arm (its first seed), init and end
    assert sorted(drawn["units.png images"]) == sorted(
        f"{arm}: {what}, step {step}" for arm in ("xavier", "small")
        for what in ("h_t", "|dL/dh_t|") for step in (0, base.train.steps)
    )  # fmt: skip
    lines, bands, title = drawn["act_var_step0.png"]
    assert title.endswith("at step 0, mean over 2 seeds")
    legend = drawn["act_var_step0.png legend"]
    assert "band: min to max over 2 seeds" in legend
    runs = json.load(open(f"{report['dir']}/compare.json"))["runs"]
    solid = [ln for ln in lines if ln.get_linestyle() == "-"]
    for label, line, band in zip(["xavier", "small"], solid, bands):
        cols = np.array([[r["act_var"] for r in read_csv(f"{report['dir']}/{name}/timesteps.csv")
                          if r["step"] == 0] for name in runs[label]])  # fmt: skip
        np.testing.assert_allclose(line.get_ydata(), cols.mean(axis=0), rtol=1e-12)
        (path,) = band.get_paths()  # the polygon: the lows forward, then the highs back
        ys = path.vertices[:, 1]
        assert np.isclose(ys.min(), cols.min()) and np.isclose(ys.max(), cols.max())
        assert set(np.round(cols.min(axis=0), 12)) <= set(np.round(ys, 12))
        assert set(np.round(cols.max(axis=0), 12)) <= set(np.round(ys, 12))
