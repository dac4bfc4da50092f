"""The mnist1d task: the core task on made-up arrays, the cached data, config rules, a run."""

import hashlib
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import rnninit
from rnninit.cli.app import app
from rnninit.core.tasks import PERMUTE_SEED, Mnist1dTask, make_task
from rnninit.errors import RnnInitError
from rnninit.experiment import mnist1d
from rnninit.experiment.config import load_config


def _arrays(n=30, n_test=12, seed=1):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(3.0, 2.0, (n, 40)), "y": rng.integers(0, 10, n),
            "x_test": rng.normal(3.0, 2.0, (n_test, 40)), "y_test": rng.integers(0, 10, n_test)}  # fmt: skip


def test_task_standardises_with_the_training_split_and_reads_the_last_step():
    data = _arrays()
    task = make_task("mnist1d", seq_len=25, data=data)
    assert (task.seq_len, task.input_size, task.output_size, task.loss) == (40, 1, 10, "xent")
    assert task.chance == pytest.approx(math.log(10))
    mean, std = data["x"].mean(), data["x"].std()
    b = task.sample(np.random.default_rng(0), 7)
    assert b.x.shape == (40, 7, 1) and b.y.shape == (40, 7) and b.mask.shape == (40, 7)
    assert b.mask[:-1].sum() == 0 and (b.mask[-1] == 1).all()
    # each column is one training sequence, standardised, with its class at the last step
    for j in range(7):
        i = int(np.flatnonzero(np.isclose(data["x"][:, 0], b.x[0, j, 0] * std + mean))[0])
        assert np.allclose(b.x[:, j, 0], (data["x"][i] - mean) / std)
        assert b.y[-1, j] == data["y"][i]
    assert task.accuracy_mask(b).sum() == 7


def test_validation_is_the_test_split_in_order():
    data = _arrays()
    task = make_task("mnist1d", seq_len=25, data=data)
    batches = task.validation(5, 10)
    assert [b.x.shape[1] for b in batches] == [5, 5, 2]
    x = np.concatenate([b.x[:, :, 0] for b in batches], axis=1).T
    y = np.concatenate([b.y[-1] for b in batches])
    mean, std = data["x"].mean(), data["x"].std()
    assert np.allclose(x, (data["x_test"] - mean) / std) and (y == data["y_test"]).all()
    assert len(task.validation(5, 2)) == 2


def test_permute_is_one_fixed_permutation_for_every_sequence_and_seed():
    data = _arrays()
    plain = make_task("mnist1d", seq_len=25, data=data).validation(12, 1)[0].x[:, :, 0]
    tasks = [make_task("mnist1d", seq_len=25, data=data, permute=True, seed=s) for s in (0, 5)]
    perm = np.random.default_rng(PERMUTE_SEED).permutation(40)
    assert (tasks[0].permutation == perm).all() and (tasks[1].permutation == perm).all()
    assert sorted(perm) == list(range(40)) and (perm != np.arange(40)).any()
    assert np.array_equal(tasks[0].validation(12, 1)[0].x[:, :, 0], plain[perm])


def test_permute_is_refused_for_other_tasks():
    with pytest.raises(RnnInitError, match="task.permute"):
        make_task("adding", seq_len=5, permute=True)
    with pytest.raises(RnnInitError) as e:
        load_config(None, ["task.name=copy", "task.permute=true"])
    assert "\n" not in str(e.value) and "task.permute" in str(e.value) and "mnist1d" in str(e.value)


def test_seq_len_is_refused_for_mnist1d_and_recorded_as_40():
    assert load_config(None, ["task.name=mnist1d"]).task.seq_len == 40
    assert load_config(None, ["task.name=mnist1d", "task.seq_len=40"]).task.seq_len == 40
    with pytest.raises(RnnInitError) as e:
        load_config(None, ["task.name=mnist1d", "task.seq_len=100"])
    msg = str(e.value)
    assert "\n" not in msg and "task.seq_len" in msg and "fixed at 40" in msg and "100" in msg


def test_cached_data_are_read_back_not_regenerated(mnist1d_env, monkeypatch):
    state = np.random.get_state()[1].copy(), random.getstate()
    arrays, record = mnist1d.load_mnist1d()
    assert arrays["x"].shape == (4000, 40) and arrays["x_test"].shape == (1000, 40)
    assert sorted(np.unique(arrays["y"])) == list(range(10))
    rec = record["mnist1d"]
    assert rec["args"]["seed"] == 42 and rec["args"]["final_seq_length"] == 40
    assert rec["sha256"] == mnist1d.digest(arrays) and "url" not in rec["args"]
    files = [p.name for p in mnist1d_env.iterdir()]
    assert files == [mnist1d.cache_path(rec["package"]).name]  # no temp files left behind
    assert (np.random.get_state()[1] == state[0]).all() and random.getstate() == state[1]

    def no_generation():
        raise AssertionError("regenerated")

    monkeypatch.setattr(mnist1d, "_generate", no_generation)
    again, record2 = mnist1d.load_mnist1d()
    assert record2 == record and all(np.array_equal(again[k], arrays[k]) for k in arrays)


def test_generated_arrays_are_the_packages_own(mnist1d_env):
    """The package's make_dataset, called here in a separate Python, gives the same arrays;
    the data never import mnist1d (nor its scipy and second OpenBLAS) into this process."""
    arrays, _ = mnist1d.load_mnist1d()
    assert "mnist1d" not in sys.modules and "scipy" not in sys.modules
    code = (
        "import hashlib, sys\n"
        "from mnist1d.data import get_dataset_args, make_dataset\n"
        "d = make_dataset(get_dataset_args())\n"
        "for k in ('x', 'y', 'x_test', 'y_test'):\n"
        "    print(k, d[k].shape, hashlib.sha256(d[k].tobytes()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    want = [f"{k} {arrays[k].shape} {hashlib.sha256(arrays[k].tobytes()).hexdigest()}"
            for k in mnist1d.KEYS]  # fmt: skip
    assert out.stdout.splitlines() == want


def test_missing_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNINIT_CACHE", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # import mnist1d raises ImportError
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(RnnInitError, match=r"pip install 'rnninit\[mnist1d\]'"):
        mnist1d.load_mnist1d()
    r = CliRunner().invoke(app, ["train", "task.name=mnist1d", f"log.runs_dir={tmp_path}"])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "pip install 'rnninit[mnist1d]'" in r.stderr
    assert not list(tmp_path.glob("run-*"))


def test_missing_distribution_says_how_to_install_it(monkeypatch):
    def not_found(name):
        raise mnist1d.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mnist1d.importlib.metadata, "version", not_found)
    with pytest.raises(RnnInitError, match="optional package mnist1d"):
        mnist1d.load_mnist1d()


def test_a_short_permuted_run_records_the_data(mnist1d_env, tmp_path):
    cfg = load_config(None, ["task.name=mnist1d", "task.permute=true", "model.hidden_size=8",
                             "train.steps=3", "train.batch_size=4", f"log.runs_dir={tmp_path}",
                             "log.eval_every=3", "task.val_batches=2"])  # fmt: skip
    summary = rnninit.train(cfg)
    assert summary["status"] == "completed" and summary["seq_len"] == 40
    saved = json.loads((tmp_path / summary["run_id"] / "summary.json").read_text())
    rec = saved["mnist1d"]
    assert rec["args"]["seed"] == 42 and len(rec["sha256"]) == 16
    assert rec["permutation"] == Mnist1dTask(_arrays(), permute=True).permutation.tolist()


def test_a_cell_compare_on_mnist1d_reads_each_arms_accuracy_from_its_runs(mnist1d_env, tmp_path):
    """Labelled arms that change the cell race rnn, lstm and gru on the same MNIST-1D batches
    (per seed),
    and compare.csv's accuracy is the mean of each arm's last val_acc in metrics.csv."""
    import csv

    args = ["compare", "rnn: model.cell=rnn init=xavier", "lstm: model.cell=lstm",
            "gru: model.cell=gru", "--config", "configs/mnist1d_gru.yaml", "--seeds", "2",
            "model.hidden_size=8", "train.steps=3", "log.eval_every=3", "task.val_batches=2",
            f"log.runs_dir={tmp_path}"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (root,) = tmp_path.glob("compare-*")
    last_acc, digests = {}, {}
    for run in root.iterdir():
        if not (run / "summary.json").is_file():
            continue
        summary = json.loads((run / "summary.json").read_text())
        with (run / "metrics.csv").open(newline="") as fh:
            accs = [float(r["val_acc"]) for r in csv.DictReader(fh) if r["val_acc"]]
        assert summary["final_val_acc"] == accs[-1]
        last_acc.setdefault(summary["cell"], []).append(accs[-1])
        digests.setdefault(summary["seed"], set()).add(summary["data_sha256"])
    assert sorted(last_acc) == ["gru", "lstm", "rnn"]
    assert len(digests) == 2 and all(len(d) == 1 for d in digests.values())  # per seed, one
    with (root / "compare.csv").open(newline="") as fh:
        shown = {r["init"]: float(r["final_val_acc_mean"]) for r in csv.DictReader(fh)}
    assert shown == {cell: pytest.approx(np.mean(a)) for cell, a in last_acc.items()}
