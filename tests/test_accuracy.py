"""val_acc: checked against a plain loop over the validation batches at the final weights."""

import numpy as np
import pytest

import rnninit
from rnninit.core.losses import accuracy_counts
from rnninit.errors import RnnInitError
from rnninit.experiment.config import load_config
from rnninit.experiment.runs import read_csv
from rnninit.experiment.training import prepare

TEXT = "The quick brown fox jumps over the lazy dog. " * 30


def _outputs(params, x):
    """(T, B, O) outputs of a tanh RNN, one timestep at a time (min-char-rnn style)."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    if np.issubdtype(x.dtype, np.integer):
        x = np.eye(Wxh.shape[1])[x]  # one-hot (T, B, I)
    h = np.zeros((x.shape[1], Whh.shape[0]))
    outs = []
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ Wxh.T + h @ Whh.T + bh)
        outs.append(h @ Why.T + by)
    return np.stack(outs)


def _expected_acc(run_dir, cfg, positions):
    """Correct over counted positions of the validation batches, at the checkpoint's weights."""
    setup = prepare(cfg)
    with np.load(run_dir / "checkpoint.npz") as ckpt:
        params = {k: ckpt[f"param/{k}"] for k in setup.params}
    correct = counted = 0
    for b in setup.task.validation(cfg.train.batch_size, cfg.task.val_batches):
        guess = _outputs(params, b.x).argmax(axis=-1)  # (T, B)
        for t in positions(b.y.shape[0]):
            for j in range(b.y.shape[1]):
                correct += int(guess[t, j] == b.y[t, j])
                counted += 1
    return correct / counted


@pytest.mark.parametrize(
    ("task", "extra", "positions"),
    [
        ("copy", ["task.seq_len=4"], lambda T: range(T - 10, T)),  # the 10 recalled symbols
        ("char", ["task.seq_len=8"], range),  # every next character
        ("mnist1d", [], lambda T: [T - 1]),  # one class per sequence, at the last step
    ],
)
def test_val_acc_is_the_share_of_right_classes(task, extra, positions, tmp_path, mnist1d_env):
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    cfg = load_config(None, [f"task.name={task}", *extra, "model.hidden_size=12",
                             "train.steps=40", "train.batch_size=8", "task.val_batches=3",
                             "log.eval_every=20", "train.lr=0.02", f"log.runs_dir={tmp_path}",
                             *([f"task.path={text}"] if task == "char" else [])])  # fmt: skip
    summary = rnninit.train(cfg)
    run_dir = tmp_path / summary["run_id"]
    rows = read_csv(run_dir / "metrics.csv")
    evaluated = [r for r in rows if r["val_loss"] is not None]
    assert [r["step"] for r in evaluated] == [0, 20, 40]
    assert all(r["val_acc"] is None for r in rows if r["val_loss"] is None)
    want = _expected_acc(run_dir, cfg, positions)
    assert evaluated[-1]["val_acc"] == pytest.approx(want, abs=1e-12)
    assert summary["final_val_acc"] == pytest.approx(want, abs=1e-12)
    assert summary["best_val_acc"] == max(r["val_acc"] for r in evaluated)


def test_adding_has_no_accuracy(tmp_path):
    cfg = load_config(None, ["task.name=adding", "task.seq_len=6", "model.hidden_size=8",
                             "train.steps=4", "log.eval_every=2", f"log.runs_dir={tmp_path}"])  # fmt: skip
    summary = rnninit.train(cfg)
    rows = read_csv(tmp_path / summary["run_id"] / "metrics.csv")
    assert "val_acc" in rows[0] and all(r["val_acc"] is None for r in rows)
    assert summary["final_val_acc"] is None and summary["best_val_acc"] is None


def test_accuracy_counts_against_a_loop():
    rng = np.random.default_rng(3)
    out, y = rng.normal(size=(5, 4, 3)), rng.integers(0, 3, (5, 4))
    keep = rng.random((5, 4)) < 0.5
    want = sum(
        int(np.argmax(out[t, b]) == y[t, b]) for t in range(5) for b in range(4) if keep[t, b]
    )
    assert accuracy_counts(out, y, keep) == (want, int(keep.sum()))


def test_steps_to_target_acc_is_the_first_evaluation_at_or_above_it(tmp_path, mnist1d_env):
    over = ["task.name=mnist1d", "model.hidden_size=12", "train.steps=40", "train.batch_size=16",
            "task.val_batches=2", "log.eval_every=5", "train.lr=0.02", f"log.runs_dir={tmp_path}"]  # fmt: skip
    first = rnninit.train(load_config(None, over))
    assert first["target_acc"] is None and first["steps_to_target_acc"] is None
    rows = [
        r for r in read_csv(tmp_path / first["run_id"] / "metrics.csv") if r["val_acc"] is not None
    ]
    goal = max(r["val_acc"] for r in rows)  # reached, at the first evaluation that got there
    want = next(r["step"] for r in rows if r["val_acc"] >= goal)
    again = rnninit.train(load_config(None, [*over, f"train.target_acc={goal}"]))
    assert again["steps_to_target_acc"] == want and again["target_acc"] == goal
    unreachable = rnninit.train(load_config(None, [*over, "train.target_acc=1.0"]))
    assert goal < 1.0 and unreachable["steps_to_target_acc"] is None  # censored: never a number


def test_target_acc_is_refused_for_adding():
    with pytest.raises(RnnInitError) as e:
        load_config(None, ["task.name=adding", "train.target_acc=0.9"])
    assert "train.target_acc" in str(e.value) and "adding" in str(e.value)
