"""BLAS threads: the policy's rule, train.threads, applied during a run and restored after.

The rule is tested, not its speed: timings live in benchmarks/bench_threads.py. The thread
counts seen inside a run are read with threadpoolctl itself, not through rnninit's helpers.
"""

import json
from pathlib import Path

import numpy as np  # noqa: F401  (loads the BLAS that threadpoolctl inspects)
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rnninit.experiment import threads
from rnninit.experiment.config import load_config
from rnninit.experiment.threads import (
    MIN_HIDDEN,
    MIN_WORK,
    blas_threads,
    choose_threads,
    policy_threads,
)
from rnninit.experiment.training import Reporter, resume, train

ROOT = Path(__file__).resolve().parents[1]
TEXT = "a quick brown fox jumps over the lazy dog while five boxing wizards jump quickly. " * 30

pytestmark = pytest.mark.skipif(
    not any(i["user_api"] == "blas" for i in threadpool_info()),
    reason="threadpoolctl finds no BLAS thread pool here",
)


def blas_counts() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def cfg(tmp_path, *extra):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    return load_config(None, [
        f"log.runs_dir={tmp_path / 'runs'}", f"task.path={path}", "task.seq_len=6",
        "model.hidden_size=8", "train.steps=4", "train.batch_size=4", "log.stats_every=2",
        "log.eval_every=2", "task.val_batches=2", *extra,
    ])  # fmt: skip


class SeesThreads(Reporter):
    """Records the BLAS thread counts at the start and at every step of a run."""

    def __init__(self):
        self.seen = []

    def start(self, info):
        self.seen.append(blas_counts())

    def step(self, row):
        self.seen.append(blas_counts())


# ---------------------------------------------------------------------------------------------
# The rule
# ---------------------------------------------------------------------------------------------
def test_the_rule_is_the_one_the_docs_state():
    assert (MIN_HIDDEN, MIN_WORK) == (512, 1_048_576)
    for doc in ("README.md", "benchmarks/README.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert f"H >= {MIN_HIDDEN} and B*H*H >= {MIN_WORK:,}" in text, doc


@pytest.mark.parametrize(
    "B, H, expected",
    [
        (32, 128, 1),  # the default config: H below 512
        (256, 256, 1),  # B*H*H = 16,777,216 but H below 512
        (1, 512, 1),  # B*H*H = 262,144
        (2, 512, 1),  # 524,288
        (4, 512, 2),  # 1,048,576: the bound itself
        (8, 512, 2),
        (1, 1023, 1),  # 1,046,529
        (1, 1024, 2),  # 1,048,576
        (256, 1024, 2),
    ],
)
def test_policy_all_available_threads_only_for_wide_and_large_products(B, H, expected):
    choice = policy_threads(B, H, available=2)
    assert choice.threads == expected
    assert choice.chosen_by.startswith("policy: ")
    assert (f"{B * H * H:,}" in choice.chosen_by) == (H >= MIN_HIDDEN)


def test_policy_uses_what_is_available_and_no_more():
    assert policy_threads(64, 1024, available=4).threads == 4
    assert policy_threads(64, 1024, available=1).threads == 1
    assert policy_threads(32, 128, available=4).threads == 1


def test_train_threads_overrides_the_policy(tmp_path):
    assert choose_threads(cfg(tmp_path, "train.threads=3"), available=1) == threads.ThreadChoice(
        3, "train.threads"
    )
    big = cfg(tmp_path, "model.hidden_size=1024", "train.batch_size=256")
    assert choose_threads(big, available=2).threads == 2
    assert choose_threads(cfg(tmp_path), available=2).threads == 1


def test_the_policy_never_raises_the_count_above_what_the_process_had(tmp_path):
    big = cfg(tmp_path, "model.hidden_size=1024", "train.batch_size=256")
    with threadpool_limits(limits=1, user_api="blas"):  # a sweep worker with one BLAS thread
        assert choose_threads(big).threads == 1
        with blas_threads(big) as record:
            assert blas_counts() == {1}
            assert record["threads"] == 1 and record["chosen_by"].startswith("policy: ")
        assert blas_counts() == {1}


def test_the_policy_never_exceeds_the_cpus_the_process_may_use(tmp_path, monkeypatch):
    big = cfg(tmp_path, "model.hidden_size=1024", "train.batch_size=256")
    monkeypatch.setattr(threads, "usable_cpus", lambda: 1)
    with threadpool_limits(limits=2, user_api="blas"):
        assert choose_threads(big).threads == 1


# ---------------------------------------------------------------------------------------------
# Applied during a run, restored after, recorded
# ---------------------------------------------------------------------------------------------
def test_train_threads_is_applied_during_the_run_restored_after_and_recorded(tmp_path):
    seer = SeesThreads()
    with threadpool_limits(limits=2, user_api="blas"):
        summary = train(cfg(tmp_path, "train.threads=1"), reporter=seer)
        assert blas_counts() == {2}
    assert len(seer.seen) == 1 + 5 and all(seen == {1} for seen in seer.seen)
    recorded = json.loads((Path(summary["run_dir"]) / "summary.json").read_text())
    assert recorded["blas"] == summary["blas"]
    blas = recorded["blas"]
    assert blas["threads"] == 1 and blas["chosen_by"] == "train.threads"
    lib = next(i for i in threadpool_info() if i["user_api"] == "blas")
    assert blas["library"] == lib["internal_api"] and blas["version"] == lib["version"]
    assert blas["kernel"] == lib.get("architecture")


def test_the_count_is_restored_when_the_run_fails(tmp_path):
    class Fails(Reporter):
        def step(self, row):
            raise RuntimeError("boom")

    with threadpool_limits(limits=2, user_api="blas"):
        with pytest.raises(RuntimeError, match="boom"):
            train(cfg(tmp_path, "train.threads=1"), reporter=Fails())
        assert blas_counts() == {2}


def test_the_policy_is_recorded_with_its_reason(tmp_path):
    with threadpool_limits(limits=2, user_api="blas"):
        summary = train(cfg(tmp_path), write=False)
    assert summary["blas"]["threads"] == 1
    assert summary["blas"]["chosen_by"] == "policy: H = 8 < 512"


def test_resume_applies_train_threads_and_records_it(tmp_path):
    calls = []

    def stop_before_step_2():
        calls.append(1)
        return len(calls) > 2

    stopped = train(cfg(tmp_path, "train.threads=1"), should_stop=stop_before_step_2)
    assert stopped["status"] == "interrupted"
    seer = SeesThreads()
    with threadpool_limits(limits=2, user_api="blas"):
        finished = resume(stopped["run_dir"], reporter=seer)
        assert blas_counts() == {2}
    assert finished["status"] == "completed" and all(seen == {1} for seen in seer.seen)
    assert finished["blas"]["threads"] == 1 and finished["blas"]["chosen_by"] == "train.threads"


def test_resume_keeps_the_thread_count_the_run_started_with(tmp_path, monkeypatch):
    """The policy may choose otherwise in the resuming process (here: its bounds changed);
    the continuation runs with the recorded count, so that it stays bit-identical."""
    if threads.usable_cpus() < 2:
        pytest.skip("needs 2 usable CPUs to start a run with 2 threads")
    calls = []

    def stop_before_step_2():
        calls.append(1)
        return len(calls) > 2

    monkeypatch.setattr(threads, "MIN_HIDDEN", 1)
    monkeypatch.setattr(threads, "MIN_WORK", 1)
    with threadpool_limits(limits=2, user_api="blas"):
        stopped = train(cfg(tmp_path), should_stop=stop_before_step_2)
    assert stopped["blas"]["threads"] == 2 and stopped["blas"]["chosen_by"].startswith("policy")
    monkeypatch.undo()  # the policy would now choose 1 thread for H = 8
    seer = SeesThreads()
    with threadpool_limits(limits=2, user_api="blas"):
        finished = resume(stopped["run_dir"], reporter=seer)
    assert finished["status"] == "completed" and all(seen == {2} for seen in seer.seen)
    assert finished["blas"]["threads"] == 2 and "resumed" in finished["blas"]["chosen_by"]
