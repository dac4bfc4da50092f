"""BLAS threads of a run: chosen from the size of its matrix products, applied, recorded.

A second BLAS thread pays only when the products are large: the recurrent product
(B x H) @ (H x H), issued 2T times per step, must have a wide Whh (H >= 512) and enough work
(B*H*H >= 2**20 multiply-adds). Below that, the hand-offs between threads eat the gain, and on
a shared machine a thread that waits for a busy core stalls every product. The rule is
measured, not guessed: ``benchmarks/bench_threads.py`` times one BPTT step at 1 and at N
threads over a grid of sizes (its table is in benchmarks/README.md). ``train.threads``
overrides the policy. The count never exceeds what the process's BLAS has now (a sweep's or a
compare's worker, started with one BLAS thread, stays at one) nor the CPUs the process may run on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from threadpoolctl import ThreadpoolController

from .config import Config

# The rule's two bounds, from bench_threads.py on 2 idle cores (OpenBLAS 0.3.31, SkylakeX;
# float64 and float32; T = 25 and 100): N = 2 threads made a step 1.3-1.8x faster (median 1.6)
# at every size the rule accepts, and 0.9-1.4x (median 1.03) at every size it declines. While
# other processes kept about one CPU busy, N threads were slower at almost every size (median
# 0.2-0.4x, down to 0.02x): on a shared machine, set train.threads=1.
MIN_HIDDEN = 512  # H: below it a second thread never gained more than 1.4x
MIN_WORK = 2**20  # B*H*H, multiply-adds of one recurrent product (1,048,576)


@dataclass(frozen=True)
class ThreadChoice:
    """How many BLAS threads a run uses and why ("train.threads" or "policy: <reason>")."""

    threads: int
    chosen_by: str


def _numpy_blas(controller: ThreadpoolController):
    """NumPy's BLAS among the loaded thread pools (others, e.g. torch's, come after), or None."""
    libs = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    libs.sort(key=lambda lib: "numpy" not in lib.filepath)
    return libs[0] if libs else None


def blas_info(controller: ThreadpoolController | None = None) -> dict:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel and threads now."""
    lib = _numpy_blas(controller or ThreadpoolController())
    if lib is None:
        return {"library": None, "version": None, "kernel": None, "threads": None}
    info = lib.info()
    return {
        "library": info["internal_api"],
        "version": info.get("version"),
        "kernel": info.get("architecture"),
        "threads": info["num_threads"],
    }


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def available_threads(controller: ThreadpoolController | None = None) -> int:
    """The most threads the policy may choose: the BLAS's threads now, at most the CPUs."""
    threads = blas_info(controller)["threads"] or 1
    return max(1, min(threads, usable_cpus()))


def policy_threads(batch: int, hidden: int, available: int) -> ThreadChoice:
    """The rule: all ``available`` threads when H >= MIN_HIDDEN and B*H*H >= MIN_WORK, else 1."""
    work = batch * hidden * hidden
    if hidden < MIN_HIDDEN:
        return ThreadChoice(1, f"policy: H = {hidden} < {MIN_HIDDEN}")
    if work < MIN_WORK:
        return ThreadChoice(1, f"policy: B*H*H = {work:,} < {MIN_WORK:,}")
    return ThreadChoice(available, f"policy: H >= {MIN_HIDDEN}, B*H*H = {work:,} >= "
                                   f"{MIN_WORK:,}: {available} available")  # fmt: skip


def choose_threads(
    cfg: Config, available: int | None = None, resumed: int | None = None
) -> ThreadChoice:
    """``train.threads`` when set; else, for a resumed run, the count it started with (the
    same count keeps the continuation bit-identical; at most the usable CPUs); else the policy
    for the run's batch and hidden sizes."""
    if cfg.train.threads is not None:
        return ThreadChoice(cfg.train.threads, "train.threads")
    if resumed is not None:
        threads = min(resumed, usable_cpus())
        return ThreadChoice(threads, f"resumed with the run's {resumed} thread(s)")
    if available is None:
        available = available_threads()
    return policy_threads(cfg.train.batch_size, cfg.model.hidden_size, available)


@contextlib.contextmanager
def blas_threads(cfg: Config, resumed: int | None = None) -> Iterator[dict]:
    """Run the block with the chosen BLAS threads, then restore the count the process had.
    ``resumed``: the count a resumed run recorded (see ``choose_threads``).

    Yields the record for summary.json: threads (as the BLAS reports them inside the block),
    chosen_by, and the library, version and kernel of NumPy's BLAS.
    """
    controller = ThreadpoolController()
    blas = blas_info(controller)
    if blas["library"] is None:  # no BLAS threadpoolctl can drive: nothing to set
        yield {**blas, "chosen_by": "no BLAS thread pool found by threadpoolctl"}
        return
    choice = choose_threads(cfg, available_threads(controller), resumed)
    with controller.limit(limits=choice.threads, user_api="blas"):
        now = blas_info(controller)
        yield {"threads": now["threads"], "chosen_by": choice.chosen_by,
               "library": now["library"], "version": now["version"], "kernel": now["kernel"]}  # fmt: skip


@contextlib.contextmanager
def policy_blas_threads(batch: int, hidden: int) -> Iterator[ThreadChoice]:
    """Run the block with the policy's BLAS threads for a (batch, hidden) recurrence outside a
    run (no config: ``rnninit phase --measure``), then restore the count the process had."""
    controller = ThreadpoolController()
    choice = policy_threads(batch, hidden, available_threads(controller))
    with controller.limit(limits=choice.threads, user_api="blas"):
        yield choice
