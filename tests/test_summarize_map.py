"""`rnninit summarize --plot KEY1,KEY2 --metric M`: the heatmap draws each cell's metric as the
run folders give it, one panel per init on one colour scale, censored cells hatched, refusals;
and examples/uniform_at_scale.yaml, the map of the note's claim, in miniature."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.experiment.maps import map_data, plot_map
from rnninit.experiment.summarize import summarize
from rnninit.experiment.sweep import load_sweep
from rnninit.experiment.training import train
from rnninit.report import plots

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "uniform_at_scale.yaml"
runner = CliRunner()
TEXT = "the cat sat on the mat and the dog sat on the log; " * 40
SIZES, LENGTHS, INITS, SEEDS = (2, 8), (5, 25), ("uniform", "xavier"), (0, 1)
KEYS = ["model.hidden_size", "task.seq_len"]
# between the tiny corpus's first losses: some seeds start below it, some never get there
TARGET = 2.7
MINI = ["train.steps=3", "train.batch_size=4", "task.val_batches=1", "log.stats_every=3",
        "log.eval_every=3", f"train.target_loss={TARGET}"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The example's grid in miniature: its runs at H in SIZES and T in LENGTHS, both inits and
    both seeds (16 runs), 3 steps each on a tiny text."""
    root = tmp_path_factory.mktemp("map")
    corpus = root / "t.txt"
    corpus.write_text(TEXT)
    sw = load_sweep(EXAMPLE, [f"log.runs_dir={root / 'runs'}", f"task.path={corpus}", *MINI])
    for run in sw.runs:
        p = run.params
        if p["model.hidden_size"] in SIZES and p["task.seq_len"] in LENGTHS:
            train(run.config)
    return root / "runs"


def facts(runs: Path) -> list[dict]:
    """What the test reads itself from each folder: config.yaml and summary.json."""
    out = []
    for s_path in sorted(runs.rglob("summary.json")):
        s = json.loads(s_path.read_text())
        cfg = yaml.safe_load((s_path.parent / "config.yaml").read_text())
        out.append({**s, "init": cfg["init"], "H": cfg["model"]["hidden_size"],
                    "T": cfg["task"]["seq_len"]})  # fmt: skip
    return out


def expected(all_facts: list[dict], metric: str, init: str) -> np.ndarray:
    """The metric per cell (rows: T, columns: H, both ascending), computed here from the facts.
    Steps to target over two seeds, written out: Kaplan-Meier's survival falls to 1/2 at the
    first arrival, so the median is the earliest arrival, and there is none when neither seed
    arrived (NaN, the cell is 'not reached')."""
    grid = np.full((len(LENGTHS), len(SIZES)), np.nan)
    for i, T in enumerate(LENGTHS):
        for j, H in enumerate(SIZES):
            cell = [f for f in all_facts if (f["init"], f["H"], f["T"]) == (init, H, T)]
            arrivals = [f["steps_to_target"] for f in cell if f["steps_to_target"] is not None]
            values = {
                "final_loss": [f["final_val_loss"] for f in cell],
                "relative_loss": [f["final_val_loss"] / f["chance"] for f in cell],
                "final_val_acc": [f["final_val_acc"] for f in cell],
                "reached": [len(arrivals) / len(cell)],
                "steps_to_target": [min(arrivals) if arrivals else np.nan],
            }[metric]
            grid[i, j] = sum(values) / len(values)
    return grid


def capture(monkeypatch) -> list[dict]:
    """Swap plots._save for a spy that records each figure's panels before it is written."""
    seen, real = [], plots._save

    def spy(fig, path):
        panels = {}
        for ax in fig.axes:
            if ax.images:
                img = ax.images[0]
                panels[ax.get_title()] = {
                    "array": np.ma.filled(img.get_array().astype(float), np.nan),
                    "norm": (img.norm.vmin, img.norm.vmax),
                    "hatched": [tuple(p.get_xy()) for p in ax.patches if p.get_hatch()],
                    "texts": {
                        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
                        for t in ax.texts
                    },
                    "xticks": [t.get_text() for t in ax.get_xticklabels()],
                    "yticks": [t.get_text() for t in ax.get_yticklabels()],
                }
        bars = [ax.get_ylabel() for ax in fig.axes if not ax.images and ax.get_ylabel()]
        seen.append({"panels": panels, "colorbars": bars, "title": fig._suptitle.get_text(),
                     "path": Path(path)})  # fmt: skip
        real(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


@pytest.mark.parametrize(
    "metric", ["final_loss", "relative_loss", "final_val_acc", "reached", "steps_to_target"]
)
def test_each_panel_draws_the_metric_of_its_cells(runs, tmp_path, monkeypatch, metric):
    seen = capture(monkeypatch)
    png = tmp_path / "m.png"
    result = runner.invoke(app, ["summarize", str(runs), "--plot", ",".join(KEYS), "--metric",
                                 metric, "--plot-file", str(png)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot: {png}" in result.stdout
    (fig,) = seen
    assert set(fig["panels"]) == {f"init = {i}" for i in INITS}  # one panel per init
    all_facts = facts(runs)
    assert len(all_facts) == len(SIZES) * len(LENGTHS) * len(INITS) * len(SEEDS)
    drawn = []
    for init in INITS:
        panel = fig["panels"][f"init = {init}"]
        want = expected(all_facts, metric, init)
        np.testing.assert_allclose(panel["array"], want, rtol=1e-12, equal_nan=True)
        assert panel["xticks"] == [str(h) for h in SIZES]
        assert panel["yticks"] == [str(t) for t in LENGTHS]
        drawn.append(want)
    # one colour scale for every panel: the range of all cells drawn (fixed 0..1 for shares)
    scales = {p["norm"] for p in fig["panels"].values()}
    both = np.concatenate([d.ravel() for d in drawn])
    full = (0.0, 1.0) if metric in ("reached", "final_val_acc") else (
        np.nanmin(both), np.nanmax(both))  # fmt: skip
    if full[0] == full[1]:
        full = (full[0] - 0.5, full[1] + 0.5)
    assert len(scales) == 1 and scales.pop() == pytest.approx(full)
    assert len(fig["colorbars"]) == 1
    assert "after 3 steps" in fig["title"] or metric in ("reached", "steps_to_target")
    assert (
        "2 seeds" in fig["title"] and "model.hidden_size (x) and task.seq_len (y)" in fig["title"]
    )


def test_labels_say_which_loss_which_target_and_over_what(runs, monkeypatch, tmp_path):
    seen = capture(monkeypatch)
    report = summarize([runs])
    for metric in ("final_loss", "reached", "steps_to_target"):
        plot_map(report, KEYS, metric, tmp_path / f"{metric}.png")
    loss, reached, steps = seen
    assert loss["colorbars"] == ["final validation loss, mean over seeds"]
    assert re.search(r"target 2\.7 \(train\.target_loss\) within 3 steps", reached["title"])
    assert "Kaplan-Meier median over 2 seeds" in steps["title"]
    assert "censored at its last step" in steps["title"]


def test_not_reached_cells_are_hatched_never_numbered(runs, monkeypatch, tmp_path):
    seen = capture(monkeypatch)
    plot_map(summarize([runs]), KEYS, "steps_to_target", tmp_path / "s.png")
    panels = seen[0]["panels"].values()
    censored = [(p, ij) for p in panels for ij in zip(*np.nonzero(np.isnan(p["array"])))]
    numbered = [(p, ij) for p in panels for ij in zip(*np.nonzero(np.isfinite(p["array"])))]
    assert censored and numbered  # the tiny runs give both, so the test is not vacuous
    for p, (i, j) in censored:
        assert (j - 0.5, i - 0.5) in p["hatched"]
        assert p["texts"][(i, j)].startswith("not reached\n0/2")
    for p, (i, j) in numbered:
        assert (j - 0.5, i - 0.5) not in p["hatched"]
        assert p["texts"][(i, j)] == f"{p['array'][i, j]:g}\n" + p["texts"][(i, j)].split("\n")[1]


def test_cells_say_n_when_it_varies_and_empty_cells_stay_empty(runs, tmp_path):
    """Drop one seed of (uniform, H=2, T=5) and both of (xavier, H=8, T=25): the first cell is
    the other seed's loss with n=1, the second has nothing to draw and says so."""
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    for f in facts(copy):
        cell = (f["init"], f["H"], f["T"])
        if (cell == ("uniform", 2, 5) and f["seed"] == 0) or cell == ("xavier", 8, 25):
            shutil.rmtree(Path(f["run_dir"].replace(str(runs), str(copy))))
    data = map_data(summarize([copy]), KEYS, "final_loss")
    uniform, xavier = data["panels"]
    (left,) = [f for f in facts(copy) if (f["init"], f["H"], f["T"]) == ("uniform", 2, 5)]
    assert uniform["value"][0][0] == left["final_val_loss"] and uniform["n"][0][0] == 1
    assert uniform["text"][0][0] == f"{left['final_val_loss']:#.3g}\nn=1"
    assert np.isnan(xavier["value"][1][1]) and xavier["empty"][1][1]
    assert xavier["text"][1][1] == "no runs" and "the seeds of each cell (n)" in data["title"]


def _refused(args) -> str:
    result = runner.invoke(app, ["summarize", *map(str, args)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    return result.stderr


def test_refusals_are_one_line_exit_2(runs, tmp_path):
    plot = ",".join(KEYS)
    assert "train.lr: takes one value" in _refused([runs, "--plot", "model.hidden_size,train.lr"])
    assert "did you mean 'task.seq_len'" in _refused(
        [runs, "--plot", "model.hidden_size,task.seq_lem"]
    )
    assert "did you mean 'reached'" in _refused([runs, "--plot", plot, "--metric", "reachd"])
    assert "one key or two" in _refused([runs, "--plot", "init,model.hidden_size,task.seq_len"])
    assert "named twice" in _refused([runs, "--plot", "task.seq_len,task.seq_len"])
    assert "the one-key plot draws the final loss" in _refused(
        [runs, "--plot", "model.hidden_size", "--metric", "reached"])  # fmt: skip
    assert "only with --plot" in _refused([runs, "--metric", "reached"])
    # a fourth varied key would be pooled unseen in each cell: refused, naming the keys
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    first = sorted(copy.rglob("config.yaml"))[0]
    cfg = yaml.safe_load(first.read_text())
    cfg["train"]["lr"] = 0.1
    first.write_text(yaml.safe_dump(cfg))
    assert "4 keys vary besides the seed (model.hidden_size, task.seq_len, init, train.lr)" in (
        _refused([copy, "--plot", plot]))  # fmt: skip


def test_default_file_name_says_metric_and_keys(runs, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    result = runner.invoke(app, ["summarize", str(copy), "--plot", ",".join(KEYS), "--metric",
                                 "reached"])  # fmt: skip
    assert result.exit_code == 0, result.output
    png = copy / "plots" / "reached_by_model.hidden_size_task.seq_len.png"
    assert png.is_file() and f"plot: {png}" in result.stdout


def test_the_example_is_the_grid_of_the_claim_with_a_measured_header():
    sw = load_sweep(EXAMPLE)
    assert sw.keys == ["init", "model.hidden_size", "task.seq_len", "seed"]
    assert len(sw.runs) == 2 * 5 * 4 * 2
    assert {r.config.model.hidden_size for r in sw.runs} == {2, 8, 32, 128, 512}
    assert {r.config.task.seq_len for r in sw.runs} == {5, 25, 100, 200}
    assert {(r.config.task.name, r.config.train.dtype) for r in sw.runs} == {("char", "float32")}
    header = EXAMPLE.read_text().split("\nname:")[0]
    assert "rnninit sweep examples/uniform_at_scale.yaml --jobs 2" in header
    for plot in re.findall(r"--plot (\S+)", header):
        assert plot.split(",") == KEYS
    assert re.search(r"What running it gave \(2026-\d\d-\d\d", header)
    assert "MEASURED" not in header


def test_readme_shows_the_map_from_the_example():
    """Both heatmaps of the real run are embedded, screenshot-sized, beside the command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\((docs/uniform_at_scale[^)]*\.png)\)", readme)
    assert images == ["docs/uniform_at_scale.png", "docs/uniform_at_scale_steps.png"]
    for image in images:
        assert (ROOT / image).stat().st_size < 150_000
    assert "rnninit sweep examples/uniform_at_scale.yaml --jobs 2" in readme
    assert (
        "rnninit summarize runs/sweeps/uniform_at_scale --plot model.hidden_size,task.seq_len"
        in readme
    )
